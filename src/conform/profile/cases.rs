//! The cases a profile lists: token kinds and stateful checks, the route each is sent to, the
//! header form, and the `--case` patterns that select among them.

use super::*;

/// Cases that need more than one token, or a change of the IdP, to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stateful {
    /// A token under a key that appears in the JWKS only after rotation is allowed once the
    /// authorizer refetches.
    KeyRotation,
    /// Many unknown kids: JWKS fetches must stay bounded.
    UnknownKidFlood,
    /// JWKS unreachable (500) at cold start: must reject.
    JwksUnreachable,
    /// JWKS slower than the invocation timeout at cold start: must reject.
    JwksSlow,
    /// JWKS not JSON at cold start: must reject.
    JwksMalformed,
    /// The good token again, after all the bad ones.
    ValidAgain,
    /// No Authorization header: API Gateway answers 401 without invoking.
    MissingHeader,
    /// A Deny for a token is cached: the same token stays 403 on every route for the TTL.
    CachedDeny,
    /// Two different tokens never share a cached policy.
    CacheKey,
    /// The good token under the header names `authorization` and `AUTHORIZATION`.
    HeaderCase,
    /// A token under a key the IdP has removed from its JWKS is refused.
    KeyRetired,
    /// The good token only in the query string (REQUEST-style events) is refused.
    TokenInQuery,
    /// HS256 tokens signed with guessable secrets are refused.
    WeakSecret,
}

impl Stateful {
    /// Every stateful case with its name, whether a correct authorizer may allow what it sends
    /// (`false`: it must be rejected, so no profile may expect `allow`), and what it checks.
    pub const ALL: &'static [(Stateful, &'static str, bool, &'static str)] = &[
        (
            Stateful::KeyRotation,
            "key-rotation",
            true,
            "a token under a newly published key is allowed once the authorizer refetches",
        ),
        (
            Stateful::UnknownKidFlood,
            "unknown-kid-flood",
            false,
            "50 unknown kids cause a bounded number of JWKS fetches",
        ),
        (
            Stateful::JwksUnreachable,
            "jwks-unreachable",
            false,
            "JWKS answering 500 at cold start: reject, not crash or allow",
        ),
        (
            Stateful::JwksSlow,
            "jwks-slow",
            false,
            "JWKS slower than the invocation timeout at cold start: reject",
        ),
        (
            Stateful::JwksMalformed,
            "jwks-malformed",
            false,
            "JWKS that is not JSON at cold start: reject",
        ),
        (
            Stateful::ValidAgain,
            "valid-again",
            true,
            "the good token still works after every bad one",
        ),
        (
            Stateful::MissingHeader,
            "missing-header",
            false,
            "no Authorization header: 401 without an invocation",
        ),
        (
            Stateful::CachedDeny,
            "cached-deny",
            false,
            "a rejected token on every route: a Deny is cached (403 everywhere for the TTL), a 401 is not",
        ),
        (
            Stateful::CacheKey,
            "cache-key",
            false,
            "after the good token's policy is cached, a different token is judged on its own",
        ),
        (
            Stateful::HeaderCase,
            "header-case",
            true,
            "the good token under the header names `authorization` (HTTP/2 clients) and `AUTHORIZATION`: allowed both times",
        ),
        (
            Stateful::KeyRetired,
            "key-retired",
            false,
            "a token under a key the IdP has removed from its JWKS (a leaked key) is refused",
        ),
        (
            Stateful::TokenInQuery,
            "token-in-query",
            false,
            "the good token only in the query string (`access_token=` and the like), no Authorization header: refused",
        ),
        (
            Stateful::WeakSecret,
            "hs256-weak-secret",
            false,
            "the good token's claims signed with each of a few hundred guessable secrets (`secret`, `mysecretkey`, jwt.io's `your-256-bit-secret`, …): every one refused",
        ),
    ];

    fn entry(self) -> &'static (Stateful, &'static str, bool, &'static str) {
        Stateful::ALL
            .iter()
            .find(|(s, ..)| *s == self)
            .expect("every stateful case is in Stateful::ALL")
    }

    /// Its name in profiles and reports.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// Whether a correct authorizer may allow what it sends; `false` means every authorizer
    /// must reject it, and a profile may not say otherwise.
    pub fn may_allow(self) -> bool {
        self.entry().2
    }

    /// Whether it starts environments of its own or changes the key set (its JWKS fetches say
    /// nothing of how the run's environments get their keys).
    pub fn moves_keys(self) -> bool {
        matches!(
            self,
            Stateful::KeyRotation
                | Stateful::KeyRetired
                | Stateful::JwksUnreachable
                | Stateful::JwksSlow
                | Stateful::JwksMalformed
        )
    }

    /// What it checks.
    pub fn what(self) -> &'static str {
        self.entry().3
    }

    pub(super) fn from_name(name: &str) -> Option<Stateful> {
        Stateful::ALL
            .iter()
            .find(|(_, n, ..)| *n == name)
            .map(|(s, ..)| *s)
    }
}

