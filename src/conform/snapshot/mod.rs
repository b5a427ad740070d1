//! Policy snapshots with insta: each case's policy document, dynamic values redacted, kept as
//! `<dir>/<case>.snap`. A changed document is a regression with a diff; `--update-snapshots`
//! accepts it. The files are insta's own, so `cargo insta review` reads them when they sit in
//! a cargo workspace.
//!
//! insta takes its update behaviour from the environment: unless the user set `INSTA_UPDATE`,
//! the binary sets it to `unseen` (write new snapshots, keep a `.snap.new` beside a changed
//! one), in CI to `no` (a snapshot not yet accepted fails: it must be committed), or, with
//! `--update-snapshots`, to `always`, before any thread starts. See [`configure_env`].
//!
//! The default folder is keyed by what the user controls (`--name`, the profile's `name`, or
//! the profile, the handler and the `--workdir` relative to the current directory), never by
//! a machine path, so the same run finds the same snapshots on every machine. See
//! [`default_dir`].

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;

use serde::Serialize;
use serde_json::Value;

use crate::conform::verdict::{Finding, Severity};

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
    /// Different from the accepted one (the new version waits in `.snap.new`).
    Changed {
        /// Unified diff, accepted → now.
        diff: String,
    },
    /// Different, and accepted because of `--update-snapshots`.
    Updated,
    /// No accepted snapshot, and none written (in CI, or `INSTA_UPDATE=no`): the document was
    /// compared with nothing.
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

/// True in CI: `CI` set to anything but empty, `0` or `false`, or `TF_BUILD` set (insta's rule,
/// so authprobe and insta agree on it).
pub fn ci_from_env() -> bool {
    match std::env::var("CI").ok().as_deref() {
        Some("" | "0" | "false") => false,
        Some(_) => true,
        None => std::env::var_os("TF_BUILD").is_some(),
    }
}

/// `INSTA_UPDATE` as the user set it (empty counts as unset, as insta counts it).
pub fn user_update_setting() -> Option<String> {
    std::env::var("INSTA_UPDATE").ok().filter(|v| !v.is_empty())
}

/// Sets insta's environment for a conform run: `INSTA_UPDATE` (only when the user has not set
/// it: `always` with `--update-snapshots`, `no` in CI, `unseen` otherwise), `INSTA_OUTPUT`
/// (authprobe prints the diffs itself) and the workspace root. `INSTA_FORCE_PASS` is the
/// user's and is left alone. Call it before any thread starts (the binary does, in `main`):
/// insta reads it once per process.
///
/// # Safety
/// Changes the process environment; no other thread may read or write it at the same time.
pub unsafe fn configure_env(update: bool, ci: bool) {
    // SAFETY: the caller guarantees no other thread touches the environment.
    unsafe {
        if user_update_setting().is_none() {
            let mode = match (update, ci) {
                (true, _) => "always",
                (false, true) => "no",
                (false, false) => "unseen",
            };
            std::env::set_var("INSTA_UPDATE", mode);
        }
        std::env::set_var("INSTA_OUTPUT", "none");
        if std::env::var_os("INSTA_WORKSPACE_ROOT").is_none()
            && let Ok(cwd) = std::env::current_dir()
        {
            std::env::set_var("INSTA_WORKSPACE_ROOT", cwd);
        }
    }
}

