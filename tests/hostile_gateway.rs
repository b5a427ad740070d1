//! The gateway emulator's HTTP front used as a hostile client would: paths that try to walk
//! past the policy to the backend, a forged authorizer header, slow clients, more connections
//! than it serves, bodies it should never read. Each drives the real front on 127.0.0.1 with
//! raw TCP where a well-behaved client (reqwest) would clean the request up first.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authprobe::event::{self, Api, EventKind};
use authprobe::gateway::front::Limits;
use authprobe::gateway::{AuthorizerSettings, Backend, Front, Gateway, GatewayConfig};
use authprobe::policy::MethodArn;
use authprobe::target::{Answer, BoxFuture, Call, Reply, Target};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Allows `public` tokens on `GET /public/*` only, and `allow` tokens everywhere.
struct PublicOnly;

impl Target for PublicOnly {
    fn describe(&self) -> String {
        "public-only".into()
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let (token, arn) = event::credential_and_arn(&call.event);
            let arn = MethodArn::parse(&arn.unwrap_or_default()).expect("a method ARN");
            let resource = match token.as_deref() {
                Some("public") => arn.with_route("GET", "/public/*").to_string(),
                _ => arn.stage_wildcard(),
            };
            Answer {
                reply: Ok(Reply::Response(json!({
                    "principalId": "user",
                    "policyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}]},
                }))),
                elapsed: Duration::ZERO,
                cold: false,
                output: Default::default(),
                after_answer: None,
            }
        })
    }
}

/// What the backend received: each request's path and its `x-authprobe-authorizer` values.
type Seen = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// A backend on 127.0.0.1 that answers 200 to anything and records what reached it.
async fn backend() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let record = record.clone();
        async move {
            let values = req
                .headers()
                .get_all("x-authprobe-authorizer")
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            record
                .lock()
                .unwrap()
                .push((req.uri().path().to_string(), values));
            "backend"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn front(backend: Option<String>, limits: Limits) -> (Front, Arc<Gateway>) {
    let routes = ["GET /public/{proxy+}", "GET /admin", "POST /items"]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let config = GatewayConfig {
        authorizer: AuthorizerSettings::new(EventKind::Token, false),
        cache_ttl: 0,
        backend: backend.map_or(Backend::Echo, Backend::Proxy),
        ..GatewayConfig::new(
            Api {
                stage: "dev".into(),
                ..Api::default()
            },
            routes,
        )
    };
    let gateway = Arc::new(Gateway::new(config, Arc::new(PublicOnly)).unwrap());
    let front = Front::start_with(
        gateway.clone(),
        "127.0.0.1:0".parse().unwrap(),
        None,
        limits,
    )
    .await
    .unwrap();
    (front, gateway)
}

/// Sends `head` (request line and headers, ended by the blank line) as written, with
/// `Connection: close`, and returns the whole answer.
async fn raw(addr: SocketAddr, head: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{head}Host: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

#[tokio::test]
async fn a_path_that_walks_past_the_policy_never_reaches_the_backend() {
    let (url, seen) = backend().await;
    let (front, _) = front(Some(url), Limits::default()).await;
    for path in [
        "/dev/public/../admin",
        "/dev/public/%2e%2e/admin",
        "/dev/public/%2E%2E/admin",
        "/dev/public/.%2e/admin",
        "/dev/public/%252e%252e/admin",
        "/dev/public/x/../../admin",
    ] {
        let answer = raw(
            front.addr(),
            &format!("GET {path} HTTP/1.1\r\nAuthorization: public\r\n"),
        )
        .await;
        assert_eq!(status(&answer), 400, "{path}: {answer}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    // What the policy allows still goes through, to exactly the path it was evaluated on.
    let answer = raw(
        front.addr(),
        "GET /dev/public/a%20b HTTP/1.1\r\nAuthorization: public\r\n",
    )
    .await;
    assert_eq!(status(&answer), 200, "{answer}");
    let answer = raw(
        front.addr(),
        "GET /dev/admin HTTP/1.1\r\nAuthorization: public\r\n",
    )
    .await;
    assert_eq!(status(&answer), 403, "{answer}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "/public/a%20b");
}

#[tokio::test]
async fn a_client_cannot_forge_the_authorizer_context_the_backend_receives() {
    let (url, seen) = backend().await;
    let (front, _) = front(Some(url), Limits::default()).await;
    let answer = raw(
        front.addr(),
        "GET /dev/admin HTTP/1.1\r\nAuthorization: allow\r\nx-authprobe-authorizer: {\"principalId\":\"root\"}\r\nX-AuthProbe-Authorizer: {\"principalId\":\"root\"}\r\n",
    )
    .await;
    assert_eq!(status(&answer), 200, "{answer}");
    let seen = seen.lock().unwrap();
    let values = &seen[0].1;
    assert_eq!(values.len(), 1, "{values:?}");
    assert!(values[0].contains("\"principalId\":\"user\""), "{values:?}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let (front, _) = front(None, limits).await;
    let mut stream = tokio::net::TcpStream::connect(front.addr()).await.unwrap();
    stream
        .write_all(b"GET /dev/admin HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // The front closes the connection (a 408, or nothing); a guard keeps a broken front from
    // hanging the test.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was still open after 30 s");
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let limits = Limits {
        max_connections: 1,
        ..Limits::default()
    };
    let (front, gateway) = front(None, limits).await;
    // The one connection served, held open without a request.
    let idle = tokio::net::TcpStream::connect(front.addr()).await.unwrap();
    let waiting = tokio::spawn(raw(
        front.addr(),
        "GET /dev/admin HTTP/1.1\r\nAuthorization: allow\r\n",
    ));
    // Not served while the first connection holds the only slot.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gateway.stats().requests, 0);
    drop(idle);
    let answer = waiting.await.unwrap();
    assert_eq!(status(&answer), 200, "{answer}");
}

#[tokio::test]
async fn a_body_is_read_only_for_a_route_and_only_up_to_the_limit() {
    let limits = Limits {
        max_body: 1000,
        ..Limits::default()
    };
    let (front, _) = front(None, limits).await;
    // No route: answered at once, though the 100 MB body it announces is never sent.
    let answer = raw(
        front.addr(),
        "POST /dev/nowhere HTTP/1.1\r\nAuthorization: allow\r\nContent-Length: 100000000\r\n",
    )
    .await;
    assert_eq!(status(&answer), 403, "{answer}");
    assert!(answer.contains("Missing Authentication Token"), "{answer}");
    // A route: a body over the limit is refused as it arrives (one byte over, so that nothing
    // is left unread to reset the connection before the answer is read).
    let mut stream = tokio::net::TcpStream::connect(front.addr()).await.unwrap();
    stream
        .write_all(b"POST /dev/items HTTP/1.1\r\nHost: x\r\nAuthorization: allow\r\nConnection: close\r\nContent-Length: 1001\r\n\r\n")
        .await
        .unwrap();
    stream.write_all(&[b'x'; 1001]).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status(&answer), 413, "{answer}");
    // Within it, the request is served.
    let mut stream = tokio::net::TcpStream::connect(front.addr()).await.unwrap();
    stream
        .write_all(b"POST /dev/items HTTP/1.1\r\nHost: x\r\nAuthorization: allow\r\nConnection: close\r\nContent-Length: 10\r\n\r\n0123456789")
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert_eq!(status(&String::from_utf8_lossy(&answer)), 200);
}
