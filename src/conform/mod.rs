//! The conformance runner: sends every case of a profile to the authorizer under test, judges
//! each answer, checks its policy document against the snapshot, and emits events that the
//! reporters turn into terminal output, JUnit, JSON and Markdown.

pub mod calibrate;
pub mod cause;
pub mod profile;
pub mod snapshot;
pub mod verdict;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::event::{self, Api, ClientRequest};
use crate::gateway::{
    AuthStep, AuthorizerSettings, Clock, Gateway, GatewayConfig, GatewayRequest, Refusal,
};
use crate::harness::{Harness, HarnessError, HarnessOptions};
use crate::idp::Fault;
use crate::policy::MethodArn;
use crate::stop::{Signal, StopRequest};
use crate::target::{self, Call, Outcome, Reply, Target, TargetSpec, TargetStats};
use crate::tokens::{Expect, Kind, Profile};

use profile::{CaseKind, CaseSpec, HeaderForm, ProfileSpec, Stateful};
use snapshot::{SnapshotStatus, Snapshots};
use verdict::{Finding, Severity};

/// How long the key-rotation case waits for a newly published key to be accepted, unless the
/// profile or `--rotation-window` says otherwise.
pub const DEFAULT_ROTATION_WINDOW: Duration = Duration::from_secs(12);

/// Unknown kids sent by the flood case.
pub const FLOOD: usize = 50;
/// How often the key-rotation case asks a deployed target to accept the new key: right after
/// it is published, and at the end of the window.
pub const DEPLOYED_ROTATION_ATTEMPTS: u32 = 2;
/// JWKS fetches the flood may cause.
pub const FLOOD_FETCH_BOUND: u64 = 2;

