//! `snapshots`: review, accept, reject, list and prune policy snapshots, without Cargo.

use std::io::{IsTerminal, Read};
use std::path::Path;

use super::*;
use crate::cli::{SnapshotSelection, SnapshotsCommand};
use crate::conform::snapshot::store::{self, Pending};

pub(super) fn snapshots(
    command: SnapshotsCommand,
    out: &mut (dyn Write + Send),
) -> Result<u8, Error> {
    match command {
        SnapshotsCommand::Review(selection) => review(&selection, out),
        SnapshotsCommand::Accept(selection) => decide_all(&selection, Decision::Accept, out),
        SnapshotsCommand::Reject(selection) => decide_all(&selection, Decision::Reject, out),
        SnapshotsCommand::List { dir } => list(&dir, out),
        SnapshotsCommand::Prune { dir, dry_run } => prune(&dir, dry_run, out),
    }
}

/// What happens to one pending snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Accept,
    Reject,
    Skip,
}

fn shown(path: &Path) -> String {
    crate::report::printable_line(&crate::report::shown_path(&path.display().to_string()))
}

/// Pending snapshots of a selection; none is not an error, but it is said.
fn pending(
    selection: &SnapshotSelection,
    out: &mut (dyn Write + Send),
) -> Result<Vec<Pending>, Error> {
    if !selection.dir.exists() {
        writeln!(out, "no snapshots under {}", shown(&selection.dir))?;
        return Ok(Vec::new());
    }
    let pending = store::pending_under(&selection.dir, &selection.cases)?;
    if pending.is_empty() {
        let which = if selection.cases.is_empty() {
            String::new()
        } else {
            format!(" of {}", selection.cases.join(", "))
        };
        writeln!(
            out,
            "no pending snapshots{which} under {}",
            shown(&selection.dir)
        )?;
    }
    Ok(pending)
}

fn apply(p: &Pending, decision: Decision) -> Result<(), Error> {
    let done = match decision {
        Decision::Accept => p.accept(),
        Decision::Reject => p.reject(),
        Decision::Skip => Ok(()),
    };
    done.map_err(|source| {
        Error::SnapshotFiles(store::StoreError {
            path: p.pending.clone(),
            source: source.into(),
        })
    })
}

fn decide_all(
    selection: &SnapshotSelection,
    decision: Decision,
    out: &mut (dyn Write + Send),
) -> Result<u8, Error> {
    let pending = pending(selection, out)?;
    let verb = if decision == Decision::Accept {
        "accepted"
    } else {
        "rejected"
    };
    for p in &pending {
        apply(p, decision)?;
        writeln!(
            out,
            "{verb} {} ({})",
            crate::report::printable_line(&p.case()),
            shown(&p.accepted)
        )?;
    }
    if !pending.is_empty() {
        writeln!(out, "{} snapshot(s) {verb}", pending.len())?;
    }
    Ok(EXIT_OK)
}

/// A unified diff, indented, coloured as the run's own diffs are.
fn coloured(diff: &str, color: bool) -> String {
    crate::report::style::diff_lines(diff, crate::report::style::Paint(color))
        .into_iter()
        .map(|line| format!("  {line}\n"))
        .collect()
}

fn review(selection: &SnapshotSelection, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::Usage {
            message: "`snapshots review` asks a key per snapshot and needs a terminal".into(),
            hint: "in a script, use `authprobe snapshots accept` or `authprobe snapshots reject` (with --case to pick)".into(),
        });
    }
    let pending = pending(selection, out)?;
    if pending.is_empty() {
        return Ok(EXIT_OK);
    }
    let color = crate::report::use_color(selection.color);
    let keys = RawKeys::enter()?;
    let mut counts = [0usize; 3];
    let total = pending.len();
    for (i, p) in pending.iter().enumerate() {
        let what = match (&p.old, &p.unreadable) {
            (Some(_), _) => "changed",
            (None, Some(_)) => "unreadable accepted",
            (None, None) => "new",
        };
        if let Some(why) = &p.unreadable {
            writeln!(
                out,
                "\nnote: {} cannot be read ({}); accepting replaces it",
                shown(&p.accepted),
                crate::report::printable_line(why)
            )?;
        }
        let profile = p.new.profile.as_deref().unwrap_or("profile not named");
        write!(
            out,
            "\n[{}/{total}] {what} snapshot of `{}` in {} ({})\n{}",
            i + 1,
            crate::report::printable_line(&p.case()),
            shown(p.accepted.parent().unwrap_or(Path::new("."))),
            crate::report::printable_line(profile),
            coloured(&p.diff(), color)
        )?;
        write!(out, "  a accept · r reject · s skip · q quit > ")?;
        out.flush()?;
        let decision = loop {
            match keys.next()? {
                Some(b'a' | b'A') => break Some(Decision::Accept),
                Some(b'r' | b'R') => break Some(Decision::Reject),
                Some(b's' | b'S' | b'\r' | b'\n' | b' ') => break Some(Decision::Skip),
                // q, Escape, Ctrl-C, Ctrl-D, or the end of input.
                Some(b'q' | b'Q' | 0x1b | 0x03 | 0x04) | None => break None,
                Some(_) => {}
            }
        };
        let Some(decision) = decision else {
            writeln!(out, "quit")?;
            break;
        };
        apply(p, decision)?;
        let (word, at) = match decision {
            Decision::Accept => ("accepted", 0),
            Decision::Reject => ("rejected", 1),
            Decision::Skip => ("skipped", 2),
        };
        counts[at] += 1;
        writeln!(out, "{word}")?;
    }
    drop(keys);
    let left = total - counts.iter().sum::<usize>();
    writeln!(
        out,
        "\n{} accepted, {} rejected, {} skipped{}",
        counts[0],
        counts[1],
        counts[2],
        if left > 0 {
            format!(", {left} not reviewed")
        } else {
            String::new()
        }
    )?;
    Ok(EXIT_OK)
}

