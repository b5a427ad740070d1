//! load.html's charts, drawn as SVG with nothing to fetch: latency, requests per second and
//! errors per second over time, and the latency histogram, every attack on the same axes, with
//! ticks at round numbers; they scale down with a narrow window.

use std::fmt::Write as _;

use super::load::{COLOURS, escape, header, trim_float};
use crate::load::{LoadReport, TimeSlice};

/// A round upper bound for an axis: 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

const W: f64 = 760.0;
const H: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;

/// Which colour is which attack, once above the charts (HTML, so that it wraps in a narrow
/// window instead of running off a chart).
pub(super) fn legend_html(report: &LoadReport) -> String {
    let items: Vec<String> = report
        .ttls
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                r#"<span class="key"><span class="swatch" style="background:{c}"></span>{label}</span>"#,
                c = COLOURS[i % COLOURS.len()],
                label = escape(&header(r)),
            )
        })
        .collect();
    format!(r#"<p class="legend">{}</p>"#, items.join(" "))
}

/// The chart scales down with the page (a narrow window shows all of it, smaller) and never
/// grows past its own size.
fn open_svg(label: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" style="max-width:{W}px;height:auto;display:block" font-family="sans-serif" role="img" aria-label="{label}">"#
    )
}

/// Where a value goes on a y axis running from 0 to `max`.
fn y_scale(max: f64) -> impl Fn(f64) -> f64 {
    move |v| H - BOTTOM - v / max * (H - TOP - BOTTOM - 20.0)
}

/// An axis from 0 that holds `v` in at most `ticks` steps of 1, 2 or 5 times a power of ten:
/// (its end, its step).
fn axis(v: f64, ticks: usize) -> (f64, f64) {
    let step = nice_ceiling(v / ticks.max(1) as f64);
    let end = ((v / step - 1e-9).ceil() * step).max(step);
    // Float steps (0.1 * 3) are rounded back onto the step's own digits.
    let end = (end / step).round() * step;
    (end, step)
}

/// Grid lines from 0 to `max` every `step` (the y axis of [`y_scale`]), each labelled with
/// its value and `unit`.
fn y_grid(svg: &mut String, max: f64, step: f64, unit: &str) {
    let y = y_scale(max);
    let lines = (max / step).round() as u32;
    for i in 0..=lines {
        let v = step * f64::from(i);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{yy}" x2="{r}" y2="{yy}" stroke="#eee"/><text x="{tx}" y="{ty}" font-size="11" text-anchor="end">{v}{unit}</text>"##,
            yy = y(v),
            r = W - RIGHT,
            tx = LEFT - 6.0,
            ty = y(v) + 4.0,
            v = compact(v),
        );
    }
}

/// A tick's value in few characters: 5000 as 5k, 1500000 as 1.5M.
fn compact(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim_float(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim_float(v / 1e3))
    } else {
        trim_float(v)
    }
}

fn frame(svg: &mut String, x_label: &str, y_label: &str) {
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}" stroke="#333"/><text x="{cx}" y="{ly}" font-size="12" text-anchor="middle">{x_label}</text><text x="14" y="{cy}" font-size="12" text-anchor="middle" transform="rotate(-90 14 {cy})">{y_label}</text>"##,
        b = H - BOTTOM,
        r = W - RIGHT,
        cx = (LEFT + W - RIGHT) / 2.0,
        ly = H - 8.0,
        cy = (TOP + H - BOTTOM) / 2.0,
    );
}

/// A line of a chart over time: the value of each slice, and how the line is drawn.
struct Series {
    value: fn(&TimeSlice) -> f64,
    dash: &'static str,
}

