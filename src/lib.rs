//! authprobe: a conformance, regression and load harness for AWS API Gateway Lambda
//! authorizers.
//!
//! The pipeline, one module a stage: [`keys`] → [`tokens`] → [`idp`] → [`authorizer`]
//! (reference authorizers), [`event`] and [`policy`] (what API Gateway sends and accepts) →
//! [`target`] (how a call reaches the authorizer under test) → [`gateway`] (API Gateway's
//! rules in front of a target) → [`harness`] (a run set up) → [`conform`] (cases, verdicts, snapshots) → [`report`]. The binary is a thin shell around
//! [`run`].
#![warn(missing_docs)]

pub mod authorizer;
pub mod bounded;
pub mod children;
pub mod cli;
mod commands;
pub mod conform;
pub mod diagnostics;
pub mod duration;
pub mod event;
pub mod gateway;
pub mod harness;
pub mod idp;
pub mod keys;
pub mod load;
pub mod net;
pub mod policy;
pub mod report;
pub mod stop;
pub mod target;
pub mod tokens;

use std::io::Write;

pub use cli::Cli;

/// Exit code: everything passed.
pub const EXIT_OK: u8 = 0;
/// Exit code: the authorizer failed cases (or load thresholds were breached).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage or a bad input file.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: could not run (target or IdP unreachable, child died at start).
pub const EXIT_COULD_NOT_RUN: u8 = 3;

/// Everything that can stop a command before it has an answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Key files.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// A token that cannot be minted as asked.
    #[error(transparent)]
    Mint(#[from] tokens::MintError),
    /// A kind name not in the catalogue.
    #[error("`{name}` is not a token kind")]
    UnknownKind {
        /// What was asked for.
        name: String,
        /// Close names.
        suggestions: Vec<&'static str>,
    },
    /// The mock IdP.
    #[error(transparent)]
    Idp(#[from] idp::IdpError),
    /// A listen address refused by the loopback rule.
    #[error(transparent)]
    Listen(#[from] net::ListenError),
    /// Arguments that parse but do not make sense together.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// A profile file.
    #[error(transparent)]
    Profile(#[from] conform::profile::ProfileError),
    /// Writing reports.
    #[error("cannot write reports to {path}")]
    Report {
        /// Where.
        path: std::path::PathBuf,
        /// The option that named it (`--report-dir`, `--json`, `--junit`).
        flag: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The policy snapshot folder cannot be used.
    #[error(transparent)]
    Snapshot(#[from] conform::snapshot::SnapshotError),
    /// A snapshot file that `authprobe snapshots` cannot read or change.
    #[error(transparent)]
    SnapshotFiles(#[from] conform::snapshot::store::StoreError),
    /// Setting up a run (keys, IdP, target).
    #[error(transparent)]
    Harness(#[from] harness::HarnessError),
    /// A load run that could not run.
    #[error(transparent)]
    Load(load::LoadError),
    /// Writing to stdout failed.
    #[error("cannot write output")]
    Output(#[from] std::io::Error),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Load(_) => EXIT_COULD_NOT_RUN,
            Error::Idp(idp::IdpError::Listen(_)) => EXIT_USAGE,
            Error::Idp(_)
            | Error::Output(_)
            | Error::Report { .. }
            | Error::Snapshot(_)
            | Error::SnapshotFiles(_) => EXIT_COULD_NOT_RUN,
            Error::Keys(keys::KeyError::Generate { .. }) => EXIT_COULD_NOT_RUN,
            Error::Harness(
                harness::HarnessError::Target { .. }
                | harness::HarnessError::Idp(_)
                | harness::HarnessError::Identity(_),
            ) => EXIT_COULD_NOT_RUN,
            Error::Harness(harness::HarnessError::Keys(keys::KeyError::Generate { .. })) => {
                EXIT_COULD_NOT_RUN
            }
            _ => EXIT_USAGE,
        }
    }

    /// How to fix it, in one line.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Keys(e) => e.hint(),
            Error::Mint(e) => Some(e.hint()),
            Error::UnknownKind { suggestions, .. } => Some(match suggestions.first() {
                Some(best) => format!("did you mean `{best}`? The kinds are listed below"),
                None => "the kinds are listed below".to_string(),
            }),
            Error::Usage { hint, .. } => Some(hint.clone()),
            Error::Listen(_) | Error::Idp(idp::IdpError::Listen(_)) => {
                Some("use 127.0.0.1 (or ::1), or pass --expose on purpose".into())
            }
            Error::Idp(_) => Some("pick another --addr, or port 0 for a free one".into()),
            Error::Harness(e) => e.hint(),
            Error::Profile(_) => {
                Some("fix the profile file; `authprobe profile show jwks` prints a commented example".into())
            }
            Error::Report { flag, .. } => Some(format!("pass a writable path with {flag}")),
            Error::Snapshot(_) => Some(
                "pass a writable folder with --snapshots DIR, or turn snapshots off with --no-snapshots"
                    .into(),
            ),
            Error::SnapshotFiles(_) => Some(
                "fix or delete the file named; `authprobe snapshots list` shows the folders".into(),
            ),
            Error::Load(_) | Error::Output(_) => None,
        }
    }

    /// The message with its sources, `: `-joined, on one line.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            source = s.source();
        }
        out
    }
}

impl From<load::LoadError> for Error {
    fn from(e: load::LoadError) -> Self {
        match e {
            // Keys, IdP, target: reported as for every other command.
            load::LoadError::Harness(h) => Error::Harness(h),
            other => Error::Load(other),
        }
    }
}

/// Runs a parsed command line, writing its payload to `out` (progress goes to stderr).
/// Returns the exit code.
pub async fn run(cli: Cli, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    commands::dispatch(cli, out).await
}
