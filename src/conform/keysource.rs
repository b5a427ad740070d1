//! How the authorizer gets its keys, as the mock IdP saw it: never (a key it holds), once at
//! start, once on first use, or on every invocation; and whether an unknown kid makes it fetch
//! again. The kid and JWKS-fault cases are judged against this (a genuine signature under a
//! pinned key is not a forgery), and the report states it so a reader knows which cases could
//! apply.

use serde::Serialize;

/// When the authorizer fetches its JWKS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fetches {
    /// No fetch while good tokens were allowed: a key it holds (pinned, built in, passed in).
    Never,
    /// Fetched while its environment started, before any token arrived.
    AtStart,
    /// Fetched on the first token an environment saw, then kept.
    OnFirstUse,
    /// Fetched about once per invocation: no cache.
    EveryInvocation,
    /// Nothing to go on: no fetch, and no good token was allowed.
    NotObserved,
}

/// What the run observed of the authorizer's key fetching.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeySource {
    /// When it fetches.
    pub fetches: Fetches,
    /// Whether a token with an unknown kid made it fetch again (the flood case); `None` when
    /// that case did not run.
    pub refetches_on_unknown_kid: Option<bool>,
    /// JWKS fetches by the run's own environments (the IdP's total less `set_aside`).
    pub jwks_fetches: u64,
    /// Fetches during the cases that start environments of their own or change the key set
    /// (key rotation and retirement, the JWKS faults): left out of the reading.
    pub set_aside: u64,
    /// Of those, fetches before the first token was sent.
    pub at_start: u64,
    /// Invocations of the target the run started with.
    pub invocations: u64,
    /// Environments of the run's own target.
    pub environments: u64,
    /// The same in one sentence.
    pub summary: String,
}

/// The counts a run gathers for [`classify`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Observed {
    /// JWKS fetches by the run's own environments.
    pub jwks_fetches: u64,
    /// Fetches left out (see [`KeySource::set_aside`]).
    pub set_aside: u64,
    /// JWKS fetches before the first token.
    pub at_start: u64,
    /// Invocations of the run's own target.
    pub invocations: u64,
    /// Environments started.
    pub environments: u64,
    /// Fetches during the unknown-kid flood, and the unknown kids it sent.
    pub flood: Option<(u64, usize)>,
    /// A good token was allowed at least once.
    pub good_allowed: bool,
    /// When the run's own environment took the key-rotation case's new key, seconds after it
    /// was published.
    pub rotation_taken: Option<f64>,
}

/// Fewer invocations than this say nothing about a per-invocation fetch.
const FEW: u64 = 10;

