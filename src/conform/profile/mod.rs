//! Profiles as data: the TOML files under `scenarios/` that name an authorizer's settings, the
//! API it sits behind, and the cases to send. The four built-in ones are embedded in the binary.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::event::EventKind;
use crate::tokens::{Kind, Profile, TokenUse};

mod cases;
pub mod matrix;

use cases::expand_groups;
pub use cases::{CASE_GROUPS, CaseGlob, CaseKind, CaseSpec, HeaderForm, KindsOf, Route, Stateful};

/// The embedded profiles, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("static", include_str!("../../../scenarios/static.toml")),
    ("hs256", include_str!("../../../scenarios/hs256.toml")),
    ("jwks", include_str!("../../../scenarios/jwks.toml")),
    ("cognito", include_str!("../../../scenarios/cognito.toml")),
];

/// A profile file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    profile: Profile,
    name: Option<Spanned<String>>,
    #[serde(default = "default_event")]
    event: EventKind,
    #[serde(default)]
    simple_responses: bool,
    #[serde(default)]
    identity: Identity,
    #[serde(default)]
    authorizer: RawAuthorizer,
    #[serde(default)]
    api: RawApi,
    run: RawRun,
    matrix: Option<matrix::RawMatrix>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    cases: Spanned<Vec<RawCase>>,
}

fn default_event() -> EventKind {
    EventKind::Token
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthorizer {
    issuer: Option<String>,
    audience: Option<String>,
    client_id: Option<String>,
    #[serde(default)]
    token_use: TokenUse,
    #[serde(default)]
    scopes: Vec<String>,
    secret: Option<String>,
    leeway_seconds: Option<Spanned<u64>>,
    bearer: Option<bool>,
    rotation_window_seconds: Option<Spanned<u64>>,
    key_publish_ahead_seconds: Option<u64>,
    jwks_timeout: Option<Spanned<String>>,
    shared_keys: Option<bool>,
    #[serde(default)]
    claims: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    #[serde(default = "default_ttl")]
    cache_ttl: Spanned<u64>,
    #[serde(default = "default_routes")]
    routes: Vec<Spanned<String>>,
}

impl Default for RawApi {
    fn default() -> Self {
        RawApi {
            cache_ttl: default_ttl(),
            routes: default_routes(),
        }
    }
}

fn default_ttl() -> Spanned<u64> {
    Spanned::new(0..0, crate::gateway::DEFAULT_TTL)
}

fn default_routes() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "GET /hello".to_string())]
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Option<String>,
    kind: Option<Spanned<String>>,
    stateful: Option<Spanned<String>>,
    /// A family of kinds generated from data, one case each ([`CASE_GROUPS`]).
    group: Option<Spanned<String>>,
    expect: Spanned<String>,
    header: Option<Spanned<String>>,
    route: Option<Spanned<String>>,
}

/// Where a profile's good tokens come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Identity {
    /// authprobe is the IdP: it mints every kind with its own keys (the default).
    #[default]
    Minted,
    /// The authorizer trusts a real IdP: the good token comes from it (`--token-cmd`,
    /// `--token-file`, `--oauth-token-url`) and only the key-less kinds are derived.
    External,
}

