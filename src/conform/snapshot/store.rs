//! The snapshot folders as files: what is pending, accepting and rejecting it, what a folder
//! holds, and what no profile asks for any more. `authprobe snapshots` is built on it; nothing
//! here needs Cargo.

use std::path::{Path, PathBuf};

use super::file::{self, SnapFile};

/// How deep under the root the folders are searched (`scenarios/snapshots/PROFILE/TARGET`
/// is two; `--name team/api` adds one per part).
const MAX_DEPTH: usize = 8;

/// Every file under `root` (not following links), sorted, at most [`MAX_DEPTH`] deep.
fn files_under(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut folders = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = folders.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() && depth < MAX_DEPTH {
                folders.push((entry.path(), depth + 1));
            } else if kind.is_file() {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

fn is_accepted(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "snap")
}

fn is_pending(path: &Path) -> bool {
    path.to_string_lossy().ends_with(".snap.new")
}

/// A changed (or new) snapshot waiting to be accepted or rejected.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The accepted snapshot it would replace (`CASE.snap`; it may not exist).
    pub accepted: PathBuf,
    /// Itself (`CASE.snap.new`).
    pub pending: PathBuf,
    /// The accepted version, if there is one.
    pub old: Option<SnapFile>,
    /// Why the accepted file could not be read, when it could not (`old` is then `None`).
    pub unreadable: Option<String>,
    /// The pending version.
    pub new: SnapFile,
}

impl Pending {
    /// The case, as the header says, else the file name.
    pub fn case(&self) -> String {
        self.new.case.clone().unwrap_or_else(|| {
            self.accepted
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }

    /// The unified diff, accepted → pending (every line added for a new snapshot).
    pub fn diff(&self) -> String {
        let old = self.old.as_ref().map_or("", |o| o.body.as_str());
        super::unified_diff(old, &self.new.body)
    }

    /// Makes the pending version the accepted one.
    pub fn accept(&self) -> std::io::Result<()> {
        std::fs::rename(&self.pending, &self.accepted)
    }

    /// Drops the pending version; the accepted one stays.
    pub fn reject(&self) -> std::io::Result<()> {
        std::fs::remove_file(&self.pending)
    }
}

/// A snapshot file or folder that cannot be read or changed, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the snapshot file {path}: {source}")]
pub struct StoreError {
    /// The file or folder.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: crate::bounded::ReadError,
}

fn read_error(path: &Path) -> impl Fn(crate::bounded::ReadError) -> StoreError + '_ {
    move |source| StoreError {
        path: path.to_path_buf(),
        source,
    }
}

/// The pending snapshots under `root` (a snapshot folder or a folder of them), in path
/// order; `cases` keeps only those of the named cases (every one when empty).
pub fn pending_under(root: &Path, cases: &[String]) -> Result<Vec<Pending>, StoreError> {
    let files = files_under(root).map_err(|e| read_error(root)(e.into()))?;
    let mut found = Vec::new();
    for path in files.into_iter().filter(|p| is_pending(p)) {
        let accepted = path.with_extension("");
        let new = file::read(&path)
            .map_err(read_error(&path))?
            .ok_or_else(|| {
                read_error(&path)(std::io::Error::from(std::io::ErrorKind::NotFound).into())
            })?;
        // An accepted file that cannot be read (a merge conflict, say) is what accepting
        // replaces: it does not stop the others.
        let (old, unreadable) = match file::read(&accepted) {
            Ok(old) => (old, None),
            Err(e) => (None, Some(e.to_string())),
        };
        let pending = Pending {
            accepted,
            pending: path,
            old,
            unreadable,
            new,
        };
        if cases.is_empty() || cases.contains(&pending.case()) {
            found.push(pending);
        }
    }
    Ok(found)
}

/// One snapshot folder: the files directly in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    /// The folder.
    pub dir: PathBuf,
    /// The profiles its headers name (none for files written before they did).
    pub profiles: Vec<String>,
    /// Accepted snapshots.
    pub accepted: usize,
    /// Pending ones.
    pub pending: usize,
}

