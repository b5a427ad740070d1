//! The terminal reporter: a line per case as the run goes and, on a terminal, a live line with
//! the running case; then the blocks and the summary of `blocks`.

use super::*;

use std::io::IsTerminal;

use super::blocks::{cause_block, new_snapshots_block, output_lines, snapshot_block, summary};
use super::style::{Paint, wrap};

/// How much the terminal reporter prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// The failures and the summary (`-q`).
    Quiet,
    /// A line per case, the failures and the summary.
    #[default]
    Normal,
    /// As normal, with each case's raw response under its line (`-v`).
    Verbose,
}

/// Prints a line per case to `out` as the run goes, and progress to stderr when it is a
/// terminal.
pub struct Terminal<'a> {
    out: &'a mut (dyn Write + Send),
    paint: Paint,
    progress: bool,
    /// The live line (stderr, a terminal only): the running case, what it does, for how long.
    bar: Option<indicatif::ProgressBar>,
    /// When the running case stops waiting, if it waits: the live line shows what is left.
    deadline: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    verbosity: Verbosity,
    name_hint: bool,
    /// The width lines wrap to.
    width: usize,
}

impl<'a> Terminal<'a> {
    /// A terminal reporter writing to `out`.
    pub fn new(out: &'a mut (dyn Write + Send), color: bool) -> Self {
        Terminal {
            out,
            paint: Paint(color),
            progress: std::io::stderr().is_terminal(),
            bar: None,
            deadline: Default::default(),
            verbosity: Verbosity::Normal,
            name_hint: false,
            width: super::style::width(),
        }
    }

    /// The same reporter wrapping its lines to `width` columns.
    pub fn with_width(self, width: usize) -> Self {
        Terminal { width, ..self }
    }

    /// The same reporter suggesting `--name` when a run writes its first snapshots into a
    /// folder named after its target (the run had neither `--name` nor `--snapshots`).
    pub fn with_name_hint(self, name_hint: bool) -> Self {
        Terminal { name_hint, ..self }
    }

    /// The same reporter printing as much as `verbosity` says.
    pub fn with_verbosity(self, verbosity: Verbosity) -> Self {
        Terminal { verbosity, ..self }
    }