/// A chart over time, every attack on the same axes: x in seconds since each attack started
/// (each slice at its middle), ticks at round numbers.
fn over_time_svg(report: &LoadReport, label: &str, y_label: &str, series: &[Series]) -> String {
    let end_s = report
        .ttls
        .iter()
        .filter_map(|r| r.over_time.last().map(|s| s.start_s + s.length_s))
        .fold(0.0, f64::max);
    let (max_s, step_s) = axis(end_s.max(0.1), 6);
    let top = report
        .ttls
        .iter()
        .flat_map(|r| {
            r.over_time
                .iter()
                .filter(|s| s.requests > 0)
                .flat_map(|s| series.iter().map(move |line| (line.value)(s)))
        })
        .fold(0.0, f64::max);
    let (max_y, step_y) = axis(top, 4);
    let x = |s: f64| LEFT + s / max_s * (W - LEFT - RIGHT);
    let y = y_scale(max_y);
    let mut svg = open_svg(label);
    y_grid(&mut svg, max_y, step_y, "");
    for i in 0..=(max_s / step_s).round() as u32 {
        let s = step_s * f64::from(i);
        let _ = write!(
            svg,
            r#"<text x="{tx}" y="{ty}" font-size="11" text-anchor="middle">{v}</text>"#,
            tx = x(s),
            ty = H - BOTTOM + 16.0,
            v = trim_float(s),
        );
    }
    frame(&mut svg, "seconds since the attack started", y_label);
    for (i, r) in report.ttls.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        for line in series {
            let points: Vec<String> = r
                .over_time
                .iter()
                .filter(|s| s.requests > 0)
                .map(|s| {
                    let mid = s.start_s + s.length_s / 2.0;
                    format!("{:.1},{:.1}", x(mid), y((line.value)(s)))
                })
                .collect();
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{c}" stroke-width="2"{dash} points="{}"/>"#,
                points.join(" "),
                dash = line.dash,
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The step of the charts over time, in words: "100 ms", "1.6 s".
pub(super) fn step_words(report: &LoadReport) -> String {
    let step = report
        .ttls
        .iter()
        .filter_map(|r| r.over_time.first().map(|s| s.length_s))
        .fold(0.0, f64::max);
    if step < 1.0 {
        format!("{:.0} ms", step * 1e3)
    } else {
        format!("{} s", trim_float(step))
    }
}

/// Latency over time: p50 (solid) and p99 (dashed) of each slice.
pub fn latency_over_time_svg(report: &LoadReport) -> String {
    over_time_svg(
        report,
        "latency over time",
        "latency (ms)",
        &[
            Series {
                value: |s| s.p50_ms,
                dash: "",
            },
            Series {
                value: |s| s.p99_ms,
                dash: r#" stroke-dasharray="5 4""#,
            },
        ],
    )
}

/// Requests per second over time.
pub fn requests_over_time_svg(report: &LoadReport) -> String {
    over_time_svg(
        report,
        "requests per second over time",
        "requests per second",
        &[Series {
            value: |s| s.rps,
            dash: "",
        }],
    )
}

/// Errors per second over time: bad tokens let through, good ones refused, 5xx, no answer.
pub fn errors_over_time_svg(report: &LoadReport) -> String {
    over_time_svg(
        report,
        "errors per second over time",
        "errors per second",
        &[Series {
            value: |s| s.errors as f64 / s.length_s.max(1e-3),
            dash: "",
        }],
    )
}

/// The latency histogram: share of requests per latency bin (log scale), every attack on the
/// same bins.
pub fn histogram_svg(report: &LoadReport) -> String {
    let low = report
        .ttls
        .iter()
        .flat_map(|r| r.histogram.first().map(|b| b.low_ms))
        .fold(f64::INFINITY, f64::min)
        .max(0.001);
    let high = report
        .ttls
        .iter()
        .flat_map(|r| r.histogram.last().map(|b| b.high_ms))
        .fold(0.0, f64::max)
        .max(low * 2.0);
    let (lo, hi) = (low.log10().floor(), high.log10().ceil());
    const BINS: usize = 48;
    let bin_of = |ms: f64| {
        (((ms.max(1e-9).log10() - lo) / (hi - lo) * BINS as f64).floor() as isize)
            .clamp(0, BINS as isize - 1) as usize
    };
    let shares: Vec<Vec<f64>> = report
        .ttls
        .iter()
        .map(|r| {
            let mut bins = vec![0u64; BINS];
            for b in &r.histogram {
                bins[bin_of((b.low_ms + b.high_ms) / 2.0)] += b.count;
            }
            let total = bins.iter().sum::<u64>().max(1) as f64;
            bins.iter().map(|n| *n as f64 / total * 100.0).collect()
        })
        .collect();
    let (max_share, step) = axis(shares.iter().flatten().copied().fold(0.0, f64::max), 4);
    let x = |bin: f64| LEFT + bin / BINS as f64 * (W - LEFT - RIGHT);
    let y = y_scale(max_share);
    let mut svg = open_svg("latency histogram");
    y_grid(&mut svg, max_share, step, "%");
    let mut decade = lo;
    while decade <= hi {
        let bin = (decade - lo) / (hi - lo) * BINS as f64;
        let _ = write!(
            svg,
            r#"<text x="{tx}" y="{ty}" font-size="11" text-anchor="middle">{v}</text>"#,
            tx = x(bin),
            ty = H - BOTTOM + 16.0,
            v = trim_float(10f64.powf(decade)),
        );
        decade += 1.0;
    }
    frame(&mut svg, "latency (ms, log scale)", "share of requests");
    for (i, bins) in shares.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let mut points = Vec::new();
        for (b, share) in bins.iter().enumerate() {
            points.push(format!("{:.1},{:.1}", x(b as f64), y(*share)));
            points.push(format!("{:.1},{:.1}", x(b as f64 + 1.0), y(*share)));
        }
        let _ = write!(
            svg,
            r#"<polyline fill="{c}" fill-opacity="0.15" stroke="{c}" stroke-width="2" points="{:.1},{:.1} {} {:.1},{:.1}"/>"#,
            x(0.0),
            y(0.0),
            points.join(" "),
            x(BINS as f64),
            y(0.0)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_stay_short() {
        assert_eq!(compact(500.0), "500");
        assert_eq!(compact(5000.0), "5k");
        assert_eq!(compact(12500.0), "12.5k");
        assert_eq!(compact(2_000_000.0), "2M");
        assert_eq!(compact(0.25), "0.25");
    }

    #[test]
    fn axes_tick_at_round_numbers() {
        assert_eq!(axis(3.2, 4), (4.0, 1.0));
        assert_eq!(axis(50.0, 4), (60.0, 20.0));
        assert_eq!(axis(12.0, 6), (12.0, 2.0));
        assert_eq!(axis(11.3, 6), (12.0, 2.0));
        assert_eq!(axis(0.0, 4), (1.0, 1.0));
        assert_eq!(axis(0.25, 6), (0.25, 0.05));
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(0.07), 0.1);
    }
}
