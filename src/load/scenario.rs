//! Load scenarios: TOML files in `scenarios/load/` (embedded in the binary like the conform
//! profiles) that say which profile to build on, how many users for how long, which tokens
//! and routes in what proportions, which cache TTLs to compare, and which thresholds a run
//! must hold. Every error names the file, line and column.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::conform::profile::{self, ProfileError, ProfileSpec};
use crate::gateway::Route;
use crate::tokens::{Kind, TokenUse};

/// The built-in load scenarios: (name, TOML).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "cache-benefit",
        include_str!("../../scenarios/load/cache-benefit.toml"),
    ),
    (
        "mixed-traffic",
        include_str!("../../scenarios/load/mixed-traffic.toml"),
    ),
];

/// The most distinct tokens of one kind a pool holds: 1,000,000 RS256 tokens take about
/// 6 minutes on two cores and 1.5 GB.
pub const MAX_POOL: usize = 1_000_000;

/// The largest sum of mix weights: the schedule is one cycle of that many slots.
pub const MAX_WEIGHT_SUM: u64 = 10_000;

/// How long a run lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// This long after every user has started.
    Time(Duration),
    /// Each user runs this many requests.
    Iterations(usize),
}

/// A measured quantity a threshold can bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Median latency, ms.
    P50Ms,
    /// 95th percentile latency, ms.
    P95Ms,
    /// 99th percentile latency, ms.
    P99Ms,
    /// Slowest request, ms.
    MaxMs,
    /// Requests per second.
    Rps,
    /// Share of requests whose answer contradicts what the token deserves (0..1).
    ErrorRate,
    /// Authorizer invocations per request.
    InvocationsPerRequest,
    /// Share of requests answered from the result cache (0..1).
    CacheHitRatio,
    /// JWKS fetches from the mock IdP during the attack.
    JwksFetches,
    /// Execution environments started during the attack.
    ColdStarts,
    /// Requests with a bad token that were let through.
    BadAllowed,
}

impl Metric {
    const ALL: &'static [(&'static str, Metric)] = &[
        ("p50_ms", Metric::P50Ms),
        ("p95_ms", Metric::P95Ms),
        ("p99_ms", Metric::P99Ms),
        ("max_ms", Metric::MaxMs),
        ("rps", Metric::Rps),
        ("error_rate", Metric::ErrorRate),
        ("invocations_per_request", Metric::InvocationsPerRequest),
        ("cache_hit_ratio", Metric::CacheHitRatio),
        ("jwks_fetches", Metric::JwksFetches),
        ("cold_starts", Metric::ColdStarts),
        ("bad_allowed", Metric::BadAllowed),
    ];

    /// Its name in scenarios and reports.
    pub fn name(self) -> &'static str {
        Metric::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(n, _)| *n)
            .expect("every metric is named")
    }

    fn parse(name: &str) -> Option<Metric> {
        Metric::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m)
    }
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `=` (or `==`)
    #[serde(rename = "=")]
    Eq,
}

impl Op {
    /// Whether `value OP limit` holds.
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
            Op::Eq => value == limit,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "=",
        }
    }
}

/// A rule a run must hold: `p99_ms < 50`, or `ttl 300: invocations_per_request < 0.05` for one
/// attack only.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Threshold {
    /// The attack it applies to (`None`: every one).
    pub ttl: Option<u64>,
    /// What it bounds.
    pub metric: Metric,
    /// How.
    pub op: Op,
    /// The limit.
    pub limit: f64,
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(ttl) = self.ttl {
            write!(f, "ttl {ttl}: ")?;
        }
        write!(
            f,
            "{} {} {}",
            self.metric.name(),
            self.op.symbol(),
            self.limit
        )
    }
}

