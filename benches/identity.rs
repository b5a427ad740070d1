//! Benchmarks of the identity stages: RSA key generation and token minting.
//!
//! Two modes, both documented with their numbers in docs/PERFORMANCE.md:
//!
//! - `cargo bench --bench identity` runs the criterion groups `keys` (RSA-2048 generation),
//!   `mint` (one RS256 `valid` token, the bare RSA signature of the same bytes, the 1 MB
//!   `oversized` token, the whole jwks-profile catalogue) and `parallel` (the same batch of
//!   mints on one thread and split over every core).
//! - `AUTHPROBE_MINT_RATE=1 cargo bench --bench identity` skips criterion and prints plain
//!   tokens/s lines in the unit of `scripts/pyjwt_mint_rate.py`, so the two can run back to
//!   back and be compared in the same minute. `AUTHPROBE_MINT_RATE=variants` adds rows for
//!   the pure-Rust `rsa` crate (with and without CRT) for the multi-prime question, and with
//!   `AUTHPROBE_MULTIPRIME_PKCS8=<file>` (a PKCS#8 PEM made by `openssl genpkey -algorithm RSA
//!   -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_primes:3`) says whether aws-lc and the
//!   `rsa` crate load a 3-prime key at all.
//!   `AUTHPROBE_MINT_TOKENS` (default 5000) and `AUTHPROBE_MINT_ROUNDS` (default 5) set the
//!   tokens per round and the rounds; the best round is reported, as the script does.

#[path = "support/mod.rs"]
mod support;

use support::env_count;

use std::env;
use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use authprobe::keys::{KeyBits, KeyRing, RsaAlg, SigningKey};
use authprobe::tokens::{Kind, MintSettings, Minter, Profile};
use criterion::{Criterion, Throughput, criterion_group};

/// Mints in one batch of the `parallel` group.
const PARALLEL_TOKENS: usize = 256;

fn minter() -> Minter {
    let ring = KeyRing::generate().expect("key ring generates");
    Minter::new(Profile::Jwks, ring, MintSettings::default())
}

fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// `count` valid mints on the calling thread.
fn mint_serial(minter: &Minter, count: usize) {
    for _ in 0..count {
        black_box(minter.mint(Kind::Valid).expect("valid mints"));
    }
}

/// `count` valid mints split over `threads` scoped threads.
fn mint_parallel(minter: &Minter, count: usize, threads: usize) {
    let per = count.div_ceil(threads);
    thread::scope(|s| {
        for w in 0..threads {
            let n = per.min(count.saturating_sub(w * per));
            s.spawn(move || mint_serial(minter, n));
        }
    });
}

/// The bytes an RS256 signature of a `valid` token covers: `header.claims`.
fn signing_input(minter: &Minter) -> Vec<u8> {
    let token = minter.mint(Kind::Valid).expect("valid mints").credential;
    let cut = token.rfind('.').expect("a compact JWS has dots");
    token.as_bytes()[..cut].to_vec()
}

fn bench_keys(c: &mut Criterion) {
    let mut group = c.benchmark_group("keys");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("generate_rsa2048", |b| {
        b.iter(|| SigningKey::generate(KeyBits::B2048).expect("key generates"))
    });
    group.finish();
}

fn bench_mint(c: &mut Criterion) {
    let minter = minter();
    let input = signing_input(&minter);
    let key = minter.keys().primary().expect("keys");
    let kinds = minter.kinds();

    let mut group = c.benchmark_group("mint");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rs256_valid", |b| {
        b.iter(|| minter.mint(Kind::Valid).expect("valid mints"))
    });
    group.bench_function("rs256_sign_only", |b| {
        b.iter(|| key.sign(RsaAlg::Rs256, black_box(&input)))
    });
    group.bench_function("oversized_1mb", |b| {
        b.iter(|| minter.mint(Kind::Oversized).expect("oversized mints"))
    });
    group.throughput(Throughput::Elements(kinds.len() as u64));
    group.bench_function("jwks_catalogue", |b| {
        b.iter(|| {
            for kind in &kinds {
                black_box(minter.mint(*kind).expect("every jwks kind mints"));
            }
        })
    });
    group.finish();
}

fn bench_parallel(c: &mut Criterion) {
    let minter = minter();
    let threads = cores();
    let mut group = c.benchmark_group("parallel");
    group.sample_size(30);
    group.throughput(Throughput::Elements(PARALLEL_TOKENS as u64));
    group.bench_function("rs256_x256_one_thread", |b| {
        b.iter(|| mint_serial(&minter, PARALLEL_TOKENS))
    });
    group.bench_function(format!("rs256_x256_{threads}_threads"), |b| {
        b.iter(|| mint_parallel(&minter, PARALLEL_TOKENS, threads))
    });
    group.finish();
}