/// A profile, checked.
#[derive(Clone, Debug)]
pub struct ProfileSpec {
    /// Where it came from (`builtin:jwks` or a path).
    pub origin: String,
    /// Name of its policy snapshots (`name = "..."`): kept in `scenarios/snapshots/NAME/`.
    pub name: Option<String>,
    /// The authorizer profile.
    pub profile: Profile,
    /// Where the good tokens come from (`identity = "external"`: a real IdP).
    pub identity: Identity,
    /// Event shape sent.
    pub event: EventKind,
    /// HTTP API simple responses.
    pub simple_responses: bool,
    /// Issuer; `None` means the mock IdP's.
    pub issuer: Option<String>,
    /// Audience.
    pub audience: String,
    /// Cognito client id.
    pub client_id: String,
    /// Cognito token use.
    pub token_use: TokenUse,
    /// Required scopes.
    pub scopes: Vec<String>,
    /// HS256 secret.
    pub secret: Option<String>,
    /// Leeway.
    pub leeway_seconds: u64,
    /// How long the authorizer may take to accept a newly published key (the key-rotation
    /// case's window), if the profile says.
    pub rotation_window: Option<std::time::Duration>,
    /// How long before an IdP signs with a new key it publishes it in the JWKS
    /// (`key_publish_ahead_seconds`). An authorizer that picks a new key up later than the
    /// rotation window, but within this margin, has no defect: the key is in place before
    /// any token uses it. 0 (the default) is an IdP whose rotations are not announced.
    pub key_publish_ahead: std::time::Duration,
    /// How long the reference authorizer waits for a JWKS fetch (`jwks_timeout`); the
    /// `jwks-slow` case serves the JWKS slower than this. `{jwks_timeout}` in `--env` gives it
    /// to a `lambda:` authorizer, in seconds.
    pub jwks_timeout: std::time::Duration,
    /// Clients send `Bearer `.
    pub bearer: bool,
    /// Whether the issuer's signing keys are shared with other issuers or tenants (Google's
    /// and Firebase's are): then an `iss` check is what keeps the others out, and a wrong
    /// `iss` allowed is a security finding; otherwise only the issuer could sign one
    /// (hardening). Off by default: Cognito pools, Auth0 and Okta tenants sign with their own.
    pub shared_keys: bool,
    /// Authorizer result cache TTL of the API.
    pub cache_ttl: u64,
    /// The API's routes (the first is where cases go unless they name one).
    pub routes: Vec<Route>,
    /// The cases, in order.
    pub cases: Vec<CaseSpec>,
    /// Who may call which route (`[matrix]`), checked through the gateway's cache.
    pub matrix: Option<matrix::MatrixSpec>,
    /// Claims every good token carries (`[authorizer] claims`), for an authorizer that needs
    /// them to allow (a group, a tenant id); they replace the minted defaults.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl ProfileSpec {
    /// Keeps the cases some pattern matches, in profile order (all of them when `globs` is
    /// empty). Err names a pattern that matches no case: a typo must not shrink a run
    /// silently.
    pub fn select(&mut self, globs: &[CaseGlob]) -> Result<(), String> {
        if globs.is_empty() {
            return Ok(());
        }
        // A matrix cell is named `PRINCIPAL METHOD /path`; a pattern that matches one keeps
        // that principal's whole row (its passes need every route).
        let cells: Vec<(usize, String)> = self
            .matrix
            .iter()
            .flat_map(|m| m.principals.iter().enumerate())
            .flat_map(|(i, p)| {
                self.routes
                    .iter()
                    .map(move |r| (i, format!("{} {r}", p.name)))
            })
            .collect();
        if let Some(unmatched) = globs.iter().find(|g| {
            !self.cases.iter().any(|c| g.matches(&c.name))
                && !cells.iter().any(|(_, name)| g.matches(name))
        }) {
            let pattern = unmatched.to_string();
            let closest = self
                .cases
                .iter()
                .map(|c| (strsim::jaro_winkler(&pattern, &c.name), &c.name))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, name)| format!(" (did you mean `{name}`?)"))
                .unwrap_or_default();
            return Err(format!(
                "--case {unmatched} matches no case of {}{closest}",
                self.origin
            ));
        }
        self.cases
            .retain(|c| globs.iter().any(|g| g.matches(&c.name)));
        if let Some(m) = &mut self.matrix {
            let kept: Vec<usize> = cells
                .iter()
                .filter(|(_, name)| globs.iter().any(|g| g.matches(name)))
                .map(|(i, _)| *i)
                .collect();
            let mut index = 0;
            m.principals.retain(|_| {
                index += 1;
                kept.contains(&(index - 1))
            });
            if m.principals.is_empty() {
                self.matrix = None;
            }
        }
        Ok(())
    }

    /// The claims and secrets its tokens are minted with (an empty issuer means the IdP's).
    pub fn mint_settings(&self) -> crate::tokens::MintSettings {
        let mut settings = crate::tokens::MintSettings {
            issuer: self.issuer.clone().unwrap_or_default(),
            audience: self.audience.clone(),
            client_id: self.client_id.clone(),
            token_use: self.token_use,
            leeway: std::time::Duration::from_secs(self.leeway_seconds),
            ..crate::tokens::MintSettings::default()
        };
        if let Some(secret) = &self.secret {
            settings.secret = secret.clone().into_bytes();
        }
        if !self.scopes.is_empty() {
            settings.scope = self.scopes.join(" ");
        }
        settings.extra = self.claims.clone();
        settings
    }
}

