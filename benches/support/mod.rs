//! Helpers the benches share: counts from the environment and the process's memory.
#![allow(dead_code)]

use std::env;
use std::fs;

/// A positive count from the environment variable `name` (`1_000_000` allowed), else
/// `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// This process's resident set size in KiB (VmRSS of /proc/self/status).
pub fn rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status reads");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS is in /proc/self/status")
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
