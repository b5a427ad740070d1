//! `authprobe load`: goose attacks through the gateway emulator, one per cache TTL, each on a
//! fresh gateway and a fresh target, with the numbers that say what the authorizer costs and
//! what the result cache buys.
//!
//! The stages: a scenario ([`scenario`]) names the profile, users, bounds, token and route
//! mix, TTLs and thresholds; the token pool ([`pool`]) is minted on every core before any
//! clock starts; each attack ([`attack`]) drives goose at the gateway's HTTP front and records
//! every answer ([`record`]); the results per TTL and the thresholds make a [`LoadReport`]
//! that `report::load` renders.

pub mod attack;
pub mod pool;
pub mod record;
pub mod scenario;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::gateway::{AuthorizerSettings, Clock, Front, Gateway, GatewayConfig, Route};
use crate::harness::{Harness, HarnessError, HarnessOptions};
use crate::stop::{Signal, StopRequest};
use crate::target::{Answer, Call, Target, TargetSpec, TargetStats};
use crate::tokens::Kind;

use attack::AttackPlan;
use pool::Pool;
use record::{Recorder, Recording};
use scenario::{Bound, Metric, Scenario, Threshold};

/// How to run a load scenario.
#[derive(Debug)]
pub struct LoadOptions {
    /// The scenario, with any command-line overrides applied.
    pub scenario: Scenario,
    /// Keys, IdP and target settings (profile and claims come from the scenario's profile).
    pub harness: HarnessOptions,
    /// Added to every authorizer invocation of a `builtin:` target, standing in for Lambda's
    /// invoke overhead.
    pub authorizer_latency: Duration,
    /// Stop each attack after this many requests.
    pub max_requests: Option<u64>,
    /// Ctrl-C / SIGTERM.
    pub stop: StopRequest,
}

