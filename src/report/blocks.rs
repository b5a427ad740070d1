//! What the terminal reporter prints after the run: one block per cause (what is wrong, the
//! cases, what one of them looked like, why, the fix, the command that runs them again), the
//! snapshot blocks and the aligned summary, each wrapped to the terminal's width.

use super::*;

use super::style::{Paint, wrap};

pub(super) fn policy_excerpt(doc: &Value) -> String {
    if let Some(allowed) = doc.get("isAuthorized") {
        return format!("isAuthorized: {allowed}");
    }
    let principal = doc
        .get("principalId")
        .map_or("(none)".to_string(), |p| p.to_string());
    let statements: Vec<String> = match doc.pointer("/policyDocument/Statement") {
        Some(Value::Array(items)) => items.iter().collect::<Vec<_>>(),
        Some(v) => vec![v],
        None => Vec::new(),
    }
    .iter()
    .map(|st| {
        let effect = st.get("Effect").and_then(Value::as_str).unwrap_or("?");
        let resource = match st.get("Resource") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "?".into(),
        };
        format!("{effect} {resource}")
    })
    .collect();
    if statements.is_empty() {
        let text = doc.to_string();
        let mut cut: String = text.chars().take(200).collect();
        if cut.len() < text.len() {
            cut.push('…');
        }
        return cut;
    }
    format!("principalId {principal}; {}", statements.join("; "))
}

/// What calibration found, in one sentence for the terminal and the Markdown report.
pub(super) fn calibration_line(c: &crate::conform::calibrate::Calibration) -> String {
    // Single changes each with what it got; pairs (up to dozens) counted.
    let mut tried: Vec<String> = c
        .tried
        .iter()
        .filter(|t| !t.variant.contains(" + "))
        .map(|t| format!("{}: {}", t.variant, printable_line(&t.got)))
        .collect();
    let pairs = c
        .tried
        .iter()
        .filter(|t| t.variant.contains(" + ") && !t.allowed)
        .count();
    if pairs > 0 {
        tried.push(format!(
            "{pairs} pair(s) of changes refused too (report.json lists each)"
        ));
    }
    match &c.baseline {
        Some(name) => {
            let variants = crate::conform::calibrate::variants_named(name);
            format!(
                "calibrated: the good token as the profile sends it got {}; the run {} instead ({name}{})",
                printable_line(&c.profile_form),
                crate::conform::calibrate::run_does(&variants),
                if c.tried.len() > 1 {
                    format!(", after {} other form(s) were refused", c.tried.len() - 1)
                } else {
                    String::new()
                }
            )
        }
        None => format!(
            "calibration: the good token was refused in every form tried: as the profile sends it, {}; {}; the run goes on with the profile's form",
            printable_line(&c.profile_form),
            if tried.is_empty() {
                "no other form applies".to_string()
            } else {
                tried.join("; ")
            }
        ),
    }
}

/// Names of cases, comma-separated, cut after `limit` with a count of the rest.
fn case_list(names: &[String], limit: usize) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(limit)
        .map(|n| printable_line(n))
        .collect();
    if names.len() > limit {
        shown.push(format!("and {} more", names.len() - limit));
    }
    shown.join(", ")
}

fn expected_words(case: &CaseResult) -> String {
    if case.expected == "allow" {
        "allow".to_string()
    } else if case.kind == "matrix" {
        // A valid token on a route its holder may not call: API Gateway's 403.
        "deny (403: a valid token, on a route its principal may not call)".to_string()
    } else {
        format!(
            "reject (the error `Unauthorized`, 401){}",
            case.reason
                .as_ref()
                .map(|r| format!(" because: {r}"))
                .unwrap_or_default()
        )
    }
}

fn actual_words(case: &CaseResult) -> String {
    match case.observed {
        Some(o) => format!("{o} ({})", case.detail),
        None => case.detail.clone(),
    }
}

