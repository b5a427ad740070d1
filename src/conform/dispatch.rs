//! The sequencing of a run: the harness up, calibration, then the cases in order (single-token
//! cases up to `--jobs` at once, every other case alone), events to the reporters as each
//! ends, a stop request honoured between and during cases, and the report put together.

use super::runner::{Runner, blank};
use super::*;

/// Token kinds that never run beside another case under `--jobs`, each with the reason.
pub const RUN_ALONE: &[(Kind, &str)] = &[
    (
        Kind::JkuHeader,
        "the case counts the IdP's fetches of the attacker's URL, a counter every case shares",
    ),
    (
        Kind::X5uHeader,
        "the case counts the IdP's fetches of the attacker's URL, a counter every case shares",
    ),
];

/// Token kinds whose token is the same string every time: two cases of one such kind never
/// run at once, since the second may be answered from the result cache the first fills.
const FIXED_TOKENS: &[Kind] = &[
    Kind::AllowToken,
    Kind::WrongStaticToken,
    Kind::EmptyHeader,
    Kind::ManyDots,
];

/// How many single-token cases run at once when `--jobs` is not given: one per core for the
/// authorizers authprobe runs itself (a `lambda:` target has `--concurrency` environments to
/// serve them), one for `invoke:`, `url:` and `aws-lambda:` targets, whose capacity it does not know (the
/// Lambda Runtime Interface Emulator serves one invocation at a time).
pub fn default_jobs(target: &TargetSpec, concurrency: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match target {
        TargetSpec::Builtin(_) => cores,
        TargetSpec::Lambda(_) => cores.min(concurrency.max(1)),
        TargetSpec::Invoke(_) | TargetSpec::Url(_) | TargetSpec::AwsLambda(_) => 1,
    }
}

/// Whether `case` may run beside other single-token cases.
fn runs_concurrently(case: &CaseSpec) -> bool {
    match case.kind {
        CaseKind::Token(kind) => !RUN_ALONE.iter().any(|(k, _)| *k == kind),
        CaseKind::Stateful(_) => false,
    }
}

/// Single-token cases in flight, oldest first; dropping it (a stop, a panic) aborts them.
#[derive(Default)]
struct InFlight(std::collections::VecDeque<(usize, tokio::task::JoinHandle<CaseResult>)>);

impl InFlight {
    /// Whether a case of `kind` would share its token with a case in flight.
    fn holds_fixed(&self, cases: &[CaseSpec], kind: Kind) -> bool {
        FIXED_TOKENS.contains(&kind)
            && self
                .0
                .iter()
                .any(|(i, _)| cases[*i].kind == CaseKind::Token(kind))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        for (_, task) in &self.0 {
            task.abort();
        }
    }
}

