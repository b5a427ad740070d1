//! The external-identity world, end to end: the Python example authorizers trust the mock IdP
//! as they would trust Cognito, and `authprobe conform` (the real binary, another process) gets
//! its good token from the IdP's OAuth token endpoint and the public JWKS only. The IdP's
//! private keys live in this test process and are never written anywhere: the run cannot have
//! them, so every token it sends is the real one or derived from it without a key.

mod support;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use authprobe::idp::{Idp, IdpConfig, OAuthClient};
use serde_json::Value;

const CLIENT_ID: &str = "stagingclient0001";
/// Spelt so that no tracked file holds the secret as one string the grep could match by
/// accident; the test builds it at run time.
fn client_secret() -> String {
    format!("{}-{}", "s3cr3t", "e2e-client-secret-5f1d")
}
const SECRET_VAR: &str = "AUTHPROBE_E2E_CLIENT_SECRET";

async fn idp() -> Idp {
    let ring = support::keyring();
    Idp::start(
        ring.published().expect("keys"),
        None,
        IdpConfig {
            oauth_clients: vec![OAuthClient {
                id: CLIENT_ID.into(),
                secret: client_secret(),
                scopes: vec!["hello/read".into()],
            }],
            ..IdpConfig::default()
        },
    )
    .await
    .unwrap()
}

/// `authprobe conform` against an example behind the gateway, good token by client
/// credentials from the IdP's Cognito token endpoint.
async fn conform(idp: &Idp, example: &str, dir: &Path) -> (Output, Value) {
    let python = support::python::venv_python();
    let report = dir.join("report.json");
    let output = tokio::process::Command::from(support::authprobe_command())
        .args([
            "conform",
            "--profile",
            "cognito",
            "--target",
            &format!("lambda:{} -m awslambdaric app.handler", python.display()),
            "--workdir",
            support::python::example_dir(example).to_str().unwrap(),
            "--env",
            "AUTH_PROFILE=cognito",
            // The placeholders are the real token's issuer and the issuer's JWKS.
            "--env",
            "JWKS_URL={jwks_url}",
            "--env",
            "ISSUER={issuer}",
            "--env",
            "CLIENT_ID={client_id}",
            "--env",
            "TOKEN_USE=access",
            "--timeout",
            "10s",
            "--oauth-token-url",
            &idp.cognito_token_url(),
            "--client-id",
            CLIENT_ID,
            "--client-secret-env",
            SECRET_VAR,
            "--scope",
            "hello/read",
            // Snapshots on, into the folder the grep reads: the policies are kept there.
            "--snapshots",
            dir.join("snapshots").to_str().unwrap(),
            "--report-dir",
            dir.join("reports").to_str().unwrap(),
            "--json",
            report.to_str().unwrap(),
            "--junit",
            dir.join("junit.xml").to_str().unwrap(),
            "--verbose",
        ])
        .env(SECRET_VAR, client_secret())
        .env("NO_COLOR", "1")
        // In CI a snapshot never accepted fails the run; here they are written for the grep.
        .env_remove("CI")
        .output()
        .await
        .expect("authprobe runs");
    let json = std::fs::read_to_string(&report)
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&output.stderr)));
    (output, json)
}

fn case<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// Every file under `dir`, and stdout and stderr: none holds the client secret.
fn assert_secret_nowhere(output: &Output, dir: &Path) {
    support::assert_nowhere(output, dir, &client_secret(), 3);
}

#[tokio::test]
async fn the_keyless_catalogue_passes_on_the_correct_example_trusting_a_real_idp() {
    let idp = idp().await;
    let dir = tempfile::tempdir().unwrap();
    let (output, report) = conform(&idp, "correct", dir.path()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        idp.tokens_issued() >= 1,
        "the good token came from the token endpoint"
    );
    assert_eq!(case(&report, "cognito-access")["status"], "passed");
    // Derived without the issuer's key, and refused by the correct authorizer.
    for name in [
        "alg-none",
        "key-confusion",
        "sig-bit-flipped",
        "payload-tampered",
        "kid-unknown",
        "kid-wrong",
        "jwk-embedded",
        "jku-header",
        "ps256",
        "two-parts",
        "cached-deny",
        "cache-key",
    ] {
        assert_eq!(case(&report, name)["status"], "passed", "{name}");
    }
    // Kinds that need the issuer's key are reported as not testable, with the reason.
    for name in [
        "expired",
        "iss-wrong",
        "client-id-wrong",
        "key-rotation",
        "jwks-slow",
    ] {
        let c = case(&report, name);
        assert_eq!(c["status"], "skipped", "{name}");
        assert!(
            c["detail"].as_str().unwrap().contains("issuer's"),
            "{name}: {}",
            c["detail"]
        );
    }
    assert_eq!(report["attacker_fetches"], 0);
    let snapshots = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .count();
    assert!(snapshots > 0, "the allowed cases' policies were kept");
    assert_secret_nowhere(&output, dir.path());
}

