//! Policy snapshots: each case's policy document, dynamic values redacted, kept as
//! `<dir>/<case>.snap`. A changed document is a regression with a diff; `--update-snapshots`
//! or `authprobe snapshots review` accepts it. The files are in insta's format (a YAML header
//! between `---` lines, then the JSON), so `cargo insta review` reads them too, but authprobe
//! writes and reads them itself: nothing of the user's own insta settings (`INSTA_*`, meant for
//! their Rust tests) steers it, and a file's header names the profile and case it holds.
//!
//! What a run may write ([`UpdateMode`]): locally new snapshots are written and a changed one
//! waits in `<case>.snap.new`; in CI nothing is written and no folder is made, and a snapshot
//! never accepted fails the run; `--update-snapshots` accepts every change.
//! `AUTHPROBE_UPDATE_SNAPSHOTS` and `AUTHPROBE_FORCE_PASS` set the same from the environment.
//!
//! The default folder is keyed by what the handler is and which profile judged it, never by
//! a machine path or an interpreter's spelling ([`key`]).

pub mod file;
pub mod key;
pub mod store;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::conform::verdict::{Finding, Severity};

pub use key::{SNAPSHOT_ROOT, default_dir};

/// Keys whose values change from run to run; redacted wherever they appear.
pub const DYNAMIC_KEYS: &[&str] = &[
    "iat",
    "exp",
    "nbf",
    "jti",
    "auth_time",
    "requestId",
    "request_id",
    "timestamp",
];

/// What happened to one case's snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum SnapshotStatus {
    /// First run: written.
    New,
    /// Same as the accepted one.
    Matched,
    /// Different from the accepted one (the new version waits in `.snap.new`, except in CI).
    Changed {
        /// Unified diff, accepted → now.
        diff: String,
    },
    /// Different, and accepted because of `--update-snapshots`.
    Updated,
    /// No accepted snapshot, and none written (in CI, or `AUTHPROBE_UPDATE_SNAPSHOTS=no`):
    /// the document was compared with nothing.
    Missing,
    /// The snapshot could not be read or written: nothing was compared.
    Error {
        /// The file, and why it could not be read or written.
        message: String,
    },
}

/// A snapshot folder that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the snapshot folder {dir}")]
pub struct SnapshotError {
    /// The folder.
    pub dir: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// True in CI: `CI` set to anything but empty, `0` or `false`, or `TF_BUILD` set.
pub fn ci_from_env() -> bool {
    match std::env::var("CI").ok().as_deref() {
        Some("" | "0" | "false") => false,
        Some(_) => true,
        None => std::env::var_os("TF_BUILD").is_some(),
    }
}

/// The variable that sets [`UpdateMode`] from the environment.
pub const UPDATE_VAR: &str = "AUTHPROBE_UPDATE_SNAPSHOTS";

/// The variable that makes changed and missing snapshots report without failing the run.
pub const FORCE_PASS_VAR: &str = "AUTHPROBE_FORCE_PASS";

/// What a run may write to its snapshot folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateMode {
    /// Write new snapshots and accept changed ones (`--update-snapshots`, `always`).
    Always,
    /// Write new snapshots; a changed one waits in `.snap.new` (the default outside CI,
    /// `unseen`).
    Unseen,
    /// Write nothing (the default in CI, `no`).
    No,
}

impl UpdateMode {
    /// `AUTHPROBE_UPDATE_SNAPSHOTS`, if set and not empty.
    pub fn from_env() -> Result<Option<UpdateMode>, String> {
        let Some(value) = std::env::var(UPDATE_VAR).ok().filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match value.to_ascii_lowercase().as_str() {
            "always" | "1" | "true" | "yes" => Ok(Some(UpdateMode::Always)),
            "unseen" | "auto" => Ok(Some(UpdateMode::Unseen)),
            "no" | "0" | "false" => Ok(Some(UpdateMode::No)),
            _ => Err(format!(
                "{UPDATE_VAR}={value} is not a snapshot mode: use always, unseen or no"
            )),
        }
    }

