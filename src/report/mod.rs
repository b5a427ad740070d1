//! Rendering runs: terminal (a line per case as it finishes, a block per failure, an aligned
//! summary), JUnit XML (`<failure>` for wrong answers, `<error>` for cases that could not be
//! asked), JSON (schema: `docs/report.schema.json`) and Markdown, written under
//! `reports/<run>/`.

use std::io::Write;
use std::path::{Path, PathBuf};

mod blocks;
mod charts;
pub mod grid;
pub mod load;
pub mod style;
mod terminal;

use blocks::{calibration_line, policy_excerpt};
pub use style::{ColorChoice, use_color};
pub use terminal::{Terminal, Verbosity};

use serde_json::Value;

use crate::conform::cause::{Cause, CauseKind};
use crate::conform::snapshot::SnapshotStatus;
use crate::conform::{CaseResult, Event, RunReport, Status};
use crate::stop::Signal;

/// Text from the target (principal ids, context values, error messages, output tails) made
/// safe for a terminal or a Markdown file: control characters other than newline and tab, and
/// the Unicode controls that reorder or hide text, are shown as `\u{..}` escapes, so an
/// authorizer cannot retitle, clear or rewrite the reader's terminal.
pub fn printable(text: &str) -> String {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.contains(unsafe_char) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// [`printable`], on one line: newlines and tabs are escaped too.
pub fn printable_line(text: &str) -> String {
    printable(text).replace('\n', "\\n").replace('\t', "\\t")
}

/// A path as the user reads it: relative to the current directory when inside it.
pub fn shown_path(path: &str) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            std::path::Path::new(path)
                .strip_prefix(cwd)
                .ok()
                .map(|p| p.display().to_string())
        })
        .unwrap_or_else(|| path.to_string())
}

/// JUnit XML: one suite, a test case per case; wrong answers are `<failure>`, cases that could
/// not be asked `<error>`, skipped ones `<skipped>`.
pub fn junit(report: &RunReport) -> String {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(format!(
        "authprobe conform {} ({})",
        report.profile, report.target
    ));
    for case in &report.cases {
        let status = match case.status {
            Status::Passed | Status::Warned => TestCaseStatus::success(),
            Status::Skipped => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(case.detail.clone());
                s
            }
            // Nothing was judged: no verdict either way, as for a case that could not be asked.
            Status::Errored | Status::Inconclusive => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(case.detail.clone());
                s
            }
            Status::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let first = case
                    .findings
                    .iter()
                    .find(|f| f.severity.fails(report.strict))
                    .or(case.findings.first());
                if let Some(f) = first {
                    s.set_message(format!("[{}] {}", f.severity.name(), f.message));
                    s.set_type(f.severity.name());
                }
                let description: Vec<String> = case
                    .findings
                    .iter()
                    .map(|f| {
                        format!(
                            "[{}] {}\nwhy: {}\nfix: {}",
                            f.severity.name(),
                            f.message,
                            f.why,
                            f.fix
                        )
                    })
                    .collect();
                s.set_description(description.join("\n\n"));
                s
            }
        };
        let mut tc = TestCase::new(case.name.clone(), status);
        for id in &case.causes {
            tc.add_property(quick_junit::Property::new("cause", id.clone()));
        }
        tc.set_classname(format!(
            "{}.{}",
            report.profile,
            if case.stateful {
                "stateful"
            } else {
                "catalogue"
            }
        ));
        tc.set_time(std::time::Duration::from_secs_f64(
            case.wall_ms.max(0.0) / 1e3,
        ));
        // Warnings, then what the handler printed (already redacted).
        let mut out: Vec<String> = Vec::new();
        if case.status == Status::Warned {
            out.extend(
                case.findings
                    .iter()
                    .map(|f| format!("warning[{}]: {}", f.severity.name(), f.message)),
            );
        }
        out.extend(
            case.output
                .lines
                .iter()
                .map(|l| format!("{}: {}", l.stream.name(), printable_line(&l.text))),
        );
        if !out.is_empty() {
            tc.set_system_out(out.join("\n"));
        }
        suite.add_test_case(tc);
    }
    if let Some(k) = &report.key_source {
        suite.add_property(quick_junit::Property::new("key_source", k.summary.clone()));
    }
    if let Some(c) = &report.calibration {
        suite.add_property(quick_junit::Property::new(
            "baseline",
            c.baseline
                .as_deref()
                .unwrap_or("profile (no variant was allowed)"),
        ));
    }
    junit_document(
        suite,
        std::time::Duration::from_secs_f64(report.duration_ms.max(0.0) / 1e3),
        &report.started,
    )
}

