//! What a verdict claims, checked against authorizers written to test it: who can exploit a bad
//! token that gets in (security when anyone or a holder of another token can, hardening when
//! only the issuer could), nothing passed when no good token gets in either, and cases that
//! follow the profile's own form. Each runs the real binary on the plain Python runtime of
//! tests/fixtures/runtime.

mod support;

use std::path::Path;

use authprobe::tokens::{Kind, Profile, TokenUse};
use support::{authprobe_in, bootstrap, severities};

/// `conform` with `args` against the plain runtime in `mode`; the run's report.json.
fn conform(dir: &Path, mode: &str, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let target = format!("lambda:python3 {}", bootstrap());
    let env = format!("MODE={mode}");
    let mut all = vec![
        "conform",
        "--target",
        &target,
        "--env",
        &env,
        "--report-dir",
        "reports",
    ];
    all.extend(args);
    let out = authprobe_in(dir, &all, &[]);
    let text = std::fs::read_to_string(support::run_dir(dir).join("report.json"))
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), serde_json::from_str(&text).unwrap())
}

/// `conform` with `args` against one of examples/python under its real runtime client, with
/// `env` as `--env` values; the process output.
fn example(dir: &Path, name: &str, args: &[&str], env: &[&str]) -> std::process::Output {
    let python = support::python::venv_python();
    let target = format!("lambda:{} -m awslambdaric app.handler", python.display());
    let workdir = support::python::example_dir(name);
    let mut all = vec!["conform", "--no-snapshots", "--report-dir", "reports"];
    all.extend(args);
    all.extend(["--target", &target, "--workdir", workdir.to_str().unwrap()]);
    for e in env {
        all.extend(["--env", e]);
    }
    authprobe_in(dir, &all, &[])
}

#[test]
fn a_bad_token_let_in_is_security_when_others_can_make_it_and_hardening_when_only_the_issuer_can() {
    // An authorizer that allows everything: every bad kind gets in, and each is judged by who
    // could make it.
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = conform(
        dir.path(),
        "allow",
        &["--profile", "jwks", "--no-snapshots"],
    );
    assert_eq!(code, Some(1));
    let mut judged = 0;
    for kind in Kind::ALL {
        let Some(authprobe::tokens::Expect::Reject(_)) =
            kind.expect(Profile::Jwks, TokenUse::Access)
        else {
            continue;
        };
        // Kinds API Gateway refuses before the authorizer (no header, over the quota) never
        // reach it.
        let case = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == kind.name())
            .unwrap();
        if case["observed"] != "allow" {
            continue;
        }
        let threat = kind.threat().expect("a bad kind has a threat");
        let found = severities(&report, kind.name());
        let want = if threat.exploitable(false) {
            "security"
        } else {
            "hardening"
        };
        assert!(found.iter().any(|s| s == want), "{kind}: {found:?}");
        assert!(
            !found
                .iter()
                .any(|s| s != want && (s == "security" || s == "hardening")),
            "{kind}: {found:?}"
        );
        judged += 1;
    }
    assert!(judged > 40, "{judged}");
    // The plain readings a reviewer would give.
    for (name, want) in [
        ("alg-none", "security"),
        ("key-confusion", "security"),
        ("aud-wrong", "security"),
        ("expired", "security"),
        ("rs512", "hardening"),
        ("kid-unknown", "hardening"),
        ("iss-wrong", "hardening"),
        ("exp-missing", "hardening"),
        ("base64-standard", "hardening"),
    ] {
        assert!(
            severities(&report, name).iter().any(|s| s == want),
            "{name}"
        );
    }
    let why = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "kid-unknown")
        .unwrap()["findings"][0]["why"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(why.contains("genuine"), "{why}");
    assert!(report["summary"]["hardening"].as_u64().unwrap() > 5);
}