impl std::str::FromStr for Threshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (ttl, rule) = match s.split_once(':') {
            Some((scope, rule)) => {
                let ttl = scope
                    .trim()
                    .strip_prefix("ttl")
                    .map(str::trim)
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(|| {
                        format!(
                            "`{s}`: a threshold for one attack starts with `ttl N:`, e.g. `ttl 300: invocations_per_request < 0.05`"
                        )
                    })?;
                (Some(ttl), rule)
            }
            None => (None, s),
        };
        let rule = rule.trim();
        let at = rule.find(['<', '>', '=']).ok_or_else(|| {
            format!("`{s}`: write METRIC < LIMIT (or <=, >, >=, =), e.g. `p99_ms < 50`")
        })?;
        let name = rule[..at].trim();
        let rest = &rule[at..];
        let (op, limit) = if let Some(l) = rest.strip_prefix("<=") {
            (Op::Le, l)
        } else if let Some(l) = rest.strip_prefix(">=") {
            (Op::Ge, l)
        } else if let Some(l) = rest.strip_prefix("==") {
            (Op::Eq, l)
        } else if let Some(l) = rest.strip_prefix('<') {
            (Op::Lt, l)
        } else if let Some(l) = rest.strip_prefix('>') {
            (Op::Gt, l)
        } else {
            (Op::Eq, &rest[1..])
        };
        let metric = Metric::parse(name).ok_or_else(|| {
            let closest = Metric::ALL
                .iter()
                .map(|(n, _)| (strsim::jaro_winkler(n, name), *n))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .filter(|(score, _)| *score > 0.8)
                .map(|(_, n)| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            format!(
                "`{s}`: unknown metric `{name}`{closest}; the metrics are {}",
                Metric::ALL
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let limit: f64 = limit
            .trim()
            .parse()
            .ok()
            .filter(|l: &f64| l.is_finite())
            .ok_or_else(|| format!("`{s}`: the limit `{}` is not a number", limit.trim()))?;
        Ok(Threshold {
            ttl,
            metric,
            op,
            limit,
        })
    }
}

/// A load scenario, checked.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Where it came from.
    pub origin: String,
    /// Its name (the file name without `.toml`).
    pub name: String,
    /// The conform profile it builds on (authorizer settings, routes, expectations).
    pub profile: ProfileSpec,
    /// Concurrent users.
    pub users: usize,
    /// Users started per second.
    pub increase_rate: f64,
    /// How long the attack lasts.
    pub bound: Bound,
    /// Most requests per second, across users (`None`: as fast as the target answers).
    pub throttle_rps: Option<usize>,
    /// Distinct tokens of the profile's good kind.
    pub pool: usize,
    /// Token kinds and their weights.
    pub mix: Vec<(Kind, u64)>,
    /// Routes and their weights.
    pub routes: Vec<(Route, u64)>,
    /// Cache TTLs to compare, one attack each.
    pub cache_ttls: Vec<u64>,
    /// Rules the run must hold.
    pub thresholds: Vec<Threshold>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    profile: Spanned<String>,
    users: Spanned<usize>,
    #[serde(default)]
    increase_rate: Option<Spanned<f64>>,
    #[serde(default)]
    run_time: Option<Spanned<String>>,
    #[serde(default)]
    iterations: Option<Spanned<usize>>,
    #[serde(default)]
    throttle_rps: Option<Spanned<usize>>,
    pool: Spanned<usize>,
    cache_ttls: Spanned<Vec<Spanned<u64>>>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
    mix: Spanned<BTreeMap<Spanned<String>, Spanned<u64>>>,
    #[serde(default)]
    routes: Option<Spanned<BTreeMap<Spanned<String>, Spanned<u64>>>>,
}

/// The names of the built-in scenarios.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Reads a built-in scenario.
pub fn builtin(name: &str, token_use: Option<TokenUse>) -> Result<Scenario, ProfileError> {
    let (_, text) = BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| ProfileError::Unknown(name.to_string()))?;
    parse(
        text,
        &format!("scenarios/load/{name}.toml (built in)"),
        name,
        None,
        token_use,
    )
}

/// Reads a scenario file; a profile path in it is relative to the file.
pub fn load(path: &Path, token_use: Option<TokenUse>) -> Result<Scenario, ProfileError> {
    let text = profile::read_text(path)?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "load".into());
    parse(
        &text,
        &path.display().to_string(),
        &name,
        Some(path.parent().unwrap_or(Path::new("."))),
        token_use,
    )
}

