//! authprobe used as a hostile but realistic user would: bad files, bad paths, misbehaving
//! targets, signals. Every probe runs the real binary in a temp directory of its own and
//! checks the exit code, the words of the message, that nothing panicked, that nothing was
//! written where nothing should be, that no secret leaked, and that no process was left behind.
//!
//! The table is the list of what has been tried: add a row whenever a new kind of input comes up.

mod support;

use std::io::{BufRead, BufReader};

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use support::processes_mentioning;

/// One hostile input.
struct Probe {
    /// What is tried, as a sentence.
    name: &'static str,
    /// Files to put in the probe's directory first: (relative path, contents); a path ending in
    /// `/` makes a folder.
    files: &'static [(&'static str, &'static str)],
    /// The arguments; `{dir}` is the probe's directory.
    args: &'static [&'static str],
    /// The exit code a user must see.
    exit: i32,
    /// Words the output (stdout and stderr) must contain.
    words: &'static [&'static str],
    /// Words that must appear nowhere: not in the output, not in any file written.
    absent: &'static [&'static str],
    /// Whether the run may write files (reports) beside the ones it was given.
    writes: bool,
}

/// A profile whose only case would let a fail-open authorizer pass, for each must-reject
/// stateful case.
const FAIL_OPEN_UNREACHABLE: &str = "profile = \"jwks\"\n[run]\ncases = [\n  { stateful = \"jwks-unreachable\", expect = \"allow\" },\n]\n";
const FAIL_OPEN_MALFORMED: &str = "profile = \"jwks\"\n[run]\ncases = [\n  { stateful = \"jwks-malformed\", expect = \"allow\" },\n]\n";
const FAIL_OPEN_SLOW: &str = "profile = \"jwks\"\n[run]\ncases = [\n  { stateful = \"jwks-slow\", expect = \"allow\" },\n]\n";
const FAIL_OPEN_FLOOD: &str = "profile = \"jwks\"\n[run]\ncases = [\n  { stateful = \"unknown-kid-flood\", expect = \"allow\" },\n]\n";
const FAIL_OPEN_MISSING: &str = "profile = \"jwks\"\n[run]\ncases = [\n  { stateful = \"missing-header\", expect = \"allow\" },\n]\n";
const NO_CASES: &str = "profile = \"static\"\n[run]\ncases = []\n";
const ALL_SKIPPED: &str = "profile = \"static\"\n[run]\ncases = [\n  { stateful = \"jwks-unreachable\", expect = \"reject\" },\n]\n";
const HUGE_TTL: &str = "profile = \"jwks\"\n[api]\ncache_ttl = 99999999999999\n[run]\ncases = [{ kind = \"valid\", expect = \"allow\" }]\n";
const ONE_CASE: &str = "profile = \"static\"\n[run]\ncases = [\n  { kind = \"allow-token\", expect = \"allow\" },\n]\n";
const HUGE_LEEWAY: &str = "profile = \"jwks\"\n[authorizer]\nleeway_seconds = 9223372036854775807\n[run]\ncases = [{ kind = \"valid\", expect = \"allow\" }]\n";
const BELL_IN_CASE_NAME: &str = "profile = \"static\"\n[run]\ncases = [\n  { kind = \"allow-token\", expect = \"allow\", name = \"a\\u0007b\" },\n]\n";
/// A JWT-shaped good token (its signature is not checked before the JWKS is fetched).
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoidTEiLCJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDB9.c2ln";