/// The snapshot folders under `root`, in path order.
pub fn folders(root: &Path) -> Result<Vec<Folder>, StoreError> {
    let files = files_under(root).map_err(|e| read_error(root)(e.into()))?;
    let mut folders: Vec<Folder> = Vec::new();
    for path in files.iter().filter(|p| is_accepted(p) || is_pending(p)) {
        let dir = path.parent().unwrap_or(root).to_path_buf();
        let at = match folders.iter().position(|f| f.dir == dir) {
            Some(at) => at,
            None => {
                folders.push(Folder {
                    dir,
                    profiles: Vec::new(),
                    accepted: 0,
                    pending: 0,
                });
                folders.len() - 1
            }
        };
        let folder = &mut folders[at];
        if is_pending(path) {
            folder.pending += 1;
            continue;
        }
        folder.accepted += 1;
        if let Ok(Some(SnapFile {
            profile: Some(profile),
            ..
        })) = file::read(path)
            && !folder.profiles.contains(&profile)
        {
            folder.profiles.push(profile);
        }
    }
    folders.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(folders)
}

/// A file `prune` removes, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    /// The file.
    pub path: PathBuf,
    /// Why it is no longer needed.
    pub why: String,
}

/// What `prune` would remove under `root`, and what it keeps because it cannot tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrunePlan {
    /// Files to remove.
    pub stale: Vec<Stale>,
    /// Files kept, each with the reason it could not be judged.
    pub unjudged: Vec<Stale>,
}

/// Plans a prune of `root`: snapshots (accepted or pending) of cases their profile no longer
/// has, and temporary files a killed run left. A snapshot whose profile cannot be told (no
/// header, a profile file that is gone or does not parse) is kept and listed as unjudged:
/// nothing is removed on a guess. `repo` is the repository root profile paths are relative to.
pub fn plan_prune(root: &Path, repo: &Path) -> Result<PrunePlan, StoreError> {
    let files = files_under(root).map_err(|e| read_error(root)(e.into()))?;
    let mut plan = PrunePlan::default();
    let mut profiles: Vec<(String, Result<Vec<String>, String>)> = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.')
            && (name.ends_with(".tmp") || name.starts_with(".authprobe-write-test-"))
        {
            plan.stale.push(Stale {
                path,
                why: "left by a run that was stopped while writing".into(),
            });
            continue;
        }
        if !(is_accepted(&path) || is_pending(&path)) {
            continue;
        }
        let snap = match file::read(&path) {
            Ok(Some(snap)) => snap,
            Ok(None) => continue,
            Err(e) => {
                plan.unjudged.push(Stale {
                    path,
                    why: format!("unreadable: {e}"),
                });
                continue;
            }
        };
        let Some(label) = snap.profile.clone() else {
            plan.unjudged.push(Stale {
                path,
                why: "its header does not name its profile (written before authprobe 0.2); a run of its profile rewrites it".into(),
            });
            continue;
        };
        let case = snap.case.clone().unwrap_or_else(|| {
            name.trim_end_matches(".new")
                .trim_end_matches(".snap")
                .to_string()
        });
        let known = match profiles.iter().find(|(l, _)| *l == label) {
            Some((_, known)) => known.clone(),
            None => {
                let known = case_names(&label, repo);
                profiles.push((label.clone(), known.clone()));
                known
            }
        };
        match known {
            Ok(cases) if !cases.contains(&case) => plan.stale.push(Stale {
                path,
                why: format!("the profile {label} has no case `{case}` any more"),
            }),
            Ok(_) => {}
            Err(why) => plan.unjudged.push(Stale { path, why }),
        }
    }
    Ok(plan)
}

