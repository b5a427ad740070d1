//! `authprobe load` end to end: short goose attacks (bounded by iteration count) through the
//! gateway emulator against real targets, with the counts that must come out exactly; the
//! refusal of remote targets; thresholds; a Ctrl-C that still writes the report.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use authprobe::conform::{self, ConformOptions};
use authprobe::harness::{HarnessOptions, IdpPlacement};
use authprobe::load::scenario::{self, Bound, Scenario};
use authprobe::load::{self, LoadOptions, LoadReport, TtlResult};
use authprobe::stop::StopRequest;
use authprobe::target::TargetSpec;
use authprobe::tokens::Kind;

fn scenario(profile: &str, pool: usize, users: usize, iterations: usize, ttls: &[u64]) -> Scenario {
    let mut s = scenario::builtin("cache-benefit", None).unwrap();
    s.profile = authprobe::conform::profile::builtin(profile).unwrap();
    s.pool = pool;
    s.users = users;
    s.increase_rate = users as f64;
    s.bound = Bound::Iterations(iterations);
    s.cache_ttls = ttls.to_vec();
    s.thresholds.clear();
    s.routes = s
        .profile
        .routes
        .iter()
        .map(|r| (format!("{} {}", r.method, r.path).parse().unwrap(), 1))
        .collect();
    s
}

fn options(s: Scenario, target: TargetSpec, env: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        harness: HarnessOptions {
            profile: s.profile.profile,
            settings: s.profile.mint_settings(),
            target,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            workdir: None,
            concurrency: 1,
            timeout: Duration::from_secs(5),
            keys_dir: None,
            simple_responses: s.profile.simple_responses,
            idp: IdpPlacement::default(),
            jwks_timeout: s.profile.jwks_timeout,
            observe: false,
        },
        scenario: s,
        authorizer_latency: Duration::ZERO,
        max_requests: None,
        stop: StopRequest::never(),
    }
}

async fn run(options: LoadOptions) -> LoadReport {
    load::run(options, &mut |_| {})
        .await
        .expect("the load run runs")
}

fn ttl(report: &LoadReport, ttl: u64) -> &TtlResult {
    report
        .ttls
        .iter()
        .find(|r| r.ttl == ttl)
        .unwrap_or_else(|| panic!("no attack with TTL {ttl}: {report:#?}"))
}

fn statuses(r: &TtlResult, kind: &str) -> BTreeMap<String, u64> {
    r.kinds
        .iter()
        .find(|k| k.kind == kind)
        .unwrap_or_else(|| panic!("no kind {kind}"))
        .statuses
        .clone()
}

