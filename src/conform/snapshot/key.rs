//! Which folder a run's snapshots live in. A folder is keyed by what judged the authorizer and
//! what the authorizer is: the profile (a built-in one by its name, a profile file by its
//! path), the handler (its reference and script, never the interpreter that runs it nor the
//! launcher around it) and the `--workdir`, with every path relative to the repository root.
//! The same handler run as `.venv/bin/python -m awslambdaric app.handler` on a laptop and
//! `python3 -m awslambdaric app.handler` in CI finds one folder.

use std::path::{Component, Path, PathBuf};

use crate::target::TargetSpec;

/// The parent folder of every default snapshot folder, relative to the current directory.
pub const SNAPSHOT_ROOT: &str = "scenarios/snapshots";

/// Which profile judged, as snapshot headers and folders name it: `builtin:NAME` for an
/// embedded profile, else the profile file's path relative to the repository root (a file
/// named like a built-in profile is not that profile; `external:NAME` for one outside the
/// repository), with `+id` or `+access` when `--token-use` changed its cases.
pub fn profile_label(
    origin: &str,
    token_use: Option<crate::tokens::TokenUse>,
    cwd: &Path,
) -> String {
    let repo = repository_root(cwd);
    let label = match crate::conform::profile::builtin_name(origin) {
        Some(name) => format!("builtin:{name}"),
        None => {
            let path = Path::new(origin);
            let absolute = normalize(&if path.is_absolute() {
                path.to_path_buf()
            } else {
                cwd.join(path)
            });
            let shown = portable(path, cwd, &repo);
            // Outside the repository only its name is kept, which names no file to read back.
            if absolute.starts_with(normalize(&repo)) {
                shown
            } else {
                format!("external:{shown}")
            }
        }
    };
    match token_use {
        Some(token_use) => format!("{label}+{token_use}"),
        None => label,
    }
}

/// The default snapshot folder of a run, relative to the current directory `cwd`:
/// `scenarios/snapshots/NAME` when the run is named (`--name`, or `name` in the profile), else
/// `scenarios/snapshots/PROFILE/TARGET[-in-WORKDIR]`. PROFILE is a built-in profile's name,
/// or a profile file's path (see [`profile_label`]) made a slug; TARGET is the
/// target, a `lambda:` command reduced to its handler ([`handler_key`]); WORKDIR is
/// `--workdir` relative to the repository root. The repository root is the nearest folder
/// from `cwd` up that holds `.git` (`cwd` itself when there is none). No absolute or temporary
/// path reaches the folder name, so the same run finds the same snapshots on every machine.
pub fn default_dir(
    name: Option<&str>,
    profile: &str,
    target: &TargetSpec,
    workdir: Option<&Path>,
    cwd: &Path,
) -> PathBuf {
    let root = Path::new(SNAPSHOT_ROOT);
    if let Some(name) = name {
        return root.join(name);
    }
    let repo = repository_root(cwd);
    let profile = match profile.strip_prefix("builtin:") {
        Some(builtin) => builtin.replace('+', "-"),
        None => slug(profile.trim_start_matches("external:")),
    };
    let target = match target {
        TargetSpec::Lambda(words) => format!("lambda:{}", handler_key(words, cwd, &repo)),
        other => other.to_string(),
    };
    let mut leaf = slug(&target);
    if let Some(dir) = workdir.map(|w| portable(w, cwd, &repo))
        && !dir.is_empty()
    {
        leaf = format!("{leaf}-in-{}", slug(&dir));
    }
    root.join(profile).join(leaf)
}

/// The nearest folder from `cwd` up that holds `.git` (a folder, or a file in a worktree);
/// `cwd` when there is none.
pub fn repository_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|dir| dir.join(".git").exists())
        .unwrap_or(cwd)
        .to_path_buf()
}

