//! What an attack records per request: latency into log-linear histograms (the whole attack
//! and each slice of time of it, with the errors in that slice), and the status each token
//! kind got.
//!
//! Slices start 100 ms wide; when a run outgrows [`MAX_SLICES`] of them, neighbours are merged
//! and the width doubles, so a short run is seen in fine steps and a long one stays bounded
//! (at most [`MAX_SLICES`] coarse histograms, about 0.5 MB).
//!
//! Latency is the time from sending the request to the last byte of its response body (goose's
//! time to first byte plus the body read), in microseconds.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Sub-buckets per power of two of the whole-attack histogram: at most 1/64 (1.6%) error.
const FINE_BITS: u32 = 6;
/// Sub-buckets per power of two of the per-slice histograms: at most 1/8 error, and about
/// 2 KB per slice instead of 16.
const COARSE_BITS: u32 = 3;
/// The width of a slice of time at the start of an attack, µs.
const FIRST_SLICE_US: u64 = 100_000;
/// The most slices kept; past it, pairs are merged into slices twice as wide.
pub const MAX_SLICES: usize = 256;
/// Latencies are capped here (about 19 hours).
const MAX_US: u64 = 1 << 36;

/// A log-linear histogram of microsecond values: exact below 2^bits, then 2^bits buckets per
/// power of two.
#[derive(Clone, Debug)]
pub struct Histogram {
    bits: u32,
    counts: Vec<u64>,
    total: u64,
    sum_us: u64,
    min_us: u64,
    max_us: u64,
}

impl Histogram {
    fn new(bits: u32) -> Self {
        let size = (1usize << bits) * (37 - bits as usize);
        Histogram {
            bits,
            counts: vec![0; size],
            total: 0,
            sum_us: 0,
            min_us: u64::MAX,
            max_us: 0,
        }
    }

    /// A histogram with 1.6% resolution.
    pub fn fine() -> Self {
        Histogram::new(FINE_BITS)
    }

    /// A histogram with 12.5% resolution.
    pub fn coarse() -> Self {
        Histogram::new(COARSE_BITS)
    }

    fn index(&self, v: u64) -> usize {
        let sub = 1u64 << self.bits;
        if v < sub {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // floor(log2 v) >= bits
        let shift = e - self.bits;
        let mantissa = v >> shift; // in [sub, 2 sub)
        (sub + u64::from(shift) * sub + (mantissa - sub)) as usize
    }

    /// The range of values bucket `i` holds: `[low, high)`.
    fn bounds(&self, i: usize) -> (u64, u64) {
        let sub = 1u64 << self.bits;
        let i = i as u64;
        if i < sub {
            return (i, i + 1);
        }
        let shift = (i - sub) / sub;
        let mantissa = sub + (i - sub) % sub;
        (mantissa << shift, (mantissa + 1) << shift)
    }

    /// Counts one value.
    pub fn record(&mut self, us: u64) {
        let us = us.min(MAX_US - 1);
        let i = self.index(us);
        self.counts[i] += 1;
        self.total += 1;
        self.sum_us += us;
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
    }

    /// Values counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The value at quantile `q` (0..=1), in microseconds: the middle of its bucket, kept
    /// within the smallest and largest value seen. 0 when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        if q >= 1.0 {
            return self.max_us;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = self.bounds(i);
                return ((low + high - 1) / 2).clamp(self.min_us, self.max_us);
            }
        }
        self.max_us
    }

    /// The largest value seen, µs.
    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The mean, µs.
    pub fn mean_us(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.total as f64
        }
    }

    /// Adds `other`'s values (of the same resolution) to these.
    pub fn merge(&mut self, other: &Histogram) {
        debug_assert_eq!(self.bits, other.bits);
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.sum_us += other.sum_us;
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Non-empty buckets as (low µs, high µs, count).
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let (low, high) = self.bounds(i);
                (low, high, *c)
            })
    }
}