/// Why a load run could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Keys, IdP, target.
    #[error(transparent)]
    Harness(#[from] HarnessError),
    /// Minting the pool.
    #[error("cannot mint the token pool")]
    Mint(#[source] crate::tokens::MintError),
    /// The gateway's front.
    #[error("the gateway cannot listen on 127.0.0.1")]
    Front(#[source] std::io::Error),
    /// goose.
    #[error(transparent)]
    Attack(#[from] attack::AttackError),
}

/// Progress a reporter shows.
#[derive(Debug)]
pub enum LoadEvent<'a> {
    /// Minting started: this many tokens.
    Minting {
        /// Tokens to mint.
        total: usize,
    },
    /// Tokens minted so far (from any thread).
    Minted {
        /// Done.
        done: usize,
        /// Of.
        total: usize,
    },
    /// The pool is ready.
    PoolReady {
        /// Tokens.
        tokens: usize,
        /// How long minting took.
        elapsed: Duration,
    },
    /// An attack starts.
    AttackStarted {
        /// Its TTL.
        ttl: u64,
        /// Live request count (read it for progress).
        recorder: Arc<Recorder>,
    },
    /// An attack ended.
    AttackFinished {
        /// Its results.
        result: &'a TtlResult,
    },
}

/// Latency figures, ms.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// What one token kind got.
#[derive(Clone, Debug, Serialize)]
pub struct KindResult {
    /// The kind.
    pub kind: String,
    /// What a correct authorizer does with it.
    pub expect: &'static str,
    /// Requests.
    pub requests: u64,
    /// Answers by status.
    pub statuses: BTreeMap<String, u64>,
    /// Requests with no HTTP answer.
    pub no_answer: u64,
    /// Bad tokens let through to the backend.
    pub bad_allowed: u64,
    /// Good tokens refused.
    pub good_refused: u64,
    /// 5xx or no answer.
    pub failed: u64,
}

/// One slice of time of an attack, for the charts over time.
#[derive(Clone, Debug, Serialize)]
pub struct TimeSlice {
    /// When it starts, seconds since the attack started.
    pub start_s: f64,
    /// How long it is, seconds (the last one ends with the attack).
    pub length_s: f64,
    /// Requests answered in it.
    pub requests: u64,
    /// Requests per second in it.
    pub rps: f64,
    /// Errors in it: bad tokens let through, good ones refused, 5xx, no answer.
    pub errors: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

/// How many slices of time an attack's charts show at most: the slices recorded are merged
/// (in twos) until no more remain, so a 5 s attack is seen in 100 ms steps and a 10 min one in
/// 12.8 s steps.
pub const TIMELINE_POINTS: usize = 64;

fn timeline(recording: &record::Recording, duration: Duration) -> Vec<TimeSlice> {
    let (width_us, slices) = recording.timeline(TIMELINE_POINTS);
    let width = width_us as f64 / 1e6;
    let end = duration.as_secs_f64();
    slices
        .iter()
        .enumerate()
        .map(|(i, slice)| {
            let start_s = i as f64 * width;
            // A slice past the measured end (answers that came in after it) counts as whole.
            let length_s = if end > start_s {
                (end - start_s).min(width)
            } else {
                width
            };
            let requests = slice.latency.len();
            TimeSlice {
                start_s,
                length_s,
                requests,
                rps: requests as f64 / length_s.max(1e-3),
                errors: slice.errors,
                p50_ms: ms(slice.latency.quantile_us(0.5)),
                p99_ms: ms(slice.latency.quantile_us(0.99)),
            }
        })
        .collect()
}

/// One bucket of the latency histogram.
#[derive(Clone, Debug, Serialize)]
pub struct Bucket {
    /// Lower bound, ms.
    pub low_ms: f64,
    /// Upper bound (exclusive), ms.
    pub high_ms: f64,
    /// Requests in it.
    pub count: u64,
}

/// The results of one attack.
#[derive(Clone, Debug, Serialize)]
pub struct TtlResult {
    /// Cache TTL, seconds.
    pub ttl: u64,
    /// Whether the attack ran to its end (not stopped by a signal or `--max-requests`).
    pub completed: bool,
    /// Why it ended early, if it did.
    pub ended_by: Option<String>,
    /// Requests answered or failed.
    pub requests: u64,
    /// Wall time, seconds.
    pub duration_s: f64,
    /// Requests per second.
    pub rps: f64,
    /// Latency.
    pub latency: Latency,
    /// Answers by status, all kinds.
    pub statuses: BTreeMap<String, u64>,
    /// Requests with no HTTP answer.
    pub no_answer: u64,
    /// Requests whose answer contradicts what their token deserves, or failed.
    pub errors: u64,
    /// `errors / requests`.
    pub error_rate: f64,
    /// Bad tokens that reached the backend.
    pub bad_allowed: u64,
    /// Good tokens refused.
    pub good_refused: u64,
    /// Authorizer invocations (`None` for a `url:` target: the deployed gateway's are not
    /// observable).
    pub authorizer_invocations: Option<u64>,
    /// Invocations per request.
    pub invocations_per_request: Option<f64>,
    /// Requests answered from the result cache, as a share of requests.
    pub cache_hit_ratio: Option<f64>,
    /// Execution environments started during the attack (`None` where authprobe does not
    /// start them).
    pub cold_starts: Option<u64>,
    /// Mean start-up time of those environments, ms.
    pub cold_start_mean_ms: Option<f64>,
    /// JWKS fetches at the mock IdP during the attack.
    pub jwks_fetches: Option<u64>,
    /// Per token kind.
    pub kinds: Vec<KindResult>,
    /// Requests, errors and latency over time, in slices of [`TIMELINE_POINTS`] or fewer.
    pub over_time: Vec<TimeSlice>,
    /// Latency histogram.
    pub histogram: Vec<Bucket>,
}

impl TtlResult {
    /// The value of `metric` in this attack, if it was observed.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        Some(match metric {
            Metric::P50Ms => self.latency.p50_ms,
            Metric::P95Ms => self.latency.p95_ms,
            Metric::P99Ms => self.latency.p99_ms,
            Metric::MaxMs => self.latency.max_ms,
            Metric::Rps => self.rps,
            Metric::ErrorRate => self.error_rate,
            Metric::InvocationsPerRequest => self.invocations_per_request?,
            Metric::CacheHitRatio => self.cache_hit_ratio?,
            Metric::JwksFetches => self.jwks_fetches? as f64,
            Metric::ColdStarts => self.cold_starts? as f64,
            Metric::BadAllowed => self.bad_allowed as f64,
        })
    }
}