/// True when the user set `INSTA_FORCE_PASS=1`: changed and missing snapshots are reported
/// and counted but do not fail the run, as insta's assertions then do not fail a test.
pub fn force_pass() -> bool {
    std::env::var("INSTA_FORCE_PASS").is_ok_and(|v| v == "1")
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

/// The parent folder of every default snapshot folder, relative to the current directory.
pub const SNAPSHOT_ROOT: &str = "scenarios/snapshots";

/// The default snapshot folder of a run, relative to the current directory `cwd`:
/// `scenarios/snapshots/NAME` when the run is named (`--name`, or `name` in the profile), else
/// `scenarios/snapshots/PROFILE/TARGET[-in-WORKDIR]`, where TARGET is the target with its
/// interpreter reduced to a file name (`/tmp/x/venv/bin/python -m awslambdaric app.handler`
/// becomes `lambda-python-m-awslambdaric-app.handler`) and absolute paths made relative to
/// `cwd` (or reduced to their file name when outside it), and WORKDIR is `--workdir` the same
/// way. No absolute or temporary path reaches the folder name, so the same run finds the same
/// snapshots from any checkout and any virtualenv.
pub fn default_dir(
    name: Option<&str>,
    profile: crate::tokens::Profile,
    target: &crate::target::TargetSpec,
    workdir: Option<&Path>,
    cwd: &Path,
) -> PathBuf {
    let root = Path::new(SNAPSHOT_ROOT);
    if let Some(name) = name {
        return root.join(name);
    }
    let target = match target {
        crate::target::TargetSpec::Lambda(words) => {
            let mut key = Vec::with_capacity(words.len());
            if let Some(program) = words.first() {
                let program = Path::new(program);
                key.push(program.file_name().map_or_else(
                    || program.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ));
            }
            key.extend(words.iter().skip(1).map(|w| portable(Path::new(w), cwd)));
            format!("lambda:{}", key.join(" "))
        }
        other => other.to_string(),
    };
    let mut leaf = target_slug(&target);
    if let Some(dir) = workdir.map(|w| portable(w, cwd))
        && !dir.is_empty()
    {
        leaf = format!("{leaf}-in-{}", target_slug(&dir));
    }
    root.join(profile.name()).join(leaf)
}

/// `path` as it reads the same on every machine: relative paths as written (without `./`),
/// absolute ones relative to `cwd` when inside it, else their file name.
fn portable(path: &Path, cwd: &Path) -> String {
    let relative = if path.is_absolute() {
        match path.strip_prefix(cwd) {
            Ok(rest) => rest.to_path_buf(),
            Err(_) => {
                return path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            }
        }
    } else {
        path.to_path_buf()
    };
    relative
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect::<PathBuf>()
        .display()
        .to_string()
}

/// The snapshots of one profile and target.
#[derive(Clone, Debug)]
pub struct Snapshots {
    dir: PathBuf,
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

/// The largest snapshot file read: a policy document is a few kilobytes, and a file far
/// larger than any would make the diff run for minutes.
pub const MAX_SNAPSHOT: u64 = 1 << 20;

/// How long a diff of two documents may take; past it, the diff is coarser, never slower.
const DIFF_BUDGET: std::time::Duration = std::time::Duration::from_millis(500);

/// The body of a snapshot file; `None` when there is no file. Only a regular file of at
/// most [`MAX_SNAPSHOT`] bytes is read (a FIFO, a link to a device or a huge file is an
/// error), and it is read here before insta is given the path.
fn body(path: &Path) -> Result<Option<String>, crate::bounded::ReadError> {
    let text = match crate::bounded::text_file(path, MAX_SNAPSHOT) {
        Ok(text) => text,
        Err(crate::bounded::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    // The header is YAML between the first two `---` lines; the body follows.
    let body = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.find("\n---\n").map(|end| rest[end + 5..].trim_end()));
    match body {
        Some(b) => Ok(Some(b.to_string())),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not an insta snapshot (no `---` header); delete it to write it anew",
        )
        .into()),
    }
}

fn unified_diff(old: &str, new: &str) -> String {
    similar::TextDiff::configure()
        .timeout(DIFF_BUDGET)
        .diff_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header("accepted", "now")
        .to_string()
}

thread_local! {
    /// Set while this thread runs an insta assertion: its panics are answers, not crashes.
    static IN_CHECK: Cell<bool> = const { Cell::new(false) };
    /// The message of the last panic caught during an assertion on this thread.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// insta reports a changed snapshot, and a file it cannot write, by panicking. Inside
/// [`Snapshots::check`] those panics are caught and turned into statuses; the hook keeps them
/// off stderr and records their message. Panics anywhere else print as before.
fn capture_snapshot_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CHECK.with(Cell::get) {
                return previous(info);
            }
            let message = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            CAUGHT.with(|c| *c.borrow_mut() = Some(message));
        }));
    });
}