    /// The mode of a run: `--update-snapshots`, else the variable, else `no` in CI and
    /// `unseen` outside. `--update-snapshots` with the variable set to anything but `always`
    /// is a contradiction, refused.
    pub fn resolve(update: bool, ci: bool) -> Result<UpdateMode, String> {
        match (update, UpdateMode::from_env()?) {
            (true, None | Some(UpdateMode::Always)) => Ok(UpdateMode::Always),
            (true, Some(_)) => Err(format!(
                "--update-snapshots asks to accept changed snapshots, but {UPDATE_VAR}={} in the environment says not to",
                std::env::var(UPDATE_VAR).unwrap_or_default()
            )),
            (false, Some(mode)) => Ok(mode),
            (false, None) if ci => Ok(UpdateMode::No),
            (false, None) => Ok(UpdateMode::Unseen),
        }
    }
}

/// True when `AUTHPROBE_FORCE_PASS=1`: changed and missing snapshots are reported and counted
/// but do not fail the run.
pub fn force_pass() -> bool {
    std::env::var(FORCE_PASS_VAR).is_ok_and(|v| v == "1")
}

/// Checks a snapshot name (`--name`, a profile's `name`): one or more `/`-separated segments
/// of letters, digits, `.`, `_` and `-`, none empty or starting with `.`, so it stays a folder
/// under `scenarios/snapshots/`.
pub fn check_name(name: &str) -> Result<(), String> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if name.len() <= 100 && name.split('/').all(segment_ok) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a snapshot name: use letters, digits, `.`, `_` and `-`, optionally in `/`-separated parts (e.g. `jwks/my-authorizer`), at most 100 characters"
        ))
    }
}

