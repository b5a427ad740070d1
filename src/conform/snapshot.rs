//! Policy snapshots with insta: each case's policy document, dynamic values redacted, kept as
//! `<dir>/<case>.snap`. A changed document is a regression with a diff; `--update-snapshots`
//! accepts it. The files are insta's own, so `cargo insta review` reads them when they sit in
//! a cargo workspace.
//!
//! insta takes its update behaviour from the environment: the binary sets `INSTA_UPDATE` to
//! `unseen` (write new snapshots, keep a `.snap.new` beside a changed one) or, with
//! `--update-snapshots`, to `always`, before any thread starts. See [`configure_env`].

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;

use serde::Serialize;
use serde_json::Value;

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

/// Sets insta's environment for a conform run. Call it before any thread starts (the
/// binary does, in `main`): insta reads it once per process.
///
/// # Safety
/// Changes the process environment; no other thread may read or write it at the same time.
pub unsafe fn configure_env(update: bool) {
    // SAFETY: the caller guarantees no other thread touches the environment.
    unsafe {
        std::env::set_var("INSTA_UPDATE", if update { "always" } else { "unseen" });
        std::env::set_var("INSTA_OUTPUT", "none");
        if std::env::var_os("INSTA_WORKSPACE_ROOT").is_none()
            && let Ok(cwd) = std::env::current_dir()
        {
            std::env::set_var("INSTA_WORKSPACE_ROOT", cwd);
        }
    }
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

/// The body of a snapshot file; `None` when there is no file.
fn body(path: &Path) -> std::io::Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
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
        )),
    }
}

fn unified_diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
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
        match (before, changed) {
            (None, _) if after.is_none() => failed(
                "write",
                &file,
                &"insta did not write it (is INSTA_UPDATE set to `no`?)",
            ),
            (None, _) => SnapshotStatus::New,
            (Some(old), false) if after.as_deref() == Some(old.as_str()) => SnapshotStatus::Matched,
            (Some(_), false) => SnapshotStatus::Updated,
            (Some(old), true) => {
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
    fn target_slugs_are_short_and_safe() {
        assert_eq!(target_slug("builtin:jwks"), "builtin-jwks");
        assert_eq!(
            target_slug("lambda:python3 -m awslambdaric app.handler"),
            "lambda-python3-m-awslambdaric-app.handler"
        );
        assert!(target_slug(&format!("lambda:{}", "x".repeat(200))).len() <= 60);
    }
}
