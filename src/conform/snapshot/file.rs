//! One snapshot file, in insta's format: a YAML header between two `---` lines, then the
//! document as pretty JSON. authprobe writes the header itself: `source` names the run that
//! judged (authprobe and the profile), `info` the profile and the case, so a file says what it
//! holds without authprobe's source code in it; `cargo insta review` still reads it.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The largest snapshot file read: a policy document is a few kilobytes, and a file far
/// larger than any would make the diff run for minutes.
pub const MAX_SNAPSHOT: u64 = 1 << 20;

/// A snapshot file's header and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapFile {
    /// The profile that judged (`builtin:jwks` or a profile file's path), when the header
    /// says (files written by authprobe before 0.2 do not).
    pub profile: Option<String>,
    /// The case, when the header says.
    pub case: Option<String>,
    /// The document's JSON, as written.
    pub body: String,
}

impl SnapFile {
    /// The document, if the body is JSON.
    pub fn document(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// Where a snapshot's pending (changed, not yet accepted) version waits: `CASE.snap.new`.
pub fn pending(accepted: &Path) -> PathBuf {
    let mut name = accepted.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Reads a snapshot file; `None` when there is none. Only a regular file of at most
/// [`MAX_SNAPSHOT`] bytes is read (a FIFO, a link to a device or a huge file is an error).
pub fn read(path: &Path) -> Result<Option<SnapFile>, crate::bounded::ReadError> {
    let text = match crate::bounded::text_file(path, MAX_SNAPSHOT) {
        Ok(text) => text,
        Err(crate::bounded::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    parse(&text).map(Some).map_err(|why| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{why}; delete it to write it anew"),
        )
        .into()
    })
}

/// Parses a snapshot file's text.
pub fn parse(text: &str) -> Result<SnapFile, &'static str> {
    let text = text.replace("\r\n", "\n");
    let rest = text
        .strip_prefix("---\n")
        .ok_or("not an insta snapshot (no `---` header)")?;
    let end = rest
        .find("\n---\n")
        .ok_or("not an insta snapshot (the header does not end with `---`)")?;
    let (header, body) = (&rest[..end], &rest[end + 5..]);
    let mut file = SnapFile {
        profile: None,
        case: None,
        body: body.trim_end().to_string(),
    };
    let mut in_info = false;
    for line in header.lines() {
        let indented = line.starts_with(' ');
        if !indented {
            in_info = line.trim_end() == "info:";
            continue;
        }
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        let value = serde_json::from_str::<String>(value).unwrap_or_else(|_| value.to_string());
        match key {
            "profile" if in_info => file.profile = Some(value),
            "case" if in_info => file.case = Some(value),
            _ => {}
        }
    }
    Ok(file)
}

/// The text of the snapshot of `case`, judged by `profile`: header, then the document.
pub fn render(profile: &str, case: &str, document: &Value) -> String {
    let quote = |s: &str| Value::String(s.to_string()).to_string();
    format!(
        "---\nsource: {}\ndescription: {}\ninfo:\n  profile: {}\n  case: {}\n---\n{}\n",
        quote(&format!("authprobe conform ({profile})")),
        quote(&format!("policy document of conformance case `{case}`")),
        quote(profile),
        quote(case),
        serde_json::to_string_pretty(document).expect("JSON values serialize"),
    )
}

/// The body of a rendered snapshot (what follows the header).
pub fn body_of(text: &str) -> &str {
    text.strip_prefix("---\n")
        .and_then(|rest| rest.find("\n---\n").map(|end| rest[end + 5..].trim_end()))
        .unwrap_or(text)
}

/// Writes `text` to `path` whole or not at all: a temporary file beside it, renamed over it.
pub fn write(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_snapshot_reads_back_with_its_profile_case_and_document() {
        let document =
            serde_json::json!({"principalId": "u", "context": {"k": "a \"quoted\" `v`"}});
        let text = render("scenarios/my auth.toml", "valid: x", &document);
        let file = parse(&text).unwrap();
        assert_eq!(file.profile.as_deref(), Some("scenarios/my auth.toml"));
        assert_eq!(file.case.as_deref(), Some("valid: x"));
        assert_eq!(file.document(), Some(document));
        assert_eq!(body_of(&text), file.body);
        assert!(!text.contains("src/"), "{text}");
    }

    #[test]
    fn a_snapshot_written_by_insta_still_reads() {
        let text = "---\nsource: src/conform/snapshot.rs\ndescription: \"policy document of conformance case `valid`\"\n---\n{\n  \"principalId\": \"u\"\n}\n";
        let file = parse(text).unwrap();
        assert_eq!(file.profile, None);
        assert_eq!(
            file.document(),
            Some(serde_json::json!({"principalId": "u"}))
        );
        assert!(parse("{}").is_err());
        assert!(parse("---\nsource: x\n").is_err());
    }
}