const PROBES: &[Probe] = &[
    Probe {
        name: "a profile expecting allow when the JWKS is unreachable is refused",
        files: &[("p.toml", FAIL_OPEN_UNREACHABLE)],
        args: &["conform", "--scenario", "{dir}/p.toml"],
        exit: 2,
        words: &[
            "p.toml:4:",
            "`jwks-unreachable` must be rejected",
            "fails open",
        ],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "a profile expecting allow when the JWKS is malformed is refused",
        files: &[("p.toml", FAIL_OPEN_MALFORMED)],
        args: &["conform", "--scenario", "{dir}/p.toml"],
        exit: 2,
        words: &["p.toml:4:", "`jwks-malformed` must be rejected"],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "a profile expecting allow when the JWKS is slow is refused",
        files: &[("p.toml", FAIL_OPEN_SLOW)],
        args: &["conform", "--scenario", "{dir}/p.toml"],
        exit: 2,
        words: &["p.toml:4:", "`jwks-slow` must be rejected"],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "a profile expecting allow for a flood of unknown kids is refused",
        files: &[("p.toml", FAIL_OPEN_FLOOD)],
        args: &["conform", "--scenario", "{dir}/p.toml"],
        exit: 2,
        words: &["p.toml:4:", "`unknown-kid-flood` must be rejected"],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "a profile expecting allow without an Authorization header is refused",
        files: &[("p.toml", FAIL_OPEN_MISSING)],
        args: &["conform", "--scenario", "{dir}/p.toml"],
        exit: 2,
        words: &["p.toml:4:", "`missing-header` must be rejected"],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "a profile with no cases is a profile error, not a pass",
        files: &[("p.toml", NO_CASES)],
        args: &["conform", "--scenario", "{dir}/p.toml"],
        exit: 2,
        words: &["p.toml:3:", "cases is empty"],
        absent: &["PASSED"],
        writes: false,
    },
    Probe {
        name: "a profile whose every case is skipped fails and says why",
        files: &[("p.toml", ALL_SKIPPED)],
        args: &[
            "conform",
            "--scenario",
            "{dir}/p.toml",
            "--report-dir",
            "{dir}/reports",
            "--no-snapshots",
        ],
        exit: 1,
        words: &["nothing was judged", "only for JWKS-based profiles"],
        absent: &["PASSED"],
        writes: true,
    },
    Probe {
        name: "a snapshot folder that is a regular file stops the run before any case",
        files: &[("snaps", "not a folder")],
        args: &[
            "conform",
            "--profile",
            "static",
            "--snapshots",
            "{dir}/snaps",
            "--report-dir",
            "{dir}/reports",
        ],
        exit: 3,
        words: &["cannot use the snapshot folder", "snaps", "--no-snapshots"],
        absent: &["panicked", "new"],
        writes: false,
    },
    Probe {
        name: "a snapshot folder under a regular file stops the run before any case",
        files: &[("file", "x")],
        args: &[
            "conform",
            "--profile",
            "static",
            "--snapshots",
            "{dir}/file/snaps",
            "--report-dir",
            "{dir}/reports",
        ],
        exit: 3,
        words: &["cannot use the snapshot folder", "file/snaps"],
        absent: &["panicked"],
        writes: false,
    },
    Probe {
        name: "a snapshot that cannot be read is reported as such and the run does not pass",
        files: &[("p.toml", ONE_CASE), ("snaps/allow-token.snap/", "")],
        args: &[
            "conform",
            "--scenario",
            "{dir}/p.toml",
            "--snapshots",
            "{dir}/snaps",
            "--report-dir",
            "{dir}/reports",
        ],
        exit: 3,
        words: &[
            "error[snapshot]",
            "cannot read",
            "allow-token.snap",
            "could not be kept",
        ],
        absent: &["panicked", "PASSED"],
        writes: true,
    },
    Probe {
        name: "an unwritable --json path names --json, not --report-dir",
        files: &[("file", "x")],
        args: &[
            "conform",
            "--profile",
            "static",
            "--no-snapshots",
            "--report-dir",
            "{dir}/reports",
            "--json",
            "{dir}/file/report.json",
        ],
        exit: 3,
        words: &["file/report.json", "pass a writable path with --json"],
        absent: &["--report-dir"],
        writes: true,
    },
    Probe {
        name: "credentials in a url: target never reach the output or the reports",
        files: &[],
        args: &[
            "conform",
            "--profile",
            "static",
            "--no-snapshots",
            "--report-dir",
            "{dir}/reports",
            "--target",
            "url:http://alice:s3cr3t-pw@127.0.0.1:9/",
        ],
        exit: 3,
        words: &["url:http://***@127.0.0.1:9"],
        absent: &["s3cr3t-pw", "alice"],
        writes: true,
    },
    Probe {
        name: "credentials in an invoke: target never reach the output or the reports",
        files: &[],
        args: &[
            "conform",
            "--profile",
            "static",
            "--no-snapshots",
            "--report-dir",
            "{dir}/reports",
            "--target",
            "invoke:http://bob:hunter2-pw@127.0.0.1:9",
        ],
        exit: 3,
        words: &["invoke:http://***@127.0.0.1:9"],
        absent: &["hunter2-pw"],
        writes: true,
    },
    Probe {
        name: "the IdP refuses to listen on every interface without --expose",
        files: &[],
        args: &["idp", "serve", "--dir", "{dir}/keys", "--addr", "0.0.0.0:0"],
        exit: 2,
        words: &["0.0.0.0:0 is not a loopback address", "--expose"],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "the IdP refuses every IPv6 interface without --expose",
        files: &[],
        args: &["idp", "serve", "--dir", "{dir}/keys", "--addr", "[::]:8080"],
        exit: 2,
        words: &["[::]:8080 is not a loopback address", "--expose"],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "keys generate --add with a bad key in the folder writes nothing",
        files: &[("keys/notes.pem", "just some notes\n")],
        args: &["keys", "generate", "--dir", "{dir}/keys", "--add"],
        exit: 2,
        words: &["notes.pem", "no PEM block"],
        absent: &["NUL"],
        writes: false,
    },
    Probe {
        name: "a text .pem that is not a key is called that, not a NUL byte",
        files: &[("keys/k.pem", "hello\nworld\n")],
        args: &["keys", "jwks", "--dir", "{dir}/keys"],
        exit: 2,
        words: &["k.pem is not an RSA private key", "no PEM block"],
        absent: &["NUL"],
        writes: false,
    },
    Probe {
        name: "a key folder that is a file is not a key file that cannot be read",
        files: &[("file", "x")],
        args: &["keys", "generate", "--dir", "{dir}/file"],
        exit: 2,
        words: &["cannot list key folder", "file"],
        absent: &["cannot read key file"],
        writes: false,
    },
    Probe {
        name: "a folder as the scenario is refused",
        files: &[("p.toml/", "")],
        args: &["conform", "--scenario", "{dir}/p.toml"],
        exit: 2,
        words: &["p.toml is not a regular file"],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "a profile cache TTL beyond API Gateway's hour is refused where it is written",
        files: &[("p.toml", HUGE_TTL)],
        args: &["conform", "--scenario", "{dir}/p.toml"],
        exit: 2,
        words: &[
            "p.toml:3:13: cache_ttl = 99999999999999",
            "0 (off) to 3600 seconds",
        ],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "a --cache-ttl beyond an hour is refused",
        files: &[],
        args: &["conform", "--cache-ttl", "3601"],
        exit: 2,
        words: &["--cache-ttl", "3601"],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "a --cache-ttl beyond an hour is refused by the gateway too",
        files: &[],
        args: &["gateway", "serve", "--cache-ttl", "99999999999999"],
        exit: 2,
        words: &["--cache-ttl", "99999999999999"],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "a leeway that would wrap the clock is refused where it is written",
        files: &[("p.toml", HUGE_LEEWAY)],
        args: &["conform", "--scenario", "{dir}/p.toml"],
        exit: 2,
        words: &["p.toml:3:18", "leeway_seconds", "0 to 86400 seconds"],
        absent: &["panicked"],
        writes: false,
    },
    Probe {
        name: "a case name with a control character never becomes a snapshot file name",
        files: &[("p.toml", BELL_IN_CASE_NAME)],
        args: &["conform", "--scenario", "{dir}/p.toml"],
        exit: 2,
        words: &["p.toml:", "control characters", "a\\u{7}b"],
        absent: &[],
        writes: false,
    },
    Probe {
        name: "an empty stage name is refused before the gateway serves anything",
        files: &[],
        args: &["gateway", "serve", "--stage", ""],
        exit: 2,
        words: &["stage name ``", "letters, digits"],
        absent: &["http://"],
        writes: false,
    },
    Probe {
        name: "a token file that is a device is refused, not read forever",
        files: &[],
        args: &[
            "conform",
            "--no-snapshots",
            "--report-dir",
            "{dir}/reports",
            "--token-file",
            "/dev/zero",
        ],
        exit: 3,
        words: &["/dev/zero", "not a regular file (a device)"],
        absent: &["panicked"],
        writes: true,
    },
    Probe {
        name: "a token command that prints without end is stopped at the limit",
        files: &[],
        args: &[
            "conform",
            "--no-snapshots",
            "--report-dir",
            "{dir}/reports",
            "--token-cmd",
            "yes",
        ],
        exit: 3,
        words: &["--token-cmd printed more than 1 MiB (the limit) on stdout"],
        absent: &["panicked"],
        writes: true,
    },
    Probe {
        name: "credentials in --jwks-url never reach the output",
        files: &[("tok", TOKEN)],
        args: &[
            "conform",
            "--no-snapshots",
            "--report-dir",
            "{dir}/reports",
            "--token-file",
            "{dir}/tok",
            "--jwks-url",
            "http://jwks-user:jwks-s3cr3t@127.0.0.1:9/jwks.json",
        ],
        exit: 3,
        words: &["http://***@127.0.0.1:9/jwks.json"],
        absent: &["jwks-s3cr3t", "jwks-user"],
        writes: true,
    },
    Probe {
        name: "a rotation window of days is refused with the range",
        files: &[],
        args: &["conform", "--rotation-window", "100h"],
        exit: 2,
        words: &["--rotation-window", "between 1s and 10m"],
        absent: &[],
        writes: false,
    },
];

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.clone());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

