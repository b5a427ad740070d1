//! `conform` against the built-in `jwks` authorizer: the single-token catalogue cases alone,
//! and the whole profile with its stateful cases (the `jwks-slow` case waits out the
//! authorizer's JWKS fetch timeout, the profile's `jwks_timeout`, 100 ms by default).
//!
//! Run: `cargo bench --bench conform`.
//!
//! `AUTHPROBE_JOBS_BENCH=1 cargo bench --bench conform` skips criterion and times `--jobs 1`
//! against `--jobs 2` on one profile of 1,000 single-token cases (`AUTHPROBE_JOBS_CASES`;
//! ten common kinds, see `MIX`), the catalogue time of each run (harness start excluded),
//! alternating the two for `AUTHPROBE_JOBS_ROUNDS` rounds (default 5), and prints each round's
//! times and ratio, then the median ratio: the figure of docs/PERFORMANCE.md.

mod support;

use std::time::{Duration, Instant};

use authprobe::conform::profile::{self, CaseKind, CaseSpec};
use authprobe::conform::{self, ConformOptions};
use authprobe::target::TargetSpec;
use authprobe::tokens::Profile;
use criterion::Criterion;

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

/// Single-token kinds of the jwks profile, cycled to make the thousand cases: a good token
/// and the rejections a profile sends most. Each case mints a fresh token (a new `jti`), so
/// none is answered from the gateway's result cache. Left out: the kinds that run alone
/// (`jku-header`, `x5u-header`) and the 1 MB `oversized` token, which measure other things.
const MIX: &[(&str, bool)] = &[
    ("valid", true),
    ("expired", false),
    ("kid-unknown", false),
    ("alg-none", false),
    ("aud-wrong", false),
    ("iss-wrong", false),
    ("sig-bit-flipped", false),
    ("rs384", false),
    ("valid-aud-array", true),
    ("exp-missing", false),
];

/// `count` single-token cases of [`MIX`] against the built-in jwks authorizer.
fn many_cases(count: usize) -> ConformOptions {
    let mut options = options(true);
    let route = options.profile.cases[0].route.clone();
    options.profile.cases = (0..count)
        .map(|i| {
            let (kind, allow) = MIX[i % MIX.len()];
            CaseSpec {
                name: format!("{kind}-{i:04}"),
                kind: CaseKind::Token(authprobe::tokens::Kind::from_name(kind).unwrap()),
                expect_allow: allow,
                header: profile::HeaderForm::AsMinted,
                route: route.clone(),
            }
        })
        .collect();
    options
}

fn jobs_bench() {
    let count = support::env_count("AUTHPROBE_JOBS_CASES", 1000);
    let rounds = support::env_count("AUTHPROBE_JOBS_ROUNDS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let time = |jobs: usize| {
        let mut options = many_cases(count);
        options.jobs = Some(jobs);
        rt.block_on(async {
            let report = conform::run(&options, &mut |_| {}).await.unwrap();
            assert_eq!(report.summary.failed, 0, "{jobs} jobs: every case passes");
            assert_eq!(report.summary.total, count);
            Duration::from_secs_f64(report.catalogue_ms / 1e3)
        })
    };
    let started = Instant::now();
    // One warm-up of each: page cache, allocator, the first key generation.
    time(1);
    time(2);
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        // Alternate which goes first, so a drift in the machine's load favours neither.
        let (one, two) = if round % 2 == 1 {
            let one = time(1);
            (one, time(2))
        } else {
            let two = time(2);
            (time(1), two)
        };
        let ratio = one.as_secs_f64() / two.as_secs_f64();
        println!(
            "round {round}: {count} cases, --jobs 1 {:.0} ms, --jobs 2 {:.0} ms, ratio {ratio:.2}",
            one.as_secs_f64() * 1e3,
            two.as_secs_f64() * 1e3
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio --jobs 2 / --jobs 1 speed-up: {:.2} (range {:.2} to {:.2}; {} cores; {:.0} s in all)",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    if std::env::var_os("AUTHPROBE_JOBS_BENCH").is_some() {
        jobs_bench();
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    conform(&mut criterion);
    criterion.final_summary();
}