    /// Handles one event.
    pub fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Started {
                profile,
                target,
                total,
            } if self.verbosity != Verbosity::Quiet => {
                let _ = writeln!(
                    self.out,
                    "{} {total} cases of the {profile} profile against {target}",
                    self.paint.bold("conform")
                );
            }
            Event::Calibrated { calibration } => {
                let line = wrap(&calibration_line(calibration), self.width, "", "  ");
                let _ = writeln!(self.out, "{line}");
            }
            Event::Started { .. } => {}
            Event::CaseStarted {
                index,
                total,
                name,
                doing,
                wait,
            } => {
                *self.deadline.lock().expect("deadline lock") =
                    wait.map(|w| std::time::Instant::now() + w);
                if let Some(bar) = self.live(total) {
                    // The time shown is this case's.
                    bar.reset_elapsed();
                    bar.set_position(index.saturating_sub(1) as u64);
                    bar.set_message(format!(
                        "{}: {}",
                        printable_line(name),
                        printable_line(&doing)
                    ));
                }
            }
            Event::CaseDone {
                index,
                total,
                result,
            } => {
                let mut lines = Vec::new();
                if self.verbosity != Verbosity::Quiet {
                    lines.push(self.case_line(result));
                }
                if self.verbosity == Verbosity::Verbose
                    && let Some(response) = &result.response
                {
                    let text = serde_json::to_string_pretty(response).unwrap_or_default();
                    for line in printable(&text).lines() {
                        lines.push(self.paint.dim(&wrap(
                            line,
                            self.width,
                            "        ",
                            "          ",
                        )));
                    }
                }
                if self.verbosity == Verbosity::Verbose {
                    for line in output_lines(&result.output, usize::MAX) {
                        lines.push(self.paint.dim(&wrap(
                            &line,
                            self.width,
                            "        ",
                            "                 ",
                        )));
                    }
                }
                let out = &mut self.out;
                let mut print = || {
                    for line in &lines {
                        let _ = writeln!(out, "{line}");
                    }
                    let _ = out.flush();
                };
                match &self.bar {
                    // The line is lifted while the case's lines are printed under it.
                    Some(bar) => bar.suspend(print),
                    None => print(),
                }
                if let Some(bar) = &self.bar {
                    *self.deadline.lock().expect("deadline lock") = None;
                    bar.set_position(index as u64);
                    bar.set_message("running…");
                    if index >= total {
                        bar.finish_and_clear();
                        self.bar = None;
                    }
                }
            }
        }
    }

    /// The live line, made on first use when stderr is a terminal.
    fn live(&mut self, total: usize) -> Option<&indicatif::ProgressBar> {
        if !self.progress {
            return None;
        }
        let deadline = self.deadline.clone();
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            // "12s, 4 s left" while a case waits for something with a deadline.
            let left = move |_: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                let at = *deadline.lock().expect("deadline lock");
                let _ = out.write_str(&time_left(at, std::time::Instant::now()));
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template("[{pos}/{len}] {wide_msg} {elapsed}{left}")
                    .expect("template")
                    .with_key("left", left),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        Some(bar)
    }

    fn case_line(&self, r: &CaseResult) -> String {
        let p = &self.paint;
        let label = match r.status {
            Status::Passed => p.green("ok  "),
            Status::Warned => p.yellow("warn"),
            Status::Failed => p.red("FAIL"),
            Status::Errored => p.red("ERR "),
            Status::Inconclusive => p.yellow("??? "),
            Status::Skipped => p.dim("skip"),
        };
        // The outcome, and the HTTP status a client saw when the case went through a gateway.
        let observed = match (r.observed, r.http_status) {
            (Some(o), Some(status)) => format!("{o} {status}"),
            (Some(o), None) => o.to_string(),
            (None, Some(status)) => status.to_string(),
            (None, None) => "-".to_string(),
        };
        let tail = match r.status {
            Status::Failed | Status::Warned => r
                .findings
                .iter()
                .map(|f| f.severity.name())
                .collect::<Vec<_>>()
                .join(", "),
            Status::Skipped | Status::Errored | Status::Inconclusive => r.detail.clone(),
            Status::Passed => format!("{:.1} ms", r.elapsed_ms),
        };
        let line = format!(
            "  {label}  {:<26} {:<6} → {:<17} {}",
            printable_line(&r.name),
            r.expected,
            observed,
            p.dim(&printable_line(&tail))
        );
        wrap(&line, self.width, "", "        ")
    }

    /// Prints the failure blocks and the summary.
    pub fn finish(&mut self, report: &RunReport, report_dir: Option<&Path>) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let _ = writeln!(self.out);
        if let Some(m) = &report.matrix {
            let grid = super::grid::terminal(m, &self.paint, self.width);
            let _ = writeln!(self.out, "{grid}");
        }
        for cause in &report.causes {
            let block = cause_block(cause, report, &self.paint, self.width);
            let _ = writeln!(self.out, "{block}");
        }
        for block in report
            .cases
            .iter()
            .filter_map(|c| snapshot_block(c, report, &self.paint, self.width))
        {
            let _ = writeln!(self.out, "{block}");
        }
        if let Some(block) = new_snapshots_block(report, self.name_hint, &self.paint, self.width) {
            let _ = writeln!(self.out, "{block}");
        }
        let summary = summary(report, report_dir, &self.paint, self.width);
        let _ = write!(self.out, "{summary}");
    }
}

/// What is left of a wait that ends `at`, for the live line: ", 4 s left" (rounded up, so
/// that it reads 0 only when the wait is over); nothing when nothing waits.
fn time_left(at: Option<std::time::Instant>, now: std::time::Instant) -> String {
    match at {
        Some(at) => {
            let left = at.saturating_duration_since(now);
            format!(", {} s left", left.as_secs_f64().ceil() as u64)
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::time_left;
    use std::time::{Duration, Instant};

    #[test]
    fn a_wait_shows_the_whole_seconds_left_and_nothing_when_there_is_none() {
        let now = Instant::now();
        assert_eq!(
            time_left(Some(now + Duration::from_millis(3200)), now),
            ", 4 s left"
        );
        assert_eq!(
            time_left(Some(now + Duration::from_secs(12)), now),
            ", 12 s left"
        );
        assert_eq!(
            time_left(Some(now), now + Duration::from_secs(1)),
            ", 0 s left"
        );
        assert_eq!(time_left(None, now), "");
    }
}