/// The JUnit document around one suite: its time and start (RFC 3339) on both levels.
pub(crate) fn junit_document(
    mut suite: quick_junit::TestSuite,
    time: std::time::Duration,
    started: &str,
) -> String {
    let mut junit = quick_junit::Report::new("authprobe");
    suite.set_time(time);
    junit.set_time(time);
    if let Ok(started) = chrono::DateTime::parse_from_rfc3339(started) {
        suite.set_timestamp(started);
        junit.set_timestamp(started);
    }
    junit.add_test_suite(suite);
    junit.to_string().unwrap_or_default()
}

/// The JSON report (see `docs/report.schema.json`).
pub fn json(report: &RunReport) -> String {
    serde_json::to_string_pretty(report).expect("reports serialize")
}

/// A Markdown report for people: summary table, every failure, every case.
pub fn markdown(report: &RunReport) -> String {
    let s = &report.summary;
    let mut md = format!(
        "# authprobe conform: {} against `{}`\n\n",
        report.profile, report.target
    );
    md.push_str(&format!(
        "| | |\n|---|---|\n| result | **{}** |\n| cases | {} passed, {} failed, {} warnings, {} inconclusive, {} could not be asked, {} skipped, of {} |\n| findings | security {}, availability {}, hardening {}, contract {}, regression {} |\n| scenario | {} |\n| started | {} |\n| duration | {:.2} s |\n\n",
        match (report.interrupted, report.exit_code()) {
            (Some(Signal::Sigint), _) => "interrupted by SIGINT: partial",
            (Some(Signal::Sigterm), _) => "interrupted by SIGTERM: partial",
            (_, 0) => "passed",
            (_, 1) if report.nothing_judged() => {
                "failed (nothing was judged: every case was skipped)"
            }
            (_, 1) if s.inconclusive > 0 && s.failed == 0 => {
                "failed (inconclusive: no form of the good token was allowed)"
            }
            (_, 1) => "failed",
            _ => "could not run",
        },
        s.passed, s.failed, s.warned, s.inconclusive, s.errored, s.skipped, s.total,
        s.security, s.availability, s.hardening, s.contract, s.regression,
        report.scenario, report.started, report.duration_ms / 1e3
    ));
    if let Some(c) = &report.calibration {
        md.push_str(&format!("**Baseline.** {}\n\n", calibration_line(c)));
    }
    if let Some(k) = &report.key_source {
        md.push_str(&format!("**Keys.** {}.\n\n", capitalized(&k.summary)));
    }
    if let Some(m) = &report.matrix {
        md.push_str(&grid::markdown(m));
    }
    if !report.causes.is_empty() {
        md.push_str("## Findings, by cause, in the order to fix them\n\n");
        for cause in &report.causes {
            let verdict = if cause.fails { "fails" } else { "warning" };
            md.push_str(&format!(
                "### {} — {} ({verdict}): {}\n\n",
                cause.id,
                cause.kind.name(),
                printable_line(&cause.message)
            ));
            if cause.covers_every_case {
                md.push_str("- **every case that went wrong shows this: fix it first**\n");
            }
            let names: Vec<String> = cause
                .cases
                .iter()
                .map(|n| format!("`{}`", md_code(n)))
                .collect();
            md.push_str(&format!(
                "- cases ({}): {}\n",
                names.len(),
                names.join(", ")
            ));
            if let Some(first) = report
                .cases
                .iter()
                .find(|c| cause.cases.first() == Some(&c.name))
            {
                md.push_str(&format!(
                    "- first: `{}`, expected {}, observed {}\n",
                    md_code(&first.name),
                    first.expected,
                    first.observed.map_or("-".to_string(), |o| o.to_string()),
                ));
                if let Some(doc) = &first.response {
                    md.push_str(&format!("- policy: `{}`\n", md_code(&policy_excerpt(doc))));
                }
            }
            if !cause.why.is_empty() {
                md.push_str(&format!(
                    "- why it matters: {}\n",
                    printable_line(&cause.why)
                ));
            }
            md.push_str(&format!("- fix: {}\n", printable_line(&cause.fix)));
            if cause.kind == CauseKind::Regression {
                for case in report
                    .cases
                    .iter()
                    .filter(|c| cause.cases.contains(&c.name))
                {
                    if let Some(SnapshotStatus::Changed { diff }) = &case.snapshot {
                        md.push_str(&format!(
                            "\n`{}`:\n\n```diff\n{}\n```\n",
                            md_code(&case.name),
                            md_block(diff.trim_end())
                        ));
                    }
                }
            }
            md.push('\n');
        }
    }
    for case in &report.cases {
        if let Some(SnapshotStatus::Error { message }) = &case.snapshot {
            md.push_str(&format!(
                "### `{}` — snapshot could not be kept\n\n```text\n{}\n```\n\n",
                md_code(&case.name),
                md_block(message)
            ));
        }
    }
    md.push_str(
        "## Cases\n\n| case | expected | observed | HTTP | status | causes | detail |\n|---|---|---|---|---|---|---|\n",
    );
    for c in &report.cases {
        md.push_str(&format!(
            "| `{}` | {} | {} | {} | {:?} | {} | {} |\n",
            md_code(&c.name),
            c.expected,
            c.observed.map_or("-".to_string(), |o| o.to_string()),
            c.http_status.map_or("-".to_string(), |s| s.to_string()),
            c.status,
            c.causes.join(", "),
            printable_line(&c.detail.replace('\n', " ")).replace('|', "\\|")
        ));
    }
    md
}