criterion_group!(benches, bench_keys, bench_mint, bench_parallel);

fn main() {
    match env::var("AUTHPROBE_MINT_RATE") {
        Ok(mode) if !mode.is_empty() && mode != "0" => mint_rate(mode == "variants"),
        _ => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}

/// Best rate over `rounds` rounds of `count` calls of `f`, in calls per second.
fn best_rate(rounds: usize, count: usize, label: &str, mut f: impl FnMut()) -> f64 {
    let mut best = 0f64;
    for round in 1..=rounds {
        let start = Instant::now();
        for _ in 0..count {
            f();
        }
        let rate = count as f64 / start.elapsed().as_secs_f64();
        eprintln!("  {label} round {round}: {rate:.0}/s");
        best = best.max(rate);
    }
    best
}

fn report(label: &str, rate: f64, rounds: usize, count: usize) {
    println!(
        "{label}: {rate:.0} tokens/s ({:.1} us/token, best of {rounds} x {count})",
        1e6 / rate
    );
}

/// Plain tokens/s lines in the unit of `scripts/pyjwt_mint_rate.py`.
fn mint_rate(variants: bool) {
    let count = env_count("AUTHPROBE_MINT_TOKENS", 5000);
    let rounds = env_count("AUTHPROBE_MINT_ROUNDS", 5);
    let minter = minter();
    let key = minter.keys().primary().expect("keys");
    let input = signing_input(&minter);
    mint_serial(&minter, 200); // warm up

    let mint = best_rate(rounds, count, "mint", || {
        black_box(minter.mint(Kind::Valid).expect("valid mints"));
    });
    let sign = best_rate(rounds, count, "sign", || {
        black_box(key.sign(RsaAlg::Rs256, &input));
    });
    report("authprobe rs256 one-thread", mint, rounds, count);
    report("aws-lc rs256 sign-only one-thread", sign, rounds, count);
    println!(
        "mint work beyond the RSA signature: {:.1} us/token ({:.1}% of a mint)",
        1e6 / mint - 1e6 / sign,
        100.0 * (1.0 - mint / sign)
    );

    let threads = cores();
    let mut best = 0f64;
    for _ in 0..rounds {
        let start = Instant::now();
        mint_parallel(&minter, count, threads);
        best = best.max(count as f64 / start.elapsed().as_secs_f64());
    }
    report(
        &format!("authprobe rs256 {threads}-threads"),
        best,
        rounds,
        count,
    );
    println!("parallel speedup: {:.2}x on {threads} cores", best / mint);

    if variants {
        rsa_crate_variants(&input, rounds);
        if let Some(file) = env::var_os("AUTHPROBE_MULTIPRIME_PKCS8") {
            multi_prime_probe(std::path::Path::new(&file));
        }
    }
}

/// Whether aws-lc and the `rsa` crate load a multi-prime PKCS#8 key at all.
fn multi_prime_probe(file: &std::path::Path) {
    use base64::Engine as _;
    use rsa::pkcs8::DecodePrivateKey;

    let pem = std::fs::read_to_string(file).expect("the multi-prime PEM reads");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("the PEM body is base64");
    let aws_lc = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).map(|_| ());
    let rsa_crate = rsa::PrivateKey::from_pkcs8_der(&der).map(|_| ());
    println!("multi-prime key {}:", file.display());
    println!("  aws-lc RsaKeyPair::from_pkcs8: {aws_lc:?}");
    println!("  rsa crate PrivateKey::from_pkcs8_der: {rsa_crate:?}");
}

/// The pure-Rust `rsa` crate on the same signing input: with CRT (how it signs a 2-prime
/// key) and without (the path rsa 0.10 takes for every multi-prime key).
fn rsa_crate_variants(input: &[u8], rounds: usize) {
    use rsa::Pkcs1v15Sign;
    use rsa::sha2::{Digest, Sha256};

    let count = env_count("AUTHPROBE_MINT_VARIANT_TOKENS", 200);
    let mut rng = rand::rng();
    let crt = rsa::PrivateKey::new(&mut rng, 2048).expect("rsa crate key generates");
    let mut no_crt = crt.clone();
    no_crt.clear_precomputed();
    let digest = Sha256::digest(input);
    for (label, key) in [
        ("rsa-crate rs256 sign-only 2-prime CRT", &crt),
        (
            "rsa-crate rs256 sign-only no CRT (multi-prime path)",
            &no_crt,
        ),
    ] {
        let rate = best_rate(rounds, count, label, || {
            let sig = key
                .sign_with_rng(&mut rng, Pkcs1v15Sign::new::<Sha256>(), &digest)
                .expect("rsa crate signs");
            black_box(sig);
        });
        report(label, rate, rounds, count);
    }
}