/// The snapshots of one profile and target.
#[derive(Clone, Debug)]
pub struct Snapshots {
    dir: PathBuf,
    mode: UpdateMode,
    /// The profile that judged (`builtin:jwks` or a file's path), for the files' headers.
    profile: String,
    /// Cases whose snapshot this run wrote first: a case that sends twice (`header-case`)
    /// matches its own new snapshot the second time, and is still new.
    written: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if DYNAMIC_KEYS.contains(&k.as_str()) {
                    *v = Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// How long a diff of two documents may take; past it, the diff is coarser, never slower.
const DIFF_BUDGET: std::time::Duration = std::time::Duration::from_millis(500);

/// A unified diff, accepted → now.
pub fn unified_diff(old: &str, new: &str) -> String {
    // Bodies are kept without their last newline; compared with one, so that the diff does
    // not end in "No newline at end of file".
    let line_ended = |s: &str| {
        if s.is_empty() || s.ends_with('\n') {
            s.to_string()
        } else {
            format!("{s}\n")
        }
    };
    let (old, new) = (line_ended(old), line_ended(new));
    similar::TextDiff::configure()
        .timeout(DIFF_BUDGET)
        .diff_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header("accepted", "now")
        .to_string()
}

impl Snapshots {
    /// Snapshots of `profile` kept in `dir`; a relative `dir` is taken from the current
    /// directory.
    pub fn new(dir: impl Into<PathBuf>, mode: UpdateMode, profile: &str) -> Self {
        let dir = dir.into();
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir().map_or(dir.clone(), |cwd| cwd.join(dir))
        };
        Snapshots {
            dir,
            mode,
            profile: profile.to_string(),
            written: Default::default(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the run may write.
    pub fn mode(&self) -> UpdateMode {
        self.mode
    }

    /// Makes the folder and proves it writable, before any case runs: a run whose snapshots
    /// cannot be kept must say so at once, not after every case. A run that writes nothing
    /// (CI) makes no folder, but one it cannot read from (a file where the folder or one of
    /// its parents should be, no permission) stops it just the same.
    pub fn prepare(&self) -> Result<(), SnapshotError> {
        let error = |source| SnapshotError {
            dir: self.dir.clone(),
            source,
        };
        if self.mode == UpdateMode::No {
            return self.readable().map_err(error);
        }
        std::fs::create_dir_all(&self.dir).map_err(error)?;
        let probe = self
            .dir
            .join(format!(".authprobe-write-test-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(error)?;
        std::fs::remove_file(&probe).map_err(error)
    }

    /// The folder, or its nearest existing parent when it does not exist yet, is a folder that
    /// can be listed.
    fn readable(&self) -> std::io::Result<()> {
        let mut path = self.dir.as_path();
        loop {
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_dir() => return std::fs::read_dir(path).map(drop),
                Ok(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotADirectory,
                        format!("{} is a file, not a folder", path.display()),
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => path = parent,
                    _ => return Ok(()),
                },
                Err(e) => return Err(e),
            }
        }
    }

    /// Compares (or writes) the snapshot of `case`.
    pub fn check(&self, case: &str, document: &Value) -> SnapshotStatus {
        let mut doc = document.clone();
        redact(&mut doc);
        let accepted_path = self.dir.join(format!("{case}.snap"));
        let pending_path = file::pending(&accepted_path);
        let failed = |what: &str, path: &Path, why: &dyn std::fmt::Display| SnapshotStatus::Error {
            message: format!("cannot {what} {}: {why}", path.display()),
        };
        let accepted = match file::read(&accepted_path) {
            Ok(accepted) => accepted,
            Err(e) => return failed("read", &accepted_path, &e),
        };
        let writes = self.mode != UpdateMode::No;
        let now = file::render(&self.profile, case, &doc);
        let write = |path: &Path| file::write(path, &now).map_err(|e| failed("write", path, &e));
        let drop_pending = || match std::fs::remove_file(&pending_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(failed("remove", &pending_path, &e))
            }
            _ => Ok(()),
        };
        let outcome = match accepted {
            None if !writes => Ok(SnapshotStatus::Missing),
            None => write(&accepted_path)
                .and_then(|()| drop_pending())
                .map(|()| SnapshotStatus::New),
            Some(old) if old.document().as_ref() == Some(&doc) => {
                let cleared = if writes { drop_pending() } else { Ok(()) };
                cleared.map(|()| SnapshotStatus::Matched)
            }
            Some(old) => match self.mode {
                UpdateMode::Always => write(&accepted_path)
                    .and_then(|()| drop_pending())
                    .map(|()| SnapshotStatus::Updated),
                UpdateMode::Unseen => write(&pending_path).map(|()| SnapshotStatus::Changed {
                    diff: unified_diff(&old.body, file::body_of(&now)),
                }),
                UpdateMode::No => Ok(SnapshotStatus::Changed {
                    diff: unified_diff(&old.body, file::body_of(&now)),
                }),
            },
        };
        let mut written = self.written.lock().expect("lock");
        match outcome.unwrap_or_else(|error| error) {
            SnapshotStatus::New => {
                written.insert(case.to_string());
                SnapshotStatus::New
            }
            SnapshotStatus::Matched if written.contains(case) => SnapshotStatus::New,
            status => status,
        }
    }

    /// The finding a snapshot status makes: a regression for a changed document, and for a
    /// missing snapshot (a run in CI must compare with an accepted one). Every missing
    /// snapshot of a run makes the same finding, so they are one cause listing the cases.
    /// None with `AUTHPROBE_FORCE_PASS=1`, which reports and counts them without failing.
    pub fn finding(&self, status: &SnapshotStatus) -> Option<Finding> {
        if force_pass() {
            return None;
        }
        match status {
            SnapshotStatus::Changed { .. } => Some(Finding {
                threat: None,
                severity: Severity::Regression,
                message: "the policy document differs from the accepted snapshot".into(),
                why: "what callers may do changed; if that was not intended, it is a regression"
                    .into(),
                fix: "review the diff; accept it with `authprobe snapshots review` or --update-snapshots"
                    .into(),
            }),
            SnapshotStatus::Missing => Some(Finding {
                threat: None,
                severity: Severity::Regression,
                message: "no accepted snapshot of the policy document".into(),
                why: "in CI a policy is compared with the one accepted before, never written anew: a snapshot only written here would be lost and catch nothing".into(),
                fix: format!(
                    "run once outside CI, check the policies it prints, and commit {}/",
                    self.shown().display()
                ),
            }),
            _ => None,
        }
    }

    /// The folder as the user reads it: relative to the current directory when inside it.
    pub fn shown(&self) -> PathBuf {
        std::env::current_dir()
            .ok()
            .and_then(|cwd| self.dir.strip_prefix(cwd).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| self.dir.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_values_are_redacted_at_any_depth() {
        let mut v = serde_json::json!({"context": {"iat": 1, "sub": "u", "inner": [{"jti": "x"}]}});
        redact(&mut v);
        assert_eq!(v["context"]["iat"], "[redacted]");
        assert_eq!(v["context"]["inner"][0]["jti"], "[redacted]");
        assert_eq!(v["context"]["sub"], "u");
    }

    #[test]
    fn snapshot_names_stay_folders_under_the_snapshot_root() {
        for ok in ["my-api", "team/api_v2", "a.b"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "/abs", "../up", "a//b", ".hidden", "a b", "a\\b", "x/..",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
