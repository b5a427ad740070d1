//! The conformance runner: sends every case of a profile to the authorizer under test, judges
//! each answer, checks its policy document against the snapshot, and emits events that the
//! reporters turn into terminal output, JUnit, JSON and Markdown.

pub mod calibrate;
mod cases;
pub mod cause;
mod dispatch;
mod evidence;
mod guess;
pub mod keysource;
pub mod matrix;
pub mod profile;
mod runner;
pub mod snapshot;
mod stateful;
pub mod verdict;

pub use dispatch::{RUN_ALONE, default_jobs, run};

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
/// How often an environment that started without its keys is asked again once they are back.
pub const RECOVERY_POLL: Duration = Duration::from_millis(10);
/// The query parameters the token-in-query case puts the token in: RFC 6750's own name, and
/// the ones authorizers are seen reading.
pub const QUERY_TOKEN_NAMES: &[&str] = &["access_token", "token", "accessToken", "id_token", "jwt"];
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
    /// Where an authorization-matrix principal's token comes from, when it is not minted
    /// (`--principal-token-file`, `--principal-token-cmd`): by principal name.
    pub principal_tokens: Vec<(String, crate::tokens::source::TokenSource)>,
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
            principal_tokens: Vec::new(),
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
    /// The case's whole run, wall time: every request it sent and every wait (key-rotation's
    /// window, a cold start).
    pub wall_ms: f64,
    /// Whether the answer came from a fresh execution environment.
    pub cold: bool,
    /// Extra facts (JWKS fetch counts, attempts).
    pub notes: Vec<String>,
    /// Ids of the causes ([`RunReport::causes`]) this case shows.
    pub causes: Vec<String>,
    /// What the handler printed while it answered (the last call, for cases that send
    /// several), the case's token and the run's secrets redacted.
    #[serde(skip_serializing_if = "target::output::Output::is_empty")]
    pub output: target::output::Output,
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
    /// How the authorizer gets its keys, as the IdP saw it (JWKS profiles with the run's own
    /// keys and a `builtin:` or `lambda:` target, which the run starts; `None` otherwise).
    pub key_source: Option<keysource::KeySource>,
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
    /// The authorization matrix, when the profile has one and it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix: Option<matrix::MatrixReport>,
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
        calibrate::MAX_PROBES as u64
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
                // The good token under two header names.
                CaseKind::Stateful(Stateful::HeaderCase) => 2,
                // The good token in the query string.
                CaseKind::Stateful(Stateful::TokenInQuery) => 1,
                // Skipped for a deployed target: retiring a key is the run's own IdP's, and
                // the secret search sends hundreds of tokens.
                CaseKind::Stateful(Stateful::KeyRetired | Stateful::WeakSecret) => 0,
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
    /// A case that runs alone (a stateful one, which may wait) has started.
    CaseStarted {
        /// 1-based.
        index: usize,
        /// Cases in all.
        total: usize,
        /// Its name.
        name: &'a str,
        /// What it does, and how long it may wait.
        doing: String,
        /// The longest it waits, if it waits (the live line counts it down).
        wait: Option<std::time::Duration>,
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
