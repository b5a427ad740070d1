//! Policy snapshots with insta: each case's policy document, dynamic values redacted, kept as
//! `<dir>/<case>.snap`. A changed document is a regression with a diff; `--update-snapshots`
//! accepts it. The files are insta's own, so `cargo insta review` reads them when they sit in
//! a cargo workspace.
//!
//! insta takes its update behaviour from the environment: the binary sets `INSTA_UPDATE` to
//! `unseen` (write new snapshots, keep a `.snap.new` beside a changed one) or, with
//! `--update-snapshots`, to `always`, before any thread starts. See [`configure_env`].

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

fn body(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    // The header is YAML between the first two `---` lines; the body follows.
    let rest = text.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    Some(rest[end + 5..].trim_end().to_string())
}

fn unified_diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header("accepted", "now")
        .to_string()
}

fn quiet_snapshot_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with("snapshot assertion for") {
                previous(info);
            }
        }));
    });
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

    /// Compares (or writes) the snapshot of `case`.
    pub fn check(&self, case: &str, document: &Value) -> SnapshotStatus {
        quiet_snapshot_panics();
        let mut doc = document.clone();
        redact(&mut doc);
        let file = self.dir.join(format!("{case}.snap"));
        let pending = self.dir.join(format!("{case}.snap.new"));
        let before = body(&file);
        let _ = std::fs::remove_file(&pending);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(&self.dir);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(format!("policy document of conformance case `{case}`"));
        let passed = catch_unwind(AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_json_snapshot!(case, doc));
        }))
        .is_ok();
        let after = body(&file);
        match (before, passed) {
            (None, _) => SnapshotStatus::New,
            (Some(old), true) if after.as_deref() == Some(old.as_str()) => SnapshotStatus::Matched,
            (Some(_), true) => SnapshotStatus::Updated,
            (Some(old), false) => {
                let new = body(&pending)
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