/// One threshold checked against one attack.
#[derive(Clone, Debug, Serialize)]
pub struct ThresholdResult {
    /// As written.
    pub rule: String,
    /// The attack's TTL.
    pub ttl: u64,
    /// The measured value (`None`: not observable for this target, which fails the rule).
    pub value: Option<f64>,
    /// Whether it held.
    pub passed: bool,
}

/// The whole load run.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// `YYYYMMDDTHHMMSSZ-load-NAME`.
    pub run_id: String,
    /// Start, RFC 3339.
    pub started: String,
    /// authprobe's version.
    pub version: String,
    /// The scenario's name and where it came from.
    pub scenario: String,
    /// Where the scenario came from.
    pub scenario_origin: String,
    /// The profile it builds on.
    pub profile: String,
    /// The target as given.
    pub target: String,
    /// Concurrent users.
    pub users: usize,
    /// `20s` or `50 iterations per user`.
    pub bound: String,
    /// Most requests per second, if throttled.
    pub throttle_rps: Option<usize>,
    /// Added latency of a builtin target, ms.
    pub authorizer_latency_ms: f64,
    /// Distinct good tokens.
    pub pool: usize,
    /// Kinds and weights.
    pub mix: BTreeMap<String, u64>,
    /// Routes and weights.
    pub routes: BTreeMap<String, u64>,
    /// How long minting took, ms.
    pub mint_ms: f64,
    /// One entry per attack run, in the scenario's order.
    pub ttls: Vec<TtlResult>,
    /// TTLs not run because the run was stopped.
    pub not_run: Vec<u64>,
    /// Every threshold against every attack it applies to.
    pub thresholds: Vec<ThresholdResult>,
    /// Set when a signal stopped the run.
    pub interrupted: Option<Signal>,
    /// What the reader should know about how the numbers were taken.
    pub notes: Vec<String>,
}

impl LoadReport {
    /// 0 when every threshold held, 1 when one broke, 130/143 when stopped by a signal.
    pub fn exit_code(&self) -> u8 {
        if let Some(signal) = self.interrupted {
            return signal.exit_code();
        }
        if self.thresholds.iter().any(|t| !t.passed) {
            crate::EXIT_FAILED
        } else {
            crate::EXIT_OK
        }
    }
}

/// Adds a fixed delay to every call of a target (`--authorizer-latency`).
struct Delayed {
    inner: Arc<dyn Target>,
    latency: Duration,
}

impl Target for Delayed {
    fn describe(&self) -> String {
        format!(
            "{} (+{} ms)",
            self.inner.describe(),
            self.latency.as_millis()
        )
    }

    fn call<'a>(&'a self, call: &'a Call) -> crate::target::BoxFuture<'a, Answer> {
        Box::pin(async move {
            tokio::time::sleep(self.latency).await;
            let mut answer = self.inner.call(call).await;
            answer.elapsed += self.latency;
            answer
        })
    }

    fn stats(&self) -> TargetStats {
        self.inner.stats()
    }

