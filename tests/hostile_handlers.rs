//! `lambda:` handlers that misbehave toward authprobe itself: bytes that are not UTF-8 on their
//! output, a line without an end, an error report of many megabytes, a helper that leaves the
//! process group. The run must judge the authorizer, not be judged by it: no false verdict,
//! bounded memory and reports, no process left behind. Each runs the real binary on the plain
//! Python runtime of tests/fixtures/runtime.

mod support;

use std::path::Path;
use std::process::Output;

use support::{authprobe_in, bootstrap, processes_mentioning};

/// Runs `conform` on `profile` (written into `dir`) against the plain runtime with `env`.
fn conform(dir: &Path, profile: &str, env: &[&str]) -> Output {
    std::fs::write(dir.join("p.toml"), profile).unwrap();
    let target = format!("lambda:python3 {}", bootstrap());
    let mut args = vec![
        "conform",
        "--scenario",
        "p.toml",
        "--no-snapshots",
        "--no-calibrate",
        // Every case reaches the handler: nothing is answered from the gateway's cache.
        "--cache-ttl",
        "0",
        "--target",
        &target,
        "--report-dir",
        "reports",
    ];
    for e in env {
        args.extend(["--env", e]);
    }
    authprobe_in(dir, &args, &[])
}

fn report(dir: &Path) -> (String, serde_json::Value) {
    let text = std::fs::read_to_string(support::run_dir(dir).join("report.json")).unwrap();
    let json = serde_json::from_str(&text).unwrap();
    (text, json)
}

fn shown(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const THREE_GOOD: &str = "profile = \"static\"\n[run]\ncases = [\n  { kind = \"allow-token\", expect = \"allow\", name = \"first\" },\n  { kind = \"allow-token\", expect = \"allow\", name = \"second\" },\n  { kind = \"allow-token\", expect = \"allow\", name = \"third\" },\n]\n";

#[test]
fn bytes_that_are_not_utf8_on_a_handlers_stdout_never_make_a_false_verdict() {
    // Read as text, the first such byte ended authprobe's reader and closed the pipe: the
    // handler's next print failed (BrokenPipeError) and every later case was `error`.
    let dir = tempfile::tempdir().unwrap();
    let out = conform(dir.path(), THREE_GOOD, &["MODE=allow", "NOISE=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let (_, json) = report(dir.path());
    assert_eq!(json["summary"]["passed"], 3, "{}", shown(&out));
}

const ONE_GOOD: &str =
    "profile = \"static\"\n[run]\ncases = [{ kind = \"allow-token\", expect = \"allow\" }]\n";

#[test]
fn a_line_without_an_end_is_cut_and_the_crash_is_still_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = conform(dir.path(), ONE_GOOD, &["MODE=crash", "HUGE_LINE_MB=64"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let (text, json) = report(dir.path());
    // The 64 MB line is kept to its first 8 KiB; the words after it are there.
    assert!(
        text.len() < 256 * 1024,
        "report.json is {} bytes",
        text.len()
    );
    let detail = json["cases"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("[…line cut]"), "{detail:.300}");
    assert!(detail.contains("segfault in handler"), "{detail:.300}");
}

#[test]
fn an_error_report_of_megabytes_is_cut_before_it_reaches_a_report() {
    for (mb, words) in [(5, "raised Exception: eeee"), (40, "ErrorReportTooLarge")] {
        let dir = tempfile::tempdir().unwrap();
        let out = conform(
            dir.path(),
            ONE_GOOD,
            &["MODE=big-error", &format!("ERROR_MB={mb}")],
        );
        assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
        let (text, json) = report(dir.path());
        assert!(
            text.len() < 64 * 1024,
            "{mb} MB: report.json is {} bytes",
            text.len()
        );
        let detail = json["cases"][0]["detail"].as_str().unwrap();
        assert!(detail.contains(words), "{mb} MB: {detail:.300}");
        assert!(
            detail.chars().count() < 1000,
            "{mb} MB: {} chars",
            detail.len()
        );
    }
}

#[test]
fn a_helper_that_leaves_the_handlers_session_is_ended_with_the_run() {
    let marker = format!("7{:07}1", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let out = conform(
        dir.path(),
        ONE_GOOD,
        &["MODE=allow", &format!("SPAWN_SETSID={marker}")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let left = processes_mentioning(&marker);
    assert!(left.is_empty(), "left behind: {left:?}");
}
