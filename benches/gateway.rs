//! The gateway emulator: memory under a flood of distinct tokens, and throughput of its HTTP
//! front against a bare hyper server.
//!
//! `cargo bench --bench gateway` runs two measurements and asserts nothing
//! (docs/PERFORMANCE.md records the figures):
//!
//! 1. **Memory.** 1,000,000 requests, each with a token never seen before, through the
//!    in-process gateway with result caching on (TTL 300 s) in front of an authorizer that
//!    allows every token, so every request adds a cache entry until the bound evicts. It
//!    reads this process's resident set size (VmRSS) before and after and prints the growth.
//! 2. **Throughput.** `wrk` against the gateway's HTTP front (`builtin:static`, cache on, one
//!    token, `GET /dev/hello`) and against a bare hyper server answering `hello`, one after
//!    the other in the same run, twice (bare first, then gateway first), and the ratio of
//!    their requests per second for each pair. wrk is the
//!    Debian package `wrk` (`apt-get install -y wrk`); without it this part is skipped with
//!    that hint. Tests never need it.
//!
//! Knobs: `AUTHPROBE_GATEWAY_REQUESTS` (default 1,000,000; a smoke run of 5,000 without
//! `--bench`), `AUTHPROBE_WRK_SECONDS` (default 10), `AUTHPROBE_WRK_CONNECTIONS` (default 64).

#[path = "support/mod.rs"]
mod support;

use support::{env_count, mib, rss_kib};

use std::convert::Infallible;
use std::env;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authprobe::authorizer::AuthorizerConfig;
use authprobe::event::Api;
use authprobe::gateway::{Front, Gateway, GatewayConfig, GatewayRequest};
use authprobe::policy::MethodArn;
use authprobe::target::{self, Answer, BoxFuture, Call, Reply, Target, TargetOptions, TargetSpec};
use authprobe::tokens::{MintSettings, Profile};
use serde_json::json;

/// Allows every token with a stage-wide policy, principal = the token, as a JWT authorizer
/// would: every distinct token is a distinct cache entry.
struct AllowAll;

impl Target for AllowAll {
    fn describe(&self) -> String {
        "allow-all".into()
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let (token, arn) = authprobe::event::credential_and_arn(&call.event);
            let arn = MethodArn::parse(&arn.unwrap_or_default()).expect("a method ARN");
            let token = token.unwrap_or_default();
            Answer {
                reply: Ok(Reply::Response(json!({
                    "principalId": token,
                    "policyDocument": {"Version": "2012-10-17", "Statement": [{
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow",
                        "Resource": arn.stage_wildcard(),
                    }]},
                    "context": {"sub": token, "scope": "hello/read"},
                }))),
                elapsed: Duration::ZERO,
                cold: false,
                output: Default::default(),
                after_answer: None,
            }
        })
    }
}

fn config() -> GatewayConfig {
    GatewayConfig::new(
        Api {
            stage: "dev".into(),
            ..Api::default()
        },
        vec!["GET /hello".parse().expect("route")],
    )
}

async fn memory(requests: usize) {
    let gateway = Gateway::new(config(), Arc::new(AllowAll)).expect("gateway");
    // A token the size of a typical JWT access token.
    let padding = "x".repeat(700);
    let request = |n: usize| {
        GatewayRequest::new("GET", "/hello")
            .header("Authorization", &format!("Bearer {padding}{n}"))
    };
    for n in 0..1_000 {
        gateway.handle(request(usize::MAX - n)).await;
    }
    let before = rss_kib();
    let started = Instant::now();
    for n in 0..requests {
        let r = gateway.handle(request(n)).await;
        assert_eq!(r.status, 200);
        if (n + 1) % (requests / 10).max(1) == 0 {
            eprintln!(
                "  {:>9} requests, RSS {:7.1} MiB, cache entries {}",
                n + 1,
                mib(rss_kib()),
                gateway.stats().cache_entries
            );
        }
    }
    let after = rss_kib();
    let stats = gateway.stats();
    println!(
        "memory: {requests} requests with distinct tokens in {:.1} s; RSS before {:.1} MiB, after {:.1} MiB, growth {:.1} MiB",
        started.elapsed().as_secs_f64(),
        mib(before),
        mib(after),
        mib(after.saturating_sub(before))
    );
    println!(
        "memory: authorizer invocations {}, cache entries {}, evictions {}",
        stats.authorizer_invocations, stats.cache_entries, stats.cache_evictions
    );
}

/// A bare hyper HTTP/1 server answering `hello` to everything.
async fn bare_hyper() -> SocketAddr {
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                        hyper::body::Bytes::from_static(b"hello"),
                    )))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Runs wrk against `url`; its requests per second, or `None` when wrk is not there.
fn wrk(url: &str, seconds: usize, connections: usize) -> Option<f64> {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "-H",
            "Authorization: allow-token",
            url,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!(
        "$ wrk -t2 -c{connections} -d{seconds}s -H 'Authorization: allow-token' {url}\n{text}"
    );
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

async fn throughput(seconds: usize, connections: usize) {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("throughput: skipped, wrk is not installed (apt-get install -y wrk)");
        return;
    }
    let options = TargetOptions {
        builtin: Some(AuthorizerConfig::matching(
            Profile::Static,
            &MintSettings::default(),
            None,
        )),
        ..TargetOptions::default()
    };
    let target = target::start(&TargetSpec::Builtin(Profile::Static), options)
        .await
        .expect("builtin:static starts");
    let gateway = Arc::new(Gateway::new(config(), target).expect("gateway"));
    let front = Front::start(
        gateway.clone(),
        "127.0.0.1:0".parse().expect("address"),
        None,
    )
    .await
    .expect("front listens");
    let bare = bare_hyper().await;
    let bare_url = format!("http://{bare}/dev/hello");
    let gateway_url = format!("{}/hello", front.base_url());
    // Two pairs in opposite order, so neither server always runs on a machine the other has
    // just warmed (or loaded).
    let mut ratios = Vec::new();
    for gateway_first in [false, true] {
        let (b, g) = if gateway_first {
            let g = wrk(&gateway_url, seconds, connections);
            (wrk(&bare_url, seconds, connections), g)
        } else {
            let b = wrk(&bare_url, seconds, connections);
            (b, wrk(&gateway_url, seconds, connections))
        };
        if let (Some(b), Some(g)) = (b, g) {
            let first = if gateway_first { "gateway" } else { "bare" };
            println!(
                "throughput ({first} first): bare hyper {b:.0} requests/s, gateway {g:.0} requests/s, ratio {:.2}",
                g / b
            );
            ratios.push(g / b);
        }
    }
    let stats = gateway.stats();
    println!(
        "gateway: {} requests, {} authorizer invocation(s), {} cache hits, statuses {:?}",
        stats.requests, stats.authorizer_invocations, stats.cache_hits, stats.per_status
    );
    if !ratios.is_empty() {
        println!(
            "throughput: mean ratio {:.2} over {} pair(s)",
            ratios.iter().sum::<f64>() / ratios.len() as f64,
            ratios.len()
        );
    }
}

fn main() {
    let full = env::args().any(|a| a == "--bench");
    let requests = env_count(
        "AUTHPROBE_GATEWAY_REQUESTS",
        if full { 1_000_000 } else { 5_000 },
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime builds");
    runtime.block_on(memory(requests));
    if full {
        runtime.block_on(throughput(
            env_count("AUTHPROBE_WRK_SECONDS", 10),
            env_count("AUTHPROBE_WRK_CONNECTIONS", 64),
        ));
    }
}