#[tokio::test]
async fn the_keyless_catalogue_catches_the_flawed_example_without_the_issuer_key() {
    let idp = idp().await;
    let dir = tempfile::tempdir().unwrap();
    let (output, report) = conform(&idp, "flawed", dir.path()).await;
    assert_eq!(output.status.code(), Some(1), "the run fails");
    // Mistake (f): aud is checked on access tokens, so the real good token is refused.
    let good = case(&report, "cognito-access");
    assert_eq!(good["status"], "failed");
    assert!(
        good["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["severity"] == "availability"),
        "{good}"
    );
    // Mistake (b): a derived bad token is rejected by a Deny (403), not Unauthorized (401).
    let flipped = case(&report, "sig-bit-flipped");
    assert_eq!(flipped["observed"], "deny");
    assert!(
        flipped["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["severity"] == "contract"),
        "{flipped}"
    );
    assert_secret_nowhere(&output, dir.path());
}

/// The binary as a user runs it, in a folder of its own.
fn authprobe(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    support::authprobe_in(dir.path(), args, &[])
}

#[test]
fn a_failing_token_command_stops_the_run_with_exit_3_and_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let output = authprobe(&[
        "conform",
        "--profile",
        "jwks",
        "--token-cmd",
        "echo 'session expired, log in again' >&2; exit 7",
        "--report-dir",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("status 7") && stderr.contains("session expired, log in again"),
        "{stderr}"
    );
}

#[test]
fn a_key_less_option_without_a_good_token_is_bad_usage() {
    let output = authprobe(&["conform", "--jwks-url", "http://127.0.0.1:1/jwks.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--token-cmd"));
}

#[tokio::test]
async fn a_refused_client_secret_is_exit_3_and_never_printed() {
    let idp = idp().await;
    let wrong = format!("{}-but-wrong", client_secret());
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::from(support::authprobe_command())
        .args([
            "conform",
            "--profile",
            "cognito",
            "--oauth-token-url",
            &idp.cognito_token_url(),
            "--client-id",
            CLIENT_ID,
            "--client-secret-env",
            SECRET_VAR,
            "--report-dir",
            dir.path().to_str().unwrap(),
        ])
        .env(SECRET_VAR, &wrong)
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("HTTP 401") && stderr.contains("invalid_client"),
        "{stderr}"
    );
    assert!(!stderr.contains(&wrong) && !String::from_utf8_lossy(&output.stdout).contains(&wrong));
    assert_eq!(idp.tokens_issued(), 0);
}

#[test]
fn token_list_keyless_says_which_kinds_a_run_without_the_issuer_key_derives() {
    let output = authprobe(&["token", "list", "--keyless", "--profile", "cognito"]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name}\t")))
            .unwrap_or_else(|| panic!("no row {name}: {stdout}"))
            .split('\t')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("cognito-access")[2], "keyless");
    assert_eq!(row("alg-none")[2], "keyless");
    assert_eq!(
        row("rs384")[3],
        "alg `RS384` in the header, the issuer's RS256 signature kept"
    );
    let expired = row("expired");
    assert_eq!(expired[1..3], ["reject", "issuer-key"]);
    assert!(expired[3].contains("--expired-token-file"));
}