/// A profile that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid profile.
    #[error("{origin}:{line}:{column}: {message}")]
    Invalid {
        /// File.
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// The path is not a regular file (a folder, a device such as /dev/zero, a FIFO).
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is larger than a profile can be.
    #[error("{path} is larger than {} MiB, too large for a profile", MAX_PROFILE_BYTES >> 20)]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// No such embedded profile.
    #[error("no built-in profile `{0}`")]
    Unknown(String),
}

/// The 1-based line and column of a byte offset in `text`.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Reads an embedded profile.
pub fn builtin(name: &str) -> Result<ProfileSpec, ProfileError> {
    let (_, text) = BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| ProfileError::Unknown(name.to_string()))?;
    parse(text, &builtin_origin(name))
}

/// The origin of the embedded profile `name`, as errors name it.
fn builtin_origin(name: &str) -> String {
    format!("scenarios/{name}.toml (built in)")
}

/// The embedded profile an origin names, if it names one (not a profile file).
pub fn builtin_name(origin: &str) -> Option<&str> {
    let name = origin
        .strip_prefix("scenarios/")?
        .strip_suffix(".toml (built in)")?;
    BUILTIN.iter().any(|(n, _)| *n == name).then_some(name)
}

/// The largest profile file read: the built-in ones are a few KB.
pub const MAX_PROFILE_BYTES: u64 = 4 << 20;

/// Reads a profile file: a regular file of at most [`MAX_PROFILE_BYTES`]. It is opened
/// without blocking, so a FIFO is refused rather than waited on.
pub fn load(path: &Path) -> Result<ProfileSpec, ProfileError> {
    let text = read_text(path)?;
    parse(&text, &path.display().to_string())
}