    fn shutdown(&self) -> crate::target::BoxFuture<'_, ()> {
        self.inner.shutdown()
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn summarize(ttl: u64, recording: &Recording, pool: &Pool, duration: Duration) -> TtlResult {
    let h = &recording.latency;
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut kinds = Vec::new();
    let (mut no_answer, mut bad_allowed, mut good_refused, mut failed) = (0, 0, 0, 0);
    for (counts, tokens) in recording.kinds.iter().zip(&pool.kinds) {
        for (s, n) in &counts.per_status {
            *statuses.entry(s.to_string()).or_default() += n;
        }
        no_answer += counts.no_answer;
        bad_allowed += counts.bad_allowed;
        good_refused += counts.good_refused;
        failed += counts.failed;
        kinds.push(KindResult {
            kind: tokens.kind.name().to_string(),
            expect: if tokens.expect_allow {
                "allow"
            } else {
                "reject"
            },
            requests: counts.requests,
            statuses: counts
                .per_status
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            no_answer: counts.no_answer,
            bad_allowed: counts.bad_allowed,
            good_refused: counts.good_refused,
            failed: counts.failed,
        });
    }
    let requests = h.len();
    let errors = bad_allowed + good_refused + failed;
    TtlResult {
        ttl,
        completed: true,
        ended_by: None,
        requests,
        duration_s: duration.as_secs_f64(),
        rps: if duration.is_zero() {
            0.0
        } else {
            requests as f64 / duration.as_secs_f64()
        },
        latency: Latency {
            p50_ms: ms(h.quantile_us(0.50)),
            p95_ms: ms(h.quantile_us(0.95)),
            p99_ms: ms(h.quantile_us(0.99)),
            max_ms: ms(h.max_us()),
            mean_ms: h.mean_us() / 1000.0,
        },
        statuses,
        no_answer,
        errors,
        error_rate: if requests == 0 {
            0.0
        } else {
            errors as f64 / requests as f64
        },
        bad_allowed,
        good_refused,
        authorizer_invocations: None,
        invocations_per_request: None,
        cache_hit_ratio: None,
        cold_starts: None,
        cold_start_mean_ms: None,
        jwks_fetches: None,
        kinds,
        over_time: timeline(recording, duration),
        histogram: h
            .buckets()
            .map(|(low, high, count)| Bucket {
                low_ms: ms(low),
                high_ms: ms(high),
                count,
            })
            .collect(),
    }
}

/// Checks every threshold against every attack it applies to. A value the target does not
/// let authprobe observe fails the rule: a run that cannot judge something never passes it.
pub fn check_thresholds(thresholds: &[Threshold], results: &[TtlResult]) -> Vec<ThresholdResult> {
    let mut out = Vec::new();
    for t in thresholds {
        for r in results
            .iter()
            .filter(|r| t.ttl.is_none_or(|ttl| ttl == r.ttl))
        {
            let value = r.metric(t.metric);
            out.push(ThresholdResult {
                rule: t.to_string(),
                ttl: r.ttl,
                value,
                passed: value.is_some_and(|v| t.op.holds(v, t.limit)),
            });
        }
    }
    out
}

fn describe_bound(bound: Bound) -> String {
    match bound {
        Bound::Time(d) => format!("{}s per attack", d.as_secs()),
        Bound::Iterations(n) => format!("{n} requests per user per attack"),
    }
}

/// Runs every attack of the scenario and returns the report (also when stopped by a
/// signal: what ran is kept).
pub async fn run(
    options: LoadOptions,
    on_event: &mut (dyn FnMut(LoadEvent<'_>) + Send),
) -> Result<LoadReport, LoadError> {
    let s = &options.scenario;
    let now = crate::tokens::unix_now();
    let (stamp, started) = crate::conform::timestamps(now);
    let mut harness_options = options.harness.clone();
    // Good tokens must outlive every attack (and the gateway's longest TTL).
    let run_secs = match s.bound {
        Bound::Time(d) => d.as_secs() + 60,
        Bound::Iterations(_) => 3600,
    };
    harness_options.settings.ttl =
        Duration::from_secs((run_secs * s.cache_ttls.len() as u64).max(3600) + 600);
    let target_spec = harness_options.target.clone();
    let mut report = LoadReport {
        run_id: format!("{stamp}-load-{}", s.name),
        started,
        version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: s.name.clone(),
        scenario_origin: s.origin.clone(),
        profile: s.profile.profile.to_string(),
        target: crate::target::redact_userinfo(&target_spec.to_string()),
        users: s.users,
        bound: describe_bound(s.bound),
        throttle_rps: s.throttle_rps,
        authorizer_latency_ms: options.authorizer_latency.as_secs_f64() * 1e3,
        pool: s.pool,
        mix: s
            .mix
            .iter()
            .map(|(k, w)| (k.name().to_string(), *w))
            .collect(),
        routes: s.routes.iter().map(|(r, w)| (r.to_string(), *w)).collect(),
        mint_ms: 0.0,
        ttls: Vec::new(),
        not_run: Vec::new(),
        thresholds: Vec::new(),
        interrupted: None,
        notes: vec![
            "latency is from sending a request to the last byte of its answer, as goose's users saw it".into(),
            "errors are answers a token did not deserve: a bad token let through, a good one refused, a 5xx, or no answer; a bad token refused is not an error".into(),
        ],
    };
    let stop = &options.stop;
    let stopped = |report: &mut LoadReport, signal: Signal, from: usize| {
        report.interrupted = Some(signal);
        report.not_run = s.cache_ttls[from..].to_vec();
    };

    let harness = tokio::select! {
        h = Harness::start(harness_options) => h?,
        signal = stop.requested() => {
            stopped(&mut report, signal, 0);
            return Ok(report);
        }
    };
    let mix: Vec<(Kind, u64)> = s.mix.clone();
    let total = mix
        .iter()
        .map(|(k, _)| {
            if *k == harness.minter.good_kind() {
                s.pool
            } else {
                pool::BAD_KIND_TOKENS
            }
        })
        .sum();
    on_event(LoadEvent::Minting { total });
    let mint_started = Instant::now();
    let minter = harness.minter.clone();
    let profile = s.profile.clone();
    let routes = s.routes.clone();
    let pool_size = s.pool;
    let (progress_tx, mut progress_rx) = tokio::sync::watch::channel(0usize);
    let minting = tokio::task::spawn_blocking(move || {
        Pool::mint(&minter, &profile, pool_size, &mix, &routes, &|done| {
            progress_tx.send_replace(done);
        })
    });
    tokio::pin!(minting);
    let pool = loop {
        tokio::select! {
            minted = &mut minting => break minted.expect("minting task").map_err(LoadError::Mint)?,
            changed = progress_rx.changed() => {
                if changed.is_ok() {
                    let done = *progress_rx.borrow_and_update();
                    on_event(LoadEvent::Minted { done, total });
                }
            }
            signal = stop.requested() => {
                harness.target.shutdown().await;
                stopped(&mut report, signal, 0);
                return Ok(report);
            }
        }
    };
    let pool = Arc::new(pool);
    report.mint_ms = mint_started.elapsed().as_secs_f64() * 1e3;
    on_event(LoadEvent::PoolReady {
        tokens: pool.len(),
        elapsed: mint_started.elapsed(),
    });
    if pool
        .kinds
        .iter()
        .any(|k| k.kind == harness.minter.good_kind())
        && s.pool > 1
        && pool
            .kinds
            .iter()
            .find(|k| k.kind == harness.minter.good_kind())
            .is_some_and(|k| {
                let mut h = k.headers.clone();
                h.sort();
                h.dedup();
                h.len() < k.headers.len()
            })
    {
        report.notes.push(format!(
            "the {} profile's good token is always the same string: the pool holds one distinct token, not {}",
            s.profile.profile, s.pool
        ));
    }

    if s.cache_ttls.iter().any(|t| *t > 0)
        && s.pool > crate::gateway::cache::DEFAULT_CAPACITY
        && !matches!(target_spec, TargetSpec::Url(_))
    {
        report.notes.push(format!(
            "the pool holds {} distinct good tokens, more than the {} entries the gateway emulator's result cache keeps: tokens are handed out in turn, so each is evicted before it comes back and the cache cannot help; use a pool of at most {} to see what the cache buys",
            s.pool,
            crate::gateway::cache::DEFAULT_CAPACITY,
            crate::gateway::cache::DEFAULT_CAPACITY
        ));
    }

    // Watch for SIGTERM (and SIGINT until goose installs its own handler): pull goose's
    // killswitch so a running attack ends and its numbers are kept.
    let watcher_stop = options.stop.clone();
    let watcher = tokio::spawn(async move {
        let signal = watcher_stop.requested().await;
        goose::trigger_killswitch(signal.name());
    });

    let gateway_routes: Vec<Route> = s
        .profile
        .routes
        .iter()
        .map(|r| Route {
            method: r.method.clone(),
            path: r.path.clone(),
        })
        .collect();
    let mut current: Option<Arc<dyn Target>> = Some(harness.target.clone());
    for (i, ttl) in s.cache_ttls.iter().copied().enumerate() {
        if let Some(signal) = stop.current() {
            stopped(&mut report, signal, i);
            break;
        }
        if goose::is_killswitch_triggered() {
            // goose's Ctrl-C handler caught it between attacks.
            stopped(&mut report, Signal::Sigint, i);
            break;
        }
        // A fresh target per attack, so no attack inherits warm environments or caches.
        let target: Arc<dyn Target> = match current.take() {
            Some(t) => t,
            None => match harness.fresh_target().await {
                Some(t) => t.map_err(|source| {
                    LoadError::Harness(HarnessError::Target {
                        target: target_spec.to_string(),
                        source,
                    })
                })?,
                None => harness.target.clone(),
            },
        };
        let target: Arc<dyn Target> = if options.authorizer_latency.is_zero() {
            target
        } else {
            Arc::new(Delayed {
                inner: target,
                latency: options.authorizer_latency,
            })
        };
        harness.idp.reset_counts();
        let recorder = Arc::new(Recorder::new(pool.kinds.len()));
        let mut plan = AttackPlan {
            base_url: String::new(),
            users: s.users,
            increase_rate: s.increase_rate,
            bound: s.bound,
            throttle_rps: s.throttle_rps,
            max_requests: options.max_requests,
            timeout: harness.timeout() + Duration::from_secs(2),
        };
        on_event(LoadEvent::AttackStarted {
            ttl,
            recorder: recorder.clone(),
        });
        let (end, gateway_stats) = match &target_spec {
            TargetSpec::Url(url) => {
                plan.base_url = url.clone();
                (
                    attack::run(&plan, pool.clone(), recorder.clone(), stop.clone()).await?,
                    None,
                )
            }
            _ => {
                let config = GatewayConfig {
                    authorizer: AuthorizerSettings::new(
                        s.profile.event,
                        s.profile.simple_responses,
                    ),
                    cache_ttl: ttl,
                    clock: Clock::system(),
                    ..GatewayConfig::new(crate::event::Api::default(), gateway_routes.clone())
                };
                let gateway = Arc::new(
                    Gateway::new(config, target.clone())
                        .map_err(|e| LoadError::Harness(HarnessError::Gateway(e)))?,
                );
                let front = Front::start(
                    gateway.clone(),
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                    None,
                )
                .await
                .map_err(LoadError::Front)?;
                plan.base_url = front.base_url();
                let end = attack::run(&plan, pool.clone(), recorder.clone(), stop.clone()).await?;
                drop(front);
                (end, Some(gateway.stats()))
            }
        };
        let recording = recorder.snapshot();
        let mut result = summarize(ttl, &recording, &pool, end.duration);
        if let Some(stats) = gateway_stats {
            result.authorizer_invocations = Some(stats.authorizer_invocations);
            result.invocations_per_request = Some(if stats.requests == 0 {
                0.0
            } else {
                stats.authorizer_invocations as f64 / stats.requests as f64
            });
            result.cache_hit_ratio = Some(if stats.requests == 0 {
                0.0
            } else {
                stats.cache_hits as f64 / stats.requests as f64
            });
            result.jwks_fetches = Some(harness.idp.jwks_fetches());
        }
        if matches!(target_spec, TargetSpec::Lambda(_)) {
            // Every environment of this attack's fresh target: those it started with (before
            // the clock) and any started to replace one that crashed or timed out.
            let starts = target.stats().cold_starts_ms;
            result.cold_starts = Some(starts.len() as u64);
            result.cold_start_mean_ms =
                (!starts.is_empty()).then(|| starts.iter().sum::<f64>() / starts.len() as f64);
        }
        if end.hit_max_requests {
            result.completed = false;
            result.ended_by = Some("--max-requests".into());
        }
        let signal = if end.interrupted {
            Some(stop.current().unwrap_or(Signal::Sigint))
        } else {
            None
        };
        if let Some(signal) = signal {
            result.completed = false;
            result.ended_by = Some(signal.name().into());
        }
        on_event(LoadEvent::AttackFinished { result: &result });
        report.ttls.push(result);
        // The harness's own target is stopped at the end; fresh ones here.
        if i > 0 && matches!(target_spec, TargetSpec::Builtin(_) | TargetSpec::Lambda(_)) {
            target.shutdown().await;
        }
        if let Some(signal) = signal {
            stopped(&mut report, signal, i + 1);
            break;
        }
    }
    watcher.abort();
    harness.target.shutdown().await;
    if matches!(
        target_spec,
        TargetSpec::Invoke(_) | TargetSpec::AwsLambda(_)
    ) && s.cache_ttls.len() > 1
    {
        report.notes.push("an invoke: or aws-lambda: target keeps its own execution environments: authprobe cannot start a fresh one per attack, so later attacks may run warm".into());
    }
    if matches!(target_spec, TargetSpec::Url(_)) {
        report.notes.push("a url: target is a deployed API with its own gateway: authorizer invocations, cache hits and JWKS fetches are not observable from here, and thresholds on them fail".into());
    }
    report.thresholds = check_thresholds(&s.thresholds, &report.ttls);
    Ok(report)
}
