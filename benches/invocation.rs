//! One authorizer invocation, in process against through the embedded Lambda Runtime API.
//!
//! Both sides run the same `jwks` reference authorizer on the same good token: in process
//! (`builtin:jwks`), and as the `rust-authorizer` example under the real `lambda_runtime`
//! client, a child process talking HTTP to the Runtime API authprobe hosts. The difference of
//! the two medians is what the Runtime API round trip costs (the child's client included).
//!
//! The example must be built first: `cargo build --release --example rust-authorizer`.
//! Run: `cargo bench --bench invocation`.

use std::path::PathBuf;
use std::time::Duration;

use authprobe::event::{self, Api, ClientRequest, EventKind};
use authprobe::harness::{Harness, HarnessOptions};
use authprobe::target::{Call, TargetSpec};
use authprobe::tokens::{MintSettings, Profile};
use criterion::{Criterion, criterion_group, criterion_main};

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
    })
    .await
    .expect("the harness starts")
}

fn invocation(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("invocation");
    for (name, target) in [
        ("in_process", TargetSpec::Builtin(Profile::Jwks)),
        (
            "runtime_api",
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

criterion_group!(benches, invocation);
criterion_main!(benches);
