//! Completions that know the run, through clap_complete's environment-driven engine: the shell
//! calls `authprobe` back with `AUTHPROBE_COMPLETE=SHELL` and the words typed so far, and
//! these functions answer with what fits there: the case names of the profile the line names,
//! token kinds, built-in load scenarios and the target forms.
//!
//! A completer sees only the word being completed, so the profile is read from the rest of the
//! line (`std::env::args`, after the `--` the shell script puts before it), as `conform`
//! itself would pick it: `--scenario FILE`, else `--profile NAME`, else a `builtin:NAME`
//! target's profile, else jwks.

use std::ffi::OsStr;

use clap_complete::engine::CompletionCandidate;

/// The variable the shell scripts set: authprobe's own, not clap_complete's default `COMPLETE`,
/// which another tool may leave set (and which would then stop every run).
pub const VAR: &str = "AUTHPROBE_COMPLETE";

/// Answers a completion request and exits, when the shell asked for one
/// (`AUTHPROBE_COMPLETE` set); otherwise returns and the run goes on.
pub fn complete_if_asked() {
    clap_complete::CompleteEnv::with_factory(super::manual::command)
        .var(VAR)
        .complete();
}

/// The dynamic completion script of `shell`, to source or keep in the shell's completion
/// folder: it calls `authprobe` back for every completion.
pub fn registration(
    shell: clap_complete::Shell,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let name = shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(&name)
        .expect("every clap_complete shell has a dynamic completer");
    completer.write_registration(VAR, "authprobe", "authprobe", "authprobe", out)
}

/// The words of the line being completed, or of the run (outside completion).
fn line() -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--") {
        Some(at) => args[at + 1..].to_vec(),
        None => args,
    }
}

/// The value of `--flag` on `line` (`--flag V` or `--flag=V`), the last one given.
fn flag<'a>(line: &'a [String], name: &str) -> Option<&'a str> {
    let mut found = None;
    for (i, word) in line.iter().enumerate() {
        if word == name {
            found = line.get(i + 1).map(String::as_str);
        } else if let Some(v) = word.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            found = Some(v);
        }
    }
    found
}

/// The profile the line names, as `conform` would read it; None when it cannot be read.
fn profile_of(line: &[String]) -> Option<crate::conform::profile::ProfileSpec> {
    use crate::conform::profile;
    if let Some(file) = flag(line, "--scenario") {
        return profile::load(std::path::Path::new(file)).ok();
    }
    let name = flag(line, "--profile")
        .map(str::to_string)
        .or_else(|| {
            flag(line, "--target")?
                .strip_prefix("builtin:")
                .map(str::to_string)
        })
        .unwrap_or_else(|| "jwks".to_string());
    profile::builtin(&name).ok()
}

fn starting_with<'a>(
    current: &OsStr,
    items: impl IntoIterator<Item = (String, &'a str)>,
) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    items
        .into_iter()
        .filter(|(value, _)| value.starts_with(current.as_ref()))
        .map(|(value, help)| CompletionCandidate::new(value).help(Some(help.to_string().into())))
        .collect()
}

/// `--case`: the case names of the line's profile.
pub fn cases(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(spec) = profile_of(&line()) else {
        return Vec::new();
    };
    let cells = spec
        .matrix
        .iter()
        .flat_map(|m| &m.principals)
        .flat_map(|p| {
            spec.routes.iter().map(move |r| {
                (
                    format!("{} {r}", p.name),
                    "a cell of the authorization matrix",
                )
            })
        });
    starting_with(
        current,
        spec.cases
            .iter()
            .map(|c| (c.name.clone(), c.what()))
            .chain(cells),
    )
}

/// `--kind` and `token mint KIND`: every token kind, with what it is.
pub fn kinds(current: &OsStr) -> Vec<CompletionCandidate> {
    starting_with(
        current,
        crate::tokens::Kind::ALL
            .iter()
            .map(|k| (k.name().to_string(), k.what())),
    )
}

/// `load --scenario`: the built-in scenarios, then scenario files under the current folder.
pub fn load_scenarios(current: &OsStr) -> Vec<CompletionCandidate> {
    let mut found = starting_with(
        current,
        crate::load::scenario::builtin_names()
            .into_iter()
            .map(|n| (n.to_string(), "built-in scenario")),
    );
    use clap_complete::engine::ValueCompleter as _;
    found.extend(clap_complete::engine::PathCompleter::file().complete(current));
    found
}

/// `--target`: the built-in authorizers and the forms of the others.
pub fn targets(current: &OsStr) -> Vec<CompletionCandidate> {
    let builtin = crate::conform::profile::BUILTIN.iter().map(|(name, _)| {
        (
            format!("builtin:{name}"),
            "the built-in reference authorizer",
        )
    });
    let forms = [
        (
            "lambda:",
            "a handler command, run behind the embedded Runtime API",
        ),
        (
            "invoke:http://127.0.0.1:",
            "a Lambda Invoke endpoint (sam local, an emulator)",
        ),
        (
            "url:http://127.0.0.1:",
            "an HTTP endpoint of the authorizer",
        ),
        (
            "aws-lambda:",
            "a deployed function: name, name:alias or ARN",
        ),
    ]
    .into_iter()
    .map(|(form, help)| (form.to_string(), help));
    starting_with(current, builtin.chain(forms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn a_flag_is_read_in_both_spellings_and_the_last_one_counts() {
        let line = words("authprobe conform --profile static --profile=hs256 --case x");
        assert_eq!(flag(&line, "--profile"), Some("hs256"));
        assert_eq!(flag(&line, "--scenario"), None);
    }

    #[test]
    fn the_profile_follows_the_line_as_conform_picks_it() {
        let name = |line: &str| profile_of(&words(line)).map(|p| p.cases.len());
        let static_cases = crate::conform::profile::builtin("static")
            .unwrap()
            .cases
            .len();
        let jwks_cases = crate::conform::profile::builtin("jwks")
            .unwrap()
            .cases
            .len();
        assert_eq!(
            name("authprobe conform --profile static"),
            Some(static_cases)
        );
        assert_eq!(
            name("authprobe conform --target builtin:static"),
            Some(static_cases)
        );
        assert_eq!(name("authprobe conform"), Some(jwks_cases));
        assert_eq!(name("authprobe conform --scenario /nonexistent.toml"), None);
    }
}