/// Text for a Markdown code span: one printable line, no backticks, no table pipes.
/// `text` with its first letter in upper case.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn md_code(text: &str) -> String {
    printable_line(text).replace('`', "'").replace('|', "\\|")
}

/// Text for a fenced Markdown block: printable, and unable to close the fence.
fn md_block(text: &str) -> String {
    printable(text).replace("```", "` ` `")
}

/// Writes report.json, report.md and junit.xml into `dir` (made if needed); each file goes
/// to a temporary name first, so a crash leaves no half-written report.
pub fn write_all(report: &RunReport, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, body) in [
        ("report.json", json(report)),
        ("report.md", markdown(report)),
        ("junit.xml", junit(report)),
    ] {
        let path = dir.join(name);
        write_file(&path, &body)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `body` to `path` through a temporary file and a rename, or in place when `path` is
/// not a regular file (a device, a FIFO, a symbolic link), which a rename would replace.
/// A FIFO nobody reads is an error at once, never a wait that no signal ends.
pub fn write_file(path: &Path, body: &str) -> std::io::Result<()> {
    // A path that is not a regular file (a device such as /dev/stdout, a FIFO, a symbolic
    // link) is written in place: renaming over it would replace the node or the link.
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.is_file()
        && !meta.is_dir()
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        use std::os::unix::io::AsRawFd as _;
        // Opened without blocking: a FIFO with no reader fails (ENXIO) instead of waiting.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENXIO) => std::io::Error::other("a FIFO that nobody reads"),
                _ => e,
            })?;
        // Then written blocking, as any file: a reader that is slow is waited for.
        // SAFETY: fcntl on a descriptor this function owns.
        unsafe {
            let fd = file.as_raw_fd();
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
        return file.write_all(body.as_bytes());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}

/// Whether two report paths end in one file: the same file when both exist (links
/// followed), else the same real folder and name (`r.json`, `./r.json`).
pub fn same_destination(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    if a == b {
        return true;
    }
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return x.dev() == y.dev() && x.ino() == y.ino();
    }
    let real = |path: &Path| {
        if let Ok(p) = std::fs::canonicalize(path) {
            return Some(p);
        }
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::canonicalize(folder)
            .ok()
            .zip(path.file_name())
            .map(|(folder, name)| folder.join(name))
    };
    real(a).is_some_and(|x| real(b) == Some(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_spellings_or_a_link_of_one_report_path_are_one_destination() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.xml");
        assert!(!same_destination(&a, &b));
        assert!(same_destination(&a, &dir.path().join(".").join("a.json")));
        std::fs::write(&a, "x").unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        assert!(same_destination(&a, &b));
    }

    #[test]
    fn a_fifo_nobody_reads_is_an_error_not_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = write_file(&fifo, "{}").unwrap_err();
        assert!(err.to_string().contains("nobody reads"), "{err}");
    }

    #[test]
    fn a_report_path_that_is_a_link_is_written_through_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("real.json");
        std::fs::write(&file, "an older and longer report").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        write_file(&link, "{}").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}");
    }

    #[test]
    fn control_characters_from_the_target_are_shown_not_obeyed() {
        assert_eq!(
            printable("a\u{1b}]0;x\u{7}b\u{9b}c\u{202e}d\ne"),
            "a\\u{1b}]0;x\\u{7}b\\u{9b}c\\u{202e}d\ne"
        );
        assert_eq!(printable_line("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(printable("plain ünïcode"), "plain ünïcode");
    }
}
