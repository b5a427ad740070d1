//! `aws-lambda:` against a stand-in of Lambda's Invoke API: a small server here checks the
//! SigV4 signature of every request with the known test credentials (the expected signature
//! computed with `aws-sigv4`), refuses what does not verify as Lambda would (403
//! InvalidSignatureException), and hands what does to the correct Python example behind the
//! Python invoke stand-in of tests/fixtures/invoke. authprobe runs as the real binary with
//! the SDK's environment: AWS_ENDPOINT_URL, static keys, no metadata service.
#![cfg(feature = "aws")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

const ACCESS_KEY: &str = "AKIDAUTHPROBETEST01";
/// Built at run time: no tracked file holds the whole secret access key.
fn secret_key() -> String {
    format!("{}{}", "wJalrXUtnFEMI/K7MDENG", "+authprobeTESTKEY0001")
}
const REGION: &str = "us-east-1";

struct StandIn {
    /// Where verified requests go (the Python invoke stand-in), if anywhere.
    behind: Option<String>,
    http: reqwest::Client,
    verified: AtomicU64,
    refused: AtomicU64,
}

/// `Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX`.
fn authorization_parts(value: &str) -> Option<(String, Vec<String>, String)> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        let (k, v) = part.split_once('=')?;
        match k {
            "Credential" => credential = Some(v.to_string()),
            "SignedHeaders" => signed = Some(v.split(';').map(str::to_string).collect()),
            "Signature" => signature = Some(v.to_string()),
            _ => {}
        }
    }
    Some((credential?, signed?, signature?))
}