/// The case names of the profile a snapshot header names (see
/// [`super::key::profile_label`]: `builtin:NAME` or a path in the repository, with the token
/// use that changed its cases).
fn case_names(label: &str, repo: &Path) -> Result<Vec<String>, String> {
    use crate::conform::profile;
    if label.starts_with("external:") {
        return Err(format!(
            "its profile {label} was outside the repository: it cannot be read back"
        ));
    }
    let (name, token_use) = match label.rsplit_once('+') {
        Some((name, token_use)) => {
            let token_use = <crate::tokens::TokenUse as clap::ValueEnum>::from_str(token_use, true)
                .map_err(|_| format!("profile {label}: `{token_use}` is no token use"))?;
            (name, Some(token_use))
        }
        None => (label, None),
    };
    let spec = match name.strip_prefix("builtin:") {
        Some(builtin) => {
            profile::builtin_for(builtin, token_use).map_err(|e| format!("profile {label}: {e}"))?
        }
        None => profile::load_for(&repo.join(name), token_use)
            .map_err(|e| format!("its profile {label} cannot be read: {e}"))?,
    };
    let cells: Vec<String> = spec
        .matrix
        .iter()
        .flat_map(|m| &m.principals)
        .flat_map(|p| {
            spec.routes
                .iter()
                .map(|r| profile::matrix::cell_key(&p.name, &r.to_string()))
        })
        .collect();
    Ok(spec
        .cases
        .into_iter()
        .map(|c| c.name)
        .chain(cells)
        .collect())
}

/// Removes the planned files, then every folder under `root` left empty (`root` included).
pub fn prune(root: &Path, plan: &PrunePlan) -> std::io::Result<()> {
    for stale in &plan.stale {
        match std::fs::remove_file(&stale.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut dir = stale.path.parent();
        while let Some(d) = dir {
            if !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, profile: &str, case: &str, principal: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let doc = serde_json::json!({ "principalId": principal });
        std::fs::write(path, file::render(profile, case, &doc)).unwrap();
    }

    #[test]
    fn a_pending_change_is_accepted_or_rejected_by_renaming_or_removing_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("a/valid.snap"), "builtin:jwks", "valid", "old");
        write(
            &root.join("a/valid.snap.new"),
            "builtin:jwks",
            "valid",
            "new",
        );
        write(
            &root.join("b/valid.snap.new"),
            "builtin:jwks",
            "valid",
            "first",
        );
        let pending = pending_under(root, &[]).unwrap();
        assert_eq!(pending.len(), 2);
        assert!(pending[0].diff().contains("+  \"principalId\": \"new\""));
        assert!(pending[1].old.is_none());
        pending[0].accept().unwrap();
        pending[1].reject().unwrap();
        assert!(
            std::fs::read_to_string(root.join("a/valid.snap"))
                .unwrap()
                .contains("new")
        );
        assert!(!root.join("a/valid.snap.new").exists());
        assert!(!root.join("b/valid.snap.new").exists());
        assert!(pending_under(root, &[]).unwrap().is_empty());
    }

    #[test]
    fn prune_removes_only_what_its_profile_no_longer_has() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("snaps");
        write(&root.join("jwks/valid.snap"), "builtin:jwks", "valid", "u");
        write(
            &root.join("jwks/gone-case.snap"),
            "builtin:jwks",
            "gone-case",
            "u",
        );
        write(&root.join("old/x.snap"), "builtin:nosuch", "x", "u");
        std::fs::write(root.join("jwks/.valid.snap.123.tmp"), "").unwrap();
        std::fs::create_dir_all(root.join("legacy")).unwrap();
        std::fs::write(
            root.join("legacy/valid.snap"),
            "---\nsource: src/x.rs\n---\n{}\n",
        )
        .unwrap();
        let plan = plan_prune(&root, dir.path()).unwrap();
        let stale: Vec<_> = plan
            .stale
            .iter()
            .map(|s| s.path.strip_prefix(&root).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            stale,
            [
                PathBuf::from("jwks/.valid.snap.123.tmp"),
                PathBuf::from("jwks/gone-case.snap")
            ]
        );
        assert_eq!(plan.unjudged.len(), 2, "{plan:?}");
        prune(&root, &plan).unwrap();
        assert!(root.join("jwks/valid.snap").exists());
        assert!(!root.join("jwks/gone-case.snap").exists());
        assert_eq!(folders(&root).unwrap().len(), 3);
    }
}