/// One block per cause: what is wrong, the cases it covers, what one of them looked like, why
/// it matters and the fix. A cause of one case reads exactly as that case's failure.
pub(super) fn cause_block(cause: &Cause, report: &RunReport, p: &Paint, width: usize) -> String {
    let cases: Vec<&CaseResult> = cause
        .cases
        .iter()
        .filter_map(|n| report.cases.iter().find(|c| &c.name == n))
        .collect();
    let Some(first) = cases.first() else {
        return String::new();
    };
    let label = format!(
        "{}[{}]",
        if cause.fails { "error" } else { "warning" },
        cause.kind.name()
    );
    let head = if cause.fails {
        p.red(&label)
    } else {
        p.yellow(&label)
    };
    let what = if cause.kind == CauseKind::CouldNotAsk {
        "could not ask the authorizer".to_string()
    } else {
        printable(&cause.message)
    };
    let head = if cases.len() == 1 {
        format!(
            "{head} {}: {}: {what}",
            cause.id,
            p.bold(&printable_line(&first.name))
        )
    } else {
        format!("{head} {}: {what}: {} cases", cause.id, cases.len())
    };
    let mut b = wrap(&head, width, "", "    ") + "\n";
    let at = if cases.len() == 1 {
        format!(
            "{}: case `{}`, {}",
            report.scenario,
            printable_line(&first.name),
            first.route
        )
    } else {
        report.scenario.clone()
    };
    b.push_str(&wrap(&at, width, "  --> ", "      "));
    b.push_str("\n   |\n");
    // `|` continues the block with a line of its own (already printable); the others hang
    // their wrapped lines under their text.
    let mut line = |k: &str, v: &str| {
        let wrapped = match k {
            "|" => wrap(v, width, "   |   ", "   |     "),
            // A command is copied whole: a line break inside it would not paste back.
            "rerun:" | "rerun one:" => {
                let (command, note) = v.rsplit_once(" (with ").unwrap_or((v, ""));
                let mut lines = format!("   = {k:<9} {}", printable(command));
                if !note.is_empty() {
                    let note = format!("(with {note}");
                    lines.push('\n');
                    lines.push_str(&wrap(&note, width, &" ".repeat(15), &" ".repeat(15)));
                }
                lines
            }
            _ => wrap(
                &printable(v),
                width,
                &format!("   = {k:<9} "),
                &" ".repeat(15),
            ),
        };
        b.push_str(&wrapped);
        b.push('\n');
    };
    if cause.covers_every_case {
        line(
            "note:",
            "every case that went wrong shows this: fix it first, then run again",
        );
    }
    if cases.len() > 1 {
        line("cases:", &case_list(&cause.cases, 40));
    }
    if cause.kind == CauseKind::CouldNotAsk {
        line("actual:", &first.detail);
        line("fix:", &cause.fix);
        return b;
    }
    let matrix = first.kind == "matrix";
    let example = match (cases.len() > 1, matrix) {
        (true, _) => "first:",
        (false, true) => "cell:",
        (false, false) => "token:",
    };
    if matrix {
        line(example, &format!("{}, {}", first.what, first.route));
    } else {
        line(example, &format!("{} ({})", first.kind, first.what));
    }
    if cases.len() == 1 || matrix {
        line("expected:", &expected_words(first));
    } else if first.expected == "allow" {
        line("expected:", "allow");
    } else {
        // Each case is bad for its own reason; the reasons are in the per-case lines.
        line("expected:", "reject (the error `Unauthorized`, 401)");
    }
    // The message often quotes the detail already (a crash's type, message and line): once.
    if first.detail.is_empty() || !cause.message.contains(&first.detail) {
        line("actual:", &actual_words(first));
    } else if let Some(o) = first.observed {
        line("actual:", &o.to_string());
    }
    if let Some(doc) = &first.response {
        line("policy:", &policy_excerpt(doc));
    }
    if !first.output.is_empty() {
        line(
            "output:",
            "the handler's last lines (`-v` shows all, report.json keeps them)",
        );
        for l in output_lines(&first.output, BLOCK_OUTPUT_LINES) {
            line("|", &l);
        }
    }
    if cases.len() == 1 {
        for note in &first.notes {
            line("note:", note);
        }
    }
    line("why:", &cause.why);
    line("fix:", &cause.fix);
    if cause.fails {
        let (label, command) = rerun(cause, report);
        line(label, &command);
    }
    if cause.kind == CauseKind::Regression {
        // One diff per distinct change, named by the cases that show it.
        let mut diffs: Vec<(&str, Vec<&str>)> = Vec::new();
        for case in &cases {
            if let Some(SnapshotStatus::Changed { diff }) = &case.snapshot {
                match diffs.iter_mut().find(|(d, _)| *d == diff.as_str()) {
                    Some((_, names)) => names.push(&case.name),
                    None => diffs.push((diff, vec![&case.name])),
                }
            }
        }
        for (diff, names) in diffs {
            let shown = match names.len() {
                1 => printable_line(names[0]),
                n => format!("{} and {} more case(s)", printable_line(names[0]), n - 1),
            };
            b.push_str(&format!("   |\n   | {shown}:\n"));
            for l in crate::report::style::diff_lines(diff, *p) {
                b.push_str(&format!("   | {l}\n"));
            }
        }
    }
    b
}

/// How many of a cause's cases the rerun line names; past it, the first one alone (one case
/// shows whether the defect is fixed).
const RERUN_CASES: usize = 3;