fn run_probe(probe: &Probe) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, contents) in probe.files {
        let full = root.join(path);
        if let Some(folder) = path.strip_suffix('/') {
            std::fs::create_dir_all(root.join(folder)).unwrap();
            continue;
        }
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, contents).unwrap();
    }
    let before = files_under(root);
    let args: Vec<String> = probe
        .args
        .iter()
        .map(|a| a.replace("{dir}", &root.display().to_string()))
        .collect();
    let out: Output = support::authprobe_command()
        .args(&args)
        .current_dir(root)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}{stderr}");
    let mut problems = Vec::new();
    if out.status.code() != Some(probe.exit) {
        problems.push(format!(
            "exit {:?}, expected {}",
            out.status.code(),
            probe.exit
        ));
    }
    if all.contains("panicked") {
        problems.push("it panicked".into());
    }
    for word in probe.words {
        if !all.contains(word) {
            problems.push(format!("`{word}` is not in the output"));
        }
    }
    let after = files_under(root);
    if !probe.writes && after != before {
        problems.push(format!("it wrote files: {after:?}"));
    }
    for word in probe.absent {
        if all.contains(word) {
            problems.push(format!("`{word}` is in the output"));
        }
        for file in after.iter().filter(|p| p.is_file() && !before.contains(p)) {
            if std::fs::read_to_string(file).is_ok_and(|t| t.contains(word)) {
                problems.push(format!("`{word}` is in {}", file.display()));
            }
        }
    }
    let left = processes_mentioning(&root.display().to_string());
    if !left.is_empty() {
        problems.push(format!("processes left behind: {left:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}:\n  {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
            probe.name,
            problems.join("\n  ")
        ))
    }
}

