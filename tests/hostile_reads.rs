//! What authprobe reads from outside, served by hostile peers on 127.0.0.1 or placed as
//! hostile files: a token endpoint that redirects the client secret elsewhere or never ends
//! its body, an endless JWKS, token commands that never stop, snapshot and report paths that
//! are FIFOs, devices or links, and profiles or headers that would let a must-reject case pass
//! without the authorizer ever being asked. Every one runs the real binary.

mod support;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use support::{authprobe_in, bootstrap, processes_mentioning};

const SECRET_VAR: &str = "AUTHPROBE_HOSTILE_SECRET";
const SECRET: &str = "hostile-s3cr3t-value";

/// A JWT-shaped good token (its signature is not checked before the JWKS is fetched).
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoidTEiLCJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDB9.c2ln";

/// Serves `app` on 127.0.0.1; its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn endless() -> Response {
    let body = Body::new(support::Endless(axum::body::Bytes::from(vec![
        b'x';
        64 * 1024
    ])));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Runs the binary in `dir` off the async workers (the servers it talks to run on them).
async fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let (dir, args, env): (std::path::PathBuf, Vec<String>, Vec<(String, String)>) = (
        dir.to_path_buf(),
        args.iter().map(|s| s.to_string()).collect(),
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        authprobe_in(&dir, &args, &env)
    })
    .await
    .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_endpoint_that_redirects_never_gets_the_client_secret_sent_elsewhere() {
    let stolen = Arc::new(AtomicU64::new(0));
    let count = stolen.clone();
    let elsewhere = serve(axum::Router::new().fallback(move || {
        count.fetch_add(1, Ordering::SeqCst);
        async { axum::Json(serde_json::json!({"access_token": TOKEN})) }
    }))
    .await;
    for status in [307u16, 308, 302] {
        let location = format!("{elsewhere}/steal");
        let endpoint = serve(axum::Router::new().fallback(move || {
            let location = location.clone();
            async move {
                (
                    StatusCode::from_u16(status).unwrap(),
                    [(header::LOCATION, location)],
                )
            }
        }))
        .await;
        let dir = tempfile::tempdir().unwrap();
        let token_url = format!("{endpoint}/oauth2/token");
        let out = run(
            dir.path(),
            &[
                "conform",
                "--no-snapshots",
                "--report-dir",
                "reports",
                "--oauth-token-url",
                &token_url,
                "--client-id",
                "app",
                "--client-secret-env",
                SECRET_VAR,
                "--client-auth",
                "post",
            ],
            &[(SECRET_VAR, SECRET)],
        )
        .await;
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(3), "{status}: {shown}");
        assert!(
            shown.contains(&format!("answered HTTP {status}, a redirect to")),
            "{shown}"
        );
        assert!(!shown.contains(SECRET), "{shown}");
    }
    assert_eq!(stolen.load(Ordering::SeqCst), 0, "the form was sent on");
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_the_token_endpoint_url_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "conform",
            "--no-snapshots",
            "--report-dir",
            "reports",
            "--oauth-token-url",
            "http://url-user:url-s3cr3t@127.0.0.1:9/oauth2/token",
            "--client-id",
            "app",
            "--client-secret-env",
            SECRET_VAR,
        ],
        &[(SECRET_VAR, SECRET)],
    )
    .await;
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    assert!(
        shown.contains("http://***@127.0.0.1:9/oauth2/token"),
        "{shown}"
    );
    support::assert_nowhere(&out, dir.path(), "url-s3cr3t", 0);
    support::assert_nowhere(&out, dir.path(), SECRET, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_token_endpoint_body_or_jwks_stops_at_the_limit() {
    let server = serve(axum::Router::new().fallback(|| async { endless() })).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tok"), TOKEN).unwrap();
    let token_url = format!("{server}/oauth2/token");
    let jwks_url = format!("{server}/jwks.json");
    for (args, words) in [
        (
            vec![
                "--oauth-token-url",
                token_url.as_str(),
                "--client-id",
                "app",
                "--client-secret-env",
                SECRET_VAR,
            ],
            "answered with a body of more than 1 MiB (the limit)",
        ),
        (
            vec!["--token-file", "tok", "--jwks-url", jwks_url.as_str()],
            "more than 1 MiB (the limit)",
        ),
    ] {
        let mut all = vec!["conform", "--no-snapshots", "--report-dir", "reports"];
        all.extend(args);
        let out = run(dir.path(), &all, &[(SECRET_VAR, SECRET)]).await;
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(3), "{shown}");
        assert!(shown.contains(words), "{shown}");
    }
}

