//! One authorizer invocation, in process against through the embedded Lambda Runtime API.
//!
//! Both sides run the same `jwks` reference authorizer on the same good token: in process
//! (`builtin:jwks`), and as the `rust-authorizer` example under the real `lambda_runtime`
//! client, a child process talking HTTP to the Runtime API authprobe hosts. The difference of
//! the two medians is what the Runtime API round trip costs (the child's client included).
//!
//! A third row isolates the Runtime API itself: the child is this bench binary again, run as a
//! minimal runtime client (blocking std TCP, keep-alive, a canned Allow answer), so nearly all
//! of what it measures is authprobe's side of the protocol plus the loopback round trips.
//!
//! The example must be built first: `cargo build --release --example rust-authorizer`.
//! Run: `cargo bench --bench invocation`.

use std::path::PathBuf;
use std::time::Duration;

use authprobe::event::{self, Api, ClientRequest, EventKind};
use authprobe::harness::{Harness, HarnessOptions};
use authprobe::target::{Call, TargetSpec};
use authprobe::tokens::{MintSettings, Profile};
use criterion::Criterion;

fn example() -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/examples/rust-authorizer");
    assert!(
        path.exists(),
        "build the example first: cargo build --release --example rust-authorizer"
    );
    path
}

async fn harness(target: TargetSpec) -> Harness {
    Harness::start(HarnessOptions {
        profile: Profile::Jwks,
        settings: MintSettings {
            issuer: String::new(),
            ..MintSettings::default()
        },
        target,
        env: [
            "JWKS_URL={jwks_url}",
            "ISSUER={issuer}",
            "AUDIENCE={audience}",
        ]
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect(),
        workdir: None,
        concurrency: 1,
        timeout: Duration::from_secs(3),
        keys_dir: None,
        simple_responses: false,
        idp: Default::default(),
        jwks_timeout: authprobe::authorizer::DEFAULT_JWKS_TIMEOUT,
        observe: false,
    })
    .await
    .expect("the harness starts")
}

/// `group` names the runtime: `multi_thread` is how the binary runs; `current_thread` keeps
/// the caller and the Runtime API on one thread, without cross-thread wake-ups.
fn invocation(c: &mut Criterion, group: &str, rt: tokio::runtime::Runtime) {
    let mut group = c.benchmark_group(group);
    let me = std::env::current_exe().unwrap().display().to_string();
    for (name, target) in [
        ("in_process", TargetSpec::Builtin(Profile::Jwks)),
        (
            "runtime_api_minimal_client",
            TargetSpec::Lambda(vec![me.clone(), MINIMAL_CLIENT.into()]),
        ),
        (
            "runtime_api_lambda_runtime",
            TargetSpec::Lambda(vec![example().display().to_string()]),
        ),
    ] {
        let h = rt.block_on(harness(target));
        let request = ClientRequest::get(
            "/hello",
            Some(h.minter.mint(h.minter.good_kind()).unwrap().header_value()),
        );
        let call = Call {
            event: event::build(EventKind::Token, &Api::default(), &request),
            request,
        };
        // Warm: the first call loads the JWKS (and, for the child, is its cold start).
        let first = rt.block_on(h.target.call(&call));
        assert!(first.reply.is_ok(), "{:?}", first.reply);
        group.bench_function(name, |b| b.to_async(&rt).iter(|| h.target.call(&call)));
        rt.block_on(h.target.shutdown());
    }
    group.finish();
}

/// The argument that turns this binary into the minimal runtime client.
const MINIMAL_CLIENT: &str = "--minimal-runtime-client";

/// A runtime client with nothing in it: poll, read the event, answer with a fixed Allow.
fn minimal_runtime_client() -> ! {
    use std::io::{BufRead, BufReader, Read, Write};
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    let stream = std::net::TcpStream::connect(&api).expect("the Runtime API listens");
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let answer = br#"{"principalId":"user-1234","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:us-east-1:123456789012:authprobe1/prod/*/*"}]}}"#;
    let read_response = |reader: &mut BufReader<std::net::TcpStream>| -> (String, Vec<u8>) {
        let (mut id, mut length, mut line) = (String::new(), 0usize, String::new());
        loop {
            line.clear();
            reader.read_line(&mut line).expect("a header line");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("lambda-runtime-aws-request-id:") {
                id = l[l.len() - v.trim_start().len()..].to_string();
            } else if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("the body");
        (id, body)
    };
    loop {
        writer
            .write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: rt\r\n\r\n")
            .unwrap();
        let (id, _event) = read_response(&mut reader);
        let head = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nhost: rt\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        writer.write_all(head.as_bytes()).unwrap();
        writer.write_all(answer).unwrap();
        read_response(&mut reader);
    }
}

/// The argument that turns this binary into a one-byte echo peer.
const ECHO: &str = "--loopback-echo";

/// Echoes bytes on a TCP connection to the address in AUTHPROBE_ECHO_ADDR.
fn echo() -> ! {
    use std::io::{Read, Write};
    let addr = std::env::var("AUTHPROBE_ECHO_ADDR").expect("AUTHPROBE_ECHO_ADDR");
    let mut stream = std::net::TcpStream::connect(addr).expect("the bench listens");
    stream.set_nodelay(true).unwrap();
    let mut byte = [0u8; 1];
    loop {
        if stream.read_exact(&mut byte).is_err() {
            std::process::exit(0);
        }
        stream.write_all(&byte).unwrap();
    }
}

/// The floor under any out-of-process invocation: one byte to another process over loopback
/// TCP and back, with both sides blocking (no runtime, no HTTP).
fn loopback_floor(c: &mut Criterion) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg(ECHO)
        .env(
            "AUTHPROBE_ECHO_ADDR",
            listener.local_addr().unwrap().to_string(),
        )
        .spawn()
        .unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_nodelay(true).unwrap();
    let mut byte = [7u8; 1];
    c.bench_function("loopback_round_trip_between_processes", |b| {
        b.iter(|| {
            stream.write_all(&byte).unwrap();
            stream.read_exact(&mut byte).unwrap();
        })
    });
    drop(stream);
    let _ = child.wait();
}

fn main() {
    if std::env::args().any(|a| a == MINIMAL_CLIENT) {
        minimal_runtime_client();
    }
    if std::env::args().any(|a| a == ECHO) {
        echo();
    }
    let mut criterion = Criterion::default().configure_from_args();
    loopback_floor(&mut criterion);
    let multi = tokio::runtime::Runtime::new().unwrap();
    invocation(&mut criterion, "invocation_multi_thread", multi);
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    invocation(&mut criterion, "invocation_current_thread", single);
    criterion.final_summary();
}