/// Programs that run another command: their words (and their options) are not the handler.
/// A name followed by a word: the launcher only with that subcommand (`uv run`).
const LAUNCHERS: &[(&str, Option<&str>)] = &[
    ("env", None),
    ("exec", None),
    ("nice", None),
    ("time", None),
    ("npx", None),
    ("bunx", None),
    ("pnpx", None),
    ("uv", Some("run")),
    ("poetry", Some("run")),
    ("pipenv", Some("run")),
    ("pdm", Some("run")),
    ("hatch", Some("run")),
    ("rye", Some("run")),
    ("pnpm", Some("exec")),
    ("npm", Some("exec")),
    ("yarn", Some("exec")),
    ("bundle", Some("exec")),
];

/// Interpreters, by the name their program has without version digits (`python3.12`,
/// `node20`) or `.exe`.
const INTERPRETERS: &[&str] = &[
    "python", "pypy", "node", "nodejs", "ruby", "java", "dotnet", "bun", "deno", "php", "perl",
    "sh", "bash",
];

/// Interpreter options that take the next word as their value.
const OPTIONS_WITH_VALUE: &[&str] = &[
    "-W",
    "-X",
    "-r",
    "--require",
    "--import",
    "--loader",
    "--experimental-loader",
    "-cp",
    "-classpath",
    "--class-path",
];

/// Folders whose contents are installed, not written: a program inside one is named by its
/// file name (a package's, under `node_modules`). Built code of the user's own (`dist/`,
/// `build/`) keeps its path: two handlers there are two handlers.
const INSTALLED: &[&str] = &["node_modules", "site-packages", ".venv", "venv", "target"];

/// How many words the launcher at the front of `words` takes (its name, its subcommand, its
/// options and, for `env`, its `NAME=VALUE` words); `None` when there is none.
fn launcher_words(words: &[String]) -> Option<usize> {
    let name = program_name(words.first()?);
    let (launcher, sub) = LAUNCHERS.iter().find(|(launcher, sub)| {
        *launcher == name && sub.is_none_or(|sub| words.get(1).map(String::as_str) == Some(sub))
    })?;
    let mut taken = if sub.is_some() { 2 } else { 1 };
    while words
        .get(taken)
        .is_some_and(|w| w.starts_with('-') || (*launcher == "env" && w.contains('=')))
    {
        taken += 1;
    }
    Some(taken)
}

fn program_name(word: &str) -> String {
    let name = Path::new(word)
        .file_name()
        .map_or_else(|| word.to_string(), |n| n.to_string_lossy().into_owned());
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix(".exe").unwrap_or(&name);
    name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-')
        .to_string()
}

/// The words of a `lambda:` command that say which handler it runs: launchers (`uv run`,
/// `env X=1`, `npx`), the interpreter and its options are dropped (`-m MODULE` keeps the
/// module), paths are made relative to the repository root `repo`, and a program inside an
/// installed folder of the repository (`.venv/bin/…`, `node_modules/…`, `target/release/…`)
/// is named by its file name. Joined with spaces.
pub fn handler_key(words: &[String], cwd: &Path, repo: &Path) -> String {
    let mut rest = words;
    // Launchers, each with its own options and `NAME=VALUE` words.
    while let Some(skip) = launcher_words(rest) {
        rest = &rest[skip..];
    }
    // The interpreter and its options.
    if rest
        .first()
        .is_some_and(|w| INTERPRETERS.contains(&program_name(w).as_str()))
    {
        rest = &rest[1..];
        while let Some(word) = rest.first() {
            if word == "-m" || word == "--" {
                rest = &rest[1..];
                break;
            }
            if !word.starts_with('-') {
                break;
            }
            let takes_value = OPTIONS_WITH_VALUE.contains(&word.as_str());
            rest = &rest[if takes_value { 2 } else { 1 }.min(rest.len())..];
        }
    }
    let mut key = Vec::with_capacity(rest.len());
    for (i, word) in rest.iter().enumerate() {
        let path = Path::new(word);
        let is_path = word.contains('/') || path.is_absolute();
        if is_path {
            let relative = portable(path, cwd, repo);
            let installed = (i == 0).then(|| installed_name(Path::new(&relative)));
            key.push(installed.flatten().unwrap_or(relative));
        } else {
            key.push(word.clone());
        }
    }
    key.join(" ")
}

