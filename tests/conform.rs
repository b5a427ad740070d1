//! `authprobe conform` end to end: the reference authorizers pass their own profiles, the
//! flawed Python example is caught on every planted mistake, a target that cannot start is
//! reported as such, snapshots catch a changed policy, and the reports are what they claim.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use authprobe::conform::profile::{self, ProfileSpec};
use authprobe::conform::verdict::Severity;
use authprobe::conform::{self, CaseResult, ConformOptions, RunReport, Status};
use authprobe::target::TargetSpec;
use authprobe::tokens::{Profile, TokenUse};

fn authprobe(dir: &Path, args: &[&str]) -> Output {
    authprobe_with(dir, args, &[])
}

/// The binary in `dir` as a user would run it there, plus `env`.
fn authprobe_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    support::authprobe_in(dir, args, env)
}

/// Every `.snap` file under `dir`, relative to it, sorted.
fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, found);
            } else if path.extension().is_some_and(|e| e == "snap") {
                found.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, dir, &mut found);
    found.sort();
    found
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn bootstrap() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/runtime/bootstrap.py")
        .display()
        .to_string()
}

fn options(profile: ProfileSpec, target: TargetSpec, env: &[(&str, &str)]) -> ConformOptions {
    ConformOptions {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        // The flawed example never refetches: no need to wait the full window for it.
        rotation_window: Duration::from_secs(3),
        ..ConformOptions::new(profile, target)
    }
}

async fn run(options: &ConformOptions) -> RunReport {
    conform::run(options, &mut |_| {})
        .await
        .expect("the run starts")
}

fn case<'a>(report: &'a RunReport, name: &str) -> &'a CaseResult {
    report
        .cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn has(report: &RunReport, name: &str, severity: Severity) -> bool {
    case(report, name)
        .findings
        .iter()
        .any(|f| f.severity == severity)
}

