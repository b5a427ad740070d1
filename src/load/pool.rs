//! The tokens of a load run, minted before the clock starts on every core, and the schedule
//! that hands them out.
//!
//! The schedule is deterministic: request n gets the kind in slot n of a smooth weighted
//! round-robin cycle over the mix, and each kind hands out its tokens and routes in turn. So
//! the counts a run must produce are exact, not statistical: with P distinct good tokens and a
//! cache TTL longer than the run, the authorizer is invoked exactly P times (once the run has
//! sent at least P good requests), and a token is sent again only after every other token of
//! its kind has been.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::conform::profile::{CaseKind, ProfileSpec};
use crate::gateway::Route;
use crate::tokens::{Kind, MintError, Minter, Scheme};

/// Distinct tokens minted of each bad kind. Rejections are never cached, so their variety
/// matters little; a few keep a cached Deny from standing in for all of them.
pub const BAD_KIND_TOKENS: usize = 8;

/// The tokens of one kind.
#[derive(Debug)]
pub struct KindTokens {
    /// The kind.
    pub kind: Kind,
    /// Whether a correct authorizer allows it (the profile's expectation).
    pub expect_allow: bool,
    /// Authorization header values, distinct where the kind allows it.
    pub headers: Vec<String>,
    sent: AtomicU64,
}

/// What one request sends.
#[derive(Clone, Copy, Debug)]
pub struct Pick<'a> {
    /// Index of the kind in [`Pool::kinds`].
    pub kind: usize,
    /// The Authorization header value.
    pub header: &'a str,
    /// Index of the route in [`Pool::routes`].
    pub route: usize,
}

/// Every token of a run and the schedule over them.
#[derive(Debug)]
pub struct Pool {
    /// The kinds of the mix, in catalogue order.
    pub kinds: Vec<KindTokens>,
    /// The routes of the mix.
    pub routes: Vec<Route>,
    kind_cycle: Vec<u16>,
    route_cycle: Vec<u16>,
    next: AtomicU64,
}

/// Spreads `weights` over one cycle of `sum(weights)` slots so that each index appears as
/// evenly as its weight allows (smooth weighted round-robin).
pub fn cycle(weights: &[u64]) -> Vec<u16> {
    let total: i64 = weights.iter().map(|w| *w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(weights) {
            *c += *w as i64;
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
            .expect("at least one weight");
        current[best] -= total;
        out.push(best as u16);
    }
    out
}

/// The header value clients send for a minted token under `profile`.
fn header_for(profile: &ProfileSpec, minted: &crate::tokens::Minted) -> String {
    if !profile.bearer && minted.scheme == Scheme::Bearer {
        minted.credential.clone()
    } else {
        minted.header_value()
    }
}

impl Pool {
    /// Mints `pool` distinct good tokens and [`BAD_KIND_TOKENS`] of each other kind in `mix`,
    /// spread over every core. `progress` is told how many tokens are done, from any thread.
    pub fn mint(
        minter: &Minter,
        profile: &ProfileSpec,
        pool: usize,
        mix: &[(Kind, u64)],
        routes: &[(Route, u64)],
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Pool, MintError> {
        let good = minter.good_kind();
        let plan: Vec<(Kind, usize)> = mix
            .iter()
            .map(|(k, _)| (*k, if *k == good { pool } else { BAD_KIND_TOKENS }))
            .collect();
        let jobs: Vec<(usize, Kind)> = plan
            .iter()
            .enumerate()
            .flat_map(|(i, (k, n))| std::iter::repeat_n((i, *k), *n))
            .collect();
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(jobs.len().max(1));
        let done = AtomicUsize::new(0);
        let next = AtomicUsize::new(0);
        let minted: Vec<Result<Vec<(usize, String)>, MintError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let start = next.fetch_add(64, Ordering::Relaxed);
                            if start >= jobs.len() {
                                return Ok(out);
                            }
                            for (i, kind) in &jobs[start..(start + 64).min(jobs.len())] {
                                let m = minter.mint(*kind)?;
                                out.push((*i, header_for(profile, &m)));
                            }
                            let n = (start + 64).min(jobs.len()) - start;
                            progress(done.fetch_add(n, Ordering::Relaxed) + n);
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("minting thread"))
                .collect()
        });
        let mut kinds: Vec<KindTokens> = plan
            .iter()
            .map(|(kind, n)| KindTokens {
                kind: *kind,
                expect_allow: expectation(minter, profile, *kind),
                headers: Vec::with_capacity(*n),
                sent: AtomicU64::new(0),
            })
            .collect();
        for part in minted {
            for (i, header) in part? {
                kinds[i].headers.push(header);
            }
        }
        Ok(Pool {
            kinds,
            routes: routes.iter().map(|(r, _)| r.clone()).collect(),
            kind_cycle: cycle(&mix.iter().map(|(_, w)| *w).collect::<Vec<_>>()),
            route_cycle: cycle(&routes.iter().map(|(_, w)| *w).collect::<Vec<_>>()),
            next: AtomicU64::new(0),
        })
    }

    /// How many tokens the pool holds.
    pub fn len(&self) -> usize {
        self.kinds.iter().map(|k| k.headers.len()).sum()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts the schedule over (each attack sends the same sequence).
    pub fn rewind(&self) {
        self.next.store(0, Ordering::Relaxed);
        for k in &self.kinds {
            k.sent.store(0, Ordering::Relaxed);
        }
    }

    /// What the next request sends.
    pub fn next(&self) -> Pick<'_> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let kind = self.kind_cycle[(n % self.kind_cycle.len() as u64) as usize] as usize;
        let tokens = &self.kinds[kind];
        let m = tokens.sent.fetch_add(1, Ordering::Relaxed);
        Pick {
            kind,
            header: &tokens.headers[(m % tokens.headers.len() as u64) as usize],
            // Shifted by one each round through the tokens, so every token meets every route.
            route: self.route_cycle
                [((m + m / tokens.headers.len() as u64) % self.route_cycle.len() as u64) as usize]
                as usize,
        }
    }
}

/// Whether the profile says `kind` is allowed: its case for the kind if it has one, else the
/// catalogue's expectation.
fn expectation(minter: &Minter, profile: &ProfileSpec, kind: Kind) -> bool {
    profile
        .cases
        .iter()
        .find(|c| c.kind == CaseKind::Token(kind))
        .map(|c| c.expect_allow)
        .unwrap_or_else(|| {
            matches!(
                minter.expect(kind),
                Some(crate::tokens::catalogue::Expect::Allow)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cycle_spreads_each_index_by_its_weight() {
        let c = cycle(&[9, 1]);
        assert_eq!(c.len(), 10);
        assert_eq!(c.iter().filter(|i| **i == 1).count(), 1);
        let c = cycle(&[1, 1, 2]);
        assert_eq!(c, vec![2, 0, 1, 2]);
        let c = cycle(&[3]);
        assert_eq!(c, vec![0, 0, 0]);
    }
}