#[test]
fn a_shared_key_set_makes_a_wrong_issuer_security_and_strict_fails_hardening() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "profile = \"jwks\"\n[authorizer]\nshared_keys = true\n[run]\ncases = [\n  { kind = \"valid\", expect = \"allow\" },\n  { kind = \"iss-wrong\", expect = \"reject\" },\n]\n",
    )
    .unwrap();
    let (code, report) = conform(
        dir.path(),
        "allow",
        &["--scenario", "p.toml", "--no-snapshots"],
    );
    assert_eq!(code, Some(1));
    assert_eq!(severities(&report, "iss-wrong"), ["security"]);

    // Without shared keys only the issuer could sign another iss: a warning, which --strict
    // turns into a failure.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "profile = \"jwks\"\n[run]\ncases = [\n  { kind = \"valid\", expect = \"allow\" },\n  { kind = \"rs512\", expect = \"reject\" },\n]\n",
    )
    .unwrap();
    let (code, report) = conform(
        dir.path(),
        "allow",
        &["--scenario", "p.toml", "--no-snapshots", "--cache-ttl", "0"],
    );
    assert_eq!(severities(&report, "rs512"), ["hardening"]);
    assert_eq!(code, Some(0), "a hardening finding alone warns");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "profile = \"jwks\"\n[run]\ncases = [\n  { kind = \"valid\", expect = \"allow\" },\n  { kind = \"rs512\", expect = \"reject\" },\n]\n",
    )
    .unwrap();
    let (code, _) = conform(
        dir.path(),
        "allow",
        &[
            "--scenario",
            "p.toml",
            "--no-snapshots",
            "--cache-ttl",
            "0",
            "--strict",
        ],
    );
    assert_eq!(code, Some(1), "--strict fails it");
}

#[test]
fn an_authorizer_that_refuses_everything_proves_nothing_and_leaves_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = conform(
        dir.path(),
        "unauthorized",
        &["--profile", "jwks", "--snapshots", "snaps"],
    );
    assert_eq!(code, Some(1));
    let cases = report["cases"].as_array().unwrap();
    let passed: Vec<&str> = cases
        .iter()
        .filter(|c| c["expected"] == "reject" && c["status"] == "passed")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        passed.is_empty(),
        "passed while nothing was allowed: {passed:?}"
    );
    assert!(report["summary"]["inconclusive"].as_u64().unwrap() > 30);
    let expired = cases.iter().find(|c| c["name"] == "expired").unwrap();
    assert_eq!(expired["status"], "inconclusive");
    assert!(
        expired["detail"]
            .as_str()
            .unwrap()
            .starts_with("inconclusive: no form of the good token was allowed"),
        "{expired}"
    );
    // A refusal is not a policy to accept: nothing was written for the next run to compare.
    let snaps: Vec<_> = walk(&dir.path().join("snaps"));
    assert!(snaps.is_empty(), "{snaps:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn bearer_lowercase_is_not_a_good_token_where_clients_send_the_bare_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "profile = \"jwks\"\n[authorizer]\nbearer = false\n[run]\ncases = [\n  { kind = \"valid\", expect = \"allow\" },\n  { kind = \"bearer-lowercase\", expect = \"allow\" },\n]\n",
    )
    .unwrap();
    // An authorizer that takes only the bare token: `bearer <token>` refused is right here.
    let (code, report) = conform(
        dir.path(),
        "bare",
        &["--scenario", "p.toml", "--no-snapshots"],
    );
    assert_eq!(code, Some(0));
    let case = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "bearer-lowercase")
        .unwrap()
        .clone();
    assert_eq!(case["status"], "skipped");
    assert!(
        case["detail"].as_str().unwrap().contains("bearer = false"),
        "{case}"
    );
}