fn explain(report: &RunReport) -> String {
    report
        .cases
        .iter()
        .filter(|c| c.status != Status::Passed)
        .map(|c| format!("{} {:?} {:?}: {}", c.name, c.status, c.observed, c.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The cognito profile with ID tokens required: the ID-token kind in place of the access-token
/// one, and no client_id case (ID tokens carry the client in aud).
fn cognito_id_profile() -> ProfileSpec {
    // As `--token-use id` makes it.
    profile::builtin_for("cognito", Some(TokenUse::Id)).unwrap()
}

#[tokio::test]
async fn each_reference_authorizer_passes_its_own_profile_without_a_warning() {
    for name in ["static", "hs256", "jwks", "cognito"] {
        let spec = profile::builtin(name).unwrap();
        let target = TargetSpec::Builtin(spec.profile);
        let report = run(&options(spec, target, &[])).await;
        let s = &report.summary;
        assert_eq!(
            (s.failed, s.warned, s.errored),
            (0, 0, 0),
            "{name}:\n{}",
            explain(&report)
        );
        assert!(s.passed > 0);
        assert!(
            report.calibration.is_none(),
            "{name}: calibration ran on an authorizer that accepts the profile's form"
        );
        // Nothing is skipped: missing-header runs through the gateway emulator.
        let skipped: Vec<&str> = report
            .cases
            .iter()
            .filter(|c| c.status == Status::Skipped)
            .map(|c| c.name.as_str())
            .collect();
        assert!(skipped.is_empty(), "{name}: {skipped:?}");
        // Each case reports what a client would see.
        let missing = case(&report, "missing-header");
        assert_eq!(missing.http_status, Some(401), "{name}");
        assert_eq!(
            missing.observed,
            Some(authprobe::target::Outcome::Unauthorized)
        );
        assert_eq!(
            case(&report, "valid-again").http_status,
            Some(200),
            "{name}"
        );
        let cached_deny = case(&report, "cached-deny");
        assert!(
            cached_deny
                .notes
                .iter()
                .any(|n| n.contains("401 is not cached")),
            "{name}: {:?}",
            cached_deny.notes
        );
        assert_eq!(report.exit_code(), 0);
        assert_eq!(report.attacker_fetches, 0);
    }
}

#[tokio::test]
async fn the_cognito_reference_authorizer_passes_when_id_tokens_are_required() {
    let spec = cognito_id_profile();
    let report = run(&options(spec, TargetSpec::Builtin(Profile::Cognito), &[])).await;
    let s = &report.summary;
    assert_eq!(
        (s.failed, s.warned, s.errored),
        (0, 0, 0),
        "{}",
        explain(&report)
    );
    assert!(report.calibration.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_python_authorizer_passes_the_cognito_profile_without_calibrating() {
    let mut opts = options(
        profile::builtin("cognito").unwrap(),
        support::python::example_target(),
        &[
            ("AUTH_PROFILE", "cognito"),
            ("JWKS_URL", "{jwks_url}"),
            ("ISSUER", "{issuer}"),
            ("CLIENT_ID", "{client_id}"),
            ("TOKEN_USE", "{token_use}"),
        ],
    );
    opts.workdir = Some(support::python::example_dir("correct"));
    // Its refetch limit counts from the cold-start fetch: give rotation the full window.
    opts.rotation_window = Duration::from_secs(12);
    let report = run(&opts).await;
    let s = &report.summary;
    assert_eq!(
        (s.failed, s.warned, s.errored, s.skipped),
        (0, 0, 0, 0),
        "{}",
        explain(&report)
    );
    assert!(report.calibration.is_none(), "{:?}", report.calibration);
}

/// A Python example under its real runtime client (both take the same command).
const FLAWED_ENV: &[(&str, &str)] = &[
    ("AUTH_PROFILE", "cognito"),
    ("JWKS_URL", "{jwks_url}"),
    ("ISSUER", "{issuer}"),
    ("CLIENT_ID", "{client_id}"),
    ("TOKEN_USE", "{token_use}"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_planted_mistake_of_the_flawed_authorizer_is_reported_as_its_kind_of_failure() {
    // Access tokens required: the mistakes that show on access tokens.
    let mut opts = options(
        profile::builtin("cognito").unwrap(),
        support::python::example_target(),
        FLAWED_ENV,
    );
    opts.workdir = Some(support::python::example_dir("flawed"));
    let access = run(&opts).await;
    assert_eq!(access.exit_code(), 1);
    // (f) aud checked on access tokens, which have none: good tokens refused. Calibration finds
    // that an access token with aud = the app client id is allowed, reports that once as the
    // root cause, and judges the rest on it.
    let calibration = access.calibration.as_ref().expect("calibration ran");
    assert_eq!(
        calibration.baseline.as_deref(),
        Some("aud-present"),
        "{calibration:?}"
    );
    assert_eq!(
        access.causes[0].kind,
        authprobe::conform::cause::CauseKind::RootCause
    );
    assert!(
        has(&access, "calibration", Severity::Availability),
        "{}",
        explain(&access)
    );
    assert_eq!(case(&access, "calibration").http_status, Some(403));
    // (g) token_use ignored: an ID token gets in where an access token is required.
    assert!(
        has(&access, "token-use-swapped", Severity::Security),
        "{}",
        explain(&access)
    );
    // (b) Deny instead of Unauthorized.
    assert!(
        has(&access, "expired", Severity::Contract),
        "{}",
        explain(&access)
    );
    assert_eq!(
        case(&access, "expired").observed,
        Some(authprobe::target::Outcome::Deny)
    );
    // Through the gateway: what a client sees.
    assert_eq!(case(&access, "expired").http_status, Some(403));
    assert_eq!(case(&access, "token-use-swapped").http_status, Some(200));
    // Behind the root cause, on the calibrated baseline, the good token gets in and the
    // mistakes the ID-token run below shows show here too: (a), (d), (e).
    assert_eq!(case(&access, "cognito-access").http_status, Some(200));
    for (name, severity) in [
        ("bearer-double-space", Severity::Hardening),
        ("kid-missing", Severity::Hardening),
        ("key-rotation", Severity::Availability),
    ] {
        assert!(has(&access, name, severity), "{name}: {}", explain(&access));
    }
    // A wrong client_id beside the right aud is no token Cognito issues: not judged.
    assert_eq!(case(&access, "client-id-wrong").status, Status::Skipped);

    // ID tokens required: good tokens get in, so the mistakes behind them show too.
    let spec = cognito_id_profile();
    let mut opts = options(spec, support::python::example_target(), FLAWED_ENV);
    opts.workdir = Some(support::python::example_dir("flawed"));
    let id = run(&opts).await;
    assert_eq!(id.exit_code(), 1);
    // (a) no Bearer stripping (it takes the last word of the header): a malformed header gets
    // in. The token inside is valid: a weakness, not a way in (hardening).
    assert!(
        has(&id, "bearer-double-space", Severity::Hardening),
        "{}",
        explain(&id)
    );
    // (d) kid read without a check (it falls back to the first key). The signatures are
    // genuine, by a published key: only the issuer's tokens get in (hardening); what it costs
    // is the rotation finding (e).
    assert!(
        has(&id, "kid-missing", Severity::Hardening),
        "{}",
        explain(&id)
    );
    assert!(
        has(&id, "kid-unknown", Severity::Hardening),
        "{}",
        explain(&id)
    );
    assert!(
        !has(&id, "kid-unknown", Severity::Security),
        "a genuine signature is no forgery: {}",
        explain(&id)
    );
    // (e) JWKS never refetched: a rotated-in key is never seen.
    assert!(
        has(&id, "key-rotation", Severity::Availability),
        "{}",
        explain(&id)
    );
    assert_eq!(case(&id, "key-rotation").status, Status::Failed);
    // (c) Resource = the exact methodArn while results are cached: other routes get 403,
    // observed through the gateway's live cache (a note on the case; the finding keeps the
    // policy's words, so every case that shows this policy shape is one cause).
    assert!(
        has(&id, "cognito-id", Severity::Contract),
        "{}",
        explain(&id)
    );
    assert!(
        case(&id, "cognito-id")
            .notes
            .iter()
            .any(|n| n.contains("got 403 on POST /items")),
        "{}",
        explain(&id)
    );
    let shape = id
        .causes
        .iter()
        .filter(|c| c.message.starts_with("the Allow does not cover"))
        .collect::<Vec<_>>();
    assert_eq!(shape.len(), 1, "one policy shape, one cause: {shape:#?}");
    assert!(
        shape[0].cases.iter().any(|c| c == "key-rotation")
            || !has(&id, "key-rotation", Severity::Contract),
        "{shape:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_python_authorizer_passes_the_jwks_profile_through_the_gateway() {
    let mut opts = options(
        profile::builtin("jwks").unwrap(),
        support::python::example_target(),
        &[
            ("AUTH_PROFILE", "jwks"),
            ("JWKS_URL", "{jwks_url}"),
            ("ISSUER", "{issuer}"),
            ("AUDIENCE", "{audience}"),
            // Short ones, as the README's command has: jwks-slow then waits 1 s, and the
            // rotated-in key is fetched within 2 s of the cold-start fetch.
            ("JWKS_TIMEOUT_SECONDS", "{jwks_timeout}"),
            ("JWKS_REFETCH_SECONDS", "2"),
        ],
    );
    opts.workdir = Some(support::python::example_dir("correct"));
    // Not the default 100 ms: a busy test machine may be slow to serve even a good fetch.
    opts.profile.jwks_timeout = Duration::from_secs(1);
    opts.rotation_window = Duration::from_secs(5);
    let report = run(&opts).await;
    let s = &report.summary;
    assert_eq!(
        (s.failed, s.warned, s.errored, s.skipped),
        (0, 0, 0, 0),
        "{}",
        explain(&report)
    );
    assert!(
        report.calibration.is_none(),
        "calibration ran on an authorizer that accepts the profile's form"
    );
    // What a client sees: 200 for the good token, 401 for the bad ones, and the 1 MB token
    // refused by API Gateway itself (431) without reaching the authorizer.
    assert_eq!(case(&report, "valid").http_status, Some(200));
    assert_eq!(case(&report, "expired").http_status, Some(401));
    assert_eq!(case(&report, "oversized").http_status, Some(431));
    assert_eq!(case(&report, "oversized").observed, None);
}

/// The correct Python example behind a stand-in invoke endpoint (a Python process serving
/// the Lambda invoke API, as the RIE in Docker would), configured before the run with the
/// JWKS URL of an IdP address fixed with `--idp-addr`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_python_authorizer_behind_an_invoke_endpoint_passes_every_case_including_rotation()
 {
    let standin = support::python::InvokeStandIn::start();

    let mut opts = options(
        profile::builtin("jwks").unwrap(),
        TargetSpec::Invoke(format!("http://127.0.0.1:{}", standin.port)),
        &[],
    );
    opts.idp.addr = format!("127.0.0.1:{}", standin.idp_port).parse().unwrap();
    opts.rotation_window = Duration::from_secs(12);
    let report = run(&opts).await;
    drop(standin);
    let s = &report.summary;
    assert_eq!(
        (s.failed, s.warned, s.errored),
        (0, 0, 0),
        "{}",
        explain(&report)
    );
    assert_eq!(case(&report, "key-rotation").status, Status::Passed);
    assert!(report.calibration.is_none());
}

#[test]
fn conform_with_no_arguments_passes_and_writes_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe(dir.path(), &["conform"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("PASSED"), "{stdout}");
    let run = support::run_dir(dir.path());
    for file in ["report.json", "report.md", "junit.xml"] {
        assert!(run.join(file).exists(), "{file}");
    }
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuite") && !junit.contains("<failure"),
        "{junit}"
    );
    let suite = junit.lines().find(|l| l.contains("<testsuite ")).unwrap();
    assert!(
        suite.contains(" timestamp=\"") && suite.contains(" time=\""),
        "{suite}"
    );
}

#[test]
fn the_json_report_matches_its_published_schema() {
    let dir = tempfile::tempdir().unwrap();
    // A target that allows everything: failures, warnings, skips and responses all appear.
    let target = format!("lambda:python3 {}", bootstrap());
    let out = authprobe(
        dir.path(),
        &[
            "conform",
            "--profile",
            "static",
            "--target",
            &target,
            "--env",
            "MODE=allow",
            "--json",
            "out.json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../docs/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // The gateway refuses empty-header with 401 before the authorizer; the same wrong token
    // gets in three times.
    assert_eq!(
        report["summary"]["security"], 3,
        "wrong-static-token, cached-deny and cache-key got in"
    );
}

/// The failures of the static profile against an authorizer that allows everything, as a
/// person reads them at `COLUMNS` columns, with `--color COLOR`: a line per case, a block per
/// cause, the summary; timings and the reports folder dropped (they change per run). The
/// handler is copied into the run's folder so that its path, and so the wrapping, is the same
/// on every checkout.
fn failures_at(columns: &str, color: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(bootstrap(), dir.path().join("bootstrap.py")).unwrap();
    let out = authprobe_with(
        dir.path(),
        &[
            "conform",
            "--profile",
            "static",
            "--target",
            "lambda:python3 bootstrap.py",
            "--env",
            "MODE=allow",
            "--no-snapshots",
            "--color",
            color,
        ],
        &[("COLUMNS", columns)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // Case lines that passed or were skipped, and the summary's time, reports and latency
    // rows, with the lines they wrap onto.
    let volatile = regex::Regex::new("^(  (ok|skip) |\\s*(time|reports|latency)  )").unwrap();
    let mut stable = Vec::new();
    let mut skipping = false;
    for line in stdout.lines() {
        let plain = strip_escapes(line);
        if volatile.is_match(&plain) {
            skipping = true;
        } else if !plain.starts_with("        ") {
            skipping = false;
        }
        if !skipping {
            stable.push(line);
        }
    }
    stable.join("\n")
}

/// `text` without its SGR escape sequences.
fn strip_escapes(text: &str) -> String {
    regex::Regex::new("\x1b\\[[0-9;]*m")
        .unwrap()
        .replace_all(text, "")
        .into_owned()
}

#[test]
fn failures_read_as_blocks_with_expected_actual_why_and_fix() {
    insta::assert_snapshot!(failures_at("100", "never"));
}

#[test]
fn at_80_columns_every_line_wraps_under_its_label_and_colour_takes_no_width() {
    let plain = failures_at("80", "never");
    let coloured = failures_at("80", "always");
    insta::assert_snapshot!("failures_at_80_columns", plain);
    insta::assert_snapshot!("failures_at_80_columns_in_colour", coloured);
    // Only a word longer than the room left (an ARN, a command) runs past 80 columns, alone
    // on its line after the label.
    let label = regex::Regex::new("^(   = [a-z ]+: +|\\s+)").unwrap();
    for line in plain.lines() {
        let overlong = line.chars().count() > 80;
        let rest = label.replace(line, "");
        assert!(
            !overlong || !rest.contains(' ') || line.contains("= rerun"),
            "wider than 80: {line}"
        );
    }
    // The same text wrapped at the same places: colour adds escapes, never width.
    assert_eq!(strip_escapes(&coloured), plain);
    assert!(coloured.contains("\x1b["), "{coloured}");
}

#[test]
fn a_target_that_cannot_start_exits_3_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("lambda:python3 {}", bootstrap());
    let out = authprobe(
        dir.path(),
        &["conform", "--target", &target, "--env", "MODE=exit-early"],
    );
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: lambda:python3"), "{stderr}");
    assert!(
        stderr.contains("before asking for an invocation"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bootstrap: missing configuration, giving up"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_profile_names_its_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.toml"),
        "profile = \"jwks\"\n\n[run]\ncases = [\n  { kind = \"valid\", expect = \"allow\" },\n  { kind = \"expird\", expect = \"reject\" },\n]\n",
    )
    .unwrap();
    let out = authprobe(dir.path(), &["conform", "--scenario", "mine.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: mine.toml:6:12: unknown token kind `expird`; did you mean `expired`?"
        ),
        "{stderr}"
    );
}

#[test]
fn snapshots_are_written_then_matched_then_a_change_fails_with_a_diff_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("one.toml"),
        "profile = \"jwks\"\n[run]\ncases = [{ kind = \"valid\", expect = \"allow\" }]\n",
    )
    .unwrap();
    let target = format!("lambda:python3 {}", bootstrap());
    let run = |principal: &str, extra: &[&str]| {
        let env = format!("PRINCIPAL={principal}");
        let mut args = vec![
            "conform",
            "--scenario",
            "one.toml",
            "--target",
            &target,
            "--env",
            "MODE=allow",
            "--env",
            &env,
            "--cache-ttl",
            "0",
            "--snapshots",
            "snaps",
        ];
        args.extend_from_slice(extra);
        authprobe(dir.path(), &args)
    };
    let snap = dir.path().join("snaps/valid.snap");

    let first = run("user-1234", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stdout));
    assert!(
        text(&first.stdout).contains("0 matched, 1 new"),
        "{}",
        text(&first.stdout)
    );
    assert!(
        std::fs::read_to_string(&snap)
            .unwrap()
            .contains("\"principalId\": \"user-1234\"")
    );

    let second = run("user-1234", &[]);
    assert_eq!(second.status.code(), Some(0));
    assert!(
        text(&second.stdout).contains("1 matched, 0 new"),
        "{}",
        text(&second.stdout)
    );

    // A policy that changed: the principal is no longer the token's sub.
    let changed = run("someone-else", &[]);
    assert_eq!(changed.status.code(), Some(1));
    let stdout = text(&changed.stdout);
    assert!(stdout.contains("error[regression] C1: valid"), "{stdout}");
    assert!(
        stdout.contains("-  \"principalId\": \"user-1234\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("+  \"principalId\": \"someone-else\""),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(&snap)
            .unwrap()
            .contains("user-1234"),
        "not accepted yet"
    );

    let accepted = run("someone-else", &["--update-snapshots"]);
    assert!(
        text(&accepted.stdout).contains("1 updated"),
        "{}",
        text(&accepted.stdout)
    );
    assert!(
        std::fs::read_to_string(&snap)
            .unwrap()
            .contains("someone-else")
    );
    let after = run("someone-else", &[]);
    assert!(
        text(&after.stdout).contains("1 matched"),
        "{}",
        text(&after.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_on_the_good_path_is_one_cause_with_its_type_message_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.py"),
        "def handler(event, context):\n    token = event.get(\"authorizationToken\")\n    return verify(token)\n",
    )
    .unwrap();
    let mut opts = options(
        profile::builtin("static").unwrap(),
        support::python::example_target(),
        &[],
    );
    opts.workdir = Some(dir.path().to_path_buf());
    let report = run(&opts).await;
    // Cases the gateway answers without invoking (no header, an empty one) prove nothing when
    // no good token gets in either: inconclusive, beside the crash.
    let asked = report
        .cases
        .iter()
        .filter(|c| {
            !matches!(
                c.status,
                Status::Skipped | Status::Passed | Status::Inconclusive
            )
        })
        .count();
    assert!(
        report
            .cases
            .iter()
            .any(|c| c.name == "missing-header" && c.status == Status::Inconclusive),
        "{}",
        explain(&report)
    );
    let first = &report.causes[0];
    assert!(first.covers_every_case, "{:#?}", report.causes);
    assert_eq!(first.cases.len(), asked);
    assert!(
        first
            .message
            .contains("NameError: name 'verify' is not defined at ")
            && first.message.ends_with("app.py:3"),
        "{}",
        first.message
    );
    // Printed once, with the count, not once per case.
    let mut out = Vec::new();
    let mut terminal = authprobe::report::Terminal::new(&mut out, false).with_width(100);
    terminal.finish(&report, None);
    let printed = text(&out);
    assert_eq!(
        printed.matches("failed: raised NameError").count(),
        1,
        "{printed}"
    );
    assert!(printed.contains(&format!("{asked} cases")), "{printed}");
    assert!(printed.contains("fix it first"), "{printed}");
}

#[test]
fn in_ci_snapshots_never_accepted_fail_the_run_as_one_cause_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe_with(
        dir.path(),
        &["conform", "--profile", "static"],
        &[("CI", "true")],
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    // One cause, listing every case whose snapshot is missing, with the folder to commit.
    assert_eq!(
        stdout
            .matches("no accepted snapshot of the policy document")
            .count(),
        1,
        "{stdout}"
    );
    // (Read with the block's wrapped lines joined back.)
    let flat = stdout.replace(&format!("\n{}", " ".repeat(15)), " ");
    assert!(
        flat.contains("and commit scenarios/snapshots/static/builtin-static/"),
        "{stdout}"
    );
    assert!(stdout.contains("missing"), "{stdout}");
    // Nothing written, no folder made.
    assert!(!dir.path().join("scenarios").exists(), "{stdout}");

    // --ci does the same without the variable.
    let out = authprobe(dir.path(), &["conform", "--profile", "static", "--ci"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(!dir.path().join("scenarios").exists());

    // A run that writes nothing still cannot read a folder under a file: it stops before any
    // case instead of failing each case's snapshot.
    std::fs::write(dir.path().join("file"), "").unwrap();
    let out = authprobe(
        dir.path(),
        &[
            "conform",
            "--profile",
            "static",
            "--ci",
            "--snapshots",
            "file/snaps",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("cannot use the snapshot folder"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stdout).contains("allow-token"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn authprobes_own_variables_steer_snapshots_and_the_users_insta_settings_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let static_run = |env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["conform", "--profile", "static"];
        args.extend_from_slice(extra);
        authprobe_with(dir.path(), &args, env)
    };
    // The user's insta settings, meant for their Rust tests, change nothing.
    let insta = static_run(
        &[
            ("CI", "true"),
            ("INSTA_FORCE_PASS", "1"),
            ("INSTA_UPDATE", "always"),
        ],
        &[],
    );
    assert_eq!(insta.status.code(), Some(1), "{}", text(&insta.stdout));
    assert!(snapshot_files(dir.path()).is_empty());
    // AUTHPROBE_FORCE_PASS: missing snapshots are counted, not failed.
    let forced = static_run(&[("CI", "true"), ("AUTHPROBE_FORCE_PASS", "1")], &[]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stdout));
    assert!(
        text(&forced.stdout).contains("missing"),
        "{}",
        text(&forced.stdout)
    );
    // AUTHPROBE_UPDATE_SNAPSHOTS=always writes them, CI or not.
    let written = static_run(
        &[("CI", "true"), ("AUTHPROBE_UPDATE_SNAPSHOTS", "always")],
        &[],
    );
    assert_eq!(written.status.code(), Some(0), "{}", text(&written.stdout));
    assert!(!snapshot_files(dir.path()).is_empty());
    // A setting that forbids what --update-snapshots asks is bad usage; so is a wrong value.
    let refused = static_run(
        &[("AUTHPROBE_UPDATE_SNAPSHOTS", "no")],
        &["--update-snapshots"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("AUTHPROBE_UPDATE_SNAPSHOTS=no"),
        "{}",
        text(&refused.stderr)
    );
    let wrong = static_run(&[("AUTHPROBE_UPDATE_SNAPSHOTS", "sometimes")], &[]);
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong.stderr));
}

#[test]
fn the_same_handler_spelled_two_ways_from_two_checkouts_keeps_its_snapshots_in_one_folder() {
    let python3 = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 runs");
    let python3 = PathBuf::from(text(&python3.stdout).trim());
    let mut found = Vec::new();
    for (n, workdir_absolute) in [(1, true), (2, false)] {
        // A fresh checkout: the handler and a profile, in a temp dir of its own.
        let checkout = tempfile::tempdir().unwrap();
        std::fs::create_dir(checkout.path().join("handler")).unwrap();
        std::fs::copy(bootstrap(), checkout.path().join("handler/bootstrap.py")).unwrap();
        std::fs::write(
            checkout.path().join("one.toml"),
            "profile = \"jwks\"\n[run]\ncases = [{ kind = \"valid\", expect = \"allow\" }]\n",
        )
        .unwrap();
        // The interpreter spelled two ways: a virtualenv's `python` inside the checkout
        // (absolute), and `python3` from the PATH.
        let python = if n == 1 {
            let venv = checkout.path().join(".venv");
            std::fs::create_dir_all(venv.join("bin")).unwrap();
            std::os::unix::fs::symlink(&python3, venv.join("bin/python")).unwrap();
            venv.join("bin/python").display().to_string()
        } else {
            "python3".to_string()
        };
        let target = format!(
            "lambda:{python} {}",
            checkout.path().join("handler/bootstrap.py").display()
        );
        let workdir = if workdir_absolute {
            checkout.path().join("handler").display().to_string()
        } else {
            "./handler".to_string()
        };
        let out = authprobe(
            checkout.path(),
            &[
                "conform",
                "--scenario",
                "one.toml",
                "--target",
                &target,
                "--workdir",
                &workdir,
                "--env",
                "MODE=allow",
                "--cache-ttl",
                "0",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        found.push(snapshot_files(checkout.path()));
    }
    assert_eq!(
        found[0],
        [PathBuf::from(
            "scenarios/snapshots/one.toml/lambda-handler-bootstrap.py-in-handler/valid.snap"
        )]
    );
    assert_eq!(found[0], found[1]);
}

/// A static authorizer written with a mistake of form: it wants `Bearer allow-token` where the
/// profile says clients send `allow-token`.
const BEARER_STATIC: &str = r#"
def handler(event, context):
    if event.get("authorizationToken") == "Bearer allow-token":
        api = event["methodArn"].split("/")[0]
        return {"principalId": "user-1234", "policyDocument": {"Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api + "/*/*"}]}}
    raise Exception("Unauthorized")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibration_reports_a_header_form_mistake_once_and_judges_the_rest_on_the_accepted_form() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.py"), BEARER_STATIC).unwrap();
    let mut opts = options(
        profile::builtin("static").unwrap(),
        support::python::example_target(),
        &[],
    );
    opts.workdir = Some(dir.path().to_path_buf());
    let report = run(&opts).await;
    let calibration = report.calibration.as_ref().expect("calibration ran");
    assert_eq!(
        calibration.baseline.as_deref(),
        Some("bearer-scheme"),
        "{calibration:?}"
    );
    // The root cause, once, first; nothing else is wrong with this authorizer.
    assert_eq!(report.causes.len(), 1, "{}", explain(&report));
    let root = &report.causes[0];
    assert_eq!(root.kind, authprobe::conform::cause::CauseKind::RootCause);
    assert!(
        root.message.contains("(`allow-token`) is refused") && root.message.contains("`Bearer `"),
        "{}",
        root.message
    );
    assert_eq!(root.cases, vec!["calibration"]);
    assert_eq!(report.summary.failed, 1, "{}", explain(&report));
    assert_eq!(case(&report, "wrong-static-token").status, Status::Passed);

    // Without calibration every case is judged on the refused form: the mistake shows
    // everywhere and nothing is learnt about the rest.
    opts.calibrate = false;
    let blind = run(&opts).await;
    assert!(blind.calibration.is_none());
    assert!(blind.summary.failed > 1, "{}", explain(&blind));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_masked_example_shows_its_bearer_root_cause_once_and_every_defect_behind_it() {
    let mut opts = options(
        profile::builtin("cognito").unwrap(),
        support::python::example_target(),
        &[
            ("JWKS_URL", "{jwks_url}"),
            ("ISSUER", "{issuer}"),
            ("CLIENT_ID", "{client_id}"),
        ],
    );
    opts.workdir = Some(support::python::example_dir("masked"));
    let report = run(&opts).await;
    let calibration = report.calibration.as_ref().expect("calibration ran");
    assert_eq!(
        calibration.baseline.as_deref(),
        Some("bare-token"),
        "{calibration:?}"
    );
    // The root cause, once and first.
    let root = &report.causes[0];
    assert_eq!(root.kind, authprobe::conform::cause::CauseKind::RootCause);
    assert!(
        root.fix.contains("strip the `Bearer ` scheme"),
        "{}",
        root.fix
    );
    let roots = report
        .causes
        .iter()
        .filter(|c| c.kind == authprobe::conform::cause::CauseKind::RootCause)
        .count();
    assert_eq!(roots, 1);
    let has = |name: &str, severity: Severity| {
        case(&report, name)
            .findings
            .iter()
            .any(|f| f.severity == severity)
    };
    // Behind it: iss is never checked. A Cognito pool signs with keys of its own, so only the
    // pool could sign another iss: hardening (with shared keys it would be security).
    for name in [
        "iss-wrong",
        "iss-missing",
        "iss-trailing-slash",
        "iss-prefix",
    ] {
        assert!(
            has(name, Severity::Hardening),
            "{name}: {}",
            explain(&report)
        );
    }
    // An ID token where an access token is required.
    assert!(has("token-use-swapped", Severity::Security));
    // A header without kid crashes the handler, and the crash is located.
    let kid = case(&report, "kid-missing");
    assert!(has("kid-missing", Severity::Availability));
    assert!(
        kid.detail.contains("KeyError") && kid.detail.contains("masked/app.py:"),
        "{}",
        kid.detail
    );
    // The JWKS is never refetched.
    assert!(has("key-rotation", Severity::Availability));
    // Rejections are Deny policies: one contract cause covering them.
    assert!(has("expired", Severity::Contract));
    assert!(has("alg-none", Severity::Contract));
    let deny = report
        .causes
        .iter()
        .find(|c| c.cases.iter().any(|n| n == "expired"))
        .unwrap();
    assert!(deny.cases.len() > 30, "{deny:?}");
    // What the authorizer does right stays right on the calibrated baseline.
    for name in [
        "cognito-access",
        "valid-within-leeway",
        "valid-again",
        "expired",
        "alg-none",
    ] {
        assert!(
            !has(name, Severity::Security) && !has(name, Severity::Availability),
            "{name}: {}",
            explain(&report)
        );
    }
}

#[test]
fn list_prints_the_cases_and_their_expectations_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe(dir.path(), &["conform", "--profile", "static", "--list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let first: Vec<&str> = stdout.lines().next().unwrap().split('\t').collect();
    assert_eq!(
        first[..3],
        ["allow-token", "allow", "GET /hello"],
        "{stdout}"
    );
    assert!(stdout.contains("wrong-static-token\treject\t"), "{stdout}");
    assert!(!dir.path().join("reports").exists(), "nothing ran");
}

#[test]
fn case_runs_only_the_matching_cases_and_a_pattern_matching_none_is_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe(
        dir.path(),
        &[
            "conform",
            "--profile",
            "static",
            "--no-snapshots",
            "--case",
            "allow-*",
            "--case",
            "wrong-static-t?ken",
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("conform 2 cases"), "{stdout}");
    assert!(stdout.contains("allow-token") && stdout.contains("wrong-static-token"));
    assert!(!stdout.contains("empty-header"), "{stdout}");

    let none = authprobe(
        dir.path(),
        &["conform", "--profile", "static", "--case", "kid-*"],
    );
    assert_eq!(none.status.code(), Some(2));
    assert!(
        text(&none.stderr).contains("--case kid-* matches no case"),
        "{}",
        text(&none.stderr)
    );
}

#[test]
fn quiet_prints_the_summary_without_a_line_per_case() {
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe(
        dir.path(),
        &["conform", "--profile", "static", "--no-snapshots", "-q"],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("PASSED"), "{stdout}");
    assert!(!stdout.contains("allow-token"), "{stdout}");
    assert!(!stdout.contains("conform 5 cases"), "{stdout}");
}

#[test]
fn json_to_stdout_leaves_stdout_exactly_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe(
        dir.path(),
        &[
            "conform",
            "--profile",
            "static",
            "--no-snapshots",
            "--json",
            "-",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(report["summary"]["failed"], 0);
    assert!(
        text(&out.stderr).contains("PASSED"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("-").exists());

    let same = authprobe(
        dir.path(),
        &[
            "conform",
            "--profile",
            "static",
            "--json",
            "r.out",
            "--junit",
            "./r.out",
        ],
    );
    assert_eq!(same.status.code(), Some(2), "{}", text(&same.stderr));
}

/// What a run found, without what differs from run to run (times, tokens, documents).
fn verdicts(report: &RunReport) -> Vec<String> {
    report
        .cases
        .iter()
        .map(|c| {
            let findings: Vec<&str> = c.findings.iter().map(|f| f.message.as_str()).collect();
            format!(
                "{} {:?} {:?} {:?} {:?} {} {findings:?}",
                c.name, c.status, c.observed, c.http_status, c.reason, c.detail
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_run_side_by_side_find_exactly_what_they_find_one_after_another() {
    for profile_name in ["jwks", "static"] {
        let spec = profile::builtin(profile_name).unwrap();
        let target = TargetSpec::Builtin(spec.profile);
        // Every single-token case twice more, under other names: more cases in flight at once.
        let mut spec = spec;
        let extra: Vec<_> = spec
            .cases
            .iter()
            .filter(|c| matches!(c.kind, profile::CaseKind::Token(_)))
            .flat_map(|c| {
                (1..=2).map(move |n| profile::CaseSpec {
                    name: format!("{}-again-{n}", c.name),
                    ..c.clone()
                })
            })
            .collect();
        spec.cases.extend(extra);
        let mut one = ConformOptions::new(spec.clone(), target.clone());
        one.jobs = Some(1);
        let mut many = ConformOptions::new(spec, target);
        many.jobs = Some(8);
        let (one, many) = (run(&one).await, run(&many).await);
        assert_eq!(verdicts(&one), verdicts(&many), "{profile_name}");
        assert!(
            one.summary.passed > 0 && one.summary.failed == 0,
            "{}",
            explain(&one)
        );
    }
}

#[test]
fn a_json_report_to_a_fifo_is_written_into_it_and_the_fifo_stays() {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("report.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // The reader blocks until a writer opens the FIFO and reads until it closes it.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let out = authprobe(
        dir.path(),
        &[
            "conform",
            "--profile",
            "static",
            "--no-snapshots",
            "--json",
            fifo.to_str().unwrap(),
        ],
    );
    if !reader.is_finished() {
        // Nothing wrote to it: open and close it once so the reader ends and the test fails
        // on what it read instead of hanging. Non-blocking: the reader holds the other end.
        drop(
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo),
        );
    }
    let written = reader.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&written).unwrap_or_else(|e| panic!("{e}: {written:?}"));
    assert_eq!(report["profile"], "static");
    let node = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(
        node.file_type().is_fifo(),
        "replaced by {:?}",
        node.file_type()
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("report."))
        .collect();
    assert_eq!(left, ["report.fifo"], "no temporary file is left beside it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_api_authorizer_rejecting_with_is_authorized_false_gets_no_contract_warning_and_one_true_finding()
 {
    let mut spec = profile::builtin("jwks").unwrap();
    spec.event = authprobe::event::EventKind::V2;
    spec.simple_responses = true;
    // An IdP that signs with a key as soon as it publishes it: a refusal during the refetch
    // cooldown then reaches callers (with the jwks profile's margin of a week, it would not).
    spec.key_publish_ahead = Duration::ZERO;
    let mut opts = options(
        spec,
        support::python::example_target(),
        &[
            ("AUTH_PROFILE", "jwks"),
            ("JWKS_URL", "{jwks_url}"),
            ("ISSUER", "{issuer}"),
            ("AUDIENCE", "{audience}"),
        ],
    );
    opts.workdir = Some(support::python::example_dir("http-v2"));
    // The example's refetch cooldown (10 s) counts from its cold-start fetch.
    opts.rotation_window = Duration::from_secs(12);
    let report = run(&opts).await;
    let s = &report.summary;
    // Rejections are 403 `isAuthorized: false`: the documented way on an HTTP API, so not
    // one contract warning. One finding, and a true one: the rotated-in key arrives during
    // the refetch cooldown, the refusal is a simple response that API Gateway caches, and
    // the token stays refused for the result TTL, whatever the authorizer does next.
    assert_eq!(
        (s.failed, s.warned, s.errored),
        (1, 0, 0),
        "{}",
        explain(&report)
    );
    let rotation = case(&report, "key-rotation");
    assert_eq!(rotation.status, Status::Failed);
    assert!(
        rotation.findings[0].why.contains("API Gateway caches"),
        "{:?}",
        rotation.findings
    );
    assert!(report.calibration.is_none());
    assert_eq!(case(&report, "expired").http_status, Some(403));
    assert_eq!(case(&report, "valid").http_status, Some(200));
}

/// The correct example with one quirk (tests/fixtures/calibration/app.py): a folder holding
/// the quirk as `app.py` and the correct example beside it as `correct.py`.
fn quirky_example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        support::python::example_dir("correct").join("app.py"),
        dir.path().join("correct.py"),
    )
    .unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/calibration/app.py"),
        dir.path().join("app.py"),
    )
    .unwrap();
    dir
}

/// Runs `profile` against the correct example with `quirk`, configured by `env` besides the
/// IdP's placeholders, and asserts that calibration settled on `variant`: the root cause once,
/// first, with `severity`; every other case passed, but `skipped`, each skipped case saying
/// why it cannot be judged on this baseline.
async fn assert_calibrated(
    profile: &str,
    quirk: &str,
    env: &[(&str, &str)],
    variant: &str,
    severity: Severity,
    skipped: &[&str],
) {
    let dir = quirky_example();
    let mut all = vec![
        ("AUTH_PROFILE", profile),
        ("JWKS_URL", "{jwks_url}"),
        ("ISSUER", "{issuer}"),
        ("AUDIENCE", "{audience}"),
        ("CLIENT_ID", "{client_id}"),
        ("QUIRK", quirk),
        // Rotation and the unknown-kid flood stay quick and bounded.
        ("JWKS_REFETCH_SECONDS", "2"),
    ];
    all.extend_from_slice(env);
    let mut opts = options(
        profile::builtin(profile).unwrap(),
        support::python::example_target(),
        &all,
    );
    opts.workdir = Some(dir.path().to_path_buf());
    opts.rotation_window = Duration::from_secs(5);
    let report = run(&opts).await;
    let calibration = report.calibration.as_ref().expect("calibration ran");
    assert_eq!(
        calibration.baseline.as_deref(),
        Some(variant),
        "{calibration:?}"
    );
    // One root cause a change the baseline makes, first.
    let roots = variant.split(" + ").count();
    for root in &report.causes[..roots] {
        assert_eq!(root.kind, authprobe::conform::cause::CauseKind::RootCause);
        assert_eq!(root.cases, vec!["calibration"]);
    }
    assert_eq!(case(&report, "calibration").findings[0].severity, severity);
    let s = &report.summary;
    assert_eq!(
        (s.failed, s.warned, s.errored, report.causes.len()),
        (1, 0, 0, roots),
        "{variant}:\n{}",
        explain(&report)
    );
    let not_judged: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| c.status == Status::Skipped)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(not_judged, skipped, "{variant}");
    for name in skipped {
        let detail = &case(&report, name).detail;
        assert!(
            detail.starts_with("not judged") && detail.contains("changes the same thing"),
            "{name}: {detail}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_with_two_masking_mistakes_is_calibrated_past_both_and_each_is_a_root_cause()
{
    // It neither strips `Bearer ` nor passes `audience=` (a token with `aud` is refused): no
    // single change is allowed, the two together are, and every defect behind them is judged.
    assert_calibrated(
        "jwks",
        "bare-token,aud-absent",
        &[],
        "bare-token + aud-absent",
        Severity::Availability,
        &[
            "valid-aud-array",
            "bearer-lowercase",
            "aud-wrong",
            "aud-missing",
            "aud-empty-array",
            "bearer-double-space",
            "bare-token",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_wanting_a_lower_case_bearer_scheme_is_calibrated_to_it() {
    assert_calibrated(
        "jwks",
        "lowercase-bearer-scheme",
        &[],
        "lowercase-bearer-scheme",
        Severity::Availability,
        &["bearer-lowercase", "bearer-double-space", "bare-token"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_wanting_aud_as_an_array_is_calibrated_to_it() {
    assert_calibrated(
        "jwks",
        "aud-array",
        &[],
        "aud-array",
        Severity::Availability,
        &["aud-wrong"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_allowing_only_tokens_without_aud_is_calibrated_to_it_as_a_security_hole() {
    assert_calibrated(
        "jwks",
        "aud-absent",
        &[],
        "aud-absent",
        Severity::Security,
        &[
            "valid-aud-array",
            "aud-wrong",
            "aud-missing",
            "aud-empty-array",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_wanting_aud_on_cognito_access_tokens_is_calibrated_to_it() {
    assert_calibrated(
        "cognito",
        "aud-present",
        &[],
        "aud-present",
        Severity::Availability,
        &["client-id-wrong"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_requiring_the_other_cognito_token_is_calibrated_to_it() {
    assert_calibrated(
        "cognito",
        "",
        &[("TOKEN_USE", "id")],
        "other-token-use",
        Severity::Availability,
        &["token-use-swapped", "client-id-wrong"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_requiring_a_scope_the_profile_does_not_mint_is_calibrated_to_it() {
    assert_calibrated(
        "jwks",
        "",
        &[("REQUIRED_SCOPES", "hello/read")],
        "scope-present",
        Severity::Availability,
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_refusing_tokens_with_a_scope_is_calibrated_to_their_absence() {
    assert_calibrated(
        "cognito",
        "scope-absent",
        &[],
        "scope-absent",
        Severity::Availability,
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_requiring_nbf_is_calibrated_to_it_and_still_judges_not_yet_valid() {
    assert_calibrated(
        "jwks",
        "nbf-present",
        &[],
        "nbf-present",
        Severity::Availability,
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_refusing_tokens_with_iat_is_calibrated_to_their_absence() {
    assert_calibrated(
        "jwks",
        "iat-absent",
        &[],
        "iat-absent",
        Severity::Availability,
        &["iat-future"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pyjwkclient_example_gets_only_findings_a_reviewer_would_agree_with() {
    use authprobe::target::Outcome;
    let mut opts = options(
        profile::builtin("jwks").unwrap(),
        support::python::example_target(),
        &[
            ("JWKS_URL", "{jwks_url}"),
            ("ISSUER", "{issuer}"),
            ("AUDIENCE", "{audience}"),
        ],
    );
    opts.workdir = Some(support::python::example_dir("pyjwkclient"));
    // What a user gets: the profile's window, shorter than PyJWKClient's 30 s cooldown.
    opts.rotation_window = conform::DEFAULT_ROTATION_WINDOW;
    let report = run(&opts).await;
    assert!(report.calibration.is_none(), "{:?}", report.calibration);
    // Every case that is not a plain pass, with its status and the severities of its findings.
    let mut found: Vec<(String, Status, Vec<Severity>)> = report
        .cases
        .iter()
        .filter(|c| c.status != Status::Passed)
        .map(|c| {
            let severities = c.findings.iter().map(|f| f.severity).collect();
            (c.name.clone(), c.status, severities)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = |name: &str, status, severity| (name.to_string(), status, vec![severity]);
    assert_eq!(
        found,
        vec![
            // PyJWT requires no exp unless told to (options={"require": ["exp", ...]}): a token
            // that never expires gets in, though only the issuer could sign one (a warning).
            expected("exp-missing", Status::Warned, Severity::Hardening),
            // A string exp is read as a number (int()): expiry is enforced, only the type is
            // lax.
            expected("exp-string", Status::Warned, Severity::Contract),
            // PyJWT reads a NumericDate with int(), and a JSON boolean is an int in Python:
            // `iat: true` is 1970. Only the issuer could sign one (a warning).
            expected("iat-false", Status::Warned, Severity::Hardening),
            expected("iat-true", Status::Warned, Severity::Hardening),
            // The cold-start JWKS is not JSON: PyJWKClient lets the JSONDecodeError through.
            expected("jwks-malformed", Status::Failed, Severity::Availability),
            // PyJWKClient's HTTP timeout (30 s) is longer than the function's (3 s).
            expected("jwks-slow", Status::Failed, Severity::Availability),
            // The same for `nbf`.
            expected("nbf-false", Status::Warned, Severity::Hardening),
            expected("nbf-true", Status::Warned, Severity::Hardening),
            // PyJWT takes an empty `sub`, the handler makes it the principalId, and API
            // Gateway refuses an empty principalId with a 500.
            expected("sub-empty-string", Status::Failed, Severity::Availability),
            // The handler reads claims["sub"] of a token PyJWT did not require it in.
            expected("sub-missing", Status::Failed, Severity::Availability),
            // PyJWT's default leeway is 0.
            expected("valid-within-leeway", Status::Warned, Severity::Contract),
            // A 1024-bit key in the JWKS is used (RFC 7518 §3.3: 2048 or more MUST be used);
            // the issuer published it, so only a breaker of that key gets in (a warning).
            expected("weak-key", Status::Warned, Severity::Hardening),
        ],
        "{}",
        explain(&report)
    );
    // A rotated-in key waits out the 30 s refetch cooldown in a warm environment, and a fresh
    // one takes it at once: inside the week the jwks profile's IdP publishes keys ahead, no
    // caller is locked out, so no finding.
    let rotation = case(&report, "key-rotation");
    assert_eq!(rotation.status, Status::Passed, "{}", explain(&report));
    assert!(
        rotation
            .notes
            .iter()
            .any(|n| n.contains("a fresh environment accepted the new key")),
        "{:?}",
        rotation.notes
    );
    let exp_string = case(&report, "exp-string");
    assert!(
        exp_string
            .notes
            .iter()
            .any(|n| n.contains("read as a number")),
        "{:?}",
        exp_string.notes
    );
    let malformed = case(&report, "jwks-malformed");
    assert!(
        malformed.detail.contains("JSONDecodeError"),
        "{}",
        malformed.detail
    );
    let sub = case(&report, "sub-missing");
    assert!(
        sub.detail.contains("KeyError") && sub.detail.contains("pyjwkclient/app.py:"),
        "{}",
        sub.detail
    );
    // What was measured stays in the notes: refused for the window, taken by a fresh one.
    let rotation = case(&report, "key-rotation");
    assert!(
        rotation.notes.iter().any(|n| n.contains("still refused")),
        "{rotation:?}"
    );
    // The 1 MB token is judged as the gateway answers: 431, without reaching the authorizer.
    let oversized = case(&report, "oversized");
    assert_eq!(
        (oversized.http_status, oversized.observed, oversized.status),
        (Some(431), None, Status::Passed)
    );
    // The unknown-kid flood stays bounded: the cooldown holds refetches back.
    assert_eq!(case(&report, "unknown-kid-flood").status, Status::Passed);
    assert_eq!(
        case(&report, "kid-missing").observed,
        Some(Outcome::Unauthorized)
    );
}

#[test]
fn colour_follows_clicolor_force_and_no_color_when_not_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut command = support::authprobe_command();
        command
            .args(["conform", "--profile", "static", "--no-snapshots"])
            .current_dir(dir.path())
            .env_remove("NO_COLOR");
        for (k, v) in env {
            command.env(k, v);
        }
        text(&command.output().unwrap().stdout)
    };
    // Not a terminal: plain, unless CLICOLOR_FORCE asks for colour; NO_COLOR wins over it.
    assert!(!run(&[]).contains("\x1b["));
    assert!(run(&[("CLICOLOR_FORCE", "1")]).contains("\x1b[32mok"));
    assert!(!run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains("\x1b["));
}

#[test]
fn vv_and_rust_log_show_the_harness_steps_on_stderr_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("lambda:python3 {}", bootstrap());
    let args = [
        "conform",
        "--profile",
        "static",
        "--target",
        &target,
        "--env",
        "MODE=allow",
        "--no-snapshots",
    ];
    let quiet = authprobe(dir.path(), &args);
    assert!(
        !text(&quiet.stderr).contains("DEBUG"),
        "{}",
        text(&quiet.stderr)
    );

    let out = authprobe(dir.path(), &[&args[..], &["-vv"]].concat());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("authprobe::gateway: decided"), "{stderr}");
    assert!(
        stderr.contains("authprobe::runtime_api: handler called"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/2018-06-01/runtime/invocation/next"),
        "{stderr}"
    );
    assert!(!stdout.contains("DEBUG"), "{stdout}");
    // The static profile's tokens, good and bad, never reach the diagnostics.
    assert!(!stderr.contains("allow-token"), "{stderr}");

    // RUST_LOG picks what to show, here the gateway alone.
    let out = authprobe_with(
        dir.path(),
        &args,
        &[("RUST_LOG", "authprobe::gateway=debug")],
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("authprobe::gateway"), "{stderr}");
    assert!(!stderr.contains("authprobe::runtime_api"), "{stderr}");
}