#[test]
fn every_hostile_input_ends_with_the_right_exit_code_and_message_and_nothing_left_behind() {
    let failures: Vec<String> = PROBES.iter().filter_map(|p| run_probe(p).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} probes went wrong:\n\n{}",
        failures.len(),
        PROBES.len(),
        failures.join("\n\n")
    );
}

fn bootstrap() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/runtime/bootstrap.py")
        .display()
        .to_string()
}

/// Starts a slow conform run whose handlers each start a `sleep MARKER`, waits for its first
/// case, sends `signal`, and returns the exit code and the run's report folder.
fn interrupted_run(signal: i32, marker: &str) -> (Option<i32>, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("lambda:python3 {}", bootstrap());
    let mut child = support::authprobe_command()
        .args([
            "conform",
            "--profile",
            "static",
            "--no-snapshots",
            "--concurrency",
            "2",
            // Two cases in flight when the signal comes: both are abandoned.
            "--jobs",
            "2",
            "--target",
            &target,
            "--env",
            "MODE=slow",
            "--env",
            "SLOW_MS=1500",
            "--env",
            &format!("SPAWN_SLEEP={marker}"),
            "--report-dir",
        ])
        .arg(dir.path().join("reports"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    // The first case line means the handlers are up, with their helpers.
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("  ") {
            break;
        }
    }
    assert!(
        !processes_mentioning(marker).is_empty(),
        "the handlers' helpers did not start: {seen}"
    );
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    // Bounded so a run that ignores the signal fails the test instead of hanging it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("authprobe did not stop on signal {signal}: {seen}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code(), dir, seen)
}

fn assert_stopped_cleanly(signal: i32, name: &str, exit: i32, marker: &str) {
    let (code, dir, seen) = interrupted_run(signal, marker);
    assert_eq!(code, Some(exit), "{seen}");
    assert!(seen.contains(&format!("INTERRUPTED by {name}")), "{seen}");
    let report = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .next()
        .expect("a report folder")
        .unwrap()
        .path();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["interrupted"], name);
    let not_run = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["detail"]
                .as_str()
                .unwrap()
                .starts_with("not run: the run was interrupted")
        })
        .count();
    assert!(not_run > 0, "no case is marked as not run");
    let left = processes_mentioning(marker);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A `sleep` duration no other run on the machine uses (another checkout's tests may be
/// running the same probes at the same time): the process id in it.
fn marker(n: u32) -> String {
    format!("{}{:07}{n}", 9, std::process::id())
}

#[test]
fn sigint_stops_a_run_writes_a_partial_report_and_leaves_no_process() {
    assert_stopped_cleanly(libc::SIGINT, "SIGINT", 130, &marker(1));
}

#[test]
fn sigterm_stops_a_run_writes_a_partial_report_and_leaves_no_process() {
    assert_stopped_cleanly(libc::SIGTERM, "SIGTERM", 143, &marker(2));
}

#[test]
fn escape_sequences_from_the_authorizer_never_reach_the_terminal_or_the_markdown_report() {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("lambda:python3 {}", bootstrap());
    let hostile = "PRINCIPAL=\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{9b}31m";
    let out = support::authprobe_command()
        .args([
            "conform",
            "--profile",
            "hs256",
            "--no-snapshots",
            "--target",
            &target,
            "--env",
            hostile,
            "--report-dir",
        ])
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("PWNED"),
        "the principal is shown, escaped: {stdout}"
    );
    assert!(stdout.contains("\\u{1b}]0;PWNED"), "{stdout}");
    let bad = |t: &str| t.contains(['\u{1b}', '\u{7}', '\u{9b}']);
    assert!(!bad(&stdout), "raw control characters on stdout");
    assert!(!bad(&String::from_utf8_lossy(&out.stderr)));
    for file in files_under(dir.path()) {
        if file.extension().is_some_and(|e| e == "md") {
            assert!(!bad(&std::fs::read_to_string(&file).unwrap()), "{file:?}");
        }
    }
}

