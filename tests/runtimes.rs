//! authprobe against the examples written the way the public samples of each language are
//! (docs/REAL-AUTHORIZERS.md): Node under aws-lambda-ric, Python with python-jose under
//! awslambdaric, Go as its own custom runtime. Each test asserts the findings read against that
//! code as true, and that nothing only the issuer could exploit is called security.

mod support;

use std::path::Path;

use support::{authprobe_in, severities};

/// `conform` against `target` in `workdir`, with `args` and `env` (`--env` values); the exit
/// code, the terminal output and report.json.
fn conform(
    target: &str,
    workdir: &Path,
    args: &[&str],
    env: &[&str],
) -> (Option<i32>, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec![
        "conform",
        "--no-snapshots",
        "--report-dir",
        "reports",
        "--rotation-window",
        "2s",
        "--target",
        target,
        "--workdir",
        workdir.to_str().unwrap(),
    ];
    all.extend(args);
    for e in env {
        all.extend(["--env", e]);
    }
    let out = authprobe_in(dir.path(), &all, &[]);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(support::run_dir(dir.path()).join("report.json"))
        .unwrap_or_else(|_| panic!("no report: {shown}"));
    (
        out.status.code(),
        shown,
        serde_json::from_str(&text).unwrap(),
    )
}

fn cause_saying<'a>(report: &'a serde_json::Value, words: &str) -> &'a serde_json::Value {
    report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["message"].as_str().unwrap().contains(words))
        .unwrap_or_else(|| panic!("no cause saying {words:?}: {:#}", report["causes"]))
}

#[test]
fn the_node_jwks_rsa_sample_logs_a_lowercase_bearer_token_and_its_issuer_only_holes_are_hardening()
{
    let dir = support::runtimes::node_jwks_rsa();
    let (code, shown, report) = conform(
        "lambda:node_modules/.bin/aws-lambda-ric index.handler",
        &dir,
        &["--profile", "jwks"],
        &[
            "JWKS_URI={jwks_url}",
            "TOKEN_ISSUER={issuer}",
            "AUDIENCE={audience}",
        ],
    );
    assert_eq!(code, Some(1), "{shown}");
    // Its one security finding: the scheme check's error repeats the header, and it is logged.
    assert_eq!(report["summary"]["security"], 1, "{shown}");
    assert_eq!(
        cause_saying(&report, "writes bearer tokens to its logs")["cases"],
        serde_json::json!(["bearer-lowercase"]),
        "{shown}"
    );
    // No algorithm list: RSA algorithms only the issuer can sign with get in.
    for name in ["rs384", "rs512", "ps256"] {
        assert_eq!(severities(&report, name), ["hardening"], "{name}: {shown}");
    }
    // jwks-rsa looks the kid up, and refetches for a new one.
    for name in ["kid-unknown", "kid-wrong", "key-not-in-jwks"] {
        assert!(severities(&report, name).is_empty(), "{name}: {shown}");
    }
    // The rotated-in key is taken (its one finding is the method-ARN Allow every good case has).
    assert_eq!(severities(&report, "key-rotation"), ["contract"], "{shown}");
    assert_eq!(report["key_source"]["fetches"], "on-first-use", "{shown}");
    assert_eq!(
        report["key_source"]["refetches_on_unknown_kid"], true,
        "{shown}"
    );
    // Its default JWKS timeout outlasts the function's.
    assert_eq!(
        severities(&report, "jwks-slow"),
        ["availability"],
        "{shown}"
    );
}

#[test]
fn the_python_jose_cognito_sample_crashes_where_it_should_refuse_and_never_checks_iss() {
    let python = support::python::venv_python();
    let target = format!("lambda:{} -m awslambdaric app.handler", python.display());
    let (code, shown, report) = conform(
        &target,
        &support::python::example_dir("jose-cognito"),
        &["--profile", "cognito", "--token-use", "id"],
        &["JWKS_URL={jwks_url}", "CLIENT_ID={client_id}"],
    );
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        report["calibration"].is_null(),
        "ID tokens are what it takes: {shown}"
    );
    assert_eq!(report["summary"]["security"], 0, "{shown}");
    // Unchecked lookups crash where a 401 was due: one cause per line of code.
    let aud = cause_saying(&report, "KeyError: 'aud'");
    assert_eq!(aud["kind"], "availability");
    assert!(
        aud["cases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "aud-missing"),
        "{shown}"
    );
    cause_saying(&report, "JWTError");
    // iss is never compared; a Cognito pool's keys are its own, so that is hardening.
    for name in ["iss-wrong", "iss-missing"] {
        assert_eq!(severities(&report, name), ["hardening"], "{name}: {shown}");
    }
    // The JWKS is read at import: a JWKS down at a cold start fails the init.
    assert_eq!(report["key_source"]["fetches"], "at-start", "{shown}");
    assert_eq!(
        severities(&report, "jwks-unreachable"),
        ["availability"],
        "{shown}"
    );
}

#[test]
fn the_go_init_fetch_sample_keeps_an_empty_key_set_after_a_jwks_outage() {
    let dir = support::runtimes::go_golang_jwt();
    let (code, shown, report) = conform(
        "lambda:./bootstrap",
        &dir,
        &["--profile", "jwks"],
        &[
            "JWKS_URL={jwks_url}",
            "ISSUER={issuer}",
            "AUDIENCE={audience}",
        ],
    );
    assert_eq!(code, Some(1), "{shown}");
    assert_eq!(report["summary"]["security"], 0, "{shown}");
    assert_eq!(report["key_source"]["fetches"], "at-start", "{shown}");
    // init() decodes the outage's error body into an empty key set and keeps it.
    let kept = cause_saying(&report, "once the JWKS was back");
    assert_eq!(kept["kind"], "availability");
    assert_eq!(
        kept["cases"],
        serde_json::json!(["jwks-unreachable"]),
        "{shown}"
    );
    // golang-jwt v4 takes a token without exp, and every RSA algorithm.
    for name in ["exp-missing", "rs384"] {
        assert_eq!(severities(&report, name), ["hardening"], "{name}: {shown}");
    }
    assert!(severities(&report, "kid-unknown").is_empty(), "{shown}");
}