/// Runs an insta assertion; `Err` holds the message of the panic it raised.
fn assertion(f: impl FnOnce()) -> Result<(), String> {
    capture_snapshot_panics();
    IN_CHECK.with(|c| c.set(true));
    CAUGHT.with(|c| c.borrow_mut().take());
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_CHECK.with(|c| c.set(false));
    result.map_err(|_| CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or_default())
}

impl Snapshots {
    /// Snapshots kept in `dir` (made on first write); a relative `dir` is taken from the
    /// current directory (insta would take it from its own source file's).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir().map_or(dir.clone(), |cwd| cwd.join(dir))
        };
        Snapshots { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the folder and proves it writable, before any case runs: a run whose snapshots
    /// cannot be kept must say so at once, not after every case.
    pub fn prepare(&self) -> Result<(), SnapshotError> {
        let error = |source| SnapshotError {
            dir: self.dir.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(error)?;
        let probe = self
            .dir
            .join(format!(".authprobe-write-test-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(error)?;
        std::fs::remove_file(&probe).map_err(error)
    }

    /// Compares (or writes) the snapshot of `case`.
    pub fn check(&self, case: &str, document: &Value) -> SnapshotStatus {
        let mut doc = document.clone();
        redact(&mut doc);
        let file = self.dir.join(format!("{case}.snap"));
        let pending = self.dir.join(format!("{case}.snap.new"));
        let failed = |what: &str, path: &Path, why: &dyn std::fmt::Display| SnapshotStatus::Error {
            message: format!("cannot {what} {}: {why}", path.display()),
        };
        let before = match body(&file) {
            Ok(b) => b,
            Err(e) => return failed("read", &file, &e),
        };
        if let Err(e) = std::fs::remove_file(&pending)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return failed("remove", &pending, &e);
        }
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(&self.dir);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(format!("policy document of conformance case `{case}`"));
        let outcome = assertion(|| {
            settings.bind(|| insta::assert_json_snapshot!(case, doc));
        });
        let changed = match outcome {
            Ok(()) => false,
            Err(message) if message.starts_with("snapshot assertion for") => true,
            // insta unwraps its own I/O errors: a panic of any other kind is one of those.
            Err(message) => return failed("write", &file, &message),
        };
        let after = match body(&file) {
            Ok(a) => a,
            Err(e) => return failed("read", &file, &e),
        };
        // With INSTA_FORCE_PASS insta does not fail a changed snapshot: compare the documents.
        let differs = |old: &str| {
            force_pass() && serde_json::from_str::<Value>(old).is_ok_and(|accepted| accepted != doc)
        };
        match (before, changed) {
            // In CI (INSTA_UPDATE=no) or with INSTA_UPDATE=new, insta writes no new snapshot.
            (None, _) if after.is_none() => SnapshotStatus::Missing,
            (None, _) => SnapshotStatus::New,
            (Some(old), false) if after.as_deref() == Some(old.as_str()) && !differs(&old) => {
                SnapshotStatus::Matched
            }
            (Some(old), false) if after.as_deref() != Some(old.as_str()) => SnapshotStatus::Updated,
            (Some(old), _) => {
                let new = body(&pending)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| serde_json::to_string_pretty(&doc).unwrap_or_default());
                SnapshotStatus::Changed {
                    diff: unified_diff(&old, &new),
                }
            }
        }
    }

    /// The finding a snapshot status makes: a regression for a changed document, and for a
    /// missing snapshot (a run in CI must compare with an accepted one). None with
    /// `INSTA_FORCE_PASS=1`, which reports and counts them without failing.
    pub fn finding(&self, case: &str, status: &SnapshotStatus) -> Option<Finding> {
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
                fix: "review the diff; accept it with --update-snapshots (or `cargo insta review`)"
                    .into(),
            }),
            SnapshotStatus::Missing => Some(Finding {
                threat: None,
                severity: Severity::Regression,
                message: "no accepted snapshot of the policy document".into(),
                why: "in CI a policy is compared with the one accepted before, never written anew: a snapshot only written here would be lost and catch nothing".into(),
                fix: format!(
                    "run once locally and commit {}",
                    self.shown().join(format!("{case}.snap")).display()
                ),
            }),
            _ => None,
        }
    }

    /// The folder as the user reads it: relative to the current directory when inside it.
    fn shown(&self) -> PathBuf {
        std::env::current_dir()
            .ok()
            .and_then(|cwd| self.dir.strip_prefix(cwd).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| self.dir.clone())
    }
}