/// A deployed stage as a client sees it: `x-api-key` required (403 without), the token read
/// from `x-auth-token` (the authorizer's identity source), 200 for the static token, else 401.
/// Also returns how many requests reached it.
async fn deployed_stage(api_key: String) -> (String, Arc<AtomicU64>) {
    use axum::http::{HeaderMap, StatusCode};
    let requests = Arc::new(AtomicU64::new(0));
    let seen = requests.clone();
    let app = axum::Router::new().route(
        "/staging/hello",
        axum::routing::get(move |headers: HeaderMap| {
            let api_key = api_key.clone();
            seen.fetch_add(1, Ordering::Relaxed);
            async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                if header("x-api-key") != Some(api_key.as_str()) {
                    return (StatusCode::FORBIDDEN, r#"{"message":"Forbidden"}"#);
                }
                if header("authorization").is_some() {
                    return (
                        StatusCode::BAD_REQUEST,
                        r#"{"message":"token in the wrong header"}"#,
                    );
                }
                match header("x-auth-token") {
                    Some("allow-token") => (StatusCode::OK, r#"{"hello":"world"}"#),
                    _ => (StatusCode::UNAUTHORIZED, r#"{"message":"Unauthorized"}"#),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/staging", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, requests)
}

#[tokio::test]
async fn a_deployed_stage_gets_its_api_key_from_the_environment_and_the_token_in_its_header() {
    let api_key = format!("{}-{}", "stage", "api-key-7c1e9a");
    let (url, requests) = deployed_stage(api_key.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::from(support::authprobe_command())
        .args([
            "conform",
            "--profile",
            "static",
            "--target",
            &format!("url:{url}"),
            "--header-env",
            "x-api-key=AUTHPROBE_E2E_API_KEY",
            "--token-header",
            "x-auth-token",
            "--header",
            "x-team: conformance",
            "--no-snapshots",
            "--verbose",
            "--report-dir",
            dir.path().to_str().unwrap(),
            "--json",
            dir.path().join("report.json").to_str().unwrap(),
        ])
        .env("AUTHPROBE_E2E_API_KEY", &api_key)
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    support::assert_nowhere(&output, dir.path(), &api_key, 1);
    // At most one request a listed case (and calibration's look at the good token), counted
    // by the stage itself, and said in the report and the summary.
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let cases = report["cases"].as_array().unwrap().len() as u64;
    let sent = requests.load(Ordering::Relaxed);
    assert!(
        sent > 0 && sent <= cases + 1,
        "{sent} requests for {cases} cases"
    );
    assert_eq!(report["deployed"]["sent"].as_u64(), Some(sent));
    assert!(sent <= report["deployed"]["limit"].as_u64().unwrap());
    assert!(
        stdout.contains(&format!("{sent} request(s) sent;")),
        "{stdout}"
    );
}

/// The claims of a compact JWS, unverified.
fn payload(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("a compact JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn an_auth0_style_client_sends_its_secret_in_the_form_and_gets_a_token_for_its_audience() {
    use authprobe::tokens::source::{ClientAuth, ClientCredentials, Secret, TokenSource};
    let idp = idp().await;
    let grant = |auth, audience: Option<&str>| {
        TokenSource::ClientCredentials(ClientCredentials {
            token_url: idp.cognito_token_url(),
            client_id: CLIENT_ID.into(),
            secret: Secret::new(client_secret()),
            scope: None,
            audience: audience.map(str::to_string),
            auth,
        })
    };
    let token = grant(ClientAuth::Post, Some("https://api.example.test/"))
        .fetch()
        .await
        .unwrap();
    let claims = payload(&token);
    assert_eq!(claims["aud"], "https://api.example.test/");
    assert_eq!(claims["client_id"], CLIENT_ID);
    // Without an audience the token is Cognito's shape: no `aud` at all.
    let token = grant(ClientAuth::Basic, None).fetch().await.unwrap();
    assert!(payload(&token).get("aud").is_none());
    assert_eq!(idp.tokens_issued(), 2);
}

/// A deployed stage whose authorizer never takes a new key: it allows tokens under the first
/// key id it is shown and no other (what a function that never refetches its JWKS does after
/// a rotation). Also returns how many requests reached it.
async fn stage_that_never_refetches() -> (String, Arc<AtomicU64>) {
    use axum::http::{HeaderMap, StatusCode};
    use base64::Engine as _;
    let requests = Arc::new(AtomicU64::new(0));
    let seen = requests.clone();
    let first_kid = Arc::new(std::sync::Mutex::new(None::<String>));
    let app = axum::Router::new().route(
        "/hello",
        axum::routing::get(move |headers: HeaderMap| {
            seen.fetch_add(1, Ordering::Relaxed);
            let kid = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(|t| t.split('.').next())
                .and_then(|h| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(h)
                        .ok()
                })
                .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
                .and_then(|h| h["kid"].as_str().map(str::to_string));
            let allowed = kid.is_some_and(|kid| {
                first_kid.lock().unwrap().get_or_insert_with(|| kid.clone()) == &kid
            });
            async move {
                if allowed {
                    (StatusCode::OK, r#"{"hello":"world"}"#)
                } else {
                    (StatusCode::UNAUTHORIZED, r#"{"message":"Unauthorized"}"#)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, requests)
}

#[tokio::test]
async fn key_rotation_asks_a_deployed_stage_twice_after_its_warm_up_however_long_the_key_is_refused()
 {
    let (url, requests) = stage_that_never_refetches().await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let output = tokio::process::Command::from(support::authprobe_command())
        .args([
            "conform",
            "--profile",
            "jwks",
            "--target",
            &format!("url:{url}"),
            "--case",
            "key-rotation",
            "--rotation-window",
            "1s",
            "--no-snapshots",
            "--report-dir",
            dir.path().to_str().unwrap(),
            "--json",
            report.to_str().unwrap(),
        ])
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The jwks profile's IdP publishes keys a week ahead, and a deployed stage has no cold
    // start to tell a slow pickup from none: what was measured is a warning, not a failure.
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let rotation = case(&report, "key-rotation");
    assert_eq!(rotation["status"], "warned", "{rotation}");
    assert!(
        rotation["findings"][0]["why"]
            .to_string()
            .contains("could not tell"),
        "{rotation}"
    );
    assert!(
        rotation["notes"].to_string().contains("(2 attempt(s))"),
        "{rotation}"
    );
    // Calibration's look at the good token, the warm-up, the new key right after it was
    // published and at the end of the window: four, not one every 250 ms.
    assert_eq!(requests.load(Ordering::Relaxed), 4, "{stdout}");
    assert_eq!(report["deployed"]["sent"], 4);
}

/// A principal's real token, as the IdP would issue it to that user: a Cognito access token
/// for the app client with `cognito:groups`, signed by the IdP's key in this process.
fn principal_token(idp: &Idp, groups: &[&str]) -> String {
    use authprobe::tokens::{Kind, MintSettings, Minter, Profile};
    let mut settings = MintSettings {
        issuer: idp.cognito_issuer(),
        client_id: CLIENT_ID.into(),
        ..MintSettings::default()
    };
    settings
        .extra
        .insert("cognito:groups".into(), serde_json::json!(groups));
    Minter::new(Profile::Cognito, support::keyring(), settings)
        .mint(Kind::CognitoAccess)
        .unwrap()
        .credential
}

#[tokio::test]
async fn a_keyless_matrix_takes_each_principals_real_token_and_says_which_lack_one() {
    let idp = idp().await;
    let dir = tempfile::tempdir().unwrap();
    let reader = dir.path().join("reader.jwt");
    std::fs::write(&reader, principal_token(&idp, &["readers"])).unwrap();
    let admin = format!("echo {}", principal_token(&idp, &["admins"]));
    let python = support::python::venv_python();
    let workdir = support::python::example_dir("groups");
    let output = tokio::process::Command::from(support::authprobe_command())
        .args([
            "conform",
            "--scenario",
            workdir.join("groups.toml").to_str().unwrap(),
            "--target",
            &format!("lambda:{} -m awslambdaric app.handler", python.display()),
            "--workdir",
            workdir.to_str().unwrap(),
            "--env",
            "JWKS_URL={jwks_url}",
            "--env",
            "ISSUER={issuer}",
            "--env",
            "CLIENT_ID={client_id}",
            "--oauth-token-url",
            &idp.cognito_token_url(),
            "--client-id",
            CLIENT_ID,
            "--client-secret-env",
            SECRET_VAR,
            "--scope",
            "hello/read",
            "--principal-token-file",
            &format!("reader={}", reader.display()),
            "--principal-token-cmd",
            &format!("admin={admin}"),
            "--no-snapshots",
            "--report-dir",
            dir.path().join("reports").to_str().unwrap(),
        ])
        .env(SECRET_VAR, client_secret())
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("authprobe runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(support::run_dir(dir.path()).join("report.json")).unwrap(),
    )
    .unwrap();
    // The given tokens are judged cell by cell, as minted ones would be.
    for (name, status) in [
        ("reader GET /items", "passed"),
        ("reader DELETE /items", "passed"),
        ("admin DELETE /items", "passed"),
        ("admin GET /admin", "passed"),
    ] {
        assert_eq!(case(&report, name)["status"], status, "{name}: {stdout}");
    }
    // A principal with no token given cannot be judged in a key-less run, and says why.
    let missing = case(&report, "nobody GET /items");
    assert_eq!(missing["status"], "errored", "{stdout}");
    assert!(
        missing["detail"]
            .as_str()
            .unwrap()
            .contains("--principal-token-file nobody=FILE"),
        "{missing}"
    );
    // The given tokens are printed nowhere.
    let given = std::fs::read_to_string(&reader).unwrap();
    support::assert_nowhere(&output, dir.path().join("reports").as_path(), &given, 3);
}
