//! Targets against real children and real servers: the embedded Runtime API with a custom
//! runtime that misbehaves on request, and an invoke endpoint served by the test.

mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use authprobe::event::{self, Api, ClientRequest, EventKind};
use authprobe::policy::ApiKind;
use authprobe::target::{
    self, Call, Outcome, Reply, Target, TargetError, TargetOptions, TargetSpec,
};
use serde_json::Value;

fn bootstrap() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runtime/bootstrap.py")
}

fn options(mode: &str) -> TargetOptions {
    TargetOptions {
        env: vec![("MODE".into(), mode.into())],
        timeout: Duration::from_secs(2),
        ..TargetOptions::default()
    }
}

async fn lambda(opts: TargetOptions) -> Result<Arc<dyn Target>, TargetError> {
    let spec = TargetSpec::Lambda(vec!["python3".into(), bootstrap().display().to_string()]);
    target::start(&spec, opts).await
}

fn call() -> Call {
    let request = ClientRequest::get("/hello", Some("Bearer x.y.z".into()));
    Call {
        event: event::build(EventKind::Token, &Api::default(), &request),
        request,
    }
}

fn arn() -> String {
    ClientRequest::get("/hello", None)
        .method_arn(&Api::default())
        .to_string()
}

#[tokio::test]
async fn a_child_gets_the_lambda_environment_and_invocation_headers() {
    let mut opts = options("env");
    opts.env
        .push(("AUTHPROBE_EXTRA".into(), "from --env".into()));
    let target = lambda(opts).await.unwrap();
    let answer = target.call(&call()).await;
    let Ok(Reply::Response(doc)) = &answer.reply else {
        panic!("{:?}", answer.reply)
    };
    let ctx = &doc["context"];
    assert_eq!(ctx["AWS_LAMBDA_FUNCTION_NAME"], "authprobe-authorizer");
    assert_eq!(ctx["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(ctx["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(ctx["AWS_REGION"], "us-east-1");
    assert_eq!(ctx["AUTHPROBE_EXTRA"], "from --env");
    assert!(ctx["_HANDLER"].as_str().unwrap().ends_with("bootstrap.py"));
    assert!(ctx["LAMBDA_TASK_ROOT"].as_str().unwrap().starts_with('/'));
    assert_eq!(
        ctx["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:authprobe-authorizer"
    );
    let deadline: u128 = ctx["deadline"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(deadline > now, "the deadline is in the future");
    assert!(
        answer.cold,
        "the first invocation of an environment is a cold one"
    );
    assert!(!target.call(&call()).await.cold, "the second is warm");
    assert_eq!(target.stats().cold_starts_ms.len(), 1);
    assert_eq!(
        target::classify(&answer.reply, ApiKind::Rest, &arn()).0,
        Outcome::Allow
    );
}

#[tokio::test]
async fn raising_unauthorized_is_a_401() {
    let target = lambda(options("unauthorized")).await.unwrap();
    let answer = target.call(&call()).await;
    assert_eq!(
        target::classify(&answer.reply, ApiKind::Rest, &arn()).0,
        Outcome::Unauthorized
    );
}

#[tokio::test]
async fn a_crash_mid_invocation_is_an_error_with_the_output_and_a_new_child_takes_over() {
    let target = lambda(options("crash")).await.unwrap();
    for _ in 0..2 {
        let answer = target.call(&call()).await;
        match &answer.reply {
            Err(TargetError::Crashed {
                status,
                stderr_tail,
            }) => {
                assert_eq!(status, "exit status: 3");
                assert!(stderr_tail.contains("segfault in handler"), "{stderr_tail}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        target.stats().replaced,
        2,
        "each crash was replaced by a new child"
    );
    assert!(
        target.stats().cold_starts_ms.len() >= 2,
        "the second call ran on a new child"
    );
}

#[tokio::test]
async fn a_hang_past_the_timeout_is_a_timeout_and_a_fresh_environment_answers_next() {
    let marker = tempfile::tempdir().unwrap();
    let mut opts = options("allow");
    opts.timeout = Duration::from_secs(1);
    // The wrapper hangs on the first invocation of its life only when the marker is absent.
    let script = format!(
        "import os,sys,time\nm='{}/hung'\nif not os.path.exists(m):\n    open(m,'w').close()\n    os.environ['MODE']='hang'\nexec(open('{}').read())",
        marker.path().display(),
        bootstrap().display()
    );
    let spec = TargetSpec::Lambda(vec!["python3".into(), "-c".into(), script]);
    let target = target::start(&spec, opts).await.unwrap();
    let first = target.call(&call()).await;
    assert_eq!(
        first.reply,
        Err(TargetError::Timeout(Duration::from_secs(1)))
    );
    assert_eq!(
        target::classify(&first.reply, ApiKind::Rest, &arn()).0,
        Outcome::Error
    );
    let second = target.call(&call()).await;
    assert!(
        matches!(second.reply, Ok(Reply::Response(_))),
        "{:?}",
        second.reply
    );
    assert!(second.cold, "the replacement environment started cold");
    assert_eq!(target.stats().replaced, 1);
}

#[tokio::test]
async fn an_init_error_stops_the_start_with_the_message_and_the_output() {
    match lambda(options("init-error")).await {
        Err(TargetError::Init {
            message,
            stderr_tail,
        }) => {
            assert!(message.contains("Runtime.ImportModuleError"), "{message}");
            assert!(
                stderr_tail.contains("No module named 'app'"),
                "{stderr_tail}"
            );
        }
        other => panic!("{:?}", other.map(|t| t.describe())),
    }
}

#[tokio::test]
async fn a_child_that_exits_before_asking_for_work_cannot_start() {
    match lambda(options("exit-early")).await {
        Err(TargetError::Init {
            message,
            stderr_tail,
        }) => {
            assert!(
                message.contains("before asking for an invocation"),
                "{message}"
            );
            assert!(stderr_tail.contains("giving up"), "{stderr_tail}");
        }
        other => panic!("{:?}", other.map(|t| t.describe())),
    }
}

#[tokio::test]
async fn a_handler_built_for_the_go1x_rpc_protocol_is_named_at_once_with_how_to_rebuild_it() {
    // It listens on _LAMBDA_SERVER_PORT and never calls the Runtime API: the start fails as
    // soon as the port answers, not after the 30 s wait.
    match lambda(options("go1x")).await {
        Err(TargetError::Init { message, .. }) => {
            assert!(message.contains("_LAMBDA_SERVER_PORT"), "{message}");
            assert!(message.contains("go1.x"), "{message}");
            assert!(message.contains("aws-lambda-go 1.18"), "{message}");
        }
        other => panic!("{:?}", other.map(|t| t.describe())),
    }
}

#[tokio::test]
async fn a_command_that_does_not_exist_cannot_start() {
    let spec = TargetSpec::Lambda(vec!["/nonexistent/authorizer".into()]);
    match target::start(&spec, TargetOptions::default()).await {
        Err(e @ TargetError::Start(_)) => {
            assert!(e.to_string().contains("/nonexistent/authorizer"))
        }
        other => panic!("{:?}", other.map(|t| t.describe())),
    }
}

#[tokio::test]
async fn a_non_json_answer_is_an_error() {
    let target = lambda(options("non-json")).await.unwrap();
    let answer = target.call(&call()).await;
    assert!(
        matches!(&answer.reply, Err(TargetError::NotJson(body)) if body.contains("not json")),
        "{:?}",
        answer.reply
    );
    assert_eq!(
        target::classify(&answer.reply, ApiKind::Rest, &arn()).0,
        Outcome::Error
    );
}

#[tokio::test]
async fn an_answer_over_six_megabytes_is_an_error() {
    let target = lambda(options("oversized")).await.unwrap();
    let answer = target.call(&call()).await;
    assert!(
        matches!(answer.reply, Err(TargetError::Oversized(_))),
        "{:?}",
        answer.reply
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_environments_share_parallel_invocations() {
    let mut opts = options("slow");
    opts.env.push(("SLOW_MS".into(), "400".into()));
    opts.concurrency = 4;
    let target = lambda(opts).await.unwrap();
    assert_eq!(
        target.stats().cold_starts_ms.len(),
        4,
        "four environments started"
    );
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let t = target.clone();
            tokio::spawn(async move { t.call(&call()).await })
        })
        .collect();
    let mut pids = HashSet::new();
    for c in calls {
        let answer = c.await.unwrap();
        let Ok(Reply::Response(doc)) = answer.reply else {
            panic!("{:?}", answer.reply)
        };
        pids.insert(doc["context"]["pid"].as_str().unwrap().to_string());
    }
    assert_eq!(
        pids.len(),
        4,
        "every environment answered some of the calls"
    );
    assert_eq!(target.stats().invocations, 8);
}

#[tokio::test]
async fn an_invoke_endpoint_is_read_like_lambda() {
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let policy = serde_json::json!({"principalId": "u", "policyDocument": {"Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]}});
    Mock::given(method("POST"))
        .and(path("/2015-03-31/functions/function/invocations"))
        .and(body_partial_json(
            serde_json::json!({"authorizationToken": "Bearer good"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(policy))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/2015-03-31/functions/function/invocations"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Amz-Function-Error", "Unhandled")
                .set_body_json(
                    serde_json::json!({"errorMessage": "Unauthorized", "errorType": "Exception"}),
                ),
        )
        .mount(&server)
        .await;
    let spec: TargetSpec = format!("invoke:{}", server.uri()).parse().unwrap();
    let target = target::start(&spec, TargetOptions::default())
        .await
        .unwrap();
    let with = |token: &str| {
        let request = ClientRequest::get("/hello", Some(token.into()));
        Call {
            event: event::build(EventKind::Token, &Api::default(), &request),
            request,
        }
    };
    let good = target.call(&with("Bearer good")).await;
    assert_eq!(
        target::classify(&good.reply, ApiKind::Rest, &arn()).0,
        Outcome::Allow
    );
    let bad = target.call(&with("Bearer bad")).await;
    assert_eq!(
        target::classify(&bad.reply, ApiKind::Rest, &arn()).0,
        Outcome::Unauthorized
    );
    let received: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(received[0]["type"], "TOKEN");
}

#[tokio::test]
async fn an_invoke_endpoint_that_is_not_there_cannot_be_asked() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let spec: TargetSpec = format!("invoke:http://{addr}").parse().unwrap();
    let target = target::start(&spec, TargetOptions::default())
        .await
        .unwrap();
    let answer = target.call(&call()).await;
    assert!(
        answer.reply.as_ref().unwrap_err().is_could_not_ask(),
        "{:?}",
        answer.reply
    );
}

#[tokio::test]
async fn a_relative_program_path_is_taken_from_where_authprobe_runs_not_from_the_workdir() {
    // Integration tests run in the crate root.
    let workdir = tempfile::tempdir().unwrap();
    let spec = TargetSpec::Lambda(vec!["tests/fixtures/runtime/run-bootstrap.sh".into()]);
    let opts = TargetOptions {
        workdir: Some(workdir.path().to_path_buf()),
        ..options("env")
    };
    let target = target::start(&spec, opts).await.unwrap();
    let answer = target.call(&call()).await;
    let Ok(Reply::Response(doc)) = &answer.reply else {
        panic!("{:?}", answer.reply)
    };
    let root = std::fs::canonicalize(workdir.path()).unwrap();
    assert_eq!(
        doc["context"]["LAMBDA_TASK_ROOT"],
        root.display().to_string()
    );
}

#[tokio::test]
async fn a_deployed_api_is_judged_by_its_http_status() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let api = MockServer::start().await;
    // An API stage as API Gateway answers: 200 through, 403 for a denied token, 401 without
    // a header, 500 for a broken authorizer.
    for (token, status) in [
        ("Bearer good", 200),
        ("Bearer denied", 403),
        ("Bearer broken", 500),
    ] {
        Mock::given(method("GET"))
            .and(path("/prod/hello"))
            .and(header("authorization", token))
            .respond_with(ResponseTemplate::new(status))
            .mount(&api)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/prod/hello"))
        .respond_with(ResponseTemplate::new(401).set_body_string(r#"{"message":"Unauthorized"}"#))
        .with_priority(10)
        .mount(&api)
        .await;
    let spec: TargetSpec = format!("url:{}/prod", api.uri()).parse().unwrap();
    let target = target::start(&spec, TargetOptions::default())
        .await
        .unwrap();
    let outcome = |auth: Option<&str>| {
        let request = ClientRequest::get("/hello", auth.map(str::to_string));
        let call = Call {
            event: event::build(EventKind::Token, &Api::default(), &request),
            request,
        };
        let target = target.clone();
        async move {
            let answer = target.call(&call).await;
            target::classify(&answer.reply, ApiKind::Rest, &arn()).0
        }
    };
    assert_eq!(outcome(Some("Bearer good")).await, Outcome::Allow);
    assert_eq!(outcome(Some("Bearer denied")).await, Outcome::Deny);
    assert_eq!(outcome(Some("Bearer broken")).await, Outcome::Error);
    assert_eq!(outcome(None).await, Outcome::Unauthorized);
    let requests = api.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.url.path() == "/prod/hello"));
}

/// A one-connection HTTP server on 127.0.0.1 that reads a request head, then lets `answer`
/// write raw bytes to the socket. Returns the base URL and the task, whose output is what
/// `answer` returned.
async fn raw_server<F, Fut, T>(answer: F) -> (String, tokio::task::JoinHandle<T>)
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send,
    T: Send + 'static,
{
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client sent a whole request head");
            head.extend_from_slice(&buf[..n]);
        }
        answer(stream).await
    });
    (url, task)
}

/// Writes a chunked 200 of 64 MiB, ten times Lambda's limit, or until the client goes away;
/// returns the bytes written. Endless as far as a correct client can tell, and finite so that
/// a client that reads it all does not take the machine's memory with it.
async fn endless_chunked(mut stream: tokio::net::TcpStream) -> usize {
    use tokio::io::AsyncWriteExt;
    let head =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    stream.write_all(head).await.unwrap();
    let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
    let mut written = 0;
    while written < 64 << 20 && stream.write_all(chunk.as_bytes()).await.is_ok() {
        written += chunk.len();
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    written
}

/// Sends the head and ten bytes of a hundred, then holds the connection until told to stop.
async fn stall_mid_body(
    mut stream: tokio::net::TcpStream,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    use tokio::io::AsyncWriteExt;
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"a\":\"1234";
    stream.write_all(head).await.unwrap();
    let _ = stop.await;
}

fn short_timeout() -> TargetOptions {
    TargetOptions {
        timeout: Duration::from_millis(500),
        ..TargetOptions::default()
    }
}

#[tokio::test]
async fn an_endless_answer_is_cut_at_six_megabytes_on_invoke_and_url_targets() {
    for kind in ["invoke", "url"] {
        let (url, server) = raw_server(endless_chunked).await;
        let spec: TargetSpec = format!("{kind}:{url}").parse().unwrap();
        // A long timeout: the limit, not the clock, must end the read.
        let options = TargetOptions {
            timeout: Duration::from_secs(120),
            ..TargetOptions::default()
        };
        let target = target::start(&spec, options).await.unwrap();
        let answer = target.call(&call()).await;
        let Err(TargetError::Oversized(n)) = &answer.reply else {
            panic!("{kind}: {:?}", answer.reply)
        };
        assert!(*n > 6 * 1024 * 1024, "{kind}: {n}");
        drop(target);
        let written = server.await.unwrap();
        // Stopped at 6 MB, plus what the socket buffers of both ends held.
        assert!(
            written < 32 << 20,
            "{kind}: the server wrote {} MiB before the client hung up",
            written >> 20
        );
    }
}

#[tokio::test]
async fn a_body_that_stalls_past_the_timeout_is_a_timeout() {
    for kind in ["invoke", "url"] {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (url, server) = raw_server(move |s| stall_mid_body(s, stopped)).await;
        let spec: TargetSpec = format!("{kind}:{url}").parse().unwrap();
        let target = target::start(&spec, short_timeout()).await.unwrap();
        let answer = target.call(&call()).await;
        assert_eq!(
            answer.reply,
            Err(TargetError::Timeout(Duration::from_millis(500))),
            "{kind}"
        );
        let _ = stop.send(());
        server.await.unwrap();
    }
}

#[tokio::test]
async fn a_redirect_from_a_deployed_api_is_an_error_and_is_not_followed() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/prod/hello"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/login"))
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/login"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>log in</html>"))
        .mount(&api)
        .await;
    let spec: TargetSpec = format!("url:{}/prod", api.uri()).parse().unwrap();
    let target = target::start(&spec, TargetOptions::default())
        .await
        .unwrap();
    let answer = target.call(&call()).await;
    assert_eq!(
        answer.reply,
        Err(TargetError::Redirect {
            status: 302,
            location: "/login".into()
        })
    );
    let (outcome, why) = target::classify(&answer.reply, ApiKind::Rest, &arn());
    assert_eq!(outcome, Outcome::Error);
    assert_eq!(why, "redirect 302 to /login");
    let requests = api.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r.url.path() != "/login"),
        "the login page was never asked for"
    );
}

#[tokio::test]
async fn a_connection_error_names_its_root_cause() {
    // Refused: a port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    // Reset: a server that reads the request and resets the connection.
    let (reset, server) = raw_server(|stream| async move {
        stream.set_zero_linger().unwrap();
        drop(stream);
    })
    .await;
    for (kind, url, cause) in [
        ("url", format!("http://{closed}"), "Connection refused"),
        ("invoke", format!("http://{closed}"), "Connection refused"),
        ("url", reset, "reset"),
    ] {
        let spec: TargetSpec = format!("{kind}:{url}").parse().unwrap();
        let target = target::start(&spec, TargetOptions::default())
            .await
            .unwrap();
        let answer = target.call(&call()).await;
        let Err(e @ TargetError::Unreachable { reason, .. }) = &answer.reply else {
            panic!("{kind}:{url}: {:?}", answer.reply)
        };
        assert!(reason.contains(cause), "{kind}:{url}: {e}");
    }
    server.await.unwrap();
}