/// Reads a regular file of at most [`MAX_PROFILE_BYTES`] as text, without blocking on a FIFO
/// (profiles and load scenarios alike).
pub(crate) fn read_text(path: &Path) -> Result<String, ProfileError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let read_error = |source| ProfileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(read_error)?;
    if !file.metadata().map_err(read_error)?.is_file() {
        return Err(ProfileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mut text = String::new();
    file.take(MAX_PROFILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_PROFILE_BYTES {
        return Err(ProfileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

fn parse_route(text: &str, origin: &str, spanned: &Spanned<String>) -> Result<Route, ProfileError> {
    let invalid = |message: String| {
        let (line, column) = position(text, spanned.span().start);
        ProfileError::Invalid {
            origin: origin.to_string(),
            line,
            column,
            message,
        }
    };
    let (method, path) = spanned
        .get_ref()
        .split_once(' ')
        .filter(|(m, p)| !m.is_empty() && p.starts_with('/'))
        .ok_or_else(|| {
            invalid(format!(
                "route `{}`: expected METHOD /path, e.g. \"GET /hello\"",
                spanned.get_ref()
            ))
        })?;
    let route = Route {
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
    };
    // API Gateway answers a request whose method ARN is over its limit with 414, before the
    // authorizer: a case on such a route would judge nothing (and a must-reject case would
    // pass whatever the authorizer does).
    crate::gateway::check_method_arn(&crate::event::Api::default(), &route.method, &route.path)
        .map_err(|message| invalid(format!("route `{}`: {message}", spanned.get_ref())))?;
    Ok(route)
}

/// The largest clock-skew leeway a profile may give: a day.
pub const MAX_LEEWAY: u64 = 86_400;

/// The longest case name: it names a snapshot file (`NAME.snap.new` within a file system's
/// 255 bytes).
pub const MAX_CASE_NAME: usize = 200;

/// Parses profile text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<ProfileSpec, ProfileError> {
    parse_with(text, origin, None)
}

/// Reads an embedded profile for `token_use` (`--token-use`): its good token becomes that
/// token use's, the cases that do not apply to it are left out, and the kinds that apply only
/// to it are added, each expecting what the catalogue says. Its snapshots are kept apart from
/// the other token use's (`cognito-id`).
pub fn builtin_for(name: &str, token_use: Option<TokenUse>) -> Result<ProfileSpec, ProfileError> {
    let (_, text) = BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| ProfileError::Unknown(name.to_string()))?;
    parse_with(text, &builtin_origin(name), token_use.map(|t| (t, true)))
}

/// Reads a profile file with its `token_use` replaced (`--token-use`); a case that does not
/// apply to that token use is an error at its line.
pub fn load_for(path: &Path, token_use: Option<TokenUse>) -> Result<ProfileSpec, ProfileError> {
    let text = read_text(path)?;
    parse_with(
        &text,
        &path.display().to_string(),
        token_use.map(|t| (t, false)),
    )
}

/// [`parse`], with the token use replaced and, when `adapt` is set, the cases fitted to it.
fn parse_with(
    text: &str,
    origin: &str,
    token_use: Option<(TokenUse, bool)>,
) -> Result<ProfileSpec, ProfileError> {
    let adapt = token_use.is_some_and(|(_, adapt)| adapt);
    let at = |span: Range<usize>, message: String| {
        let (line, column) = position(text, span.start);
        ProfileError::Invalid {
            origin: origin.to_string(),
            line,
            column,
            message,
        }
    };
    let mut raw: RawProfile =
        toml::from_str(text).map_err(|e| at(e.span().unwrap_or(0..0), e.message().to_string()))?;
    // Only Cognito has two token uses; the command refuses --token-use for the others.
    let token_use = token_use.filter(|_| raw.profile == Profile::Cognito);
    let adapt = adapt && token_use.is_some();
    if let Some((token_use, _)) = token_use
        && raw.authorizer.token_use != token_use
    {
        raw.authorizer.token_use = token_use;
        if adapt && raw.name.is_none() {
            let name = format!("{}-{}", raw.profile, token_use);
            raw.name = Some(Spanned::new(0..0, name));
        }
    }
    let routes = raw
        .api
        .routes
        .iter()
        .map(|r| parse_route(text, origin, r))
        .collect::<Result<Vec<_>, _>>()?;
    if routes.is_empty() {
        return Err(at(
            0..0,
            "[api] routes is empty: name at least one route, e.g. [\"GET /hello\"]".into(),
        ));
    }
    let matrix = raw
        .matrix
        .as_ref()
        .map(|m| matrix::check(m, &routes))
        .transpose()
        .map_err(|(span, message)| at(span, message))?;
    if *raw.api.cache_ttl.get_ref() > crate::gateway::MAX_TTL {
        return Err(at(
            raw.api.cache_ttl.span(),
            format!(
                "cache_ttl = {}: API Gateway allows 0 (off) to {} seconds",
                raw.api.cache_ttl.get_ref(),
                crate::gateway::MAX_TTL
            ),
        ));
    }
    if let Some(l) = &raw.authorizer.leeway_seconds
        && *l.get_ref() > MAX_LEEWAY
    {
        return Err(at(
            l.span(),
            format!(
                "leeway_seconds = {}: the clock-skew leeway must be 0 to {MAX_LEEWAY} seconds (an authorizer with more accepts tokens long expired)",
                l.get_ref()
            ),
        ));
    }
    if let Some(w) = &raw.authorizer.rotation_window_seconds
        && !(1..=600).contains(w.get_ref())
    {
        return Err(at(
            w.span(),
            format!(
                "rotation_window_seconds = {}: the key-rotation window must be 1 to 600 seconds",
                w.get_ref()
            ),
        ));
    }
    let jwks_timeout = match &raw.authorizer.jwks_timeout {
        None => crate::authorizer::DEFAULT_JWKS_TIMEOUT,
        Some(t) => crate::duration::parse(t.get_ref())
            .and_then(|d| {
                if d.is_zero() || d > std::time::Duration::from_secs(60) {
                    Err("the JWKS fetch timeout must be 1ms to 60s".to_string())
                } else {
                    Ok(d)
                }
            })
            .map_err(|message| {
                at(
                    t.span(),
                    format!("jwks_timeout = \"{}\": {message}", t.get_ref()),
                )
            })?,
    };
    if let Some(name) = &raw.name {
        crate::conform::snapshot::check_name(name.get_ref())
            .map_err(|message| at(name.span(), format!("name: {message}")))?;
    }
    if raw.run.cases.get_ref().is_empty() {
        return Err(at(
            raw.run.cases.span(),
            "[run] cases is empty: a run of no cases proves nothing; list at least one, e.g. { kind = \"valid\", expect = \"allow\" }".into(),
        ));
    }
    let expanded = expand_groups(
        raw.run.cases.get_ref(),
        raw.profile,
        raw.authorizer.token_use,
    )
    .map_err(|(span, message)| at(span, message))?;
    let mut cases = Vec::new();
    for case in &expanded {
        let kind = match (&case.kind, &case.stateful) {
            (Some(k), None) => CaseKind::Token(Kind::from_name(k.get_ref()).ok_or_else(|| {
                let hint = Kind::suggest(k.get_ref())
                    .first()
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                at(
                    k.span(),
                    format!(
                        "unknown token kind `{}`{hint} (`authprobe token list` shows them)",
                        k.get_ref()
                    ),
                )
            })?),
            (None, Some(s)) => {
                CaseKind::Stateful(Stateful::from_name(s.get_ref()).ok_or_else(|| {
                    let names: Vec<&str> = Stateful::ALL.iter().map(|(_, n, ..)| *n).collect();
                    at(
                        s.span(),
                        format!(
                            "unknown stateful case `{}`: expected one of {}",
                            s.get_ref(),
                            names.join(", ")
                        ),
                    )
                })?)
            }
            _ => {
                return Err(at(
                    case.expect.span(),
                    "a case needs exactly one of `kind` or `stateful`".into(),
                ));
            }
        };
        let expect_allow = match case.expect.get_ref().as_str() {
            "allow" => true,
            "reject" => false,
            other => {
                return Err(at(
                    case.expect.span(),
                    format!("expect `{other}`: expected \"allow\" or \"reject\""),
                ));
            }
        };
        let header = match case
            .header
            .as_ref()
            .map(|h| (h.get_ref().as_str(), h.span()))
        {
            None | Some(("bearer", _)) => HeaderForm::AsMinted,
            Some(("raw", _)) => HeaderForm::Raw,
            Some((other, span)) => {
                return Err(at(
                    span,
                    format!("header `{other}`: expected \"bearer\" or \"raw\""),
                ));
            }
        };
        let route = match &case.route {
            Some(r) => parse_route(text, origin, r)?,
            None => routes[0].clone(),
        };
        let span = case
            .kind
            .as_ref()
            .or(case.stateful.as_ref())
            .map_or(0..0, |s| s.span());
        let name = case.name.clone().unwrap_or_else(|| match kind {
            CaseKind::Token(k) => k.name().to_string(),
            CaseKind::Stateful(s) => s.name().to_string(),
        });
        if name.is_empty()
            || name.contains(['/', '\\'])
            || name.starts_with('.')
            || name.chars().any(char::is_control)
            || name.len() > MAX_CASE_NAME
        {
            return Err(at(
                span,
                format!(
                    "case name `{}`: it names a snapshot file, so no `/`, `\\`, control characters or leading `.`, and at most {MAX_CASE_NAME} bytes",
                    name.escape_debug()
                ),
            ));
        }
        let (kind, name) = match kind {
            CaseKind::Token(k)
                if adapt && k.expect(raw.profile, raw.authorizer.token_use).is_none() =>
            {
                // Fitted to the other token use: its good token becomes this one's, in its
                // place; the rest is left out.
                let good = crate::tokens::good_kind(raw.profile, raw.authorizer.token_use);
                let other_good = [TokenUse::Access, TokenUse::Id]
                    .iter()
                    .any(|t| crate::tokens::good_kind(raw.profile, *t) == k);
                if !other_good {
                    continue;
                }
                let name = if name == k.name() {
                    good.name().to_string()
                } else {
                    name
                };
                (CaseKind::Token(good), name)
            }
            _ => (kind, name),
        };
        if let CaseKind::Token(kind) = kind {
            let span = case.kind.as_ref().map_or(0..0, |s| s.span());
            match kind.expect(raw.profile, raw.authorizer.token_use) {
                None => {
                    // Say it for the token this profile mints: a Cognito profile of ID tokens
                    // has other kinds than one of access tokens.
                    let (of, flag) = match (raw.profile, raw.authorizer.token_use) {
                        (Profile::Cognito, TokenUse::Id) => (
                            format!("the {} profile with token_use = \"id\"", raw.profile),
                            " --token-use id",
                        ),
                        _ => (format!("the {} profile", raw.profile), ""),
                    };
                    return Err(at(
                        span,
                        format!(
                            "token kind `{kind}` does not apply to {of} (`authprobe token list --profile {}{flag}` shows those that do)",
                            raw.profile
                        ),
                    ));
                }
                // A profile may be stricter than the catalogue, never laxer.
                Some(crate::tokens::Expect::Reject(_)) if expect_allow => {
                    return Err(at(
                        case.expect.span(),
                        format!(
                            "`{kind}` must be rejected by every authorizer of this profile: expect = \"allow\" would hide a security hole"
                        ),
                    ));
                }
                _ => {}
            }
        }
        if let CaseKind::Stateful(which) = kind
            && expect_allow
            && !which.may_allow()
        {
            return Err(at(
                case.expect.span(),
                format!(
                    "`{}` must be rejected by every authorizer: expect = \"allow\" would let an authorizer that fails open pass",
                    which.name()
                ),
            ));
        }
        if cases.iter().any(|c: &CaseSpec| c.name == name) {
            return Err(at(
                span,
                format!("case `{name}` appears twice: give one a `name`"),
            ));
        }
        cases.push(CaseSpec {
            name,
            kind,
            expect_allow,
            header,
            route,
        });
    }
    if adapt {
        add_missing_kinds(
            &mut cases,
            raw.profile,
            raw.authorizer.token_use,
            &routes[0],
        );
    }
    let bearer = raw
        .authorizer
        .bearer
        .unwrap_or(raw.profile != Profile::Static);
    Ok(ProfileSpec {
        matrix,
        claims: matrix::json_claims(&raw.authorizer.claims),
        origin: origin.to_string(),
        name: raw.name.map(Spanned::into_inner),
        profile: raw.profile,
        identity: raw.identity,
        event: raw.event,
        simple_responses: raw.simple_responses,
        issuer: raw.authorizer.issuer,
        audience: raw
            .authorizer
            .audience
            .unwrap_or_else(|| "authprobe-api".into()),
        client_id: raw
            .authorizer
            .client_id
            .unwrap_or_else(|| "authprobeclient0001".into()),
        token_use: raw.authorizer.token_use,
        scopes: raw.authorizer.scopes,
        secret: raw.authorizer.secret,
        leeway_seconds: raw
            .authorizer
            .leeway_seconds
            .map_or(60, Spanned::into_inner),
        key_publish_ahead: std::time::Duration::from_secs(
            raw.authorizer.key_publish_ahead_seconds.unwrap_or(0),
        ),
        rotation_window: raw
            .authorizer
            .rotation_window_seconds
            .map(|w| std::time::Duration::from_secs(w.into_inner())),
        jwks_timeout,
        bearer,
        shared_keys: raw.authorizer.shared_keys.unwrap_or(false),
        cache_ttl: raw.api.cache_ttl.into_inner(),
        routes,
        cases,
    })
}

/// The catalogue kinds that apply to `profile` with `token_use` and that no case covers,
/// added after the last token case (the good token first among them), on the first route.
fn add_missing_kinds(
    cases: &mut Vec<CaseSpec>,
    profile: Profile,
    token_use: TokenUse,
    route: &Route,
) {
    let good = crate::tokens::good_kind(profile, token_use);
    let missing: Vec<Kind> = std::iter::once(good)
        .chain(Kind::ALL.iter().copied().filter(|k| *k != good))
        .filter(|k| {
            k.expect(profile, token_use).is_some()
                && !cases.iter().any(|c| c.kind == CaseKind::Token(*k))
        })
        .collect();
    let at = cases
        .iter()
        .rposition(|c| matches!(c.kind, CaseKind::Token(_)))
        .map_or(0, |i| i + 1);
    let added = missing.into_iter().filter_map(|kind| {
        let allow = kind.expect(profile, token_use)?.word() == "allow";
        let name = kind.name().to_string();
        (!cases.iter().any(|c| c.name == name)).then(|| CaseSpec {
            name,
            kind: CaseKind::Token(kind),
            expect_allow: allow,
            header: HeaderForm::AsMinted,
            route: route.clone(),
        })
    });
    let added: Vec<CaseSpec> = added.collect();
    cases.splice(at..at, added);
}

#[cfg(test)]
mod tests;