/// What a request got, as judged against what its token deserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The answer the token deserves (a good token through, a bad one refused).
    Expected,
    /// A bad token that reached the backend.
    BadAllowed,
    /// A good token that was refused.
    GoodRefused,
    /// A server error (5xx) or no answer at all.
    Failed,
}

/// Judges one answer: `status` `None` means no HTTP answer (connection error, timeout).
pub fn judge(expect_allow: bool, status: Option<u16>) -> Verdict {
    match status {
        None => Verdict::Failed,
        Some(s) if s >= 500 => Verdict::Failed,
        Some(s) if (200..300).contains(&s) => {
            if expect_allow {
                Verdict::Expected
            } else {
                Verdict::BadAllowed
            }
        }
        Some(_) if expect_allow => Verdict::GoodRefused,
        // Any other 4xx refuses the request: 401, 403, and API Gateway's own refusals.
        Some(_) => Verdict::Expected,
    }
}

/// Counts of one token kind.
#[derive(Clone, Debug, Default)]
pub struct KindCounts {
    /// Requests sent.
    pub requests: u64,
    /// Answers by status.
    pub per_status: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer.
    pub no_answer: u64,
    /// Bad tokens let through.
    pub bad_allowed: u64,
    /// Good tokens refused.
    pub good_refused: u64,
    /// 5xx or no answer.
    pub failed: u64,
}

/// One slice of time of an attack.
#[derive(Clone, Debug)]
pub struct Slice {
    /// Latencies of the requests answered in it.
    pub latency: Histogram,
    /// Those whose answer was an error: a bad token let through, a good one refused, a 5xx or
    /// no answer.
    pub errors: u64,
}

impl Slice {
    fn new() -> Self {
        Slice {
            latency: Histogram::coarse(),
            errors: 0,
        }
    }
}

/// Everything one attack recorded.
#[derive(Clone, Debug)]
pub struct Recording {
    /// Latency of every request.
    pub latency: Histogram,
    /// The width of each slice, µs.
    pub slice_us: u64,
    /// Slices of time since the attack started, `slice_us` each.
    pub slices: Vec<Slice>,
    /// Per kind, in the pool's order.
    pub kinds: Vec<KindCounts>,
}

impl Recording {
    /// The slices merged in runs of 1, 2, 4, ... so that at most `points` remain, with their
    /// width in µs: as fine as the chart can show.
    pub fn timeline(&self, points: usize) -> (u64, Vec<Slice>) {
        let mut merged = self.clone();
        while merged.slices.len() > points.max(1) {
            merged.widen();
        }
        (merged.slice_us, merged.slices)
    }

    /// Merges neighbouring slices into slices twice as wide.
    fn widen(&mut self) {
        let old = std::mem::take(&mut self.slices);
        self.slices = old
            .chunks(2)
            .map(|pair| {
                let mut merged = pair[0].clone();
                if let Some(second) = pair.get(1) {
                    merged.latency.merge(&second.latency);
                    merged.errors += second.errors;
                }
                merged
            })
            .collect();
        self.slice_us *= 2;
    }
}

/// The recorder the goose users share.
#[derive(Debug)]
pub struct Recorder {
    inner: Mutex<Recording>,
}

impl Recorder {
    /// An empty recorder for `kinds` token kinds.
    pub fn new(kinds: usize) -> Self {
        Recorder {
            inner: Mutex::new(Recording {
                latency: Histogram::fine(),
                slice_us: FIRST_SLICE_US,
                slices: Vec::new(),
                kinds: vec![KindCounts::default(); kinds],
            }),
        }
    }

