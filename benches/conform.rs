//! `conform` against the built-in `jwks` authorizer: the single-token catalogue cases alone,
//! and the whole profile with its stateful cases (the `jwks-slow` case waits out the
//! authorizer's 1 s JWKS fetch timeout, so the whole run takes over a second by design).
//!
//! Run: `cargo bench --bench conform`.

use std::time::Duration;

use authprobe::conform::profile::{self, CaseKind};
use authprobe::conform::{self, ConformOptions};
use authprobe::target::TargetSpec;
use authprobe::tokens::Profile;
use criterion::{Criterion, criterion_group, criterion_main};

fn options(catalogue_only: bool) -> ConformOptions {
    let mut spec = profile::builtin("jwks").unwrap();
    if catalogue_only {
        spec.cases.retain(|c| matches!(c.kind, CaseKind::Token(_)));
    }
    ConformOptions::new(spec, TargetSpec::Builtin(Profile::Jwks))
}

fn conform(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("conform_builtin_jwks");
    group.sample_size(10);
    let catalogue = options(true);
    group.bench_function("catalogue_cases", |b| {
        b.to_async(&rt).iter(|| async {
            let report = conform::run(&catalogue, &mut |_| {}).await.unwrap();
            assert_eq!(report.summary.failed, 0);
            report
        })
    });
    group.measurement_time(Duration::from_secs(20));
    let full = options(false);
    group.bench_function("whole_profile", |b| {
        b.to_async(&rt)
            .iter(|| async { conform::run(&full, &mut |_| {}).await.unwrap() })
    });
    group.finish();
}

criterion_group!(benches, conform);
criterion_main!(benches);