/// The command that runs a failing cause's cases again, with the run's profile and target;
/// a `lambda:` run also needs its own `--workdir` and `--env`, which the report does not keep.
fn rerun(cause: &Cause, report: &RunReport) -> (&'static str, String) {
    let mut words = vec!["authprobe".to_string(), "conform".to_string()];
    match crate::conform::profile::builtin_name(&report.scenario) {
        Some(name) => words.extend(["--profile".into(), name.to_string()]),
        None => words.extend(["--scenario".into(), shell_word(&report.scenario)]),
    }
    if report.target != format!("builtin:{}", report.profile) {
        words.extend(["--target".into(), shell_word(&report.target)]);
    }
    let (label, cases) = if cause.cases.len() <= RERUN_CASES {
        ("rerun:", &cause.cases[..])
    } else {
        ("rerun one:", &cause.cases[..1])
    };
    for case in cases {
        words.extend(["--case".into(), shell_word(case)]);
    }
    if cause.kind == CauseKind::Regression
        && let Some(dir) = &report.snapshot_dir
    {
        words.extend([
            "--snapshots".into(),
            shell_word(&crate::report::shown_path(dir)),
        ]);
    }
    let mut command = words.join(" ");
    // What the report does not keep, named rather than guessed.
    let mut missing = Vec::new();
    if report.target.starts_with("lambda:") {
        missing.push("--workdir and --env");
    }
    if report.target.starts_with("aws-lambda:") {
        missing.push("--region and --profile-name");
    }
    if report.profile == crate::tokens::Profile::Cognito {
        missing.push("--token-use");
    }
    if !missing.is_empty() {
        command.push_str(&format!(
            " (with this run's {}, if any)",
            missing.join(", ")
        ));
    }
    (label, command)
}

/// `word` as a POSIX shell reads it back: bare when it is plain, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@,+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Lines of a case's output a failure block shows.
const BLOCK_OUTPUT_LINES: usize = 8;

/// The last `n` lines of `output` as `stream | text`, printable, with a line for what was
/// left out.
pub(super) fn output_lines(output: &crate::target::output::Output, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let hidden = output.lines.len().saturating_sub(n) + output.dropped;
    if hidden > 0 {
        lines.push(format!("… {hidden} line(s) not shown"));
    }
    lines.extend(
        output
            .last(n)
            // Runtime clients separate a record's fields with tabs: spaces read better.
            .map(|l| {
                let text = l.text.replace('\t', "  ");
                format!("{:<6} | {}", l.stream.name(), printable_line(&text))
            }),
    );
    lines
}

/// The snapshots a run wrote for the first time, each policy in one line: a wrong policy
/// accepted now would be the standard every later run is held to, so it is shown before it is
/// committed.
pub(super) fn new_snapshots_block(
    report: &RunReport,
    name_hint: bool,
    p: &Paint,
    width: usize,
) -> Option<String> {
    let new: Vec<&CaseResult> = report
        .cases
        .iter()
        .filter(|c| c.snapshot == Some(SnapshotStatus::New))
        .collect();
    let dir = report.snapshot_dir.as_deref()?;
    if new.is_empty() {
        return None;
    }
    let names = new.iter().map(|c| c.name.len()).max().unwrap_or(0).min(30);
    let head = format!(
        "{}: {} policy snapshot(s) written to {}: read each before you commit them",
        p.bold("new snapshots"),
        new.len(),
        printable_line(&crate::report::shown_path(dir))
    );
    let mut block = wrap(&head, width, "", "  ") + "\n";
    for case in new {
        let policy = case
            .response
            .as_ref()
            .map_or_else(String::new, |doc| printable_line(&policy_excerpt(doc)));
        let row = format!("  {:<names$}  {}", printable_line(&case.name), policy);
        block.push_str(&wrap(&row, width, "", &" ".repeat(names + 4)));
        block.push('\n');
    }
    if name_hint {
        let tip = format!(
            "the folder is named after this target and profile; `--name NAME` (or `name = \"NAME\"` in a profile file) keeps them in {}/NAME whatever the target's spelling",
            crate::conform::snapshot::SNAPSHOT_ROOT
        );
        block.push_str(&wrap(
            &tip,
            width,
            &format!("   = {}: ", p.dim("tip")),
            "         ",
        ));
        block.push('\n');
    }
    Some(block)
}

/// A snapshot that could not be kept is reported on its case.
pub(super) fn snapshot_block(
    case: &CaseResult,
    report: &RunReport,
    p: &Paint,
    width: usize,
) -> Option<String> {
    let Some(SnapshotStatus::Error { message }) = &case.snapshot else {
        return None;
    };
    Some(format!(
        "{}: {}: the policy snapshot could not be kept\n{}\n{}\n",
        p.red("error[snapshot]"),
        p.bold(&printable_line(&case.name)),
        wrap(
            &format!("{}: case `{}`", report.scenario, printable_line(&case.name)),
            width,
            "  --> ",
            "      "
        ),
        wrap(&printable(message), width, "   = ", "     ")
    ))
}