/// Reads what the IdP saw into a [`KeySource`].
pub fn classify(seen: Observed) -> KeySource {
    let fetches = if seen.jwks_fetches == 0 {
        if seen.good_allowed {
            Fetches::Never
        } else {
            Fetches::NotObserved
        }
    } else if seen.invocations >= FEW && seen.jwks_fetches * 2 >= seen.invocations {
        Fetches::EveryInvocation
    } else if seen.at_start > 0 {
        Fetches::AtStart
    } else {
        Fetches::OnFirstUse
    };
    // Beyond one fetch per environment, a fetch is a refetch: the cases that change the key set
    // are left out, so what remains came from unknown kids.
    let extra = seen.jwks_fetches.saturating_sub(seen.environments);
    let flood_fetched = seen.flood.is_some_and(|(during, _)| during > 0);
    let refetched = flood_fetched || extra > 0 || seen.rotation_taken.is_some();
    let refetches_on_unknown_kid = match fetches {
        Fetches::Never | Fetches::NotObserved | Fetches::EveryInvocation => None,
        _ if refetched => Some(true),
        _ => seen.flood.map(|_| false),
    };
    let mut summary = match fetches {
        Fetches::Never => "the authorizer never fetched the JWKS while it allowed good tokens: it verifies with a key it holds (pinned, built in or passed in), so the JWKS-fault cases cannot reach it and a rotated key needs a redeploy".to_string(),
        Fetches::AtStart => "the authorizer fetches the JWKS while its environment starts, before any token, and keeps it".to_string(),
        Fetches::OnFirstUse => "the authorizer fetches the JWKS on an environment's first token and keeps it".to_string(),
        Fetches::EveryInvocation => "the authorizer fetches the JWKS on about every invocation: no cache, so every call waits on the IdP and an IdP outage is an outage".to_string(),
        Fetches::NotObserved => "how the authorizer gets its keys was not observed: no JWKS fetch, and no good token was allowed".to_string(),
    };
    if let Some(refetches) = refetches_on_unknown_kid {
        let (during, kids) = seen.flood.unwrap_or((0, 0));
        let flood_quiet = if kids > 0 {
            format!(", under a limit: {kids} unknown kids in a row caused no fetch")
        } else {
            String::new()
        };
        summary.push_str(&match (refetches, seen.rotation_taken) {
            _ if during > 0 => format!(
                "; an unknown kid makes it fetch again ({during} fetch(es) for {kids} unknown kids)"
            ),
            (true, Some(after)) => format!(
                "; an unknown kid makes it fetch again (the rotated-in key was taken {after:.1} s after it was published){flood_quiet}"
            ),
            (true, None) => format!(
                "; an unknown kid makes it fetch again ({extra} fetch(es) more than one per environment){flood_quiet}"
            ),
            (false, _) => format!(
                "; an unknown kid does not make it fetch again ({kids} unknown kids, no fetch)"
            ),
        });
    }
    summary.push_str(&format!(
        " ({} fetch(es), {} before the first token, over {} invocation(s) in {} environment(s); {} fetch(es) of the key-rotation and JWKS-fault cases left out)",
        seen.jwks_fetches, seen.at_start, seen.invocations, seen.environments, seen.set_aside
    ));
    KeySource {
        fetches,
        refetches_on_unknown_kid,
        jwks_fetches: seen.jwks_fetches,
        set_aside: seen.set_aside,
        at_start: seen.at_start,
        invocations: seen.invocations,
        environments: seen.environments,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(fetches: u64, at_start: u64, invocations: u64) -> Observed {
        Observed {
            jwks_fetches: fetches,
            set_aside: 0,
            at_start,
            invocations,
            environments: 1,
            flood: None,
            good_allowed: true,
            rotation_taken: None,
        }
    }

    #[test]
    fn no_fetch_with_a_good_token_allowed_is_a_key_it_holds_and_without_one_is_not_observed() {
        assert_eq!(classify(seen(0, 0, 80)).fetches, Fetches::Never);
        let refused = Observed {
            good_allowed: false,
            ..seen(0, 0, 80)
        };
        assert_eq!(classify(refused).fetches, Fetches::NotObserved);
    }

    #[test]
    fn a_fetch_before_the_first_token_is_at_start_and_one_after_is_on_first_use() {
        assert_eq!(classify(seen(1, 1, 80)).fetches, Fetches::AtStart);
        assert_eq!(classify(seen(3, 0, 80)).fetches, Fetches::OnFirstUse);
    }

    #[test]
    fn a_fetch_for_every_other_invocation_or_more_is_no_cache() {
        assert_eq!(classify(seen(40, 0, 80)).fetches, Fetches::EveryInvocation);
        // Too few invocations to tell.
        assert_eq!(classify(seen(5, 0, 6)).fetches, Fetches::OnFirstUse);
    }

    #[test]
    fn the_flood_says_whether_an_unknown_kid_makes_it_fetch_again() {
        let again = Observed {
            flood: Some((2, 50)),
            ..seen(4, 1, 120)
        };
        let source = classify(again);
        assert_eq!(source.refetches_on_unknown_kid, Some(true));
        assert!(
            source.summary.contains("2 fetch(es) for 50 unknown kids"),
            "{}",
            source.summary
        );
        let limited = Observed {
            flood: Some((0, 50)),
            ..seen(14, 0, 120)
        };
        let source = classify(limited);
        assert_eq!(source.refetches_on_unknown_kid, Some(true));
        assert!(
            source.summary.contains("under a limit: 50 unknown kids"),
            "{}",
            source.summary
        );
        let once = Observed {
            flood: Some((0, 50)),
            ..seen(1, 1, 120)
        };
        assert_eq!(classify(once).refetches_on_unknown_kid, Some(false));
        let rotated = Observed {
            flood: Some((0, 50)),
            rotation_taken: Some(0.3),
            ..seen(1, 0, 120)
        };
        let source = classify(rotated);
        assert_eq!(source.refetches_on_unknown_kid, Some(true));
        assert!(
            source.summary.contains("taken 0.3 s after"),
            "{}",
            source.summary
        );
        let held = Observed {
            flood: Some((0, 50)),
            ..seen(0, 0, 120)
        };
        assert_eq!(classify(held).refetches_on_unknown_kid, None);
    }
}