/// The terminal in raw mode (one key at a time, no echo, Ctrl-C read as a key) until
/// dropped, when its settings are put back.
struct RawKeys {
    saved: libc::termios,
}

impl RawKeys {
    fn enter() -> Result<RawKeys, Error> {
        // SAFETY: tcgetattr and tcsetattr are given stdin's descriptor and a termios the
        // first one filled.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return Err(Error::Output(std::io::Error::last_os_error()));
            }
            let mut raw = saved;
            raw.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                return Err(Error::Output(std::io::Error::last_os_error()));
            }
            Ok(RawKeys { saved })
        }
    }

    /// The next key's first byte; `None` at the end of input.
    fn next(&self) -> Result<Option<u8>, Error> {
        let mut byte = [0u8; 1];
        match std::io::stdin().lock().read(&mut byte)? {
            0 => Ok(None),
            _ => Ok(Some(byte[0])),
        }
    }
}

impl Drop for RawKeys {
    fn drop(&mut self) {
        // SAFETY: puts back the settings `enter` read from the same descriptor.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}

fn list(dir: &Path, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    if !dir.exists() {
        writeln!(out, "no snapshots under {}", shown(dir))?;
        return Ok(EXIT_OK);
    }
    let folders = store::folders(dir)?;
    if folders.is_empty() {
        writeln!(out, "no snapshots under {}", shown(dir))?;
    }
    let width = folders
        .iter()
        .map(|f| shown(&f.dir).chars().count())
        .max()
        .unwrap_or(0);
    for folder in &folders {
        let profiles = if folder.profiles.is_empty() {
            "profile not named".to_string()
        } else {
            folder.profiles.join(", ")
        };
        writeln!(
            out,
            "{:<width$}  {} accepted, {} pending  ({})",
            shown(&folder.dir),
            folder.accepted,
            folder.pending,
            crate::report::printable_line(&profiles)
        )?;
    }
    Ok(EXIT_OK)
}

fn prune(dir: &Path, dry_run: bool, out: &mut (dyn Write + Send)) -> Result<u8, Error> {
    if !dir.exists() {
        writeln!(out, "no snapshots under {}", shown(dir))?;
        return Ok(EXIT_OK);
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let repo = crate::conform::snapshot::key::repository_root(&cwd);
    let plan = store::plan_prune(dir, &repo)?;
    let verb = if dry_run { "would remove" } else { "removed" };
    if !dry_run {
        store::prune(dir, &plan).map_err(|source| {
            Error::SnapshotFiles(store::StoreError {
                path: dir.to_path_buf(),
                source: source.into(),
            })
        })?;
    }
    for stale in &plan.stale {
        writeln!(
            out,
            "{verb} {}: {}",
            shown(&stale.path),
            crate::report::printable_line(&stale.why)
        )?;
    }
    for kept in &plan.unjudged {
        writeln!(
            out,
            "kept {}: {}",
            shown(&kept.path),
            crate::report::printable_line(&kept.why)
        )?;
    }
    let keep = if dry_run { "keep" } else { "kept" };
    writeln!(
        out,
        "{verb} {} file(s), {keep} {} unjudged",
        plan.stale.len(),
        plan.unjudged.len()
    )?;
    Ok(EXIT_OK)
}
