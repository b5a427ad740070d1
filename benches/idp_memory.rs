//! Memory soak of the mock IdP over every path it answers, with a plain wiremock mock as the
//! peer.
//!
//! `cargo bench --bench idp_memory` starts the IdP, reads this process's resident set size
//! (VmRSS in /proc/self/status), sends 1,000,000 requests from 32 tasks, each over its own
//! keep-alive connection, and reads RSS again. The requests cycle through [`MIX`]: both JWKS
//! layouts, both discovery documents, the attacker's `jku`/`x5u` targets, 404s, and POSTs
//! with a 100 KB body to a 404 path and to a GET-only one. It then serves the same JWKS bytes
//! from a `wiremock::MockServer` (request recording disabled) for 100,000 requests and
//! measures it the same way. It prints before, after, growth, growth per request and
//! requests/s for both, and asserts nothing: docs/PERFORMANCE.md records the numbers.
//!
//! Counts can be set for a quick run:
//! `AUTHPROBE_SOAK_REQUESTS` (IdP, default 1,000,000), `AUTHPROBE_SOAK_PEER_REQUESTS`
//! (wiremock, default 100,000), `AUTHPROBE_SOAK_CONCURRENCY` (default 32). Run without
//! `--bench` (as `cargo test --benches` does) it is a smoke run of a few thousand requests.
//! Everything is on 127.0.0.1.

#[path = "support/mod.rs"]
mod support;

use support::{env_count, mib, rss_kib};

use std::env;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use authprobe::idp::{Idp, IdpConfig, JWKS_PATH};
use authprobe::keys::KeyRing;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Requests sent before the baseline reading, so connection pools, buffers and allocator
/// arenas are in place and the growth is what the requests themselves leave behind.
const WARM_UP: usize = 5_000;

/// Size of the POST bodies in the mix.
const POST_BODY: usize = 100 * 1024;

/// The requests a soak of the IdP cycles through: what, how, where (a path under the base URL,
/// `{pool}` for the Cognito pool id), with a body or not, and the status expected.
const MIX: &[(&str, &str, &str, bool, u16)] = &[
    ("jwks", "GET", "/.well-known/jwks.json", false, 200),
    (
        "cognito jwks",
        "GET",
        "/{pool}/.well-known/jwks.json",
        false,
        200,
    ),
    (
        "discovery",
        "GET",
        "/.well-known/openid-configuration",
        false,
        200,
    ),
    (
        "cognito discovery",
        "GET",
        "/{pool}/.well-known/openid-configuration",
        false,
        200,
    ),
    ("jku target", "GET", "/.attacker/jwks.json", false, 200),
    ("x5u target", "GET", "/.attacker/cert.pem", false, 200),
    ("404", "GET", "/no/such/path?x=1", false, 404),
    (
        "another pool's jwks",
        "GET",
        "/us-west-2_other/.well-known/jwks.json",
        false,
        404,
    ),
    ("POST 100 KB to a 404", "POST", "/login", true, 404),
    (
        "POST 100 KB to discovery",
        "POST",
        "/.well-known/openid-configuration",
        true,
        405,
    ),
];

/// One request of a soak.
#[derive(Clone)]
struct Shot {
    method: reqwest::Method,
    url: String,
    body: Option<axum::body::Bytes>,
    status: u16,
}

/// What one soak saw.
struct Soak {
    sent: usize,
    failed: usize,
    elapsed: Duration,
}

/// Sends `count` requests, cycling through `shots`, from `concurrency` tasks, one keep-alive
/// client each. Prints progress (RSS every tenth of the run) on stderr.
async fn soak(shots: &[Shot], count: usize, concurrency: usize, label: &str) -> Soak {
    let shots: Arc<[Shot]> = shots.into();
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let step = (count / 10).max(1);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let shots = shots.clone();
            let next = next.clone();
            let failed = failed.clone();
            let label = label.to_string();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("HTTP client builds");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let shot = &shots[i % shots.len()];
                    let mut request = client.request(shot.method.clone(), &shot.url);
                    if let Some(body) = &shot.body {
                        request = request.body(body.clone());
                    }
                    let ok = match request.send().await {
                        Ok(r) if r.status().as_u16() == shot.status => r.bytes().await.is_ok(),
                        _ => false,
                    };
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    if (i + 1).is_multiple_of(step) && !label.is_empty() {
                        eprintln!(
                            "  {label}: {:>9} requests, RSS {:7.1} MiB",
                            i + 1,
                            mib(rss_kib())
                        );
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("load task");
    }
    Soak {
        sent: count,
        failed: failed.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    }
}