    /// Records one request of kind `kind`, answered `at` after the attack started.
    pub fn record(
        &self,
        kind: usize,
        status: Option<u16>,
        verdict: Verdict,
        latency: Duration,
        at: Duration,
    ) {
        let us = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        let at_us = at.as_micros().min(u128::from(MAX_US)) as u64;
        let mut r = self.inner.lock().expect("recorder lock");
        r.latency.record(us);
        while at_us / r.slice_us >= MAX_SLICES as u64 {
            r.widen();
        }
        let index = (at_us / r.slice_us) as usize;
        while r.slices.len() <= index {
            r.slices.push(Slice::new());
        }
        let slice = &mut r.slices[index];
        slice.latency.record(us);
        if verdict != Verdict::Expected {
            slice.errors += 1;
        }
        let k = &mut r.kinds[kind];
        k.requests += 1;
        match status {
            Some(s) => *k.per_status.entry(s).or_default() += 1,
            None => k.no_answer += 1,
        }
        match verdict {
            Verdict::Expected => {}
            Verdict::BadAllowed => k.bad_allowed += 1,
            Verdict::GoodRefused => k.good_refused += 1,
            Verdict::Failed => k.failed += 1,
        }
    }

    /// Requests recorded so far.
    pub fn requests(&self) -> u64 {
        self.inner.lock().expect("recorder lock").latency.len()
    }

    /// A copy of what was recorded.
    pub fn snapshot(&self) -> Recording {
        self.inner.lock().expect("recorder lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_histogram_resolution() {
        let mut h = Histogram::fine();
        for us in 1..=100_000u64 {
            h.record(us);
        }
        for (q, exact) in [(0.5, 50_000.0), (0.95, 95_000.0), (0.99, 99_000.0)] {
            let got = h.quantile_us(q) as f64;
            assert!(
                (got - exact).abs() / exact < 0.016,
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.max_us(), 100_000);
        assert_eq!(h.quantile_us(1.0), 100_000);
        assert_eq!(h.len(), 100_000);
        let total: u64 = h.buckets().map(|(_, _, c)| c).sum();
        assert_eq!(total, 100_000);
    }

    #[test]
    fn bucket_bounds_hold_the_values_indexed_into_them() {
        for h in [Histogram::fine(), Histogram::coarse()] {
            for v in [
                0u64,
                1,
                7,
                8,
                63,
                64,
                65,
                127,
                128,
                1000,
                123_456,
                MAX_US - 1,
            ] {
                let (low, high) = h.bounds(h.index(v));
                assert!(low <= v && v < high, "{v} not in [{low}, {high})");
            }
        }
    }

    #[test]
    fn answers_are_judged_against_what_the_token_deserves() {
        assert_eq!(judge(true, Some(200)), Verdict::Expected);
        assert_eq!(judge(true, Some(401)), Verdict::GoodRefused);
        assert_eq!(judge(false, Some(401)), Verdict::Expected);
        assert_eq!(judge(false, Some(403)), Verdict::Expected);
        assert_eq!(judge(false, Some(200)), Verdict::BadAllowed);
        assert_eq!(judge(false, Some(500)), Verdict::Failed);
        assert_eq!(judge(true, None), Verdict::Failed);
    }

    #[test]
    fn a_long_attack_keeps_its_slices_bounded_and_loses_no_request_or_error() {
        let recorder = Recorder::new(1);
        // 60 s at 20 requests a second, every tenth one an error.
        for n in 0..1200u64 {
            let verdict = if n % 10 == 0 {
                Verdict::Failed
            } else {
                Verdict::Expected
            };
            recorder.record(
                0,
                Some(200),
                verdict,
                Duration::from_millis(5),
                Duration::from_millis(n * 50),
            );
        }
        let r = recorder.snapshot();
        assert!(r.slices.len() <= MAX_SLICES, "{}", r.slices.len());
        // 60 s in 100 ms slices is 600: widened twice, to 400 ms.
        assert_eq!(r.slice_us, 400_000);
        assert_eq!(r.slices.iter().map(|s| s.latency.len()).sum::<u64>(), 1200);
        assert_eq!(r.slices.iter().map(|s| s.errors).sum::<u64>(), 120);
        assert_eq!(r.slices[0].latency.len(), 8);
    }
}