/// Runs a profile against its target. Err only when the run could not be set up.
pub async fn run(
    options: &ConformOptions,
    on_event: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<RunReport, HarnessError> {
    let started_at = Instant::now();
    let now = crate::tokens::unix_now();
    let (stamp, started) = timestamps(now);
    let p = &options.profile;
    let settings = p.mint_settings();
    let stop = &options.stop;
    let not_run = |signal: Signal, cases: &[CaseSpec]| -> Vec<CaseResult> {
        cases
            .iter()
            .map(|case| CaseResult {
                detail: format!("not run: the run was interrupted ({})", signal.name()),
                ..blank(case, &case_what(case))
            })
            .collect()
    };
    let starting = Harness::start_with_identity(
        HarnessOptions {
            profile: p.profile,
            settings,
            target: options.target.clone(),
            env: options.env.clone(),
            workdir: options.workdir.clone(),
            concurrency: options.concurrency,
            timeout: options.timeout,
            keys_dir: options.keys_dir.clone(),
            simple_responses: p.simple_responses,
            idp: options.idp.clone(),
            jwks_timeout: p.jwks_timeout,
            observe: true,
        },
        options.identity.clone(),
    );
    let mut harness = tokio::select! {
        started = starting => started?,
        signal = stop.requested() => {
            let mut cases = not_run(signal, &p.cases);
            let causes = cause::group(&mut cases, options.strict);
            let summary = summarize(&cases);
            return Ok(RunReport {
                run_id: format!("{stamp}-{}", p.profile),
                started,
                version: env!("CARGO_PKG_VERSION").to_string(),
                profile: p.profile,
                scenario: p.origin.clone(),
                target: options.target.to_string(),
                strict: options.strict,
                cache_ttl: options.cache_ttl.unwrap_or(p.cache_ttl),
                duration_ms: started_at.elapsed().as_secs_f64() * 1e3,
                catalogue_ms: 0.0,
                cases,
                causes,
                summary,
                target_stats: TargetStats::default(),
                jwks_fetches: 0,
                key_source: None,
                attacker_fetches: 0,
                snapshot_dir: options.snapshots.as_ref().map(|s| s.dir().display().to_string()),
                interrupted: Some(signal),
                calibration: None,
                deployed: None,
                matrix: None,
            });
        }
    };
    // A deployed target is sent what the listed cases need and not one request more.
    let budget = options.target.is_deployed().then(|| {
        let budget = Arc::new(crate::target::Budgeted::new(
            harness.target.clone(),
            deployed_limit(p, options.calibrate),
        ));
        harness.target = budget.clone();
        budget
    });
    let api = Api::default();
    let route_arns = p
        .routes
        .iter()
        .map(|r| {
            let mut req = ClientRequest::get(&r.path, None);
            req.method = r.method.clone();
            req.method_arn(&api)
        })
        .collect();
    let cache_ttl = options.cache_ttl.unwrap_or(p.cache_ttl);
    // The gateway knows every route a case goes to, the profile's first.
    let mut routes: Vec<crate::gateway::Route> = Vec::new();
    for r in p.routes.iter().chain(p.cases.iter().map(|c| &c.route)) {
        let route = crate::gateway::Route {
            method: r.method.clone(),
            path: r.path.clone(),
        };
        if !routes.contains(&route) {
            routes.push(route);
        }
    }
    let gateway_config = GatewayConfig {
        authorizer: AuthorizerSettings::new(p.event, p.simple_responses),
        cache_ttl,
        // The run moves this clock itself (cached-deny); nothing expires on its own mid-run.
        clock: Clock::manual(),
        ..GatewayConfig::new(api.clone(), routes)
    };
    let gateway = match options.target {
        TargetSpec::Url(_) => None,
        _ => match Gateway::new(gateway_config.clone(), harness.target.clone()) {
            Ok(gateway) => Some(gateway),
            Err(e) => {
                harness.target.shutdown().await;
                return Err(e.into());
            }
        },
    };
    let harness = Arc::new(harness);
    let runner = Arc::new(Runner {
        harness: harness.clone(),
        options: Arc::new(options.clone()),
        api,
        route_arns,
        cache_ttl,
        gateway,
        gateway_config,
        baseline: std::sync::OnceLock::new(),
        good_refused: std::sync::atomic::AtomicBool::new(false),
        flood_fetches: std::sync::OnceLock::new(),
        rotation_taken: std::sync::OnceLock::new(),
    });
    // Fetches so far came while the target started (a lambda: target's environments are up
    // and have run their init code by now).
    let fetched_at_start = harness.idp.jwks_fetches();
    let target_name = harness.target.describe();
    let total = p.cases.len();
    on_event(Event::Started {
        profile: p.profile,
        target: &target_name,
        total,
    });
    let mut cases = Vec::with_capacity(total + 1);
    let mut catalogue = Duration::ZERO;
    // JWKS fetches of the cases that start environments of their own or change the key set.
    let mut set_aside = 0u64;
    let mut interrupted = None;
    let mut calibration = None;
    if options.calibrate {
        tokio::select! {
            found = runner.calibrate() => {
                if let Some((found, root)) = found {
                    on_event(Event::Calibrated { calibration: &found });
                    calibration = Some(found);
                    cases.extend(root);
                }
            }
            signal = stop.requested() => {
                interrupted = Some(signal);
            }
        }
    }
    if let Some(signal) = interrupted {
        cases.extend(not_run(signal, &p.cases));
    }
    // Single-token cases run up to `jobs` at once, each on a task of its own (minting and
    // judging are CPU work), and are reported in case order; every other case runs alone,
    // after the ones before it are done and before any after it starts.
    let jobs = options
        .jobs
        .unwrap_or_else(|| default_jobs(&options.target, options.concurrency))
        .max(1);
    let mut in_flight = InFlight::default();
    let mut next = 0;
    // When the tasks in flight started, for the catalogue's time.
    let mut batch_started = Instant::now();
    while interrupted.is_none() {
        while next < total
            && in_flight.0.len() < jobs
            && runs_concurrently(&p.cases[next])
            && let CaseKind::Token(kind) = p.cases[next].kind
            && !in_flight.holds_fixed(&p.cases, kind)
        {
            if in_flight.0.is_empty() {
                batch_started = Instant::now();
            }
            let (runner, case) = (runner.clone(), p.cases[next].clone());
            let task = tokio::spawn(async move {
                let t = Instant::now();
                let mut r = runner.token_case(&case, kind).await;
                r.wall_ms = t.elapsed().as_secs_f64() * 1e3;
                r
            });
            in_flight.0.push_back((next, task));
            next += 1;
        }
        let (index, result) = if let Some((index, mut task)) = in_flight.0.pop_front() {
            // A stop abandons the cases in flight: their answers would come from a run being
            // torn down.
            tokio::select! {
                joined = &mut task => {
                    if in_flight.0.is_empty() {
                        catalogue += batch_started.elapsed();
                    }
                    match joined {
                        Ok(result) => (index, result),
                        // The task is never cancelled while awaited: this is its panic.
                        Err(e) => std::panic::resume_unwind(e.into_panic()),
                    }
                }
                signal = stop.requested() => {
                    task.abort();
                    interrupted = Some(signal);
                    cases.extend(not_run(signal, &p.cases[index..]));
                    break;
                }
            }
        } else if next < total {
            let case = &p.cases[next];
            if let CaseKind::Stateful(which) = case.kind {
                on_event(Event::CaseStarted {
                    index: next + 1,
                    total,
                    name: &case.name,
                    doing: match which {
                        Stateful::KeyRotation => format!(
                            "waits up to {} for the authorizer to take a newly published key",
                            humantime::format_duration(options.rotation_window)
                        ),
                        other => other.what().to_string(),
                    },
                    wait: (which == Stateful::KeyRotation).then_some(options.rotation_window),
                });
            }
            let t = Instant::now();
            let running = async {
                match case.kind {
                    CaseKind::Token(kind) => {
                        let r = runner.token_case(case, kind).await;
                        catalogue += t.elapsed();
                        r
                    }
                    CaseKind::Stateful(which) => {
                        let before = harness.idp.jwks_fetches();
                        let r = runner.stateful_case(case, which).await;
                        if which.moves_keys() {
                            set_aside += harness.idp.jwks_fetches() - before;
                        }
                        r
                    }
                }
            };
            let result = tokio::select! {
                mut result = running => {
                    result.wall_ms = t.elapsed().as_secs_f64() * 1e3;
                    result
                }
                signal = stop.requested() => {
                    interrupted = Some(signal);
                    cases.extend(not_run(signal, &p.cases[next..]));
                    break;
                }
            };
            next += 1;
            (next - 1, result)
        } else {
            break;
        };
        on_event(Event::CaseDone {
            index: index + 1,
            total,
            result: &result,
        });
        cases.push(result);
    }
    drop(in_flight);
    // The authorization matrix, after every other case: it asks the same target through fresh
    // gateways of its own and leaves the IdP alone.
    let matrix = match (&p.matrix, interrupted) {
        (Some(spec), None) => {
            // A key-less run needs a real token per principal: the runner says which lack one.
            let why_not = runner.gateway.is_none().then_some(
                "a url: target is a deployed API behind its own gateway and cache, which the matrix cannot set; run it against the handler (lambda:, invoke:, aws-lambda:)",
            );
            match why_not {
                None => {
                    let (cells, grid) = runner.matrix(spec).await;
                    let all = total + cells.len();
                    for (i, cell) in cells.into_iter().enumerate() {
                        on_event(Event::CaseDone {
                            index: total + i + 1,
                            total: all,
                            result: &cell,
                        });
                        cases.push(cell);
                    }
                    Some(grid)
                }
                Some(why) => {
                    for principal in &spec.principals {
                        for route in &p.routes {
                            let case = CaseSpec {
                                name: format!("{} {route}", principal.name),
                                kind: CaseKind::Token(harness.minter.good_kind()),
                                expect_allow: false,
                                header: HeaderForm::AsMinted,
                                route: route.clone(),
                            };
                            let mut cell = runner.skipped(&case, &principal.claims_line(), why);
                            cell.kind = "matrix".into();
                            cases.push(cell);
                        }
                    }
                    None
                }
            }
        }
        _ => None,
    };
    mark_inconclusive(
        &mut cases,
        runner
            .good_refused
            .load(std::sync::atomic::Ordering::SeqCst),
    );
    let target_stats = harness.target.stats();
    harness.target.shutdown().await;
    // Only a target the run starts has environments it counts and a start it sees: an invoke:
    // endpoint or a deployed function may have fetched before the run, in environments unseen.
    let key_source = (matches!(p.profile, Profile::Jwks | Profile::Cognito)
        && !harness.minter.is_keyless()
        && matches!(
            options.target,
            TargetSpec::Builtin(_) | TargetSpec::Lambda(_)
        ))
    .then(|| {
        keysource::classify(keysource::Observed {
            jwks_fetches: harness.idp.jwks_fetches() - set_aside,
            set_aside,
            at_start: fetched_at_start,
            invocations: target_stats.invocations,
            environments: (target_stats.cold_starts_ms.len() as u64).max(1),
            flood: runner.flood_fetches.get().copied(),
            rotation_taken: runner.rotation_taken.get().copied(),
            good_allowed: cases
                .iter()
                .any(|c| c.expected == "allow" && c.observed == Some(Outcome::Allow)),
        })
    });
    // The IdP may still hold a fault set by an abandoned stateful case: it goes down with the
    // harness, so nothing needs undoing.
    let causes = cause::group(&mut cases, options.strict);
    let summary = summarize(&cases);
    Ok(RunReport {
        run_id: format!("{stamp}-{}", p.profile),
        started,
        version: env!("CARGO_PKG_VERSION").to_string(),
        profile: p.profile,
        scenario: p.origin.clone(),
        target: target_name,
        strict: options.strict,
        cache_ttl,
        duration_ms: started_at.elapsed().as_secs_f64() * 1e3,
        catalogue_ms: catalogue.as_secs_f64() * 1e3,
        cases,
        causes,
        summary,
        target_stats,
        jwks_fetches: harness.idp.jwks_fetches(),
        key_source,
        attacker_fetches: harness.idp.attacker_fetches(),
        snapshot_dir: options
            .snapshots
            .as_ref()
            .map(|s| s.dir().display().to_string()),
        interrupted,
        calibration,
        deployed: budget.map(|b| DeployedRequests {
            sent: b.sent(),
            limit: b.limit(),
        }),
        matrix,
    })
}

/// When no form of the good token was allowed (calibration found none, or every good case was
/// refused), a rejection proves nothing: an authorizer that refuses everything would pass every
/// must-reject case. Those cases become [`Status::Inconclusive`] instead of passing.
fn mark_inconclusive(cases: &mut [CaseResult], good_refused: bool) {
    let judged_good = cases
        .iter()
        .filter(|c| c.expected == "allow" && c.kind != "calibration" && c.observed.is_some());
    let good_allowed = judged_good
        .clone()
        .any(|c| c.observed == Some(Outcome::Allow));
    let no_good = good_refused || (judged_good.count() > 0 && !good_allowed);
    if !no_good {
        return;
    }
    // A matrix refusal is proved by the matrix's own allowed cells: the authorizer took those
    // principals' tokens, whatever became of the profile's good token.
    let matrix_allowed = cases
        .iter()
        .any(|c| c.kind == "matrix" && c.observed == Some(Outcome::Allow));
    for case in cases.iter_mut() {
        if case.kind == "matrix" && matrix_allowed {
            continue;
        }
        if case.expected == "reject" && matches!(case.status, Status::Passed | Status::Warned) {
            case.status = Status::Inconclusive;
            case.detail = format!(
                "inconclusive: no form of the good token was allowed, so this rejection proves nothing ({})",
                case.detail
            );
        }
    }
}

fn summarize(cases: &[CaseResult]) -> Summary {
    let mut s = Summary {
        total: cases.len(),
        ..Summary::default()
    };
    for c in cases {
        match c.status {
            Status::Passed => s.passed += 1,
            Status::Warned => s.warned += 1,
            Status::Failed => s.failed += 1,
            Status::Errored => s.errored += 1,
            Status::Inconclusive => s.inconclusive += 1,
            Status::Skipped => s.skipped += 1,
        }
        let has = |sev| c.findings.iter().any(|f| f.severity == sev);
        s.security += usize::from(has(Severity::Security));
        s.availability += usize::from(has(Severity::Availability));
        s.contract += usize::from(has(Severity::Contract));
        s.hardening += usize::from(has(Severity::Hardening));
        s.regression += usize::from(has(Severity::Regression));
        match c.snapshot {
            Some(SnapshotStatus::New) => s.snapshots_new += 1,
            Some(SnapshotStatus::Matched) => s.snapshots_matched += 1,
            Some(SnapshotStatus::Changed { .. }) => s.snapshots_changed += 1,
            Some(SnapshotStatus::Updated) => s.snapshots_updated += 1,
            Some(SnapshotStatus::Missing) => s.snapshots_missing += 1,
            Some(SnapshotStatus::Error { .. }) => s.snapshots_failed += 1,
            None => {}
        }
    }
    s
}

/// What a case sends or checks, in words.
fn case_what(case: &CaseSpec) -> String {
    match case.kind {
        CaseKind::Token(k) => k.what().to_string(),
        CaseKind::Stateful(s) => s.what().to_string(),
    }
}
