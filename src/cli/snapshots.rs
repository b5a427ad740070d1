//! Arguments of `authprobe snapshots …`: review, accept, reject, list and prune the policy
//! snapshots without Cargo.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `authprobe snapshots …`
#[derive(Debug, Subcommand)]
pub enum SnapshotsCommand {
    /// Show each pending snapshot (a changed policy waiting in CASE.snap.new) as a diff and
    /// accept, reject or skip it, one key each. Needs a terminal; scripts use `accept` and
    /// `reject`.
    Review(SnapshotSelection),
    /// Accept pending snapshots: each CASE.snap.new becomes CASE.snap.
    Accept(SnapshotSelection),
    /// Reject pending snapshots: each CASE.snap.new is removed, CASE.snap stays.
    Reject(SnapshotSelection),
    /// List the snapshot folders: the profile that wrote them, how many snapshots are
    /// accepted and how many pending.
    List {
        /// The folder to look in.
        #[arg(default_value = crate::conform::snapshot::SNAPSHOT_ROOT)]
        dir: PathBuf,
    },
    /// Remove snapshots of cases their profile no longer has, and files a stopped run left.
    /// A snapshot whose profile cannot be told is kept and named.
    Prune {
        /// The folder to prune.
        #[arg(default_value = crate::conform::snapshot::SNAPSHOT_ROOT)]
        dir: PathBuf,
        /// Print what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Which pending snapshots a command takes.
#[derive(Debug, Args)]
pub struct SnapshotSelection {
    /// A snapshot folder, or a folder of them.
    #[arg(default_value = crate::conform::snapshot::SNAPSHOT_ROOT)]
    pub dir: PathBuf,
    /// Only these cases (repeat it, or separate with commas); every pending one by default.
    #[arg(long = "case", value_name = "CASE", value_delimiter = ',')]
    pub cases: Vec<String>,
    /// Colour the diffs: auto (when stdout is a terminal and NO_COLOR is unset), always, never.
    #[arg(long, value_enum, default_value_t = crate::report::ColorChoice::Auto)]
    pub color: crate::report::ColorChoice,
}