/// How to run.
#[derive(Clone, Debug)]
pub struct ConformOptions {
    /// The profile and its cases.
    pub profile: ProfileSpec,
    /// The authorizer under test (default: `builtin:PROFILE`).
    pub target: TargetSpec,
    /// `--env` as given.
    pub env: Vec<(String, String)>,
    /// `--workdir`.
    pub workdir: Option<std::path::PathBuf>,
    /// `--concurrency`.
    pub concurrency: usize,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--dir`: keys from a folder instead of made for the run.
    pub keys_dir: Option<std::path::PathBuf>,
    /// `--idp-addr`, `--idp-expose`, `--idp-url`.
    pub idp: crate::harness::IdpPlacement,
    /// `--cache-ttl`, overriding the profile's.
    pub cache_ttl: Option<u64>,
    /// Contract warnings fail.
    pub strict: bool,
    /// Where snapshots are kept; `None` turns them off.
    pub snapshots: Option<Snapshots>,
    /// How long the key-rotation case waits for the authorizer to refetch.
    pub rotation_window: Duration,
    /// Ends the run early (SIGINT, SIGTERM): the case in flight is abandoned, the rest are
    /// reported as not run, and the report says it was interrupted.
    pub stop: StopRequest,
    /// Find the form of the good request the authorizer accepts before the catalogue (see
    /// [`calibrate`]); `false` is `--no-calibrate`.
    pub calibrate: bool,
    /// Good tokens from a real IdP: the key-less catalogue ([`crate::tokens::keyless`]).
    pub identity: Option<crate::harness::ExternalIdentity>,
    /// Single-token cases in flight at once (`--jobs`); `None` picks [`default_jobs`].
    pub jobs: Option<usize>,
    /// Headers every request carries (`--header`, `--header-env`: an API key of a deployed
    /// stage); the values are never printed.
    pub extra_headers: Vec<(String, crate::tokens::source::Secret)>,
    /// The header that carries the token instead of Authorization (`--token-header`, `url:`).
    pub token_header: Option<String>,
}

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

impl ConformOptions {
    /// `profile` against `target` with the command line's defaults: one environment, a 3 s
    /// timeout, keys made for the run, no snapshots, a 12 s rotation window.
    pub fn new(profile: ProfileSpec, target: TargetSpec) -> Self {
        ConformOptions {
            profile,
            target,
            env: Vec::new(),
            workdir: None,
            concurrency: 1,
            timeout: Duration::from_secs(3),
            keys_dir: None,
            idp: crate::harness::IdpPlacement::default(),
            cache_ttl: None,
            strict: false,
            snapshots: None,
            rotation_window: DEFAULT_ROTATION_WINDOW,
            stop: StopRequest::never(),
            calibrate: true,
            identity: None,
            jobs: None,
            extra_headers: Vec::new(),
            token_header: None,
        }
    }
}

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Right answer, nothing to say.
    Passed,
    /// Right answer, with contract warnings.
    Warned,
    /// Wrong answer (or, with `--strict`, a contract warning).
    Failed,
    /// Could not be asked: no verdict.
    Errored,
    /// A must-reject case whose rejection proves nothing: no form of the good token was
    /// allowed either, so the authorizer may reject everything. Fails the run.
    Inconclusive,
    /// Not meaningful for this target.
    Skipped,
}

/// One case's result.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Case name.
    pub name: String,
    /// Token kind or stateful case name.
    pub kind: String,
    /// Whether it is a stateful case.
    pub stateful: bool,
    /// What it sends or checks.
    pub what: String,
    /// `GET /hello`.
    pub route: String,
    /// `allow` or `reject`.
    pub expected: String,
    /// Why a correct authorizer rejects it (catalogue reason), for reject cases.
    pub reason: Option<String>,
    /// Observed outcome; `None` when it could not be asked, was skipped, or API Gateway
    /// refused the request before the authorizer with another status (431, 414, …).
    pub observed: Option<Outcome>,
    /// The HTTP status a client would see: through the gateway emulator, or from a `url:`
    /// target.
    pub http_status: Option<u16>,
    /// How the outcome was read (policy allows, raised Unauthorized, HTTP 403, timeout, …).
    pub detail: String,
    /// Verdict.
    pub status: Status,
    /// What is wrong, if anything.
    pub findings: Vec<Finding>,
    /// The document the authorizer returned, if any.
    pub response: Option<Value>,
    /// The policy snapshot, when snapshots are on and there is a document.
    pub snapshot: Option<SnapshotStatus>,
    /// Time to the answer (the last one, for cases that send several).
    pub elapsed_ms: f64,
    /// Whether the answer came from a fresh execution environment.
    pub cold: bool,
    /// Extra facts (JWKS fetch counts, attempts).
    pub notes: Vec<String>,
    /// Ids of the causes ([`RunReport::causes`]) this case shows.
    pub causes: Vec<String>,
}

/// Counts over a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Cases.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Passed with warnings.
    pub warned: usize,
    /// Failed.
    pub failed: usize,
    /// Could not be asked.
    pub errored: usize,
    /// Rejections that prove nothing: no form of the good token was allowed.
    pub inconclusive: usize,
    /// Skipped.
    pub skipped: usize,
    /// Cases with a security finding.
    pub security: usize,
    /// Cases with an availability finding.
    pub availability: usize,
    /// Cases with a contract finding.
    pub contract: usize,
    /// Cases with a hardening finding.
    pub hardening: usize,
    /// Cases whose policy changed.
    pub regression: usize,
    /// Snapshots written for the first time.
    pub snapshots_new: usize,
    /// Snapshots that matched.
    pub snapshots_matched: usize,
    /// Snapshots that changed.
    pub snapshots_changed: usize,
    /// Snapshots updated with `--update-snapshots`.
    pub snapshots_updated: usize,
    /// Snapshots not accepted yet and not written (in CI): nothing to compare with.
    pub snapshots_missing: usize,
    /// Snapshots that could not be read or written.
    pub snapshots_failed: usize,
}

/// A whole run, as the reporters render it.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// `20261126T160000Z-jwks`.
    pub run_id: String,
    /// Start, RFC 3339 UTC.
    pub started: String,
    /// authprobe version.
    pub version: String,
    /// Profile name.
    pub profile: Profile,
    /// Where the profile came from.
    pub scenario: String,
    /// The target.
    pub target: String,
    /// `--strict`.
    pub strict: bool,
    /// Result cache TTL the API is judged with.
    pub cache_ttl: u64,
    /// Whole run, milliseconds.
    pub duration_ms: f64,
    /// The single-token catalogue cases alone, milliseconds.
    pub catalogue_ms: f64,
    /// Every case, in order.
    pub cases: Vec<CaseResult>,
    /// What is wrong, one entry per cause, in the order to fix them.
    pub causes: Vec<cause::Cause>,
    /// Counts.
    pub summary: Summary,
    /// Target counters (invocations, cold starts).
    pub target_stats: TargetStats,
    /// JWKS fetches the IdP served.
    pub jwks_fetches: u64,
    /// Fetches of the attacker `jku`/`x5u` targets (should be 0).
    pub attacker_fetches: u64,
    /// Where the snapshots are, if on.
    pub snapshot_dir: Option<String>,
    /// The signal that stopped the run early; the cases it did not reach are skipped.
    pub interrupted: Option<Signal>,
    /// What calibration found, when the good token as the profile sends it was refused.
    pub calibration: Option<calibrate::Calibration>,
    /// For a deployed target (`url:`, `aws-lambda:`): the requests it was sent, and the most
    /// the run could send it.
    pub deployed: Option<DeployedRequests>,
}

/// What a run sent a deployed target, against what its cases allowed.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct DeployedRequests {
    /// Requests that reached the target.
    pub sent: u64,
    /// The most the listed cases may send ([`deployed_limit`]); never exceeded.
    pub limit: u64,
}

/// The most requests a run of `profile` sends a deployed target: one a case, and for the
/// cases that need more, what they need. Requests the gateway answers from its cache count
/// too, as if they reached the target: the limit holds whatever the authorizer answers.
pub fn deployed_limit(profile: &ProfileSpec, calibrate: bool) -> u64 {
    let routes = profile.routes.len() as u64;
    // The good token in the profile's form, then each variant until one is allowed.
    let calibration = if calibrate {
        1 + calibrate::VARIANTS.len() as u64
    } else {
        0
    };
    let cases: u64 = profile
        .cases
        .iter()
        .map(|case| {
            // After an allow, the same token on every other route (normally from the cache).
            let others = profile.routes.iter().filter(|r| **r != case.route).count() as u64;
            let other_routes = if case.expect_allow { others } else { 0 };
            match case.kind {
                // An allowed string exp is asked again with one in the past.
                CaseKind::Token(Kind::ExpString) => 2 + other_routes,
                CaseKind::Token(_) => 1 + other_routes,
                // The warm-up, then the new key's attempts.
                CaseKind::Stateful(Stateful::KeyRotation) => {
                    1 + u64::from(DEPLOYED_ROTATION_ATTEMPTS)
                }
                CaseKind::Stateful(Stateful::ValidAgain) => 1 + others,
                CaseKind::Stateful(Stateful::MissingHeader) => 1,
                // The token, then the same token on every route.
                CaseKind::Stateful(Stateful::CachedDeny) => 1 + routes,
                // The good token, then another one.
                CaseKind::Stateful(Stateful::CacheKey) => 2,
                // Skipped for a deployed target: the flood would be a load test, and the cold
                // starts need a target the harness starts.
                CaseKind::Stateful(
                    Stateful::UnknownKidFlood
                    | Stateful::JwksUnreachable
                    | Stateful::JwksSlow
                    | Stateful::JwksMalformed,
                ) => 0,
            }
        })
        .sum();
    calibration + cases
}

impl RunReport {
    /// The process exit code: 1 if a case failed (wrong answers are never hidden) or nothing
    /// was judged (every case skipped), else 3 if a case could not be asked or a snapshot could
    /// not be kept, else 0.
    pub fn exit_code(&self) -> u8 {
        let s = &self.summary;
        if let Some(signal) = self.interrupted {
            signal.exit_code()
        } else if s.failed > 0 || s.inconclusive > 0 || self.nothing_judged() {
            crate::EXIT_FAILED
        } else if s.errored > 0 || s.snapshots_failed > 0 {
            crate::EXIT_COULD_NOT_RUN
        } else {
            crate::EXIT_OK
        }
    }

    /// True when every case was skipped: such a run proves nothing and must not pass.
    pub fn nothing_judged(&self) -> bool {
        self.interrupted.is_none() && self.summary.skipped == self.summary.total
    }
}

/// What the runner tells reporters as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// The harness is up.
    Started {
        /// Profile.
        profile: Profile,
        /// Target description.
        target: &'a str,
        /// Cases to run.
        total: usize,
    },
    /// The good token as the profile sends it was refused, and other forms were tried.
    Calibrated {
        /// What was tried and which form the run uses.
        calibration: &'a calibrate::Calibration,
    },
    /// A case is done.
    CaseDone {
        /// 1-based.
        index: usize,
        /// Cases in all.
        total: usize,
        /// Its result.
        result: &'a CaseResult,
    },
}

/// `YYYYMMDDTHHMMSSZ` and RFC 3339 for a Unix time.
pub fn timestamps(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (
        format!("{y:04}{m:02}{d:02}T{h:02}{mi:02}{s:02}Z"),
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
    )
}

struct Runner {
    harness: Arc<Harness>,
    options: Arc<ConformOptions>,
    api: Api,
    route_arns: Vec<MethodArn>,
    cache_ttl: u64,
    /// API Gateway in front of the target; `None` for `url:` targets, which have their own.
    gateway: Option<Gateway>,
    /// How the gateway is set up (for the fresh gateways of cold-start cases).
    gateway_config: GatewayConfig,
    /// The variant calibration settled on, when the profile's form was refused.
    baseline: std::sync::OnceLock<Baseline>,
    /// Set when calibration found no form of the good token that is allowed: rejections then
    /// prove nothing, and no policy snapshot is written (a refusal would be accepted as the
    /// policy, and the next, correctly configured run would call it a regression).
    good_refused: std::sync::atomic::AtomicBool,
}

/// A calibrated baseline: the variant, and the minter that mints every token on it.
struct Baseline {
    variant: &'static calibrate::Variant,
    minter: crate::tokens::Minter,
}

struct Sent {
    outcome: Option<Outcome>,
    /// The HTTP status a client would see.
    http_status: Option<u16>,
    /// Whether the gateway answered from its result cache.
    cached: bool,
    detail: String,
    response: Option<Value>,
    elapsed_ms: f64,
    cold: bool,
    could_not_ask: bool,
    /// When API Gateway answered without an authorizer outcome (`outcome` is `None`): whether
    /// a correct deployment refuses this request so whatever the authorizer does, which is
    /// all a must-reject case may pass on without one.
    refusal_proves: bool,
}

impl Runner {
    fn request(&self, case: &CaseSpec, header: Option<String>) -> ClientRequest {
        let mut r = ClientRequest::get(&case.route.path, header);
        r.method = case.route.method.clone();
        for (name, value) in &self.options.extra_headers {
            r.headers.insert(name.clone(), value.expose().to_string());
        }
        if let Some(name) = &self.options.token_header
            && let Some(token) = r.authorization.take()
        {
            r.headers.insert(name.clone(), token);
        }
        r
    }

    /// Sends straight to the target (`url:` targets, which are behind their own gateway).
    async fn send_to(&self, target: &dyn Target, request: ClientRequest) -> Sent {
        let event = event::build(self.options.profile.event, &self.api, &request);
        let arn = request.method_arn(&self.api).to_string();
        let answer = target.call(&Call { event, request }).await;
        let api = self
            .options
            .profile
            .event
            .api(self.options.profile.simple_responses);
        let (outcome, mut detail) = target::classify(&answer.reply, api, &arn);
        let could_not_ask = answer.reply.as_ref().is_err_and(|e| e.is_could_not_ask());
        // A deployed REST API answers a route or method it does not have with 403 "Missing
        // Authentication Token" before any authorizer (reference §2.3, D-GWR): no outcome.
        let no_route = matches!(&answer.reply, Ok(Reply::Http { status: 403, body })
            if body.contains("Missing Authentication Token"));
        if no_route {
            detail = "HTTP 403 Missing Authentication Token: the deployed API has no such route or method, so no authorizer ran".into();
        }
        Sent {
            outcome: (!could_not_ask && !no_route).then_some(outcome),
            http_status: match &answer.reply {
                Ok(Reply::Http { status, .. }) => Some(*status),
                _ => None,
            },
            cached: false,
            detail,
            response: match answer.reply {
                Ok(Reply::Response(doc)) => Some(doc),
                _ => None,
            },
            elapsed_ms: answer.elapsed.as_secs_f64() * 1e3,
            cold: answer.cold,
            could_not_ask,
            refusal_proves: false,
        }
    }

    /// Sends through API Gateway's rules: what a client would see.
    async fn send_via(&self, gateway: &Gateway, request: ClientRequest) -> Sent {
        let started = Instant::now();
        let answer = gateway.handle(gateway_request(&request)).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        let status = answer.status;
        let (cold, could_not_ask, response, cached) = match &answer.auth {
            AuthStep::Invoked(a) => (
                a.cold,
                a.reply.as_ref().is_err_and(|e| e.is_could_not_ask()),
                match &a.reply {
                    Ok(Reply::Response(doc)) => Some(doc.clone()),
                    _ => None,
                },
                false,
            ),
            AuthStep::Cached(doc) => (false, false, Some((**doc).clone()), true),
            AuthStep::NotInvoked => (false, false, None, false),
        };
        // Before the authorizer, only a missing or empty identity and a token that fails the
        // validation expression are the verdict a correct deployment gives (401); any other
        // refusal there (no route, quotas, a bad path) is no outcome of the authorizer.
        let outcome = match (&answer.auth, answer.refusal) {
            (AuthStep::NotInvoked, Some(Refusal::MissingIdentity | Refusal::ValidationFailed)) => {
                Some(Outcome::Unauthorized)
            }
            (AuthStep::NotInvoked, _) => None,
            _ => match status {
                200..=299 => Some(Outcome::Allow),
                401 => Some(Outcome::Unauthorized),
                403 => Some(Outcome::Deny),
                500..=599 => Some(Outcome::Error),
                _ => None,
            },
        };
        // The size quota proves a rejection only when it is the token that breaks it: the
        // same request with the good token in its place fits.
        let refusal_proves =
            answer.refusal == Some(Refusal::TooLarge) && self.fits_with_good_token(&request);
        let detail = match &answer.auth {
            AuthStep::NotInvoked if answer.detail.is_empty() => {
                format!("API Gateway answered {status} without invoking the authorizer")
            }
            AuthStep::NotInvoked => format!(
                "API Gateway answered {status} without invoking the authorizer: {}",
                answer.detail
            ),
            AuthStep::Cached(_) => format!("{}, from the cached policy", answer.detail),
            AuthStep::Invoked(_) => answer.detail.clone(),
        };
        Sent {
            outcome: (!could_not_ask).then_some(outcome).flatten(),
            http_status: Some(status),
            cached,
            detail,
            response,
            elapsed_ms,
            cold,
            could_not_ask,
            refusal_proves,
        }
    }

    /// Whether `request` would fit API Gateway's quota on the request line and headers with
    /// the good token (in its longest form, with `Bearer `) in place of its own credential.
    /// Without a good token to compare, it does not.
    fn fits_with_good_token(&self, request: &ClientRequest) -> bool {
        let credential = match &self.options.token_header {
            Some(name) => request.headers.get(name),
            None => request.authorization.as_ref(),
        };
        let Ok(good) = self.minter().mint(self.minter().good_kind()) else {
            return false;
        };
        let good = good.header_value().len();
        let bytes = gateway_request(request).line_and_header_bytes(&self.api.stage);
        bytes - credential.map_or(0, String::len) + good
            <= crate::gateway::MAX_REQUEST_LINE_AND_HEADERS
    }

    async fn send(&self, request: ClientRequest) -> Sent {
        match &self.gateway {
            Some(gateway) => self.send_via(gateway, request).await,
            None => self.send_to(self.harness.target.as_ref(), request).await,
        }
    }

    /// After an Allow, the same request to every other route of the API through the live
    /// cache; the routes that answered 403.
    async fn other_routes_denied(&self, case: &CaseSpec, request: &ClientRequest) -> Vec<String> {
        let mut denied = Vec::new();
        if self.gateway.is_none() || self.cache_ttl == 0 {
            return denied;
        }
        for route in &self.options.profile.routes {
            if *route == case.route {
                continue;
            }
            let mut other = request.clone();
            other.method = route.method.clone();
            other.path = route.path.clone();
            if self.send(other).await.http_status == Some(403) {
                denied.push(route.to_string());
            }
        }
        denied
    }

    /// Records what [`Self::other_routes_denied`] saw: the static contract check explains it.
    fn observed_cross_route(&self, result: &mut CaseResult, denied: Vec<String>) {
        if denied.is_empty() {
            return;
        }
        let message = format!(
            "the same token then got 403 on {} from the cached policy (observed through the gateway)",
            denied.join(", ")
        );
        match result
            .findings
            .iter_mut()
            .find(|f| f.message.starts_with(verdict::UNCOVERED))
        {
            Some(f) => {
                f.why = format!("{}; {}", f.message, f.why);
                f.message = message;
            }
            None => result.findings.push(Finding {
                threat: None,
                severity: Severity::Contract,
                message,
                why: "API Gateway reuses the cached policy for every route of the API".into(),
                fix: "return Resource arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/*/* (or every route), or set the TTL to 0".into(),
            }),
        }
        result.status = status_of(&result.findings, false, self.options.strict);
    }

    /// Mints every token of the run: on the calibrated baseline once there is one.
    fn minter(&self) -> &crate::tokens::Minter {
        self.baseline
            .get()
            .map_or(&self.harness.minter, |b| &b.minter)
    }

    fn header(&self, case: &CaseSpec, minted: &crate::tokens::Minted) -> Option<String> {
        if let (Some(b), HeaderForm::AsMinted) = (self.baseline.get(), case.header)
            && let calibrate::Change::Header(shape) = b.variant.change
        {
            return Some(calibrate::header_on(shape, minted));
        }
        Some(match case.header {
            HeaderForm::Raw => minted.credential.clone(),
            HeaderForm::AsMinted
                if !self.options.profile.bearer
                    && minted.scheme == crate::tokens::Scheme::Bearer =>
            {
                minted.credential.clone()
            }
            HeaderForm::AsMinted => minted.header_value(),
        })
    }

    fn judge_ctx(&self) -> verdict::Context<'_> {
        verdict::Context {
            event: self.options.profile.event,
            simple: self.options.profile.simple_responses,
            cache_ttl: self.cache_ttl,
            routes: &self.route_arns,
            shared_keys: self.options.profile.shared_keys,
            subject: (self.options.profile.profile != Profile::Static)
                .then_some(self.minter().settings().subject.as_str()),
        }
    }

    fn result(
        &self,
        case: &CaseSpec,
        what: &str,
        reason: Option<String>,
        sent: Sent,
        kind: Option<Kind>,
    ) -> CaseResult {
        let mut findings = Vec::new();
        let mut detail = sent.detail;
        // API Gateway refused the request before the authorizer with a status that is no
        // outcome of it (431, 414, …): the authorizer is not blamed; a good token refused is.
        // A token that must be rejected passes on such a refusal only when it proves the
        // rejection (`refusal_proves`); otherwise nothing was judged, and the case says so
        // instead of passing.
        let unjudged = sent.outcome.is_none()
            && !sent.could_not_ask
            && !case.expect_allow
            && sent.http_status.is_some()
            && !sent.refusal_proves;
        if unjudged {
            detail = format!(
                "not judged: {detail}; API Gateway gives that answer whatever the authorizer does, so nothing is known of how the authorizer treats this token"
            );
        }
        if sent.outcome.is_none()
            && !sent.could_not_ask
            && case.expect_allow
            && let Some(status) = sent.http_status
        {
            findings.push(Finding {
                threat: None,
                severity: Severity::Availability,
                message: format!("a good token got HTTP {status} from API Gateway: {detail}"),
                why: "legitimate callers are refused before the authorizer runs".into(),
                fix:
                    "keep the request line and headers under 10,240 bytes, and the route in the API"
                        .into(),
            });
        }
        if let Some(outcome) = sent.outcome {
            let catalogue_reason = kind.and_then(|k| match self.minter().expect(k) {
                Some(Expect::Reject(r)) => Some(r),
                _ => None,
            });
            findings = verdict::judge(
                case.expect_allow,
                kind,
                catalogue_reason,
                outcome,
                &detail,
                sent.response.as_ref(),
                &self.judge_ctx(),
            );
        }
        let snapshot = match (&self.options.snapshots, &sent.response) {
            (Some(snaps), Some(doc))
                if !self.good_refused.load(std::sync::atomic::Ordering::SeqCst) =>
            {
                Some(snaps.check(&case.name, doc))
            }
            _ => None,
        };
        if let (Some(snaps), Some(status)) = (&self.options.snapshots, &snapshot) {
            findings.extend(snaps.finding(&case.name, status));
        }
        CaseResult {
            reason,
            observed: sent.outcome,
            http_status: sent.http_status,
            detail,
            status: status_of(
                &findings,
                sent.could_not_ask || unjudged,
                self.options.strict,
            ),
            findings,
            response: sent.response,
            snapshot,
            elapsed_ms: sent.elapsed_ms,
            cold: sent.cold,
            ..blank(case, what)
        }
    }

    fn skipped(&self, case: &CaseSpec, what: &str, why: &str) -> CaseResult {
        CaseResult {
            detail: why.to_string(),
            ..blank(case, what)
        }
    }

    async fn token_case(&self, case: &CaseSpec, kind: Kind) -> CaseResult {
        if let Some(b) = self.baseline.get()
            && b.variant.skips.contains(&kind)
        {
            return self.skipped(
                case,
                kind.what(),
                &format!(
                    "not judged: the run sends {} (calibrated), and `{kind}` changes the same thing, so it is not {} in exactly one way relative to what the authorizer accepts",
                    b.variant.sends,
                    if case.expect_allow { "good" } else { "bad" }
                ),
            );
        }
        // `bearer <token>` is a good token only where clients send the Bearer scheme.
        if kind == Kind::BearerLowercase && !self.options.profile.bearer {
            return self.skipped(
                case,
                kind.what(),
                "not judged: the profile says clients send the bare token (bearer = false), so `bearer <token>` is no form a client uses",
            );
        }
        self.harness.refresh_identity().await;
        let what = self.minter().what(kind);
        self.minter().key_ready(kind).await;
        let minted = match self.minter().mint(kind) {
            Ok(m) => m,
            Err(e) => return self.skipped(case, what, &e.to_string()),
        };
        let reason = match self.minter().expect(kind) {
            Some(Expect::Reject(r)) => Some(r.name()),
            _ => None,
        };
        let followed_before = self.harness.idp.attacker_fetches();
        let request = self.request(case, self.header(case, &minted));
        let sent = self.send(request.clone()).await;
        let allowed = case.expect_allow && sent.outcome == Some(Outcome::Allow);
        let mut result = self.result(case, what, reason, sent, Some(kind));
        if allowed {
            let denied = self.other_routes_denied(case, &request).await;
            self.observed_cross_route(&mut result, denied);
        }
        if kind == Kind::ExpString && result.observed == Some(Outcome::Allow) {
            self.string_exp_enforced(case, &mut result).await;
        }
        let followed = self.harness.idp.attacker_fetches() - followed_before;
        if followed > 0 {
            result.findings.push(Finding {
                threat: None,
                severity: Severity::Security,
                message: format!("the authorizer fetched the URL named in the token header ({followed} time(s))"),
                why: "server-side request forgery: a token can make the authorizer call any URL, and trust the keys it finds there".into(),
                fix: verdict::security_fix(crate::tokens::Reason::UntrustedKeyHeader).into(),
            });
            result.status = status_of(&result.findings, false, self.options.strict);
        }
        result
    }

    /// `exp-string` was allowed: whether the string is read as a number (an hour-old string
    /// exp is refused: expiry enforced, a warning) or never checked (allowed too: a hole).
    async fn string_exp_enforced(&self, case: &CaseSpec, result: &mut CaseResult) {
        let Ok(expired) = self.minter().mint_exp_string_expired() else {
            return;
        };
        let again = self
            .send(self.request(case, self.header(case, &expired)))
            .await;
        match again.outcome {
            Some(Outcome::Unauthorized | Outcome::Deny) => {
                result.notes.push(format!(
                    "the same token with exp a string an hour in the past was refused ({}): the string is read as a number and expiry is enforced",
                    again.detail
                ));
                result.findings.retain(|f| f.threat.is_none());
                result.findings.push(Finding {
                    threat: None,
                    severity: Severity::Contract,
                    message: "exp as a string of digits was accepted and read as a number".into(),
                    why: "no hole: a string exp in the past was refused, so expiry is enforced; but exp is a NumericDate (RFC 7519 §2, §4.1.4), and libraries that accept a string here have skipped the check entirely (CVE-2026-25537 class)".into(),
                    fix: "refuse exp, nbf and iat that are not JSON numbers".into(),
                });
                result.status = status_of(&result.findings, false, self.options.strict);
            }
            Some(Outcome::Allow) => result.notes.push(
                "the same token with exp a string an hour in the past was allowed too: a string exp is never checked".into(),
            ),
            _ => result.notes.push(format!(
                "the same token with exp a string an hour in the past got {}",
                again.detail
            )),
        }
    }

    /// Sends the good token as the profile says clients send it; when it is refused, tries
    /// each calibration variant in order. Returns what was found and, when a variant was
    /// allowed, the root-cause case that reports it (the baseline is then set for the run).
    /// `None` when the profile's form is allowed, or the target could not be asked.
    async fn calibrate(&self) -> Option<(calibrate::Calibration, Option<CaseResult>)> {
        let route = self.options.profile.routes.first()?.clone();
        let good = self.harness.minter.good_kind();
        let case = CaseSpec {
            name: "calibration".into(),
            kind: CaseKind::Token(good),
            expect_allow: true,
            header: HeaderForm::AsMinted,
            route,
        };
        // Probes go through a gateway of their own: the run's result cache starts empty, as
        // if calibration had not happened.
        let probes = self.fresh_gateway();
        let probe = |request: ClientRequest| async {
            match &probes {
                Some(gateway) => self.send_via(gateway, request).await,
                None => self.send(request).await,
            }
        };
        let minted = self.harness.minter.mint(good).ok()?;
        let profile_form = self.header(&case, &minted).unwrap_or_default();
        let first = probe(self.request(&case, Some(profile_form.clone()))).await;
        if first.could_not_ask || first.outcome == Some(Outcome::Allow) {
            return None;
        }
        let got = |sent: &Sent| match sent.outcome {
            Some(o) => format!("{o} ({})", sent.detail),
            None => sent.detail.clone(),
        };
        let mut found = calibrate::Calibration {
            baseline: None,
            profile_form: got(&first),
            tried: Vec::new(),
        };
        for variant in calibrate::VARIANTS
            .iter()
            .filter(|v| (v.applies)(&self.options.profile))
        {
            let (minter, header) = match variant.change {
                calibrate::Change::Header(shape) => {
                    let minted = self.harness.minter.mint(good).ok()?;
                    (self.harness.minter.clone(), shape.write(&minted.credential))
                }
                calibrate::Change::Claims(edit) => {
                    if !self.harness.minter.edit_changes_good_token(edit) {
                        continue;
                    }
                    let minter = self.harness.minter.with_edit(edit);
                    let minted = minter.mint(good).ok()?;
                    let header = self.header(&case, &minted).unwrap_or_default();
                    (minter, header)
                }
            };
            let sent = probe(self.request(&case, Some(header))).await;
            let allowed = sent.outcome == Some(Outcome::Allow);
            found.tried.push(calibrate::Tried {
                variant: variant.name,
                sends: variant.sends,
                got: got(&sent),
                allowed,
            });
            if !allowed {
                continue;
            }
            found.baseline = Some(variant.name);
            let _ = self.baseline.set(Baseline { variant, minter });
            let shown = shorten(&profile_form);
            let mut root = CaseResult {
                what: "the good token, in the form the profile says clients send it".into(),
                observed: first.outcome,
                http_status: first.http_status,
                detail: first.detail.clone(),
                elapsed_ms: first.elapsed_ms,
                cold: first.cold,
                notes: vec![format!(
                    "the rest of the run {}, so each bad kind is bad in one way only relative to what the authorizer accepts",
                    variant.run_does()
                )],
                ..blank(&case, "")
            };
            root.kind = "calibration".into();
            root.stateful = true;
            root.findings.push(Finding {
                threat: None,
                severity: (variant.severity)(&self.options.profile),
                message: format!(
                    "the good token as clients send it (`{shown}`) is refused; {} is allowed",
                    variant.sends
                ),
                why: variant.why.into(),
                fix: variant.fix.into(),
            });
            root.status = status_of(&root.findings, false, self.options.strict);
            return Some((found, Some(root)));
        }
        self.good_refused
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // A good token that crashes the authorizer in every form is a crash, reported as one
        // on the cases; "no form was allowed" would only repeat it.
        if first.outcome == Some(Outcome::Error) {
            return None;
        }
        Some((found, None))
    }

    async fn good_request(&self, case: &CaseSpec) -> ClientRequest {
        let minted = self
            .minter()
            .mint(self.minter().good_kind())
            .expect("the good kind applies");
        self.request(case, self.header(case, &minted))
    }

    async fn stateful_case(&self, case: &CaseSpec, which: Stateful) -> CaseResult {
        let what = which.what();
        let jwt_rsa = matches!(
            self.options.profile.profile,
            Profile::Jwks | Profile::Cognito
        );
        if self.harness.minter.is_keyless()
            && let Some(why) = crate::tokens::keyless::stateful_needs_issuer(which.name())
        {
            return self.skipped(
                case,
                what,
                &format!("not testable without the issuer's keys or JWKS endpoint: {why}"),
            );
        }
        self.harness.refresh_identity().await;
        match which {
            Stateful::ValidAgain => {
                let request = self.good_request(case).await;
                let sent = self.send(request.clone()).await;
                let allowed = sent.outcome == Some(Outcome::Allow);
                let good = Some(self.minter().good_kind());
                let mut result = self.result(case, what, None, sent, good);
                if allowed {
                    let denied = self.other_routes_denied(case, &request).await;
                    self.observed_cross_route(&mut result, denied);
                }
                result
            }
            Stateful::MissingHeader => {
                let sent = self.send(self.request(case, None)).await;
                self.result(case, what, Some("missing-token".into()), sent, None)
            }
            Stateful::CachedDeny => self.cached_deny(case).await,
            Stateful::CacheKey => self.cache_key(case).await,
            _ if !jwt_rsa => {
                self.skipped(case, what, "only for JWKS-based profiles (jwks, cognito)")
            }
            Stateful::KeyRotation => self.key_rotation(case).await,
            // A deployed stage or function is sent one request a case: the flood's 50 would
            // be a load test of someone's staging, billed and rate-limited.
            Stateful::UnknownKidFlood if self.options.target.is_deployed() => self.skipped(
                case,
                what,
                &format!("sends {FLOOD} requests: a deployed target gets one request a case"),
            ),
            Stateful::UnknownKidFlood => self.flood(case).await,
            Stateful::JwksUnreachable => self.cold_start(case, Fault::Status { status: 500 }).await,
            Stateful::JwksMalformed => self.cold_start(case, Fault::MalformedJson).await,
            Stateful::JwksSlow => {
                // Slower than both the fetch timeout and the invocation timeout: a correct
                // authorizer gives up on the fetch and rejects.
                let slower = self.harness.timeout().max(self.harness.jwks_timeout());
                let millis = (slower + Duration::from_secs(1)).as_millis() as u64;
                self.cold_start(case, Fault::Delay { millis }).await
            }
        }
    }

    async fn key_rotation(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::KeyRotation.what();
        // Warm up: the authorizer loads and caches the key set as it is.
        let warm = self.send(self.good_request(case).await).await;
        if warm.outcome != Some(Outcome::Allow) {
            let mut r = self.result(case, what, None, warm, None);
            r.notes
                .push("the good token was not allowed before the rotation".into());
            return r;
        }
        // Made at the start with the run's other keys, in parallel.
        let ring = self.harness.minter.keys().clone();
        let Ok(new_key) = tokio::task::spawn_blocking(move || ring.rotation())
            .await
            .expect("task")
        else {
            return self.skipped(case, what, "could not make the rotated-in key");
        };
        let minted = match self.minter().mint_good_with(new_key.clone()) {
            Ok(minted) => minted,
            Err(e) => return self.skipped(case, what, &e.to_string()),
        };
        self.harness.idp.add_key(new_key);
        let started = Instant::now();
        let window = self.options.rotation_window;
        let deployed = self.options.target.is_deployed();
        let mut attempts = 0;
        let sent = loop {
            attempts += 1;
            let sent = self
                .send(self.request(case, self.header(case, &minted)))
                .await;
            if sent.outcome == Some(Outcome::Allow)
                || sent.could_not_ask
                || started.elapsed() >= window
                || (deployed && attempts == DEPLOYED_ROTATION_ATTEMPTS)
            {
                break sent;
            }
            if deployed {
                // Asked right after the key is published (an authorizer that refetches on an
                // unknown kid accepts it then) and once more at the end of the window (one
                // whose refetch waits out a cooldown accepts it by then).
                tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
            } else {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        };
        let waited = started.elapsed().as_secs_f64();
        let window = window.as_secs_f64();
        let refusal_cached = sent.cached;
        let mut r = self.result(case, what, None, sent, None);
        if r.observed == Some(Outcome::Allow) {
            r.notes.push(format!(
                "the new key was accepted {waited:.1} s after it was published ({attempts} attempt(s); window {window:.0} s)"
            ));
        } else {
            r.notes.push(format!(
                "the new key was still refused {waited:.1} s after it was published ({attempts} attempt(s)); nothing is known of later"
            ));
            // Say what was measured: refused for the whole window. An authorizer that never
            // refetches and one whose refetch cooldown or cache lifetime is longer than the
            // window look the same from here.
            for f in r
                .findings
                .iter_mut()
                .filter(|f| f.severity == Severity::Availability)
            {
                f.message = format!(
                    "a token under a newly published key was refused for the whole {window:.0} s window ({})",
                    r.detail
                );
                f.why = "after a key rotation, callers with tokens under the new key are locked out until the authorizer refetches the JWKS: either it never refetches on an unknown kid, or it waits longer than the window (a refetch cooldown or a cache lifetime)".into();
                if refusal_cached {
                    f.why.push_str("; here the refusal was a policy (a Deny or isAuthorized: false), which API Gateway caches, so the retries within the result TTL never reached the authorizer: a refusal during a refetch cooldown locks the token out for the whole TTL");
                }
                f.fix = "on an unknown kid, refetch the JWKS (rate-limited, e.g. at most once per 10 s) before rejecting; if your library waits out a longer cooldown on purpose, set rotation_window_seconds in the profile to what you accept".into();
            }
        }
        r
    }

    /// A gateway of its own, cache empty and clock at zero, in front of the run's target
    /// (`None` for `url:` targets): stateful cache cases see only their own requests.
    fn fresh_gateway(&self) -> Option<Gateway> {
        self.gateway.as_ref()?;
        let config = GatewayConfig {
            clock: Clock::manual(),
            ..self.gateway_config.clone()
        };
        Gateway::new(config, self.harness.target.clone()).ok()
    }

    /// A token every authorizer of the profile must reject.
    fn reject_kind(&self) -> Kind {
        match self.options.profile.profile {
            Profile::Static => Kind::WrongStaticToken,
            // A key-less run cannot sign an expired token; a damaged signature it can make.
            _ if self.harness.minter.is_keyless() => Kind::SigBitFlipped,
            _ => Kind::Expired,
        }
    }

    async fn cached_deny(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::CachedDeny.what();
        let Some(gateway) = self.fresh_gateway() else {
            return self.skipped(
                case,
                what,
                "needs the gateway emulator (every target but url:)",
            );
        };
        if self.cache_ttl == 0 {
            return self.skipped(case, what, "result caching is off (--cache-ttl 0)");
        }
        let kind = self.reject_kind();
        let Ok(minted) = self.minter().mint(kind) else {
            return self.skipped(case, what, "the rejected token cannot be minted");
        };
        let request = self.request(case, self.header(case, &minted));
        let invocations = || gateway.stats().authorizer_invocations;
        let before = invocations();
        let first = self.send_via(&gateway, request.clone()).await;
        let first_outcome = first.outcome;
        let mut seen = Vec::new();
        let mut allowed = Vec::new();
        for route in &self.options.profile.routes {
            let mut r = request.clone();
            r.method = route.method.clone();
            r.path = route.path.clone();
            let sent = self.send_via(&gateway, r).await;
            seen.push(format!(
                "{route} {}",
                sent.http_status.map_or("-".into(), |s| s.to_string())
            ));
            if sent.outcome == Some(Outcome::Allow) && *route != case.route {
                allowed.push(route.to_string());
            }
        }
        let during = invocations() - before;
        // Past the TTL the entry is gone: the same token invokes the authorizer again. This
        // shows the emulator's expiry, nothing of the authorizer's: a deployed one is not
        // asked for it.
        let again = if self.options.target.is_deployed() {
            None
        } else {
            gateway
                .config()
                .clock
                .advance(Duration::from_secs(self.cache_ttl + 1));
            let before_again = invocations();
            self.send_via(&gateway, request.clone()).await;
            Some(invocations() - before_again)
        };
        let reason = match self.minter().expect(kind) {
            Some(Expect::Reject(r)) => Some(r.name()),
            _ => None,
        };
        let mut r = self.result(case, what, reason, first, Some(kind));
        r.notes.push(format!(
            "`{kind}` on every route: {}; {during} authorizer invocation(s) for {} request(s)",
            seen.join(", "),
            seen.len() + 1
        ));
        match first_outcome {
            Some(Outcome::Deny) if during == 1 => r.notes.push(match again {
                Some(again) => format!(
                    "the Deny was cached: every route answered 403 without invoking the authorizer; after the TTL it was invoked {again} time(s)"
                ),
                None => "the Deny was cached: every route answered 403 without invoking the authorizer".into(),
            }),
            Some(Outcome::Unauthorized) => r
                .notes
                .push("401 is not cached: every request invoked the authorizer".into()),
            _ => {}
        }
        if first_outcome == Some(Outcome::Deny) && !allowed.is_empty() {
            r.findings.push(Finding {
                threat: None,
                severity: Severity::Security,
                message: format!(
                    "a token denied on {} was allowed on {} (from the same cached policy)",
                    case.route,
                    allowed.join(", ")
                ),
                why: "the cached policy denies only the invoked method and allows the rest".into(),
                fix: "reject with the error `Unauthorized`, or Deny the whole API (…/STAGE/*/*)"
                    .into(),
            });
            r.status = status_of(&r.findings, false, self.options.strict);
        }
        r
    }

    async fn cache_key(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::CacheKey.what();
        let Some(gateway) = self.fresh_gateway() else {
            return self.skipped(
                case,
                what,
                "needs the gateway emulator (every target but url:)",
            );
        };
        // The fresh cache holds only the good token's entry: a hit for the second token can
        // only be the good token's policy.
        let good = self.send_via(&gateway, self.good_request(case).await).await;
        let good_cached = good.outcome == Some(Outcome::Allow) && self.cache_ttl > 0;
        let kind = self.reject_kind();
        let Ok(minted) = self.minter().mint(kind) else {
            return self.skipped(case, what, "the rejected token cannot be minted");
        };
        let before = gateway.stats().authorizer_invocations;
        let sent = self
            .send_via(&gateway, self.request(case, self.header(case, &minted)))
            .await;
        let shared = sent.cached;
        let invoked = gateway.stats().authorizer_invocations - before;
        let reason = match self.minter().expect(kind) {
            Some(Expect::Reject(r)) => Some(r.name()),
            _ => None,
        };
        let mut r = self.result(case, what, reason, sent, Some(kind));
        r.notes.push(if good_cached {
            format!("with the good token's policy cached, `{kind}` invoked the authorizer {invoked} time(s)")
        } else {
            "the good token was not allowed, so nothing was cached before the second token".into()
        });
        if shared {
            r.findings.push(Finding {
                threat: None,
                severity: Severity::Security,
                message: format!("`{kind}` was answered from another token's cached policy"),
                why: "anyone gets in with any token while a good one is cached".into(),
                fix: "make the credential itself an identity source (method.request.header.Authorization)".into(),
            });
            r.status = status_of(&r.findings, false, self.options.strict);
        }
        r
    }

    async fn flood(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::UnknownKidFlood.what();
        let before = self.harness.idp.jwks_fetches();
        let mut worst: Option<Sent> = None;
        for _ in 0..FLOOD {
            let minted = self
                .minter()
                .mint(Kind::KidUnknown)
                .expect("kid-unknown applies");
            let sent = self
                .send(self.request(case, self.header(case, &minted)))
                .await;
            let bad = sent.outcome != Some(Outcome::Unauthorized);
            if worst.is_none()
                || (bad
                    && worst
                        .as_ref()
                        .is_some_and(|w| w.outcome == Some(Outcome::Unauthorized)))
            {
                worst = Some(sent);
            }
        }
        let fetches = self.harness.idp.jwks_fetches() - before;
        let mut r = self.result(
            case,
            what,
            Some("kid-unknown".into()),
            worst.expect("the flood sent"),
            Some(Kind::KidUnknown),
        );
        r.notes.push(format!(
            "{FLOOD} unknown kids caused {fetches} JWKS fetch(es)"
        ));
        if fetches > FLOOD_FETCH_BOUND {
            r.findings.push(Finding {
                threat: None,
                severity: Severity::Availability,
                message: format!("{FLOOD} unknown kids caused {fetches} JWKS fetches (bound: {FLOOD_FETCH_BOUND})"),
                why: "anyone can make the authorizer hammer the IdP, get it throttled, and lock everyone out".into(),
                fix: "refetch the JWKS on an unknown kid at most once per interval (e.g. 10 s); reject meanwhile".into(),
            });
            r.status = status_of(&r.findings, false, self.options.strict);
        }
        r
    }

    async fn cold_start(&self, case: &CaseSpec, fault: Fault) -> CaseResult {
        let what = match fault {
            Fault::Status { .. } => Stateful::JwksUnreachable.what(),
            Fault::MalformedJson => Stateful::JwksMalformed.what(),
            _ => Stateful::JwksSlow.what(),
        };
        self.harness.idp.set_fault(Some(fault));
        let fresh = self.harness.fresh_target().await;
        let result = match fresh {
            None => self.skipped(
                case,
                what,
                "needs a cold start the harness controls (builtin: or lambda: targets)",
            ),
            Some(Err(e)) => {
                let sent = Sent {
                    outcome: Some(Outcome::Error),
                    http_status: self.gateway.as_ref().map(|_| 500),
                    cached: false,
                    detail: format!("the authorizer could not start while the JWKS was down: {e}"),
                    response: None,
                    elapsed_ms: 0.0,
                    cold: true,
                    could_not_ask: false,
                    refusal_proves: false,
                };
                self.result(case, what, Some("keys-unavailable".into()), sent, None)
            }
            Some(Ok(target)) => {
                let request = self.good_request(case).await;
                // A fresh target behind a fresh gateway: nothing cached anywhere.
                let sent = match Gateway::new(self.gateway_config.clone(), target.clone()) {
                    Ok(gateway) => self.send_via(&gateway, request).await,
                    Err(_) => self.send_to(target.as_ref(), request).await,
                };
                target.shutdown().await;
                self.result(case, what, Some("keys-unavailable".into()), sent, None)
            }
        };
        self.harness.idp.set_fault(None);
        let mut result = result;
        if let Some(f) = result
            .findings
            .iter_mut()
            .find(|f| f.severity == Severity::Security)
        {
            f.fix = verdict::security_fix(crate::tokens::Reason::KeysUnavailable).into();
        }
        result
    }
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
    for case in cases.iter_mut() {
        if case.expected == "reject" && matches!(case.status, Status::Passed | Status::Warned) {
            case.status = Status::Inconclusive;
            case.detail = format!(
                "inconclusive: no form of the good token was allowed, so this rejection proves nothing ({})",
                case.detail
            );
        }
    }
}

/// A client's request as it reaches the gateway.
fn gateway_request(request: &ClientRequest) -> GatewayRequest {
    let mut r = GatewayRequest::new(&request.method, &request.path);
    if let Some(a) = &request.authorization {
        r = r.header("Authorization", a);
    }
    for (k, v) in &request.headers {
        r = r.header(k, v);
    }
    for (k, v) in &request.query {
        r = r.query(k, v);
    }
    r
}

/// A result naming `case`, skipped until filled in.
fn blank(case: &CaseSpec, what: &str) -> CaseResult {
    CaseResult {
        name: case.name.clone(),
        kind: match case.kind {
            CaseKind::Token(k) => k.name().to_string(),
            CaseKind::Stateful(s) => s.name().to_string(),
        },
        stateful: matches!(case.kind, CaseKind::Stateful(_)),
        what: what.to_string(),
        route: case.route.to_string(),
        expected: if case.expect_allow { "allow" } else { "reject" }.to_string(),
        reason: None,
        observed: None,
        http_status: None,
        detail: String::new(),
        status: Status::Skipped,
        findings: Vec::new(),
        response: None,
        snapshot: None,
        elapsed_ms: 0.0,
        cold: false,
        notes: Vec::new(),
        causes: Vec::new(),
    }
}

fn status_of(findings: &[Finding], could_not_ask: bool, strict: bool) -> Status {
    if could_not_ask {
        Status::Errored
    } else if findings.iter().any(|f| f.severity.fails(strict)) {
        Status::Failed
    } else if findings.is_empty() {
        Status::Passed
    } else {
        Status::Warned
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
                attacker_fetches: 0,
                snapshot_dir: options.snapshots.as_ref().map(|s| s.dir().display().to_string()),
                interrupted: Some(signal),
                calibration: None,
                deployed: None,
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
    });
    let target_name = harness.target.describe();
    let total = p.cases.len();
    on_event(Event::Started {
        profile: p.profile,
        target: &target_name,
        total,
    });
    let mut cases = Vec::with_capacity(total + 1);
    let mut catalogue = Duration::ZERO;
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
            let task = tokio::spawn(async move { runner.token_case(&case, kind).await });
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
            let t = Instant::now();
            let running = async {
                match case.kind {
                    CaseKind::Token(kind) => {
                        let r = runner.token_case(case, kind).await;
                        catalogue += t.elapsed();
                        r
                    }
                    CaseKind::Stateful(which) => runner.stateful_case(case, which).await,
                }
            };
            let result = tokio::select! {
                result = running => result,
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
    mark_inconclusive(
        &mut cases,
        runner
            .good_refused
            .load(std::sync::atomic::Ordering::SeqCst),
    );
    let target_stats = harness.target.stats();
    harness.target.shutdown().await;
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
    })
}

/// A header value short enough to quote: the first and last characters of a long token.
fn shorten(header: &str) -> String {
    let chars: Vec<char> = header.chars().collect();
    if chars.len() <= 40 {
        return header.to_string();
    }
    let head: String = chars[..24].iter().collect();
    let tail: String = chars[chars.len() - 8..].iter().collect();
    format!("{head}…{tail}")
}

/// What a case sends or checks, in words.
fn case_what(case: &CaseSpec) -> String {
    match case.kind {
        CaseKind::Token(k) => k.what().to_string(),
        CaseKind::Stateful(s) => s.what().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(timestamps(0).1, "1970-01-01T00:00:00Z");
        assert_eq!(timestamps(1_795_705_200).0, "20261126T150000Z");
        assert_eq!(timestamps(951_782_400).1, "2000-02-29T00:00:00Z");
    }
}