#[test]
fn a_pinned_key_authorizer_gets_no_security_finding_and_the_rotation_finding_it_earns() {
    // examples/python/pinned verifies every token with one key it is given and never fetches
    // a JWKS: the kid cases carry genuine signatures by that key, and a JWKS fault cannot
    // reach it. What it really gets wrong is that a rotated-in key is never accepted.
    let dir = tempfile::tempdir().unwrap();
    let out = example(
        dir.path(),
        "pinned",
        &["--profile", "jwks", "--rotation-window", "2s"],
        &[
            "PUBLIC_KEY_PEM={public_key_pem}",
            "ISSUER={issuer}",
            "AUDIENCE={audience}",
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let report = report_in(dir.path());
    assert_eq!(report["summary"]["security"], 0, "{shown}");
    assert_eq!(report["jwks_fetches"], 0, "{shown}");
    assert_eq!(report["key_source"]["fetches"], "never", "{shown}");
    for name in [
        "kid-missing",
        "kid-unknown",
        "kid-wrong",
        "kid-sql-injection",
    ] {
        assert_eq!(severities(&report, name), ["hardening"], "{name}: {shown}");
    }
    assert_eq!(
        severities(&report, "key-rotation"),
        ["availability"],
        "{shown}"
    );
    for name in ["jwks-unreachable", "jwks-slow", "jwks-malformed"] {
        let case = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        assert_eq!(case["status"], "passed", "{name}: {case}");
        assert!(
            case["notes"][0]
                .as_str()
                .unwrap()
                .contains("verifies with a key it holds"),
            "{name}: {case}"
        );
    }
    // Forgeries are still refused.
    assert!(severities(&report, "key-not-in-jwks").is_empty(), "{shown}");
}

#[test]
fn a_first_key_authorizer_has_its_ignored_kid_as_one_hardening_cause_and_never_security() {
    // examples/python/pinned with JWKS_URL takes the key set's first key on the first token
    // and verifies every token with it: the kid cases carry genuine signatures by that key.
    // One defect (the kid is not looked at), one cause, and the rotation finding it costs.
    let dir = tempfile::tempdir().unwrap();
    let out = example(
        dir.path(),
        "pinned",
        &["--profile", "jwks", "--rotation-window", "2s"],
        &[
            "JWKS_URL={jwks_url}",
            "ISSUER={issuer}",
            "AUDIENCE={audience}",
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let report = report_in(dir.path());
    assert_eq!(report["summary"]["security"], 0, "{shown}");
    assert_eq!(report["key_source"]["fetches"], "on-first-use", "{shown}");
    let kid = causes_saying(&report, "the kid is not looked at");
    assert_eq!(kid.len(), 1, "{shown}");
    assert_eq!(kid[0]["kind"], "hardening", "{shown}");
    for name in [
        "kid-missing",
        "kid-unknown",
        "kid-wrong",
        "unknown-kid-flood",
    ] {
        assert!(
            kid[0]["cases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == name),
            "{name}: {shown}"
        );
    }
    assert_eq!(
        severities(&report, "key-rotation"),
        ["availability"],
        "{shown}"
    );
    assert!(severities(&report, "key-not-in-jwks").is_empty(), "{shown}");
}

#[test]
fn a_bad_token_denied_on_its_route_but_let_in_on_another_is_security_and_a_good_one_gets_the_route_fix()
 {
    // The authorizer answers every token with an Allow for OPTIONS on every path: a forged
    // token is denied on GET /hello, the case's route, and gets in on OPTIONS /hello.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "profile = \"jwks\"\n[api]\nroutes = [\"GET /hello\", \"OPTIONS /hello\"]\n[run]\ncases = [\n  { kind = \"valid\", expect = \"allow\" },\n  { kind = \"alg-none\", expect = \"reject\" },\n]\n",
    )
    .unwrap();
    let (code, report) = conform(
        dir.path(),
        "options-open",
        &["--scenario", "p.toml", "--no-snapshots", "--no-calibrate"],
    );
    assert_eq!(code, Some(1));
    let case = |name: &str| {
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    let forged = case("alg-none");
    assert_eq!(forged["observed"], "deny", "{forged}");
    assert_eq!(severities(&report, "alg-none"), ["security"], "{forged}");
    assert!(
        forged["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("its policy allows OPTIONS /hello"),
        "{forged}"
    );
    // The good token was accepted (its policy allows a route): the fix is about the routes.
    let good = case("valid");
    assert_eq!(severities(&report, "valid"), ["availability"], "{good}");
    assert!(
        good["findings"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("route or scope logic"),
        "{good}"
    );
}

#[test]
fn an_init_fetch_authorizer_gets_availability_for_a_jwks_down_at_start_and_never_security() {
    // examples/python/initfetch loads the JWKS once, at import. A JWKS down or malformed at a
    // cold start stops the environment (availability); a slow one delays it, and the good token
    // then gets in rightly (a forgery sent next is refused). A rotated-in key is taken by the
    // next environment: inside the jwks profile's margin, no finding.
    let dir = tempfile::tempdir().unwrap();
    let out = example(
        dir.path(),
        "initfetch",
        &["--profile", "jwks", "--rotation-window", "2s"],
        &[
            "JWKS_URL={jwks_url}",
            "ISSUER={issuer}",
            "AUDIENCE={audience}",
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = report_in(dir.path());
    assert_eq!(report["summary"]["security"], 0, "{shown}");
    let case = |name: &str| {
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    for name in ["jwks-unreachable", "jwks-malformed"] {
        assert_eq!(
            severities(&report, name),
            ["availability"],
            "{name}: {shown}"
        );
        assert!(
            case(name)["detail"]
                .as_str()
                .unwrap()
                .contains("could not start"),
            "{name}: {}",
            case(name)
        );
    }
    assert_eq!(case("jwks-slow")["status"], "passed", "{shown}");
    assert!(severities(&report, "kid-unknown").is_empty(), "{shown}");
    assert_eq!(case("key-rotation")["status"], "passed", "{shown}");
    assert_eq!(report["key_source"]["fetches"], "at-start", "{shown}");
    assert_eq!(out.status.code(), Some(1), "{shown}");
}

#[test]
fn a_certificate_pinned_authorizer_gets_a_certificate_of_the_good_key() {
    // {certificate_pem}: the key good tokens are signed with, as a self-signed certificate.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "profile = \"jwks\"\n[run]\ncases = [\n  { kind = \"valid\", expect = \"allow\" },\n  { kind = \"key-not-in-jwks\", expect = \"reject\" },\n]\n",
    )
    .unwrap();
    let out = example(
        dir.path(),
        "pinned",
        &["--scenario", "p.toml"],
        &[
            "CERTIFICATE_PEM={certificate_pem}",
            "ISSUER={issuer}",
            "AUDIENCE={audience}",
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
}

/// `conform --profile jwks --case CASE` against the plain runtime in `mode`: the exit code
/// and the report.
fn jwks_case(mode: &str, case: &str) -> (Option<i32>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    conform(
        dir.path(),
        mode,
        &["--profile", "jwks", "--no-snapshots", "--case", case],
    )
}

/// The report.json of the run in `dir`.
fn report_in(dir: &Path) -> serde_json::Value {
    let path = support::run_dir(dir).join("report.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The case `name` of `report`.
fn case_of(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
        .clone()
}

/// The causes of `report` whose message contains `words`.
fn causes_saying(report: &serde_json::Value, words: &str) -> Vec<serde_json::Value> {
    report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["message"].as_str().unwrap().contains(words))
        .cloned()
        .collect()
}

const CHATTY_ENV: &[&str] = &[
    "JWKS_URL={jwks_url}",
    "ISSUER={issuer}",
    "AUDIENCE={audience}",
];

#[test]
fn a_handler_that_prints_its_event_writes_the_token_to_its_logs_and_authprobe_never_repeats_it() {
    // examples/python/chatty prints the whole event, bearer token and all, then verifies the
    // token correctly.
    let dir = tempfile::tempdir().unwrap();
    let out = example(
        dir.path(),
        "chatty",
        &[
            "--profile",
            "jwks",
            "--case",
            "valid",
            "--case",
            "expired",
            "-v",
        ],
        CHATTY_ENV,
    );
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = report_in(dir.path());
    let leaks = causes_saying(&report, "writes bearer tokens to its logs");
    assert_eq!(leaks.len(), 1, "{shown}");
    assert_eq!(leaks[0]["kind"], "security");
    assert_eq!(leaks[0]["cases"], serde_json::json!(["valid"]), "{shown}");
    let valid = case_of(&report, "valid");
    assert_eq!(valid["observed"], "allow");
    assert!(
        valid["notes"][0]
            .as_str()
            .unwrap()
            .contains("the token is in the handler's stdout"),
        "{valid}"
    );
    // The output is kept, with the token replaced, and shown with -v.
    let lines: Vec<&str> = valid["output"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("'authorizationToken': '[token]'")),
        "{lines:?}"
    );
    assert!(shown.contains("stdout | {"), "{shown}");
    // The expired case's token is printed too, but it is no live credential: no finding.
    assert!(severities(&report, "expired").is_empty(), "{shown}");
    for (name, text) in support::everything_written(&out, dir.path()) {
        assert!(!text.contains("Bearer eyJ"), "{name} holds a token: {text}");
    }
    assert_eq!(out.status.code(), Some(1), "{shown}");
}

#[test]
fn an_exception_the_handler_logs_and_swallows_is_the_fix_for_a_refused_good_token() {
    // With REQUIRE_GROUPS=true, chatty reads a claim the good token lacks inside its try: the
    // KeyError is logged and becomes Unauthorized. The answer alone says "refused"; the log
    // says where.
    let dir = tempfile::tempdir().unwrap();
    let mut env = CHATTY_ENV.to_vec();
    env.push("REQUIRE_GROUPS=true");
    let out = example(
        dir.path(),
        "chatty",
        &["--profile", "jwks", "--case", "valid"],
        &env,
    );
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = report_in(dir.path());
    let refused = causes_saying(&report, "a good token was not allowed");
    assert_eq!(refused.len(), 1, "{shown}");
    let message = refused[0]["message"].as_str().unwrap();
    assert!(
        message.contains("the handler logged raised KeyError: 'groups' at "),
        "{message}"
    );
    let fix = refused[0]["fix"].as_str().unwrap();
    assert!(
        fix.contains("KeyError at ") && fix.contains("chatty/app.py:42"),
        "the fix names the line that raised: {fix}"
    );
    // The failure block shows the handler's last lines.
    assert!(shown.contains("= output:"), "{shown}");
    assert!(shown.contains("KeyError: 'groups'"), "{shown}");
    assert_eq!(out.status.code(), Some(1), "{shown}");
}

#[test]
fn an_environment_that_dies_after_answering_is_an_availability_finding_though_the_answer_was_right()
{
    // The plain runtime answers Allow, then exits (a Node handler that calls back without
    // `return` and throws on), or reports an error for the invocation it has answered.
    for (mode, words) in [
        (
            "answer-then-exit",
            "exited (exit status: 129) after it answered",
        ),
        (
            "answer-then-error",
            "reported an error after it answered: raised TypeError: Cannot read properties of undefined (reading 'sub') at index.js:14",
        ),
    ] {
        let (code, report) = jwks_case(mode, "valid");
        let valid = case_of(&report, "valid");
        assert_eq!(valid["observed"], "allow", "{mode}: {valid}");
        let after: Vec<&serde_json::Value> = valid["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["message"].as_str().unwrap().contains(words))
            .collect();
        assert_eq!(after.len(), 1, "{mode}: {valid}");
        assert_eq!(after[0]["severity"], "availability");
        assert_eq!(code, Some(1), "{mode}");
    }
}

#[test]
fn a_handler_that_answers_and_asks_again_has_nothing_after_its_answer() {
    let (code, report) = jwks_case("allow", "valid");
    let valid = case_of(&report, "valid");
    assert_eq!(valid["observed"], "allow", "{valid}");
    assert!(
        !severities(&report, "valid").contains(&"availability".to_string()),
        "{valid}"
    );
    assert_ne!(code, Some(3), "{valid}");
}

#[test]
fn a_request_authorizer_that_reads_the_header_in_one_case_only_is_caught_where_http2_clients_break_it()
 {
    // A REST REQUEST event carries header names as the client sent them: `authorization` from
    // an HTTP/2 client. The plain runtime in `header-exact` mode reads headers["Authorization"].
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("request.toml"),
        "profile = \"jwks\"\nevent = \"request\"\n[run]\ncases = [\n  { kind = \"valid\", expect = \"allow\" },\n  { stateful = \"header-case\", expect = \"allow\" },\n]\n",
    )
    .unwrap();
    let (code, report) = conform(
        dir.path(),
        "header-exact",
        &["--scenario", "request.toml", "--no-snapshots"],
    );
    let valid = case_of(&report, "valid");
    assert_eq!(valid["observed"], "allow", "{valid}");
    let case = case_of(&report, "header-case");
    assert_eq!(case["status"], "failed", "{case}");
    let finding = &case["findings"][0];
    assert_eq!(finding["severity"], "availability");
    // It crashes (KeyError): the crash keeps its words, and the note names the header name.
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("KeyError: 'Authorization'"),
        "{finding}"
    );
    assert!(
        case["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("`authorization`: ")),
        "{case}"
    );
    assert!(
        finding["fix"]
            .as_str()
            .unwrap()
            .contains("without regard to case"),
        "{finding}"
    );
    assert_eq!(code, Some(1));

    // The same handler behind a TOKEN authorizer never sees a header name: it passes.
    let (_, report) = jwks_case("allow", "header-case");
    let case = case_of(&report, "header-case");
    assert_eq!(case["observed"], "allow", "{case}");
    assert!(
        case["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("`authorization`")),
        "{case}"
    );
}

#[test]
fn a_token_the_handler_prints_is_redacted_everywhere_calibration_included() {
    // The plain runtime in `bare` mode allows only the token without `Bearer `: calibration
    // keeps the refused first probe's output on its root cause. The handler prints every
    // event, so every output holds a live token; none may reach a report.
    let dir = tempfile::tempdir().unwrap();
    let target = format!("lambda:python3 {}", bootstrap());
    let out = authprobe_in(
        dir.path(),
        &[
            "conform",
            "--target",
            &target,
            "--env",
            "MODE=bare",
            "--env",
            "PRINT_EVENT=1",
            "--profile",
            "jwks",
            "--no-snapshots",
            "--case",
            "valid",
            "--case",
            "expired",
            "--report-dir",
            "reports",
            "-v",
        ],
        &[],
    );
    let report = report_in(dir.path());
    assert_eq!(report["calibration"]["baseline"], "bare-token", "{report}");
    let root = case_of(&report, "calibration");
    assert!(
        root["output"]["lines"][0]["text"]
            .as_str()
            .unwrap()
            .contains("[token]"),
        "{root}"
    );
    assert_eq!(
        causes_saying(&report, "writes bearer tokens to its logs").len(),
        1,
        "{report}"
    );
    let jwt = regex::Regex::new(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
        .unwrap();
    let texts = support::everything_written(&out, dir.path());
    assert!(texts.len() > 4, "the run wrote its reports");
    for (name, text) in texts {
        assert!(!jwt.is_match(&text), "{name} holds a token");
    }
}

#[test]
fn invoke_shows_what_the_handler_printed_with_the_token_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("lambda:python3 {}", bootstrap());
    let out = authprobe_in(
        dir.path(),
        &[
            "invoke",
            "--target",
            &target,
            "--env",
            "MODE=allow",
            "--env",
            "PRINT_EVENT=1",
            "--profile",
            "jwks",
            "--kind",
            "valid",
        ],
        &[],
    );
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("output (what the handler printed)"),
        "{shown}"
    );
    assert!(
        shown.contains("\"authorizationToken\": \"[token]\""),
        "{shown}"
    );
    assert!(!shown.contains("Bearer eyJ"), "{shown}");
}

#[test]
fn a_key_removed_from_the_jwks_that_a_fresh_environment_still_accepts_is_security() {
    // The plain runtime allows every token, whatever signed it: a retired key stays good in
    // a fresh environment too, so it could never be revoked.
    let (_, report) = jwks_case("allow", "key-retired");
    let case = case_of(&report, "key-retired");
    assert_eq!(case["status"], "failed", "{case}");
    let security: Vec<&serde_json::Value> = case["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "security")
        .collect();
    assert_eq!(security.len(), 1, "{case}");
    assert!(
        security[0]["message"]
            .as_str()
            .unwrap()
            .contains("removed from the JWKS was still accepted, by a fresh environment too"),
        "{case}"
    );
}

#[test]
fn a_request_authorizer_that_takes_the_token_from_the_query_string_is_told_so_and_one_that_does_not_passes()
 {
    // The plain runtime in `query-token` mode reads access_token from the query when the
    // header is absent; the reference authorizer reads the header alone.
    let dir = tempfile::tempdir().unwrap();
    let profile = "profile = \"jwks\"\nevent = \"request\"\n[run]\ncases = [\n  { kind = \"valid\", expect = \"allow\" },\n  { stateful = \"token-in-query\", expect = \"reject\" },\n]\n";
    std::fs::write(dir.path().join("request.toml"), profile).unwrap();
    let (code, report) = conform(
        dir.path(),
        "query-token",
        &["--scenario", "request.toml", "--no-snapshots"],
    );
    let case = case_of(&report, "token-in-query");
    assert_eq!(case["observed"], "allow", "{case}");
    assert_eq!(
        severities(&report, "token-in-query"),
        ["hardening"],
        "{case}"
    );
    assert!(
        case["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("query string"),
        "{case}"
    );
    // A warning, which --strict fails; the good token was allowed, so the run passes.
    assert_eq!(code, Some(0), "{report}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("request.toml"), profile).unwrap();
    let out = authprobe_in(
        dir.path(),
        &[
            "conform",
            "--scenario",
            "request.toml",
            "--target",
            "builtin:jwks",
            "--no-snapshots",
            "--report-dir",
            "reports",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = report_in(dir.path());
    assert_eq!(case_of(&report, "token-in-query")["status"], "passed");
}

#[test]
fn an_hs256_authorizer_that_also_takes_a_default_secret_is_found_and_one_with_only_its_own_passes()
{
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = conform(
        dir.path(),
        "hs256-fallback",
        &[
            "--profile",
            "hs256",
            "--env",
            "SECRET={secret}",
            "--case",
            "hs256-valid",
            "--case",
            "hs256-weak-secret",
            "--no-snapshots",
        ],
    );
    let case = case_of(&report, "hs256-weak-secret");
    assert_eq!(case["observed"], "allow", "{case}");
    assert_eq!(
        severities(&report, "hs256-weak-secret"),
        ["security"],
        "{case}"
    );
    let message = case["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("`changeme`"), "{message}");
    // The run's own secret is never printed.
    assert!(
        !report.to_string().contains("authprobe-hs256-shared-secret"),
        "{report}"
    );

    // The reference authorizer holds one secret, 40 bytes, not in the list.
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe_in(
        dir.path(),
        &[
            "conform",
            "--target",
            "builtin:hs256",
            "--case",
            "hs256-weak-secret",
            "--no-snapshots",
            "--report-dir",
            "reports",
        ],
        &[],
    );
    let report = report_in(dir.path());
    let case = case_of(&report, "hs256-weak-secret");
    assert_eq!(case["status"], "passed", "{case}");
    assert!(
        case["notes"][0]
            .as_str()
            .unwrap()
            .contains("guessable secrets tried"),
        "{case}"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn an_authorizer_that_fetches_keys_at_the_issuer_a_token_names_is_reported_as_ssrf_naming_the_claim()
 {
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = conform(
        dir.path(),
        "iss-fetch",
        &[
            "--env",
            "ISSUER={issuer}",
            "--case",
            "valid",
            "--case",
            "iss-url",
            "--case",
            "iss-wrong",
            "--no-snapshots",
        ],
    );
    let case = case_of(&report, "iss-url");
    // Refused, but only after it called the URL the token named.
    assert_eq!(case["observed"], "unauthorized", "{case}");
    assert_eq!(severities(&report, "iss-url"), ["security"], "{case}");
    let message = case["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("`iss` claim") && message.contains("/.canary/iss-url"),
        "{message}"
    );
    // A good token is not refused for a fetch of a user-set URL, but the fetch is reported.
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = conform(
        dir.path(),
        "fetch-picture",
        &[
            "--case",
            "valid",
            "--case",
            "valid-url-claims",
            "--no-snapshots",
        ],
    );
    let case = case_of(&report, "valid-url-claims");
    assert_eq!(case["observed"], "allow", "{case}");
    // The plain runtime allows exactly the method asked for (a contract warning on every
    // allowed case); the fetch is the security finding, on this case alone.
    let security = |name: &str| {
        severities(&report, name)
            .iter()
            .filter(|s| *s == "security")
            .count()
    };
    assert_eq!(security("valid-url-claims"), 1, "{case}");
    assert_eq!(security("valid"), 0);
    let message = case["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["severity"] == "security")
        .unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("`picture` claim"), "{message}");
    // The reference authorizer compares iss before anything else: refused, nothing fetched.
    let dir = tempfile::tempdir().unwrap();
    let out = authprobe_in(
        dir.path(),
        &[
            "conform",
            "--case",
            "iss-url",
            "--no-snapshots",
            "--report-dir",
            "reports",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = report_in(dir.path());
    assert_eq!(case_of(&report, "iss-url")["status"], "passed");
}

#[test]
fn a_handler_that_crashes_on_a_boolean_aud_or_takes_a_null_exp_is_caught_on_each() {
    // Claim type confusion: `AUDIENCE in aud` raises TypeError on `aud: true`; `if exp and
    // exp < now` lets `exp: null` through.
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = conform(
        dir.path(),
        "lax-claims",
        &[
            "--env",
            "AUDIENCE={audience}",
            "--case",
            "valid",
            "--case",
            "aud-true",
            "--case",
            "exp-null",
            "--case",
            "exp-array",
            "--no-snapshots",
        ],
    );
    assert_eq!(case_of(&report, "valid")["observed"], "allow");
    let aud = case_of(&report, "aud-true");
    assert_eq!(aud["observed"], "error", "{aud}");
    assert_eq!(severities(&report, "aud-true"), ["availability"], "{aud}");
    // Allowed, under the issuer's signature: only the issuer could sign one.
    let exp = case_of(&report, "exp-null");
    assert_eq!(exp["observed"], "allow", "{exp}");
    assert_eq!(severities(&report, "exp-null"), ["hardening"], "{exp}");
    // An empty array is falsy in Python too: the same hole, its own case.
    assert_eq!(severities(&report, "exp-array"), ["hardening"]);
}

#[test]
fn a_kid_run_by_a_shell_is_found_by_its_delay_against_an_inert_kid() {
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = conform(
        dir.path(),
        "kid-shell",
        &[
            "--case",
            "kid-command-injection",
            "--case",
            "kid-unknown",
            "--no-snapshots",
            "--timeout",
            "10s",
        ],
    );
    let case = case_of(&report, "kid-command-injection");
    // Refused, as a correct authorizer would: only the time gives it away.
    assert_eq!(case["observed"], "unauthorized", "{case}");
    assert_eq!(
        severities(&report, "kid-command-injection"),
        ["security"],
        "{case}"
    );
    let message = case["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("run by a shell"), "{message}");
    assert!(severities(&report, "kid-unknown").is_empty());
}

#[test]
fn a_user_set_claim_handed_on_in_the_context_as_it_came_is_a_contract_warning_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = conform(
        dir.path(),
        "echo-claims",
        &[
            "--case",
            "valid",
            "--case",
            "valid-markup-name",
            "--no-snapshots",
        ],
    );
    let case = case_of(&report, "valid-markup-name");
    assert_eq!(case["observed"], "allow", "{case}");
    assert_eq!(
        severities(&report, "valid-markup-name"),
        ["contract"],
        "{case}"
    );
    let message = case["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("context.name") && message.contains("onerror"),
        "{message}"
    );
    // The good token's context holds only what the issuer set: nothing to say.
    assert!(severities(&report, "valid").is_empty());
}
