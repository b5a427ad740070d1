//! What `--help` ends with and what every manual page holds beyond the options: the exit
//! codes, the environment and the files, written once here. `authprobe man` renders the pages
//! (one per command and subcommand) from the same clap definitions as `--help`.

use std::io::Write;

use clap::{CommandFactory, FromArgMatches};

use super::Cli;

/// The exit codes, as every command uses them.
pub const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "The run passed (contract and hardening warnings do not fail it unless --strict).",
    ),
    (
        "1",
        "The authorizer failed a case, a policy snapshot changed or was never accepted (in CI), a load threshold was missed, or nothing was judged (a run that proves nothing never passes).",
    ),
    (
        "2",
        "Bad usage: an argument, a profile or a scenario file that cannot be used (file:line:column: what was expected).",
    ),
    (
        "3",
        "Could not run: the target did not start or could not be asked, the IdP or the gateway could not start, keys, reports or snapshots could not be read or written.",
    ),
    (
        "130",
        "Stopped by SIGINT (Ctrl-C); what was judged is reported.",
    ),
    ("143", "Stopped by SIGTERM; what was judged is reported."),
];

/// The environment variables authprobe reads.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "CI, TF_BUILD",
        "Set (CI to anything but empty, 0 or false): a conform run is in CI, as with --ci: no policy snapshot is written and one never accepted fails the run.",
    ),
    (
        "AUTHPROBE_UPDATE_SNAPSHOTS",
        "always (accept changed snapshots, as --update-snapshots), unseen (write new ones, keep changes pending: the default outside CI) or no (write nothing: the default in CI).",
    ),
    (
        "AUTHPROBE_FORCE_PASS",
        "1: changed and missing snapshots are reported without failing the run.",
    ),
    (
        "NO_COLOR",
        "Set and not empty: no colour with --color auto, whatever else is set.",
    ),
    (
        "CLICOLOR, CLICOLOR_FORCE",
        "CLICOLOR=0: no colour with --color auto; CLICOLOR_FORCE set and not 0: colour with --color auto even when stdout is not a terminal.",
    ),
    (
        "COLUMNS",
        "The width terminal reports wrap to (default: the terminal's, else 100).",
    ),
    (
        "AUTHPROBE_COMPLETE",
        "Set by the completion script (authprobe completions SHELL) when it asks authprobe what fits the line: a shell's name answers a completion and exits.",
    ),
    (
        "RUST_LOG",
        "Diagnostics of authprobe's own steps on stderr, as tracing's filters: RUST_LOG=authprobe=debug (as -vv), authprobe::idp=trace, ...",
    ),
    (
        "AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_WEB_IDENTITY_TOKEN_FILE, ...",
        "The AWS SDK's configuration and credential chain, for aws-lambda: targets (--region and --profile-name override).",
    ),
    (
        "AWS_ENDPOINT_URL_LAMBDA, AWS_ENDPOINT_URL",
        "Where aws-lambda: sends its Invoke requests instead of the region's Lambda endpoint.",
    ),
];

/// The files and folders authprobe reads and writes, relative to where it runs.
pub const FILES: &[(&str, &str)] = &[
    (
        "keys/",
        "RSA signing keys (private files, mode 0600) and their JWKS, with --dir or keys generate; without them a run makes its own in a temporary folder.",
    ),
    (
        "scenarios/snapshots/",
        "Accepted policy snapshots (CASE.snap) and pending ones (CASE.snap.new), a folder per profile and target or per --name; authprobe snapshots reviews them.",
    ),
    (
        "reports/",
        "A folder per run (--report-dir): report.json, report.md, report.html, junit.xml; load.json, load.md, load.html for load runs.",
    ),
    (
        "*.toml",
        "Profiles (--scenario) and load scenarios; authprobe profile show NAME prints a built-in one.",
    ),
];

/// What `--help` ends with: the exit codes, and where the rest is.
pub fn help_footer() -> String {
    let mut text = String::from("Exit status:\n");
    for (code, what) in EXIT_STATUS {
        text.push_str(&hanging(&format!("  {code:<5}{what}"), 7, FOOTER_WIDTH));
    }
    text.push_str(
        "\nEnvironment and files: `authprobe man` (a page per command: `authprobe man conform`).",
    );
    text
}

/// The footer's width: under clap's own (100), so clap never re-wraps it.
const FOOTER_WIDTH: usize = 90;

/// `text` wrapped at `width` columns, every line after the first indented by `indent`.
fn hanging(text: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let body = text.trim_start();
    let mut line = text[..text.len() - body.len()].to_string();
    for word in body.split(' ') {
        let fits = line.chars().count() + 1 + word.chars().count() <= width;
        if !line.trim().is_empty() && !fits {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent);
        } else if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// The command line, with the help footer on every command.
pub fn command() -> clap::Command {
    let footer = help_footer();
    with_footer(Cli::command(), &footer)
}

fn with_footer(command: clap::Command, footer: &str) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut command = command.after_long_help(footer.to_string());
    for name in names {
        command = command.mut_subcommand(name, |sub| with_footer(sub, footer));
    }
    command
}

/// Parses the process's arguments (exits with clap's message on bad ones).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Every manual page: `authprobe`, then a page per command and subcommand
/// (`authprobe-gateway-serve`), each with the words that select it.
pub fn pages() -> Vec<(Vec<String>, clap::Command)> {
    let mut root = command().disable_help_subcommand(true);
    root.build();
    let mut pages = Vec::new();
    collect(&root, &mut Vec::new(), &mut pages);
    pages
}

fn collect(
    command: &clap::Command,
    path: &mut Vec<String>,
    pages: &mut Vec<(Vec<String>, clap::Command)>,
) {
    let name = std::iter::once("authprobe".to_string())
        .chain(path.iter().cloned())
        .collect::<Vec<_>>()
        .join("-");
    pages.push((path.clone(), command.clone().display_name(name)));
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        path.push(sub.get_name().to_string());
        collect(sub, path, pages);
        path.pop();
    }
}

/// Text made safe for roff: backslashes escaped, minus signs kept, and a line that would
/// start with a control character guarded.
fn roff(text: &str) -> String {
    text.replace('\\', "\\e")
        .replace('-', "\\-")
        .lines()
        .map(|line| {
            if line.starts_with('.') || line.starts_with('\'') {
                format!("\\&{line}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn section(out: &mut dyn Write, title: &str, entries: &[(&str, &str)]) -> std::io::Result<()> {
    writeln!(out, ".SH \"{title}\"")?;
    for (term, what) in entries {
        writeln!(out, ".TP\n\\fB{}\\fR\n{}", roff(term), roff(what))?;
    }
    Ok(())
}

/// Writes one manual page in roff: clap's sections (name, synopsis, description, options,
/// subcommands), then EXIT STATUS, ENVIRONMENT and FILES from the tables above, then the
/// version.
pub fn render(command: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if command.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(out)?;
    }
    section(out, "EXIT STATUS", EXIT_STATUS)?;
    section(out, "ENVIRONMENT", ENVIRONMENT)?;
    section(out, "FILES", FILES)?;
    man.render_version_section(out)
}