/// A program's name when it sits in an installed folder: the package under `node_modules`,
/// else its file name.
fn installed_name(path: &Path) -> Option<String> {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let at = parts.iter().position(|p| INSTALLED.contains(&p.as_str()))?;
    if parts[at] == "node_modules" {
        let package = parts.get(at + 1)?;
        if package == ".bin" {
            return parts.get(at + 2).cloned();
        }
        if package.starts_with('@') {
            return Some(format!("{package}/{}", parts.get(at + 2)?));
        }
        return Some(package.clone());
    }
    parts.last().cloned()
}

/// `path` as it reads the same on every machine: relative to the repository root `repo`
/// (a relative path is taken from `cwd` first), without `.` or `..` parts; a path outside the
/// repository is reduced to its file name.
pub fn portable(path: &Path, cwd: &Path, repo: &Path) -> String {
    let absolute = normalize(&if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    });
    match absolute.strip_prefix(normalize(repo)) {
        Ok(rest) => rest.display().to_string(),
        Err(_) => absolute
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    }
}

/// `.` and `..` resolved by the words alone (no file system: the path need not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A file-name-safe slug, for the default snapshot folder.
pub fn slug(text: &str) -> String {
    let mut slug: String = text
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
    let slug = slug.trim_matches(|c| c == '-' || c == '.').to_string();
    if slug.len() <= 60 {
        return slug;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    let hex: String = digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}-{hex}", &slug[..50])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(command: &str) -> Vec<String> {
        command.split_whitespace().map(str::to_string).collect()
    }

    fn key(command: &str) -> String {
        let repo = Path::new("/home/ci/checkout");
        handler_key(&words(command), repo, repo)
    }

    #[test]
    fn one_handler_has_one_key_however_its_interpreter_is_spelled() {
        for spelling in [
            "python3 -m awslambdaric app.handler",
            "python -m awslambdaric app.handler",
            ".venv/bin/python -m awslambdaric app.handler",
            "/tmp/venv-a/bin/python3.12 -u -X dev -m awslambdaric app.handler",
            "/home/ci/checkout/.venv/bin/python -m awslambdaric app.handler",
            "uv run python -m awslambdaric app.handler",
            "poetry run python3 -m awslambdaric app.handler",
            "env PYTHONUNBUFFERED=1 python3 -m awslambdaric app.handler",
            "C:/Python312/python.exe -m awslambdaric app.handler",
        ] {
            assert_eq!(key(spelling), "awslambdaric app.handler", "{spelling}");
        }
        for spelling in [
            "npx aws-lambda-ric index.handler",
            "node node_modules/.bin/aws-lambda-ric index.handler",
            "node_modules/.bin/aws-lambda-ric index.handler",
            "node20 --require ./trace.js node_modules/aws-lambda-ric/bin/index.mjs index.handler",
        ] {
            assert_eq!(key(spelling), "aws-lambda-ric index.handler", "{spelling}");
        }
        // Built code of the user's own keeps its path.
        assert_eq!(
            key("node services/a/dist/index.js"),
            "services/a/dist/index.js"
        );
        assert_eq!(key("python3 -I main.py"), "main.py");
        for spelling in [
            "target/release/my-authorizer",
            "./target/debug/my-authorizer",
            "/home/ci/checkout/target/x86_64-unknown-linux-gnu/release/my-authorizer",
        ] {
            assert_eq!(key(spelling), "my-authorizer", "{spelling}");
        }
        // Scripts keep their path, relative to the repository root.
        assert_eq!(key("python3 handler/main.py"), "handler/main.py");
        assert_eq!(
            key("/usr/bin/python3 /home/ci/checkout/handler/main.py"),
            "handler/main.py"
        );
        assert_eq!(key("python3 /tmp/abc/main.py"), "main.py");
        // Different handlers stay apart.
        assert_ne!(
            key("python3 -m awslambdaric app.handler"),
            key("python3 -m awslambdaric app.other")
        );
    }

    #[test]
    fn default_folders_hold_no_machine_path() {
        let repo = Path::new("/home/ci/checkout");
        let lambda = |python: &str| {
            TargetSpec::Lambda(words(&format!("{python} -m awslambdaric app.handler")))
        };
        let dir = |target: &TargetSpec, workdir: Option<&str>, cwd: &Path| {
            default_dir(None, "builtin:cognito", target, workdir.map(Path::new), cwd)
        };
        let expected = Path::new(
            "scenarios/snapshots/cognito/lambda-awslambdaric-app.handler-in-examples-python-flawed",
        );
        for python in [
            "/tmp/venv-a/bin/python",
            "/home/ci/checkout/.venv/bin/python",
            "python3",
        ] {
            for workdir in [
                "/home/ci/checkout/examples/python/flawed",
                "examples/python/flawed",
                "./examples/python/flawed",
                "examples/python/../python/flawed",
            ] {
                assert_eq!(
                    dir(&lambda(python), Some(workdir), repo),
                    expected,
                    "{python} {workdir}"
                );
            }
        }
        // A workdir outside the repository: its name only.
        assert_eq!(
            dir(&lambda("python"), Some("/tmp/xyz123/flawed"), repo),
            Path::new("scenarios/snapshots/cognito/lambda-awslambdaric-app.handler-in-flawed")
        );
        assert_eq!(
            dir(
                &TargetSpec::Builtin(crate::tokens::Profile::Jwks),
                None,
                repo
            ),
            Path::new("scenarios/snapshots/cognito/builtin-jwks")
        );
        assert_eq!(
            default_dir(
                Some("team/api"),
                "builtin:jwks",
                &lambda("/x/python"),
                None,
                repo
            ),
            Path::new("scenarios/snapshots/team/api")
        );
    }

    #[test]
    fn a_profile_file_is_not_the_builtin_profile_of_the_same_name() {
        let repo = Path::new("/home/ci/checkout");
        let target = TargetSpec::Builtin(crate::tokens::Profile::Jwks);
        let builtin = default_dir(None, "builtin:jwks", &target, None, repo);
        let label = |origin: &str| profile_label(origin, None, repo);
        assert_eq!(label("scenarios/jwks.toml (built in)"), "builtin:jwks");
        assert_eq!(
            label("/home/ci/checkout/scenarios/jwks.toml"),
            "scenarios/jwks.toml"
        );
        assert_eq!(label("./scenarios/jwks.toml"), "scenarios/jwks.toml");
        assert_eq!(label("/tmp/elsewhere/jwks.toml"), "external:jwks.toml");
        assert_eq!(
            profile_label(
                "scenarios/cognito.toml (built in)",
                Some(crate::tokens::TokenUse::Id),
                repo
            ),
            "builtin:cognito+id"
        );
        let file = default_dir(None, &label("scenarios/jwks.toml"), &target, None, repo);
        assert_ne!(builtin, file);
        assert_eq!(
            file,
            Path::new("scenarios/snapshots/scenarios-jwks.toml/builtin-jwks")
        );
    }

    #[test]
    fn slugs_are_short_and_safe() {
        assert_eq!(slug("builtin:jwks"), "builtin-jwks");
        assert_eq!(
            slug("lambda:awslambdaric app.handler"),
            "lambda-awslambdaric-app.handler"
        );
        assert_eq!(slug("../x"), "x");
        assert!(slug(&format!("lambda:{}", "x".repeat(200))).len() <= 60);
    }
}