/// The signature the request must carry, computed with aws-sigv4 from the known credentials
/// and the request as it arrived; `None` when it is not a SigV4 request at all.
fn expected_signature(
    uri: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<(String, String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let (credential, signed_headers, given) =
        authorization_parts(headers.get("authorization")?.to_str().ok()?)?;
    let date = headers.get("x-amz-date")?.to_str().ok()?;
    let time = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .ok()?
        .and_utc();
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(time.timestamp() as u64);
    let identity = aws_credential_types::Credentials::new(
        ACCESS_KEY,
        secret_key(),
        None,
        None,
        "authprobe-test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("lambda")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .ok()?
        .into();
    let signed: Vec<(String, String)> = signed_headers
        .iter()
        .filter_map(|name| {
            Some((
                name.clone(),
                headers.get(name.as_str())?.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let request = SignableRequest::new(
        "POST",
        uri,
        signed.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .ok()?;
    let expected = sign(request, &params).ok()?.signature().to_string();
    Some((credential, expected, given))
}

fn refuse(standin: &StandIn, why: &str) -> Response {
    standin.refused.fetch_add(1, Ordering::Relaxed);
    let mut response = (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({ "message": why })),
    )
        .into_response();
    response.headers_mut().insert(
        "x-amzn-errortype",
        "InvalidSignatureException".parse().unwrap(),
    );
    response
}

async fn invocations(
    State(standin): State<Arc<StandIn>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let uri = format!("http://{host}/2015-03-31/functions/{function}/invocations");
    match expected_signature(&uri, &headers, &body) {
        None => return refuse(&standin, "Missing Authentication Token"),
        Some((credential, expected, given)) => {
            if !credential.starts_with(&format!("{ACCESS_KEY}/")) || expected != given {
                return refuse(
                    &standin,
                    "The request signature we calculated does not match the signature you provided.",
                );
            }
        }
    }
    standin.verified.fetch_add(1, Ordering::Relaxed);
    let Some(behind) = &standin.behind else {
        return (StatusCode::OK, "null").into_response();
    };
    let answer = standin
        .http
        .post(format!(
            "{behind}/2015-03-31/functions/function/invocations"
        ))
        .body(body)
        .send()
        .await
        .expect("the Python stand-in answers");
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let function_error = answer.headers().get("x-amz-function-error").cloned();
    let bytes = answer.bytes().await.unwrap();
    let mut response = (status, bytes).into_response();
    if let Some(value) = function_error {
        response.headers_mut().insert(
            "x-amz-function-error",
            value.to_str().unwrap().parse().unwrap(),
        );
    }
    response
}

/// Starts the stand-in; returns its base URL.
async fn stand_in(behind: Option<String>) -> (String, Arc<StandIn>) {
    let standin = Arc::new(StandIn {
        behind,
        http: support::http(),
        verified: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route(
            "/2015-03-31/functions/{function}/invocations",
            axum::routing::post(invocations),
        )
        .with_state(standin.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, standin)
}

/// `authprobe ARGS` with the SDK's environment pointed at `endpoint` and nothing else of the
/// machine's AWS setup.
async fn authprobe(args: &[&str], endpoint: &str, secret: &str) -> std::process::Output {
    let mut command = tokio::process::Command::from(support::authprobe_command());
    command.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            command.env_remove(k);
        }
    }
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/authprobe-aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/authprobe-aws-credentials",
        )
        .env("NO_COLOR", "1")
        // In CI a snapshot never accepted fails the run; here they are written for the grep.
        .env_remove("CI");
    command.output().await.expect("authprobe runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_python_authorizer_passes_every_case_through_signed_lambda_invokes() {
    let python = support::python::InvokeStandIn::start();
    let (endpoint, standin) = stand_in(Some(format!("http://127.0.0.1:{}", python.port))).await;

    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let idp_addr = format!("127.0.0.1:{}", python.idp_port);
    let output = authprobe(
        &[
            "conform",
            "--profile",
            "jwks",
            "--target",
            "aws-lambda:authorizer",
            "--region",
            REGION,
            "--idp-addr",
            &idp_addr,
            "--timeout",
            "10s",
            "--snapshots",
            dir.path().join("snapshots").to_str().unwrap(),
            "--report-dir",
            dir.path().join("reports").to_str().unwrap(),
            "--json",
            report.to_str().unwrap(),
        ],
        &endpoint,
        &secret_key(),
    )
    .await;
    drop(python);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let summary = &report["summary"];
    assert_eq!(
        (&summary["failed"], &summary["errored"], &summary["warned"]),
        (&0.into(), &0.into(), &0.into()),
        "{stdout}"
    );
    let invocations = report["target_stats"]["invocations"].as_u64().unwrap();
    assert!(invocations > 40, "{invocations}");
    assert_eq!(standin.verified.load(Ordering::Relaxed), invocations);
    assert_eq!(standin.refused.load(Ordering::Relaxed), 0);
    let key_rotation = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "key-rotation")
        .unwrap();
    assert_eq!(key_rotation["status"], "passed");
    // A deployed function is sent what the listed cases need, counted at the target.
    let deployed = &report["deployed"];
    assert_eq!(deployed["sent"].as_u64(), Some(invocations));
    assert!(
        invocations <= deployed["limit"].as_u64().unwrap(),
        "{deployed}"
    );
    assert!(
        stdout.contains(&format!("{invocations} request(s) sent;")),
        "{stdout}"
    );
    // One request a case against a deployed function: the 50-request flood is not sent.
    let flood = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "unknown-kid-flood")
        .unwrap();
    assert_eq!(flood["status"], "skipped");
    // The credentials are nowhere in what the run printed or wrote (reports, JUnit, snapshots).
    support::assert_nowhere(&output, dir.path(), &secret_key(), 9);
}

#[tokio::test]
async fn the_stand_in_refuses_unsigned_and_wrongly_signed_requests_and_the_run_cannot_ask() {
    let (endpoint, standin) = stand_in(None).await;
    let url = format!("{endpoint}/2015-03-31/functions/authorizer/invocations");
    let unsigned = support::http().post(&url).body("{}").send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    // A run whose secret key is not the one the stand-in knows: every invoke is refused, so
    // nothing could be asked (exit 3), and the key is printed nowhere.
    let wrong = format!("{}-not-it", secret_key());
    let dir = tempfile::tempdir().unwrap();
    let output = authprobe(
        &[
            "invoke",
            "--target",
            "aws-lambda:authorizer",
            "--region",
            REGION,
            "--kind",
            "valid",
        ],
        &endpoint,
        &wrong,
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("InvalidSignatureException"),
        "{stdout}\n{stderr}"
    );
    assert!(!stdout.contains(&wrong) && !stderr.contains(&wrong));
    assert_eq!(standin.verified.load(Ordering::Relaxed), 0);
    assert_eq!(standin.refused.load(Ordering::Relaxed), 2);
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_invoke_answer_is_read_up_to_lambdas_limit_and_is_an_error() {
    // A hostile endpoint (AWS_ENDPOINT_URL) answers every invoke with a body that never ends:
    // the SDK would read it whole; authprobe stops at Lambda's 6 MB.
    let app = axum::Router::new().fallback(|| async {
        axum::body::Body::new(support::Endless(Bytes::from(vec![b'x'; 64 * 1024])))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let output = authprobe(
        &[
            "invoke",
            "--target",
            "aws-lambda:authorizer",
            "--region",
            REGION,
            "--kind",
            "valid",
        ],
        &endpoint,
        &secret_key(),
    )
    .await;
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(shown.contains("larger than 6 MB"), "{shown}");
    assert_ne!(
        output.status.code(),
        Some(3),
        "an answer, not a failure to ask: {shown}"
    );
}
