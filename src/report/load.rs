//! Renders a load run: the side-by-side table for the terminal, load.md, load.json (see
//! `docs/load.schema.json`), JUnit with one test case per threshold and attack, and load.html,
//! one self-contained page (inline SVG, no script, nothing fetched) with the latency over time
//! and the latency histogram of every attack on the same axes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::load::{LoadReport, TtlResult};

use super::charts::{
    errors_over_time_svg, histogram_svg, latency_over_time_svg, legend_html,
    requests_over_time_svg, step_words,
};

/// Colours of the attacks, in order (TTL 0 first): readable on white, told apart in grey.
pub(super) const COLOURS: &[&str] = &[
    "#d1495b", "#00798c", "#edae49", "#66a182", "#2e4057", "#8d96a3",
];

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "n/a".to_string(), f)
}

fn statuses(r: &TtlResult) -> String {
    let mut parts: Vec<String> = r
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {}", thousands(*n)))
        .collect();
    if r.no_answer > 0 {
        parts.push(format!("no answer: {}", thousands(r.no_answer)));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// The rows of the side-by-side table: a label and one value per attack.
pub fn rows(report: &LoadReport) -> Vec<(&'static str, Vec<String>)> {
    let col = |f: &dyn Fn(&TtlResult) -> String| report.ttls.iter().map(f).collect::<Vec<_>>();
    vec![
        ("requests", col(&|r| thousands(r.requests))),
        ("duration", col(&|r| format!("{:.1} s", r.duration_s))),
        ("requests/s", col(&|r| format!("{:.0}", r.rps))),
        (
            "p50 latency",
            col(&|r| format!("{:.2} ms", r.latency.p50_ms)),
        ),
        (
            "p95 latency",
            col(&|r| format!("{:.2} ms", r.latency.p95_ms)),
        ),
        (
            "p99 latency",
            col(&|r| format!("{:.2} ms", r.latency.p99_ms)),
        ),
        (
            "max latency",
            col(&|r| format!("{:.2} ms", r.latency.max_ms)),
        ),
        ("statuses", col(&statuses)),
        (
            "errors",
            col(&|r| format!("{} ({:.3}%)", thousands(r.errors), r.error_rate * 100.0)),
        ),
        ("bad tokens let through", col(&|r| thousands(r.bad_allowed))),
        ("good tokens refused", col(&|r| thousands(r.good_refused))),
        (
            "authorizer invocations",
            col(&|r| opt(r.authorizer_invocations, thousands)),
        ),
        (
            "invocations/request",
            col(&|r| opt(r.invocations_per_request, |v| format!("{v:.4}"))),
        ),
        (
            "cache hit ratio",
            col(&|r| opt(r.cache_hit_ratio, |v| format!("{:.1}%", v * 100.0))),
        ),
        ("cold starts", col(&|r| opt(r.cold_starts, thousands))),
        ("JWKS fetches", col(&|r| opt(r.jwks_fetches, thousands))),
    ]
}

pub(super) fn header(r: &TtlResult) -> String {
    let mut h = if r.ttl == 0 {
        "TTL 0 (no cache)".to_string()
    } else {
        format!("TTL {} s", r.ttl)
    };
    if let Some(by) = &r.ended_by {
        let _ = write!(h, " [stopped: {by}]");
    }
    h
}

/// The side-by-side table, as plain text.
pub fn table(report: &LoadReport) -> String {
    let rows = rows(report);
    let heads: Vec<String> = report.ttls.iter().map(header).collect();
    let label_w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let widths: Vec<usize> = heads
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|(_, v)| v[i].chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{:label_w$}", "");
    for (h, w) in heads.iter().zip(&widths) {
        let _ = write!(out, "  {h:>w$}");
    }
    out.push('\n');
    for (label, values) in &rows {
        let _ = write!(out, "{label:label_w$}");
        for (v, w) in values.iter().zip(&widths) {
            let _ = write!(out, "  {v:>w$}");
        }
        out.push('\n');
    }
    out
}

/// One line per threshold result: `PASS`/`FAIL`, the rule, the attack, the value.
pub fn threshold_lines(report: &LoadReport) -> Vec<String> {
    report
        .thresholds
        .iter()
        .map(|t| {
            format!(
                "{} {} (TTL {}): {}",
                if t.passed { "pass" } else { "FAIL" },
                t.rule,
                t.ttl,
                t.value.map_or_else(
                    || "not observable for this target".to_string(),
                    |v| format!("measured {}", trim_float(v))
                )
            )
        })
        .collect()
}

pub(super) fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The headline: what the cache bought, comparing the first attack (usually TTL 0) with each
/// other one.
pub fn benefit(report: &LoadReport) -> Vec<String> {
    let Some(base) = report.ttls.first() else {
        return Vec::new();
    };
    report
        .ttls
        .iter()
        .skip(1)
        .map(|r| {
            let mut s = format!(
                "TTL {} against TTL {}: p50 {:.2} -> {:.2} ms, p99 {:.2} -> {:.2} ms, {:.0} -> {:.0} requests/s",
                r.ttl,
                base.ttl,
                base.latency.p50_ms,
                r.latency.p50_ms,
                base.latency.p99_ms,
                r.latency.p99_ms,
                base.rps,
                r.rps
            );
            if let (Some(a), Some(b)) = (base.invocations_per_request, r.invocations_per_request) {
                let _ = write!(s, ", invocations per request {a:.3} -> {b:.3}");
            }
            if let (Some(a), Some(b)) = (base.jwks_fetches, r.jwks_fetches) {
                let _ = write!(s, ", JWKS fetches {a} -> {b}");
            }
            s
        })
        .collect()
}

/// load.json.
pub fn json(report: &LoadReport) -> String {
    serde_json::to_string_pretty(report).expect("load reports serialize")
}

/// load.md.
pub fn markdown(report: &LoadReport) -> String {
    let mut md = format!(
        "# authprobe load: {}\n\n- run: `{}` (started {}, authprobe {})\n- target: `{}` through the gateway emulator, profile `{}`\n- {} users, {}{}\n- token pool: {} distinct good tokens; mix: {}\n- routes: {}\n",
        report.scenario,
        report.run_id,
        report.started,
        report.version,
        super::printable_line(&report.target),
        report.profile,
        report.users,
        report.bound,
        report
            .throttle_rps
            .map_or_else(String::new, |t| format!(", at most {t} requests/s")),
        report.pool,
        report
            .mix
            .iter()
            .map(|(k, w)| format!("{k} {w}"))
            .collect::<Vec<_>>()
            .join(", "),
        report
            .routes
            .iter()
            .map(|(r, w)| format!("`{r}` {w}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some(signal) = report.interrupted {
        let _ = writeln!(
            md,
            "\n**Stopped by {}**: the numbers below are what ran before it.{}",
            signal.name(),
            if report.not_run.is_empty() {
                String::new()
            } else {
                format!(
                    " Not run: TTL {}.",
                    report
                        .not_run
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    md.push_str("\n## Results\n\n| |");
    for r in &report.ttls {
        let _ = write!(md, " {} |", header(r));
    }
    md.push_str("\n|---|");
    for _ in &report.ttls {
        md.push_str("---:|");
    }
    md.push('\n');
    for (label, values) in rows(report) {
        let _ = write!(md, "| {label} |");
        for v in values {
            let _ = write!(md, " {v} |");
        }
        md.push('\n');
    }
    let benefit = benefit(report);
    if !benefit.is_empty() {
        md.push_str("\n## What the cache bought\n\n");
        for line in benefit {
            let _ = writeln!(md, "- {line}");
        }
    }
    if !report.thresholds.is_empty() {
        md.push_str("\n## Thresholds\n\n");
        for line in threshold_lines(report) {
            let _ = writeln!(md, "- {line}");
        }
    }
    md.push_str("\n## Per token kind\n\n| TTL | kind | expect | requests | statuses | let through | refused | failed |\n|---:|---|---|---:|---|---:|---:|---:|\n");
    for r in &report.ttls {
        for k in &r.kinds {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.ttl,
                k.kind,
                k.expect,
                thousands(k.requests),
                k.statuses
                    .iter()
                    .map(|(s, n)| format!("{s}: {}", thousands(*n)))
                    .collect::<Vec<_>>()
                    .join(", "),
                k.bad_allowed,
                k.good_refused,
                k.failed
            );
        }
    }
    md.push_str("\n## Notes\n\n");
    for n in &report.notes {
        let _ = writeln!(md, "- {n}");
    }
    md
}

/// JUnit XML: one test case per threshold and attack.
pub fn junit(report: &LoadReport) -> String {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(format!(
        "authprobe load {} ({})",
        report.scenario, report.target
    ));
    for t in &report.thresholds {
        let status = if t.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(match t.value {
                Some(v) => format!(
                    "{} broken at TTL {}: measured {}",
                    t.rule,
                    t.ttl,
                    trim_float(v)
                ),
                None => format!(
                    "{} at TTL {}: not observable for this target",
                    t.rule, t.ttl
                ),
            });
            s.set_type("threshold");
            s
        };
        let mut tc = TestCase::new(format!("{} (TTL {})", t.rule, t.ttl), status);
        tc.set_classname(format!("load.{}", report.scenario));
        suite.add_test_case(tc);
    }
    if let Some(signal) = report.interrupted {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(format!("the run was stopped by {}", signal.name()));
        suite.add_test_case(TestCase::new("run completed", s));
    }
    let secs: f64 = report.ttls.iter().map(|r| r.duration_s).sum::<f64>() + report.mint_ms / 1e3;
    super::junit_document(
        suite,
        std::time::Duration::from_secs_f64(secs.max(0.0)),
        &report.started,
    )
}

pub(super) fn escape(text: &str) -> String {
    super::printable(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// load.html: the table and both charts, self-contained.
pub fn html(report: &LoadReport) -> String {
    // A table wider than the window scrolls on its own; the page does not.
    let mut table_html = String::from(r#"<div class="wide"><table><thead><tr><th></th>"#);
    for r in &report.ttls {
        let _ = write!(table_html, "<th>{}</th>", escape(&header(r)));
    }
    table_html.push_str("</tr></thead><tbody>");
    for (label, values) in rows(report) {
        let _ = write!(table_html, "<tr><th>{label}</th>");
        for v in values {
            let _ = write!(table_html, "<td>{}</td>", escape(&v));
        }
        table_html.push_str("</tr>");
    }
    table_html.push_str("</tbody></table></div>");
    let list = |items: Vec<String>| {
        items
            .iter()
            .map(|i| format!("<li>{}</li>", escape(i)))
            .collect::<String>()
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>authprobe load: {scenario}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: sans-serif; margin: 24px auto; padding: 0 12px; color: #222; max-width: 800px; overflow-wrap: anywhere; }}
.wide {{ overflow-x: auto; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 4px 18px; }}
.key {{ white-space: nowrap; }}
.swatch {{ display: inline-block; width: 18px; height: 4px; margin: 0 6px 3px 0; vertical-align: middle; }}
/* A chart drawn at half its size keeps its words readable. */
@media (max-width: 600px) {{ svg text {{ font-size: 20px; }} }}
table {{ border-collapse: collapse; margin: 12px 0; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
tbody th {{ text-align: left; font-weight: normal; }}
.fail {{ color: #b00020; }}
</style></head><body>
<h1>authprobe load: {scenario}</h1>
<p>{target} through the gateway emulator, profile {profile}; {users} users, {bound}; {pool} distinct good tokens. Run {run_id}, started {started}.</p>
{stopped}
{legend}
<h2>Latency over time</h2>
<p>Solid: median (p50); dashed: 99th percentile (p99).</p>
{over_time}
<h2>Requests per second</h2>
{rps}
<h2>Errors per second</h2>
<p>Bad tokens let through, good ones refused, 5xx answers and requests with no answer.</p>
{errors}
<p>Each point is one slice of {step} of an attack, drawn at its middle.</p>
<h2>Latency histogram</h2>
{histogram}
<h2>Results</h2>
{table_html}
<ul>{benefit}</ul>
<h2>Thresholds</h2>
<ul>{thresholds}</ul>
<h2>Notes</h2>
<ul>{notes}</ul>
</body></html>
"#,
        scenario = escape(&report.scenario),
        target = escape(&report.target),
        profile = escape(&report.profile),
        users = report.users,
        bound = escape(&report.bound),
        pool = report.pool,
        run_id = escape(&report.run_id),
        started = escape(&report.started),
        stopped = report.interrupted.map_or_else(String::new, |s| format!(
            r#"<p class="fail">Stopped by {}: the numbers are what ran before it.</p>"#,
            s.name()
        )),
        legend = legend_html(report),
        over_time = latency_over_time_svg(report),
        rps = requests_over_time_svg(report),
        errors = errors_over_time_svg(report),
        step = step_words(report),
        histogram = histogram_svg(report),
        benefit = list(benefit(report)),
        thresholds = if report.thresholds.is_empty() {
            "<li>none</li>".to_string()
        } else {
            list(threshold_lines(report))
        },
        notes = list(report.notes.clone()),
    )
}

/// Writes load.json, load.md, load.html and junit.xml into `dir` (made if needed), each
/// through a temporary file.
pub fn write_all(report: &LoadReport, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, body) in [
        ("load.json", json(report)),
        ("load.md", markdown(report)),
        ("load.html", html(report)),
        ("junit.xml", junit(report)),
    ] {
        let path = dir.join(name);
        super::write_file(&path, &body)?;
        written.push(path);
    }
    Ok(written)
}

/// How often a run whose stderr is not a terminal says how far an attack has got.
const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Shows a load run's progress on stderr: bars on a terminal, one line per step otherwise.
pub struct LoadProgress {
    tty: bool,
    bar: Option<indicatif::ProgressBar>,
    ticker: Option<(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
}

impl Default for LoadProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl LoadProgress {
    /// Bars when stderr is a terminal.
    pub fn new() -> Self {
        use std::io::IsTerminal;
        LoadProgress {
            tty: std::io::stderr().is_terminal(),
            bar: None,
            ticker: None,
        }
    }

    fn stop_ticker(&mut self) {
        if let Some((running, handle)) = self.ticker.take() {
            running.store(false, std::sync::atomic::Ordering::Relaxed);
            let _ = handle.join();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Takes one event.
    pub fn event(&mut self, event: crate::load::LoadEvent<'_>) {
        use crate::load::LoadEvent;
        match event {
            LoadEvent::Minting { total } => {
                if self.tty {
                    let bar = indicatif::ProgressBar::new(total as u64);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "minting tokens {bar:30} {pos}/{len} ({per_sec}, {eta} left)",
                        )
                        .expect("template"),
                    );
                    self.bar = Some(bar);
                } else {
                    eprintln!("minting {total} tokens on every core");
                }
            }
            LoadEvent::Minted { done, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                }
            }
            LoadEvent::PoolReady { tokens, elapsed } => {
                self.stop_ticker();
                eprintln!(
                    "minted {} tokens in {:.2} s",
                    thousands(tokens as u64),
                    elapsed.as_secs_f64()
                );
            }
            LoadEvent::AttackStarted { ttl, recorder } => {
                let label = if ttl == 0 {
                    "attack with TTL 0 (no cache)".to_string()
                } else {
                    format!("attack with TTL {ttl} s")
                };
                let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
                let r = running.clone();
                if !self.tty {
                    // A log a CI job keeps: a line when the attack starts and then one every
                    // few seconds, so a long attack is seen to be moving.
                    eprintln!("{label}: started");
                    let handle = std::thread::spawn(move || {
                        let mut last = std::time::Instant::now();
                        while r.load(std::sync::atomic::Ordering::Relaxed) {
                            std::thread::sleep(std::time::Duration::from_millis(100));
                            if last.elapsed() >= LOG_EVERY {
                                last = std::time::Instant::now();
                                eprintln!(
                                    "{label}: {} requests so far",
                                    thousands(recorder.requests())
                                );
                            }
                        }
                    });
                    self.ticker = Some((running, handle));
                    return;
                }
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {prefix}: {msg} ({elapsed})",
                    )
                    .expect("template"),
                );
                bar.set_prefix(label);
                let b = bar.clone();
                let handle = std::thread::spawn(move || {
                    while r.load(std::sync::atomic::Ordering::Relaxed) {
                        b.set_message(format!("{} requests", thousands(recorder.requests())));
                        b.tick();
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                });
                self.bar = Some(bar);
                self.ticker = Some((running, handle));
            }
            LoadEvent::AttackFinished { result } => {
                self.stop_ticker();
                eprintln!(
                    "{}: {} requests in {:.1} s ({:.0}/s), p99 {:.2} ms{}",
                    header(result),
                    thousands(result.requests),
                    result.duration_s,
                    result.rps,
                    result.latency.p99_ms,
                    result
                        .authorizer_invocations
                        .map_or_else(String::new, |n| format!(
                            ", {} authorizer invocations",
                            thousands(n)
                        ))
                );
            }
        }
    }

    /// Clears whatever is on screen.
    pub fn finish(&mut self) {
        self.stop_ticker();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