/// A file-name-safe slug of a target, for the default snapshot folder.
pub fn target_slug(target: &str) -> String {
    let mut slug: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while slug.contains("--") {
        slug = slug.replace("--", "-");
    }
    let slug = slug.trim_matches('-').to_string();
    if slug.len() <= 60 {
        return slug;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, target.as_bytes());
    let hex: String = digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}-{hex}", &slug[..50])
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
    fn default_folders_hold_no_machine_path() {
        use crate::target::TargetSpec;
        use crate::tokens::Profile;
        let cwd = Path::new("/home/ci/checkout");
        let lambda = |python: &str| {
            TargetSpec::Lambda(vec![
                python.into(),
                "-m".into(),
                "awslambdaric".into(),
                "app.handler".into(),
            ])
        };
        let dir = |target: &TargetSpec, workdir: Option<&str>| {
            default_dir(None, Profile::Cognito, target, workdir.map(Path::new), cwd)
        };
        let expected = Path::new(
            "scenarios/snapshots/cognito/lambda-python-m-awslambdaric-app.handler-in-examples-python-flawed",
        );
        for python in [
            "/tmp/venv-a/bin/python",
            "/home/ci/checkout/.venv/bin/python",
            "python",
        ] {
            for workdir in [
                "/home/ci/checkout/examples/python/flawed",
                "examples/python/flawed",
                "./examples/python/flawed",
            ] {
                assert_eq!(
                    dir(&lambda(python), Some(workdir)),
                    expected,
                    "{python} {workdir}"
                );
            }
        }
        // A workdir outside the current directory: its name only.
        assert_eq!(
            dir(&lambda("python"), Some("/tmp/xyz123/flawed")),
            Path::new(
                "scenarios/snapshots/cognito/lambda-python-m-awslambdaric-app.handler-in-flawed"
            )
        );
        // Absolute handler paths: relative to the current directory, or their file name.
        let script = |path: &str| TargetSpec::Lambda(vec!["/usr/bin/python3".into(), path.into()]);
        assert_eq!(
            dir(&script("/home/ci/checkout/handler/main.py"), None),
            dir(&script("handler/main.py"), None)
        );
        assert_eq!(
            dir(&script("/tmp/abc/main.py"), None),
            Path::new("scenarios/snapshots/cognito/lambda-python3-main.py")
        );
        assert_eq!(
            dir(&TargetSpec::Builtin(Profile::Jwks), None),
            Path::new("scenarios/snapshots/cognito/builtin-jwks")
        );
        assert_eq!(
            default_dir(
                Some("team/api"),
                Profile::Jwks,
                &lambda("/x/python"),
                None,
                cwd
            ),
            Path::new("scenarios/snapshots/team/api")
        );
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

    #[test]
    fn target_slugs_are_short_and_safe() {
        assert_eq!(target_slug("builtin:jwks"), "builtin-jwks");
        assert_eq!(
            target_slug("lambda:python3 -m awslambdaric app.handler"),
            "lambda-python3-m-awslambdaric-app.handler"
        );
        assert!(target_slug(&format!("lambda:{}", "x".repeat(200))).len() <= 60);
    }
}