/// Children of this process that have exited but were not reaped, whose command is `comm`.
fn zombie_children(comm: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((head, tail)) = stat.rsplit_once(") ") else {
            continue;
        };
        let name = head.split_once(" (").map_or("", |(_, n)| n);
        let mut fields = tail.split_whitespace();
        let (state, ppid) = (fields.next(), fields.next());
        if name == comm && state == Some("Z") && ppid == Some(me.as_str()) {
            found.push(stat.clone());
        }
    }
    found
}

#[tokio::test]
async fn a_timed_out_handler_is_reaped_while_the_run_goes_on_and_its_first_answer_counts_as_cold() {
    use authprobe::event::{self, Api, ClientRequest, EventKind};
    use authprobe::target::{self, Call, TargetError, TargetOptions, TargetSpec};
    let spec = TargetSpec::Lambda(vec!["python3".into(), bootstrap()]);
    let options = TargetOptions {
        env: vec![("MODE".into(), "hang".into())],
        timeout: Duration::from_millis(500),
        ..TargetOptions::default()
    };
    let target = target::start(&spec, options)
        .await
        .expect("the target starts");
    let request = ClientRequest::get("/hello", Some("allow-token".into()));
    let call = Call {
        event: event::build(EventKind::Token, &Api::default(), &request),
        request,
    };
    for _ in 0..2 {
        let answer = target.call(&call).await;
        assert!(
            matches!(answer.reply, Err(TargetError::Timeout(_))),
            "{:?}",
            answer.reply
        );
        assert!(
            answer.cold,
            "a timeout on a fresh environment's first invocation is a cold answer"
        );
    }
    // The replaced handlers are reaped while the target still runs, not when the process ends.
    // A killed child is a zombie for the moment before its monitor reaps it: what must not
    // happen is one that stays. Pass once none has been seen for a second; give up after ten.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut clear_since = Instant::now();
    loop {
        if !zombie_children("python3").is_empty() {
            clear_since = Instant::now();
        }
        if clear_since.elapsed() >= Duration::from_secs(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replaced handlers stay defunct: {:?}",
            zombie_children("python3")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    target.shutdown().await;
    assert_eq!(zombie_children("python3"), Vec::<String>::new());
}