pub(super) fn summary(
    report: &RunReport,
    report_dir: Option<&Path>,
    p: &Paint,
    width: usize,
) -> String {
    let s = &report.summary;
    let verdict = match (report.interrupted, report.exit_code()) {
        (Some(signal), _) => p.red(&format!(
            "INTERRUPTED by {} after {} of {} case(s)",
            signal.name(),
            s.total - s.skipped,
            s.total
        )),
        (_, 0) => p.green("PASSED"),
        (_, 1) if report.nothing_judged() => {
            p.red("FAILED (nothing was judged: every case was skipped)")
        }
        (_, 1) if s.inconclusive > 0 && s.failed == 0 => p.red(&format!(
            "FAILED (inconclusive: no form of the good token was allowed, so {} rejection(s) prove nothing)",
            s.inconclusive
        )),
        (_, 1) => p.red("FAILED"),
        _ => p.red("COULD NOT RUN"),
    };
    let mut rows: Vec<(&str, String)> = vec![
        (
            "profile",
            format!("{} ({})", report.profile, report.scenario),
        ),
        ("target", report.target.clone()),
        (
            "result",
            format!(
                "{verdict}: {} passed, {} failed, {} warning(s), {} inconclusive, {} could not be asked, {} skipped, of {}",
                s.passed, s.failed, s.warned, s.inconclusive, s.errored, s.skipped, s.total
            ),
        ),
        (
            "findings",
            format!(
                "{} cause(s); cases with security {}, availability {}, hardening {}, contract {}, regression {} findings",
                report.causes.len(),
                s.security,
                s.availability,
                s.hardening,
                s.contract,
                s.regression
            ),
        ),
    ];
    if let Some(c) = &report.calibration {
        rows.push(("baseline", calibration_line(c)));
    }
    if let Some(first) = crate::conform::cause::first_fix(&report.causes) {
        rows.push((
            "fix first",
            format!(
                "{} [{}] {} ({} case(s))",
                first.id,
                first.kind.name(),
                printable_line(&first.fix),
                first.cases.len()
            ),
        ));
    }
    if let Some(dir) = &report.snapshot_dir {
        rows.push((
            "snapshots",
            format!(
                "{} matched, {} new, {} changed, {} updated{}{} ({})",
                s.snapshots_matched,
                s.snapshots_new,
                s.snapshots_changed,
                s.snapshots_updated,
                if s.snapshots_missing > 0 {
                    format!(", {} missing", s.snapshots_missing)
                } else {
                    String::new()
                },
                if s.snapshots_failed > 0 {
                    format!(", {} could not be kept", s.snapshots_failed)
                } else {
                    String::new()
                },
                crate::report::shown_path(dir)
            ),
        ));
    }
    rows.push((
        "idp",
        format!(
            "{} JWKS fetch(es), {} fetch(es) of token-supplied URLs",
            report.jwks_fetches, report.attacker_fetches
        ),
    ));
    if let Some(k) = &report.key_source {
        rows.push(("keys", k.summary.clone()));
    }
    if let Some(d) = &report.deployed {
        rows.push((
            "deployed",
            format!(
                "{} request(s) sent; the listed cases may send at most {}",
                d.sent, d.limit
            ),
        ));
    }
    let mut warm: Vec<f64> = report
        .cases
        .iter()
        .filter(|c| c.observed.is_some() && !c.cold)
        .map(|c| c.elapsed_ms)
        .collect();
    warm.sort_by(f64::total_cmp);
    let cold = &report.target_stats.cold_starts_ms;
    let mut latency = match warm.get(warm.len() / 2) {
        Some(median) => format!(
            "warm answers: median {median:.2} ms over {} case(s)",
            warm.len()
        ),
        None => "no warm answers".to_string(),
    };
    if !cold.is_empty() {
        let mean = cold.iter().sum::<f64>() / cold.len() as f64;
        latency.push_str(&format!(
            "; {} cold start(s), {mean:.0} ms on average; {} environment(s) replaced",
            cold.len(),
            report.target_stats.replaced
        ));
    }
    rows.push(("latency", latency));
    rows.push((
        "time",
        format!(
            "{:.2} s (single-token cases {:.2} s)",
            report.duration_ms / 1e3,
            report.catalogue_ms / 1e3
        ),
    ));
    if let Some(dir) = report_dir {
        rows.push(("reports", format!("{}/", dir.display())));
    }
    let mut out = String::new();
    for (k, v) in rows {
        // Padded before it is styled: escape codes are not width.
        let label = format!("{}  ", p.bold(&format!("{k:>10}")));
        out.push_str(&wrap(&v, width, &label, &" ".repeat(12)));
        out.push('\n');
    }
    out
}