#[test]
fn a_token_command_and_everything_it_started_end_with_the_run() {
    let marker = format!("8{:07}1", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    // The command leaves a grandchild in a session of its own, then waits.
    let command = format!("setsid sleep {marker} </dev/null >/dev/null 2>&1 & sleep {marker}");
    let mut child = support::authprobe_command()
        .args([
            "conform",
            "--no-snapshots",
            "--report-dir",
            "reports",
            "--token-cmd",
            &command,
        ])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Both sleeps are up: the command is running.
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_mentioning(&marker).len() < 2 {
        assert!(Instant::now() < deadline, "the token command did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    let left = processes_mentioning(&marker);
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_token_file_that_is_a_fifo_is_refused_not_waited_on() {
    // Opened for reading, a FIFO with no writer blocks forever, past any signal. (The
    // expired-token file goes through the same reader, `bounded::text_file_async`.)
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("tok"));
    let out = authprobe_in(
        dir.path(),
        &[
            "conform",
            "--no-snapshots",
            "--report-dir",
            "reports",
            "--token-file",
            "tok",
        ],
        &[],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    assert!(shown.contains("not a regular file (a FIFO)"), "{shown}");
}

const ONE_CASE: &str =
    "profile = \"static\"\n[run]\ncases = [{ kind = \"allow-token\", expect = \"allow\" }]\n";

#[test]
fn a_snapshot_that_is_a_fifo_a_device_or_huge_is_refused_unread() {
    /// What the snapshot is, how to make it, and the words of its refusal.
    type Hostile = (&'static str, fn(&Path), &'static str);
    let cases: [Hostile; 3] = [
        ("a FIFO", |p| mkfifo(p), "not a regular file (a FIFO)"),
        (
            "a link to /dev/zero",
            |p| std::os::unix::fs::symlink("/dev/zero", p).unwrap(),
            "not a regular file (a device)",
        ),
        (
            "31 MB",
            |p| {
                let mut text = "---\nsource: x\n---\n".to_string();
                text.push_str(&"{\"a\": 1}\n".repeat(31 << 17));
                std::fs::write(p, text).unwrap();
            },
            "more than 1 MiB (the limit)",
        ),
    ];
    for (what, make, words) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.toml"), ONE_CASE).unwrap();
        std::fs::create_dir(dir.path().join("snaps")).unwrap();
        make(&dir.path().join("snaps/allow-token.snap"));
        let out = authprobe_in(
            dir.path(),
            &[
                "conform",
                "--scenario",
                "p.toml",
                "--snapshots",
                "snaps",
                "--report-dir",
                "reports",
            ],
            &[],
        );
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(3), "{what}: {shown}");
        assert!(shown.contains("cannot read"), "{what}: {shown}");
        assert!(shown.contains(words), "{what}: {shown}");
    }
}

#[test]
fn a_report_to_a_fifo_nobody_reads_fails_at_once_and_linked_report_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("r.json"));
    let out = authprobe_in(
        dir.path(),
        &[
            "conform",
            "--profile",
            "static",
            "--no-snapshots",
            "--report-dir",
            "reports",
            "--json",
            "r.json",
        ],
        &[],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(3), "{shown}");
    assert!(shown.contains("a FIFO that nobody reads"), "{shown}");

    std::fs::write(dir.path().join("a.json"), "{}").unwrap();
    std::os::unix::fs::symlink(dir.path().join("a.json"), dir.path().join("b.xml")).unwrap();
    for command in ["conform", "load"] {
        let out = authprobe_in(
            dir.path(),
            &[command, "--json", "a.json", "--junit", "b.xml"],
            &[],
        );
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {shown}");
        assert!(shown.contains("--json and --junit both name"), "{shown}");
    }
}

#[test]
fn a_route_no_authorizer_could_be_invoked_for_is_a_bad_profile_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let route = format!("GET /{}", "a".repeat(1700));
    let profile = format!(
        "profile = \"jwks\"\n[run]\ncases = [\n  {{ kind = \"expired\", expect = \"reject\", route = \"{route}\" }},\n]\n"
    );
    std::fs::write(dir.path().join("p.toml"), profile).unwrap();
    let out = authprobe_in(dir.path(), &["conform", "--scenario", "p.toml"], &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    for words in [
        "p.toml:4:",
        "limit of 1600",
        "414",
        "nothing could be judged",
    ] {
        assert!(shown.contains(words), "{words}: {shown}");
    }
}

#[test]
fn a_fail_open_authorizer_cannot_pass_on_refusals_the_gateway_makes_before_it() {
    // Every request is over API Gateway's header quota, so none reaches the authorizer, which
    // allows everything: no case may pass, the must-reject ones least of all.
    let dir = tempfile::tempdir().unwrap();
    let target = format!("lambda:python3 {}", bootstrap());
    let pad = format!("X-Pad: {}", "p".repeat(11_000));
    let out = authprobe_in(
        dir.path(),
        &[
            "conform",
            "--profile",
            "jwks",
            "--no-snapshots",
            "--target",
            &target,
            "--env",
            "MODE=allow",
            "--header",
            &pad,
            "--report-dir",
            "reports",
        ],
        &[],
    );
    let shown = text(&out);
    assert_ne!(out.status.code(), Some(0), "{shown}");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(support::run_dir(dir.path()).join("report.json")).unwrap(),
    )
    .unwrap();
    let cases = report["cases"].as_array().unwrap();
    let passed: Vec<&str> = cases
        .iter()
        .filter(|c| c["expected"] == "reject" && c["status"] == "passed")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        passed.is_empty(),
        "passed without the authorizer: {passed:?}"
    );
    assert!(
        cases.iter().any(|c| c["expected"] == "reject"
            && c["detail"].as_str().unwrap().starts_with("not judged: ")),
        "{shown}"
    );
}