// goose keeps process-wide state (its killswitch, its Ctrl-C handler): attacks in one test
// binary run one at a time.
static GOOSE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_long_ttl_the_authorizer_is_asked_once_per_distinct_token_and_without_one_once_per_request()
 {
    let _goose = GOOSE.lock().await;
    let s = scenario("jwks", 20, 4, 25, &[0, 300]);
    let report = run(options(
        s,
        TargetSpec::Builtin(authprobe::tokens::Profile::Jwks),
        &[],
    ))
    .await;
    let off = ttl(&report, 0);
    let on = ttl(&report, 300);
    for r in [off, on] {
        assert_eq!(r.requests, 100, "4 users x 25 iterations");
        assert_eq!(r.statuses.get("200"), Some(&100), "{:?}", r.statuses);
        assert_eq!(r.errors, 0);
        assert!(r.completed);
        assert_eq!(r.over_time.iter().map(|s| s.requests).sum::<u64>(), 100);
        assert_eq!(r.over_time.iter().map(|s| s.errors).sum::<u64>(), 0);
        assert!(r.over_time.len() <= authprobe::load::TIMELINE_POINTS);
        assert_eq!(r.histogram.iter().map(|b| b.count).sum::<u64>(), 100);
    }
    assert_eq!(
        off.authorizer_invocations,
        Some(100),
        "TTL 0: every request"
    );
    assert_eq!(
        on.authorizer_invocations,
        Some(20),
        "TTL 300: every distinct token once"
    );
    assert_eq!(on.cache_hit_ratio, Some(0.8));
    assert_eq!(off.cache_hit_ratio, Some(0.0));
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_never_reach_the_backend_and_get_the_status_conform_says_they_get() {
    let _goose = GOOSE.lock().await;
    let kinds = [
        Kind::Expired,
        Kind::AlgNone,
        Kind::KidUnknown,
        Kind::AudWrong,
        Kind::TwoParts,
        Kind::EmptyHeader,
    ];
    let mut s = scenario("jwks", 10, 4, 30, &[0, 300]);
    s.mix = std::iter::once((Kind::Valid, 4))
        .chain(kinds.iter().map(|k| (*k, 1)))
        .collect();
    s.mix.sort();
    let report = run(options(
        s.clone(),
        TargetSpec::Builtin(authprobe::tokens::Profile::Jwks),
        &[],
    ))
    .await;

    // What conform says each kind gets, through the same gateway rules.
    let mut profile = s.profile.clone();
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    profile.cases.retain(|c| names.contains(&c.name.as_str()));
    assert_eq!(profile.cases.len(), kinds.len());
    let conform = conform::run(
        &ConformOptions::new(
            profile,
            TargetSpec::Builtin(authprobe::tokens::Profile::Jwks),
        ),
        &mut |_| {},
    )
    .await
    .unwrap();

    for r in &report.ttls {
        assert_eq!(r.requests, 120);
        assert_eq!(r.bad_allowed, 0, "TTL {}: {:?}", r.ttl, r.kinds);
        assert_eq!(r.errors, 0, "TTL {}: {:?}", r.ttl, r.kinds);
        // The deterministic schedule: 4 valid in every 10 requests.
        assert_eq!(
            statuses(r, "valid"),
            BTreeMap::from([("200".to_string(), 48)])
        );
        for case in &conform.cases {
            let status = case.http_status.expect("conform saw a status").to_string();
            assert_eq!(
                statuses(r, &case.name),
                BTreeMap::from([(status.clone(), 12)]),
                "TTL {}: {} got other statuses than conform's {status}",
                r.ttl,
                case.name
            );
        }
    }
    // Rejections are not cached: every bad request that reached the authorizer asked it
    // again. The empty header never reaches it (the gateway answers 401 itself).
    let on = ttl(&report, 300);
    assert_eq!(on.authorizer_invocations, Some(10 + 12 * 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_python_authorizer_under_load_is_invoked_once_per_token_with_the_cache_on() {
    let _goose = GOOSE.lock().await;
    let s = scenario("jwks", 10, 2, 15, &[0, 300]);
    let mut opts = options(
        s,
        TargetSpec::Lambda(vec![
            support::python::venv_python().display().to_string(),
            "-m".into(),
            "awslambdaric".into(),
            "app.handler".into(),
        ]),
        &[
            ("AUTH_PROFILE", "jwks"),
            ("JWKS_URL", "{jwks_url}"),
            ("ISSUER", "{issuer}"),
            ("AUDIENCE", "{audience}"),
        ],
    );
    opts.harness.workdir = Some(support::python::example_dir("correct"));
    let report = run(opts).await;
    let off = ttl(&report, 0);
    let on = ttl(&report, 300);
    for r in [off, on] {
        assert_eq!(r.requests, 30);
        assert_eq!(r.statuses.get("200"), Some(&30), "{:?}", r.kinds);
        // A fresh target per attack: each starts its own execution environment.
        assert_eq!(r.cold_starts, Some(1), "TTL {}", r.ttl);
        // A fresh authorizer fetches the JWKS at least once.
        assert!(r.jwks_fetches.unwrap() >= 1, "TTL {}", r.ttl);
    }
    assert_eq!(off.authorizer_invocations, Some(30));
    assert_eq!(on.authorizer_invocations, Some(10));
}

fn authprobe(dir: &Path, args: &[&str]) -> Output {
    support::authprobe_in(dir, args, &[])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_breached_threshold_exits_1_names_it_and_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe(
        dir.path(),
        &[
            "load",
            "--iterations",
            "20",
            "--users",
            "2",
            "--pool",
            "10",
            "--threshold",
            "ttl 300: invocations_per_request < 0.9",
            "--threshold",
            "p50_ms < 0.000001",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("pass ttl 300: invocations_per_request < 0.9 (TTL 300)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL p50_ms < 0.000001 (TTL 0)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL p50_ms < 0.000001 (TTL 300)"),
        "{stdout}"
    );
    let run = support::run_dir(dir.path());
    for file in ["load.json", "load.md", "load.html", "junit.xml"] {
        assert!(
            run.join(file).is_file(),
            "{file} missing in {}",
            run.display()
        );
    }
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    // The scenario's own five rule-attack pairs and the four given here; 40 requests cannot
    // hold the scenario's invocations_per_request < 0.05 over 10 distinct tokens either.
    assert!(junit.contains("tests=\"8\""), "{junit}");
    assert!(junit.contains("failures=\"3\""), "{junit}");
    assert!(
        junit.contains("invocations_per_request &lt; 0.05 broken at TTL 300: measured 0.25"),
        "{junit}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("load.json")).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../docs/load.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let html = std::fs::read_to_string(run.join("load.html")).unwrap();
    assert!(html.contains("aria-label=\"latency over time\""));
    assert!(html.contains("aria-label=\"latency histogram\""));
    assert!(html.contains("aria-label=\"requests per second over time\""));
    assert!(html.contains("aria-label=\"errors per second over time\""));
    // Fits a narrow window: the page follows the device's width, every chart scales down with
    // it, and a wide table scrolls on its own.
    assert!(html.contains("name=\"viewport\" content=\"width=device-width"));
    assert_eq!(
        html.matches("<svg ").count(),
        html.matches("width=\"100%\" style=\"max-width:").count()
    );
    assert!(html.contains("<div class=\"wide\"><table>"));
    // No goose report beside it: goose's own page needs a CDN.
    assert!(!run.join("goose-ttl-0.html").exists());
    // Self-contained: nothing to run and nothing to fetch (the SVG namespace is a name, not a
    // fetch).
    let lower = html.to_ascii_lowercase();
    for fetches in [
        "<script",
        "src=",
        "href=\"http",
        "url(http",
        "@import",
        "<link",
    ] {
        assert!(!lower.contains(fetches), "load.html holds `{fetches}`");
    }
    // Nothing but the run's folder under reports/.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn json_on_stdout_is_the_report_alone_and_a_closed_pipe_never_costs_the_reports() {
    // 80 requests over 2 tokens: the scenario's own thresholds hold, so the verdict is 0.
    let args = ["load", "--iterations", "40", "--users", "2", "--pool", "2"];
    // `--json -`: stdout is the report and nothing else, the summary goes to stderr, and no
    // file named `-` is written.
    let dir = tempfile::tempdir().unwrap();
    let mut with_json = args.to_vec();
    with_json.extend(["--json", "-"]);
    let out = authprobe(dir.path(), &with_json);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the JSON report ({e}): {}", text(&out.stdout)));
    assert!(report["ttls"].is_array(), "{report}");
    assert!(
        text(&out.stderr).contains("reports: "),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("-").exists());

    // stdout closed before the run ends (`| head -0`): the reports are still written and the
    // exit code is the verdict's.
    let dir = tempfile::tempdir().unwrap();
    let mut child = support::authprobe_command()
        .args(args)
        .args(["--junit", "junit.xml"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run = support::run_dir(dir.path());
    for file in ["load.json", "load.md", "load.html"] {
        assert!(
            run.join(file).is_file(),
            "{file} missing: {}",
            text(&out.stderr)
        );
    }
    assert!(dir.path().join("junit.xml").is_file());
}

#[test]
fn load_against_a_remote_target_is_refused_before_any_request_unless_allowed_and_bounded() {
    // A listener on a non-loopback address of this machine would see the requests; the
    // refusal must come before any. 10.255.255.1 is not routed here: a connection attempt
    // would hang, the refusal is immediate.
    let dir = tempfile::tempdir().unwrap();
    for (args, needles) in [
        (
            vec!["load", "--target", "url:http://10.255.255.1/prod"],
            vec!["load goes to 127.0.0.1 and ::1 only", "--allow-remote"],
        ),
        (
            vec!["load", "--target", "invoke:http://10.255.255.1:9001"],
            vec!["not on this machine", "--allow-remote"],
        ),
        (
            vec!["load", "--target", "aws-lambda:my-authorizer"],
            vec!["not on this machine", "--allow-remote"],
        ),
        (
            vec![
                "load",
                "--target",
                "url:https://api.example.com/prod",
                "--allow-remote",
                "--run-time",
                "5s",
            ],
            vec!["needs both --max-requests and --run-time"],
        ),
    ] {
        let out = authprobe(dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        for n in needles {
            assert!(err.contains(n), "{args:?}: `{n}` missing from {err}");
        }
        assert!(!dir.path().join("reports").exists(), "nothing written");
    }
}

#[test]
fn ctrl_c_stops_the_attack_and_the_report_keeps_what_ran() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = support::authprobe_command()
        .args(["load", "--run-time", "60s", "--users", "2", "--pool", "10"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // Ctrl-C once the attack has answered requests: its progress line says how many.
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("attack with TTL 0 (no cache):")
            && line.contains("requests so far")
            && !line.contains(": 0 requests")
        {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("requests so far")),
        "the attack never got going: {seen:?}"
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen:?} {rest:?}");
    let run = support::run_dir(dir.path());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("load.json")).unwrap()).unwrap();
    assert_eq!(report["interrupted"], "SIGINT");
    assert_eq!(report["not_run"], serde_json::json!([300]));
    let first = &report["ttls"][0];
    assert_eq!(first["ttl"], 0);
    assert_eq!(first["completed"], false);
    assert!(first["requests"].as_u64().unwrap() > 0, "{first}");
    assert!(first["duration_s"].as_f64().unwrap() < 60.0);
    assert!(run.join("load.html").is_file());
}