/// What a case sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseKind {
    /// One token of a catalogue kind.
    Token(Kind),
    /// A stateful case.
    Stateful(Stateful),
}

/// How the header carries the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderForm {
    /// As the kind mints it (`Bearer <token>` for JWT kinds).
    AsMinted,
    /// The token alone, without `Bearer ` (for authorizers that take the raw token).
    Raw,
}

/// A route of the API, `GET /hello`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// One case to send.
#[derive(Clone, Debug)]
pub struct CaseSpec {
    /// Unique name (the kind's, unless the file names it).
    pub name: String,
    /// What it sends.
    pub kind: CaseKind,
    /// Whether a correct authorizer allows it.
    pub expect_allow: bool,
    /// Header form.
    pub header: HeaderForm,
    /// The route it is sent to.
    pub route: Route,
}

impl CaseSpec {
    /// What it sends or checks, in one line.
    pub fn what(&self) -> &'static str {
        match self.kind {
            CaseKind::Token(k) => k.what(),
            CaseKind::Stateful(s) => s.what(),
        }
    }
}

/// A `--case` pattern: a case name in which `*` stands for any run of characters and `?` for
/// one character.
#[derive(Clone, Debug)]
pub struct CaseGlob {
    text: String,
    regex: regex::Regex,
}

impl std::str::FromStr for CaseGlob {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("an empty pattern matches no case: write e.g. --case 'kid-*'".into());
        }
        let mut pattern = String::from("^");
        for c in s.chars() {
            match c {
                '*' => pattern.push_str(".*"),
                '?' => pattern.push('.'),
                c => pattern.push_str(&regex::escape(&c.to_string())),
            }
        }
        pattern.push('$');
        let regex = regex::Regex::new(&pattern).map_err(|e| format!("`{s}`: {e}"))?;
        Ok(CaseGlob {
            text: s.to_string(),
            regex,
        })
    }
}

impl CaseGlob {
    /// True when `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

impl std::fmt::Display for CaseGlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The kinds a group stands for.
pub type KindsOf = fn() -> Vec<Kind>;

/// Families of kinds a profile lists in one line (`{ group = "claim-types", expect =
/// "reject" }`), each with the kinds it stands for.
pub const CASE_GROUPS: &[(&str, KindsOf)] = &[("claim-types", || {
    (0..crate::tokens::catalogue::CLAIM_TYPES.len())
        .map(|i| Kind::ClaimType(i as u8))
        .collect()
})];

/// The profile's cases with each `group` line replaced by one case per kind of the group that
/// means something to `profile` (no `aud` kinds on a Cognito access token); an error is the
/// span and message of the line at fault.
pub(super) fn expand_groups(
    cases: &[RawCase],
    profile: Profile,
    token_use: TokenUse,
) -> Result<Vec<RawCase>, (Range<usize>, String)> {
    let mut expanded = Vec::new();
    for case in cases {
        let Some(group) = &case.group else {
            expanded.push(case.clone());
            continue;
        };
        if case.kind.is_some() || case.stateful.is_some() || case.name.is_some() {
            return Err((
                group.span(),
                "a `group` case names no `kind`, `stateful` or `name`: it stands for one case per kind of the group".into(),
            ));
        }
        let Some((_, kinds)) = CASE_GROUPS.iter().find(|(n, _)| n == group.get_ref()) else {
            let names: Vec<&str> = CASE_GROUPS.iter().map(|(n, _)| *n).collect();
            return Err((
                group.span(),
                format!(
                    "unknown group `{}`: expected one of {}",
                    group.get_ref(),
                    names.join(", ")
                ),
            ));
        };
        for kind in kinds() {
            if kind.expect(profile, token_use).is_none() {
                continue;
            }
            expanded.push(RawCase {
                kind: Some(Spanned::new(group.span(), kind.name().to_string())),
                group: None,
                ..case.clone()
            });
        }
    }
    Ok(expanded)
}