/// Warms up, reads RSS, soaks, reads RSS again and prints the figures; returns the growth
/// per request in bytes.
async fn measure(name: &str, shots: &[Shot], count: usize, concurrency: usize) -> f64 {
    soak(shots, WARM_UP.min(count), concurrency, "").await;
    let before = rss_kib();
    let run = soak(shots, count, concurrency, name).await;
    let after = rss_kib();
    let growth = after.saturating_sub(before);
    let per_request = growth as f64 * 1024.0 / run.sent as f64;
    println!(
        "{name}: {} requests ({} failed) from {concurrency} connections in {:.1} s = {:.0} requests/s",
        run.sent,
        run.failed,
        run.elapsed.as_secs_f64(),
        run.sent as f64 / run.elapsed.as_secs_f64()
    );
    println!(
        "{name}: RSS before {:.1} MiB, after {:.1} MiB, growth {:.1} MiB = {per_request:.1} bytes/request",
        mib(before),
        mib(after),
        mib(growth)
    );
    per_request
}

fn main() {
    let full = env::args().any(|a| a == "--bench");
    let requests = env_count(
        "AUTHPROBE_SOAK_REQUESTS",
        if full { 1_000_000 } else { 2_000 },
    );
    let peer_requests = env_count(
        "AUTHPROBE_SOAK_PEER_REQUESTS",
        if full { 100_000 } else { 1_000 },
    );
    let concurrency = env_count("AUTHPROBE_SOAK_CONCURRENCY", 32);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime builds")
        .block_on(run(requests, peer_requests, concurrency));
}

async fn run(requests: usize, peer_requests: usize, concurrency: usize) {
    let ring = KeyRing::generate().expect("key ring generates");
    let idp = Idp::start(
        ring.published().expect("keys"),
        Some(ring.attacker().expect("keys")),
        IdpConfig::default(),
    )
    .await
    .expect("IdP starts on 127.0.0.1");
    let url = idp.jwks_url();
    let body = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client builds")
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the IdP serves its JWKS")
        .bytes()
        .await
        .expect("JWKS body reads");
    println!(
        "JWKS body: {} bytes; {} cores; RSS at start {:.1} MiB",
        body.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        mib(rss_kib())
    );

    let post_body = axum::body::Bytes::from(vec![b'x'; POST_BODY]);
    let shots: Vec<Shot> = MIX
        .iter()
        .map(|(_, method, path, body, status)| Shot {
            method: method.parse().expect("a method"),
            url: format!(
                "{}{}",
                idp.base_url(),
                path.replace("{pool}", idp.pool_id())
            ),
            body: body.then(|| post_body.clone()),
            status: *status,
        })
        .collect();
    for (name, method, path, body, status) in MIX {
        let body = if *body { " with 100 KB" } else { "" };
        println!("  mix: {name:<26} {method} {path}{body} -> {status}");
    }
    let idp_per = measure("authprobe idp", &shots, requests, concurrency).await;
    // Every JWKS and attacker GET was counted, no other request was (the JWKS fetch above
    // that read the body is the one more).
    let warm = WARM_UP.min(requests);
    let count_of = |paths: &[&str]| {
        let hits = |n: usize| {
            (0..n)
                .filter(|i| paths.contains(&MIX[i % MIX.len()].0))
                .count()
        };
        (hits(warm) + hits(requests)) as u64
    };
    println!(
        "authprobe idp: jwks_fetches counted {} (expected {}), attacker_fetches {} (expected {})",
        idp.jwks_fetches(),
        count_of(&["jwks", "cognito jwks"]) + 1,
        idp.attacker_fetches(),
        count_of(&["jku target", "x5u target"]),
    );
    drop(idp);

    let mock = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.to_vec(), "application/json"))
        .mount(&mock)
        .await;
    let peer = [Shot {
        method: reqwest::Method::GET,
        url: format!("{}{JWKS_PATH}", mock.uri()),
        body: None,
        status: 200,
    }];
    let peer_per = measure(
        "plain wiremock (JWKS only)",
        &peer,
        peer_requests,
        concurrency,
    )
    .await;

    println!(
        "growth per request: authprobe idp {idp_per:.1} bytes, plain wiremock {peer_per:.1} bytes"
    );
    println!(
        "plain wiremock extrapolated to {requests} requests: {:.0} MiB",
        peer_per * requests as f64 / (1024.0 * 1024.0)
    );
}