/// Parses scenario text. `dir` is where a profile path is looked up (`None`: built-in
/// profiles only). `token_use` (`--token-use`) replaces the profile's; the scenario's good
/// token follows it.
pub fn parse(
    text: &str,
    origin: &str,
    name: &str,
    dir: Option<&Path>,
    token_use: Option<TokenUse>,
) -> Result<Scenario, ProfileError> {
    let at = |span: Range<usize>, message: String| {
        let (line, column) = profile::position(text, span.start);
        ProfileError::Invalid {
            origin: origin.to_string(),
            line,
            column,
            message,
        }
    };
    let raw: Raw =
        toml::from_str(text).map_err(|e| at(e.span().unwrap_or(0..0), e.message().to_string()))?;

    let profile_name = raw.profile.get_ref();
    let profile = if profile_name.ends_with(".toml") {
        let dir = dir.ok_or_else(|| {
            at(
                raw.profile.span(),
                "a built-in scenario names a built-in profile".into(),
            )
        })?;
        profile::load_for(&dir.join(profile_name), token_use)?
    } else {
        profile::builtin_for(profile_name, token_use).map_err(|e| {
            if !matches!(e, ProfileError::Unknown(_)) {
                return e;
            }
            at(
                raw.profile.span(),
                format!(
                    "no built-in profile `{profile_name}`: name static, hs256, jwks or cognito, or a profile file ending in .toml (relative to this scenario)"
                ),
            )
        })?
    };

    if *raw.users.get_ref() == 0 || *raw.users.get_ref() > 10_000 {
        return Err(at(raw.users.span(), "users is 1 to 10000".into()));
    }
    let increase_rate = match &raw.increase_rate {
        Some(r) if !(r.get_ref().is_finite() && *r.get_ref() > 0.0) => {
            return Err(at(
                r.span(),
                "increase_rate is users started per second, above 0".into(),
            ));
        }
        Some(r) => *r.get_ref(),
        None => *raw.users.get_ref() as f64,
    };
    let bound = match (&raw.run_time, &raw.iterations) {
        (Some(_), Some(i)) => {
            return Err(at(i.span(), "give run_time or iterations, not both".into()));
        }
        (Some(t), None) => {
            let d = parse_run_time(t.get_ref()).map_err(|m| at(t.span(), m))?;
            Bound::Time(d)
        }
        (None, Some(i)) if *i.get_ref() == 0 => {
            return Err(at(i.span(), "iterations is at least 1".into()));
        }
        (None, Some(i)) => Bound::Iterations(*i.get_ref()),
        (None, None) => {
            return Err(at(
                0..0,
                "say how long to run: run_time = \"30s\" or iterations = N (requests per user)"
                    .into(),
            ));
        }
    };
    if let Some(t) = &raw.throttle_rps
        && *t.get_ref() == 0
    {
        return Err(at(
            t.span(),
            "throttle_rps is at least 1 (leave it out for no throttle)".into(),
        ));
    }
    if *raw.pool.get_ref() == 0 || *raw.pool.get_ref() > MAX_POOL {
        return Err(at(
            raw.pool.span(),
            format!("pool is 1 to {MAX_POOL} distinct good tokens"),
        ));
    }
    let mut cache_ttls = Vec::new();
    for ttl in raw.cache_ttls.get_ref() {
        if *ttl.get_ref() > crate::gateway::MAX_TTL {
            return Err(at(
                ttl.span(),
                format!(
                    "cache TTL {} is out of range: API Gateway allows 0 (off) to {} seconds",
                    ttl.get_ref(),
                    crate::gateway::MAX_TTL
                ),
            ));
        }
        if cache_ttls.contains(ttl.get_ref()) {
            return Err(at(
                ttl.span(),
                format!("cache TTL {} is listed twice", ttl.get_ref()),
            ));
        }
        cache_ttls.push(*ttl.get_ref());
    }
    if cache_ttls.is_empty() {
        return Err(at(
            raw.cache_ttls.span(),
            "cache_ttls is empty: name at least one TTL, e.g. [0, 300]".into(),
        ));
    }
    let thresholds = raw
        .thresholds
        .iter()
        .map(|t| {
            let threshold: Threshold = t.get_ref().parse().map_err(|m| at(t.span(), m))?;
            match threshold.ttl {
                Some(ttl) if !cache_ttls.contains(&ttl) => Err(at(
                    t.span(),
                    format!("`{}`: ttl {ttl} is not one of cache_ttls", t.get_ref()),
                )),
                _ => Ok(threshold),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;

    let good = crate::tokens::good_kind(profile.profile, profile.token_use);
    let mut mix = Vec::new();
    for (kind, weight) in raw.mix.get_ref() {
        let k = Kind::from_name(kind.get_ref()).ok_or_else(|| {
            let hint = Kind::suggest(kind.get_ref());
            at(
                kind.span(),
                if hint.is_empty() {
                    format!(
                        "unknown token kind `{}` (see `authprobe token list`)",
                        kind.get_ref()
                    )
                } else {
                    format!(
                        "unknown token kind `{}`; did you mean {}?",
                        kind.get_ref(),
                        hint.join(", ")
                    )
                },
            )
        })?;
        // The other token use's good token, under --token-use, is this one's.
        let k = if token_use.is_some()
            && k.expect(profile.profile, profile.token_use).is_none()
            && [TokenUse::Access, TokenUse::Id]
                .iter()
                .any(|t| crate::tokens::good_kind(profile.profile, *t) == k)
        {
            good
        } else {
            k
        };
        if k.expect(profile.profile, profile.token_use).is_none() {
            return Err(at(
                kind.span(),
                format!(
                    "`{}` does not apply to the {} profile (see `authprobe token list --profile {}`)",
                    kind.get_ref(),
                    profile.profile,
                    profile.profile
                ),
            ));
        }
        if *weight.get_ref() > 0 {
            mix.push((k, *weight.get_ref()));
        }
    }
    if mix.is_empty() {
        return Err(at(
            raw.mix.span(),
            format!(
                "[mix] gives no kind a weight above 0: e.g. {} = 1",
                good.name()
            ),
        ));
    }
    let sum: u64 = mix.iter().map(|(_, w)| w).sum();
    if sum > MAX_WEIGHT_SUM {
        return Err(at(
            raw.mix.span(),
            format!(
                "the [mix] weights add up to {sum}; keep them at most {MAX_WEIGHT_SUM} (they are proportions: 90 and 10 say the same as 9 and 1)"
            ),
        ));
    }
    // Catalogue order, so reports list kinds the same way conform does.
    mix.sort_by_key(|(k, _)| *k);

    let routes = match &raw.routes {
        None => profile
            .routes
            .iter()
            .map(|r| {
                (
                    Route {
                        method: r.method.clone(),
                        path: r.path.clone(),
                    },
                    1,
                )
            })
            .collect(),
        Some(table) => {
            let mut routes = Vec::new();
            for (route, weight) in table.get_ref() {
                let r: Route = route.get_ref().parse().map_err(|m| at(route.span(), m))?;
                if !profile
                    .routes
                    .iter()
                    .any(|p| p.method == r.method && p.path == r.path)
                {
                    return Err(at(
                        route.span(),
                        format!(
                            "`{r}` is not a route of the profile's API ({})",
                            profile
                                .routes
                                .iter()
                                .map(|p| format!("{} {}", p.method, p.path))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                if !crate::load::attack::SENDABLE.contains(&r.method.as_str()) {
                    return Err(at(
                        route.span(),
                        format!(
                            "goose sends {} only",
                            crate::load::attack::SENDABLE.join(", ")
                        ),
                    ));
                }
                if *weight.get_ref() > 0 {
                    routes.push((r, *weight.get_ref()));
                }
            }
            if routes.is_empty() {
                return Err(at(
                    table.span(),
                    "[routes] gives no route a weight above 0".into(),
                ));
            }
            let sum: u64 = routes.iter().map(|(_, w)| w).sum();
            if sum > MAX_WEIGHT_SUM {
                return Err(at(
                    table.span(),
                    format!(
                        "the [routes] weights add up to {sum}; keep them at most {MAX_WEIGHT_SUM}"
                    ),
                ));
            }
            routes
        }
    };

    Ok(Scenario {
        origin: origin.to_string(),
        name: name.to_string(),
        profile,
        users: *raw.users.get_ref(),
        increase_rate,
        bound,
        throttle_rps: raw.throttle_rps.map(|t| *t.get_ref()),
        pool: *raw.pool.get_ref(),
        mix,
        routes,
        cache_ttls,
        thresholds,
    })
}

/// Parses a run time: `30s`, `2m`, `1m30s`, `1h` (whole seconds, at most 24 h).
pub fn parse_run_time(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a run time: write e.g. 30s, 2m, 1m30s or 1h");
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            'h' | 'm' | 's' if !digits.is_empty() => {
                let n: u64 = digits.parse().map_err(|_| bad())?;
                total = total.saturating_add(n.saturating_mul(match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                }));
                digits.clear();
            }
            _ => return Err(bad()),
        }
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    if total > 24 * 3600 {
        return Err(format!("`{text}` is longer than 24h"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_the_way_they_are_written() {
        let t: Threshold = "p99_ms < 50".parse().unwrap();
        assert_eq!(
            (t.ttl, t.metric, t.op, t.limit),
            (None, Metric::P99Ms, Op::Lt, 50.0)
        );
        let t: Threshold = "ttl 300: invocations_per_request <= 0.05".parse().unwrap();
        assert_eq!(t.ttl, Some(300));
        assert_eq!(t.op, Op::Le);
        assert_eq!(t.to_string(), "ttl 300: invocations_per_request <= 0.05");
        assert!(
            "rps >= 1000"
                .parse::<Threshold>()
                .unwrap()
                .op
                .holds(1000.0, 1000.0)
        );
        let err = "p99 < 50".parse::<Threshold>().unwrap_err();
        assert!(err.contains("unknown metric `p99`"), "{err}");
        assert!(err.contains("did you mean `p99_ms`?"), "{err}");
        let err = "cache_hit_rate > 0.9".parse::<Threshold>().unwrap_err();
        assert!(err.contains("did you mean `cache_hit_ratio`?"), "{err}");
        let err = "latency < 5".parse::<Threshold>().unwrap_err();
        assert!(!err.contains("did you mean"), "{err}");
        assert_eq!("bad_allowed = 0".parse::<Threshold>().unwrap().op, Op::Eq);
        assert!(
            "p99_ms ~ 5"
                .parse::<Threshold>()
                .unwrap_err()
                .contains("METRIC < LIMIT")
        );
        assert!(
            "p99_ms < fast"
                .parse::<Threshold>()
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            "when 3: p99_ms < 5"
                .parse::<Threshold>()
                .unwrap_err()
                .contains("ttl N:")
        );
    }

    #[test]
    fn run_times_take_hours_minutes_and_seconds() {
        assert_eq!(parse_run_time("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_run_time("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_run_time("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_run_time("30").is_err());
        assert!(parse_run_time("0s").is_err());
        assert!(parse_run_time("1.5s").is_err());
        assert!(parse_run_time("25h").is_err());
    }

    #[test]
    fn every_built_in_scenario_parses() {
        for name in builtin_names() {
            let s = builtin(name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!s.cache_ttls.is_empty());
        }
    }

    #[test]
    fn a_bad_scenario_is_refused_at_its_line_and_column() {
        let text = "profile = \"jwks\"\nusers = 4\niterations = 10\npool = 10\ncache_ttls = [0, 9000]\n[mix]\nvalid = 1\n";
        let err = parse(text, "x.toml", "x", None, None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml:5:"), "{err}");
        assert!(err.contains("9000"), "{err}");
        let text = "profile = \"jwks\"\nusers = 4\niterations = 10\npool = 10\ncache_ttls = [0]\n[mix]\nvalidd = 1\n";
        let err = parse(text, "x.toml", "x", None, None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml:7:1"), "{err}");
        assert!(err.contains("did you mean valid"), "{err}");
        let text = "profile = \"jwks\"\nusers = 4\npool = 10\ncache_ttls = [0]\n[mix]\nvalid = 1\n";
        let err = parse(text, "x.toml", "x", None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("run_time"), "{err}");
        let text = "profile = \"jwks\"\nusers = 4\niterations = 1\npool = 10\ncache_ttls = [0]\nthresholds = [\"ttl 300: rps > 1\"]\n[mix]\nvalid = 1\n";
        let err = parse(text, "x.toml", "x", None, None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.toml:6:"), "{err}");
        assert!(err.contains("not one of cache_ttls"), "{err}");
    }
}
