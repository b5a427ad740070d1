//! How a gateway is set up: the API's routes, the authorizer's kind and identity sources, the
//! backend, and the settings API Gateway itself refuses ([`ConfigError`]).

use std::collections::BTreeMap;
use std::str::FromStr;

use super::{Clock, DEFAULT_TTL, cache};
use crate::event::{Api, EventKind};

/// Where API Gateway reads one identity source value from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IdentitySource {
    /// A request header (names compare case-insensitively).
    Header(String),
    /// A query string parameter.
    Query(String),
    /// A stage variable.
    StageVariable(String),
    /// A `$context` variable: `routeKey`, `stage`, `httpMethod`, `path`, `apiId`,
    /// `accountId`, `domainName` or `identity.sourceIp`.
    Context(String),
}

/// The `$context` variables an identity source may name.
pub const CONTEXT_VARIABLES: &[&str] = &[
    "routeKey",
    "stage",
    "httpMethod",
    "path",
    "apiId",
    "accountId",
    "domainName",
    "identity.sourceIp",
];

impl FromStr for IdentitySource {
    type Err = String;

    /// Reads the REST form (`method.request.header.Auth`, `method.request.querystring.q`,
    /// `stageVariables.v`, `context.routeKey`) or the HTTP API form (`$request.header.Auth`,
    /// `$request.querystring.q`, `$stageVariables.v`, `$context.routeKey`).
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().trim_start_matches('$');
        let t = t.strip_prefix("method.").unwrap_or(t);
        let named = |rest: &str| -> Result<String, String> {
            if rest.is_empty() {
                Err(format!("`{s}` names no variable"))
            } else {
                Ok(rest.to_string())
            }
        };
        if let Some(rest) = t.strip_prefix("request.header.") {
            return named(rest).map(IdentitySource::Header);
        }
        if let Some(rest) = t.strip_prefix("request.querystring.") {
            return named(rest).map(IdentitySource::Query);
        }
        if let Some(rest) = t.strip_prefix("stageVariables.") {
            return named(rest).map(IdentitySource::StageVariable);
        }
        if let Some(rest) = t.strip_prefix("context.") {
            if CONTEXT_VARIABLES.contains(&rest) {
                return Ok(IdentitySource::Context(rest.to_string()));
            }
            return Err(format!(
                "`{s}`: the context variables are {}",
                CONTEXT_VARIABLES.join(", ")
            ));
        }
        Err(format!(
            "`{s}` is not an identity source: write method.request.header.NAME, \
             method.request.querystring.NAME, stageVariables.NAME or context.NAME \
             (or the $request.header.NAME forms of HTTP APIs)"
        ))
    }
}

impl std::fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentitySource::Header(n) => write!(f, "method.request.header.{n}"),
            IdentitySource::Query(n) => write!(f, "method.request.querystring.{n}"),
            IdentitySource::StageVariable(n) => write!(f, "stageVariables.{n}"),
            IdentitySource::Context(n) => write!(f, "context.{n}"),
        }
    }
}

/// A route of the API: `GET /hello`, `ANY /items/{id}`, `GET /files/{proxy+}`, or an HTTP
/// API's `$default` ([`Route::is_default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// HTTP method, upper case, or `ANY`.
    pub method: String,
    /// Path template, with its leading `/`; [`DEFAULT_ROUTE`] for the `$default` route.
    pub path: String,
}

/// An HTTP API's catch-all route key: "The $default route acts as a catch-all for requests
/// that don't match other routes" (HTTP API routes doc). The authorizer still gets the
/// request's own verb and path in `routeArn` and `$default` as `routeKey`, as in the 2.0
/// payload example of the HTTP API Lambda authorizer doc (`routeArn …/test/GET/request`,
/// `"routeKey": "$default"`).
pub const DEFAULT_ROUTE: &str = "$default";

impl FromStr for Route {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim() == DEFAULT_ROUTE {
            return Ok(Route {
                method: "ANY".into(),
                path: DEFAULT_ROUTE.into(),
            });
        }
        let (method, path) = s
            .trim()
            .split_once(' ')
            .map(|(m, p)| (m.trim(), p.trim()))
            .filter(|(m, p)| !m.is_empty() && p.starts_with('/'))
            .ok_or_else(|| {
                format!("`{s}` is not a route: write METHOD /path, e.g. 'GET /hello', or $default")
            })?;
        Ok(Route {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
        })
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_default() {
            return f.write_str(DEFAULT_ROUTE);
        }
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Route {
    /// Whether a request `method path` goes to this route: `{name}` matches one segment,
    /// `{name+}` the rest of the path.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.is_default() {
            return true;
        }
        if self.method != "ANY" && !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let mut want = self
            .path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty());
        let mut got = path.trim_matches('/').split('/').filter(|s| !s.is_empty());
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(_)) if w.starts_with('{') && w.ends_with("+}") => return true,
                (Some(w), Some(g)) if w == g || (w.starts_with('{') && w.ends_with('}')) => {}
                _ => return false,
            }
        }
    }

    /// The path parameters of `path` on this route (`{id}` → the segment, `{proxy+}` → the
    /// rest of the path), as REQUEST events carry them in `pathParameters` ("The affected
    /// request parameters include headers, path parameters, ...", the REQUEST input doc;
    /// reference §9 item 2). Empty when nothing matches.
    pub fn path_parameters(&self, path: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if self.is_default() {
            return out;
        }
        let want: Vec<&str> = self.segments().collect();
        let got: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        for (i, w) in want.iter().enumerate() {
            let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) else {
                continue;
            };
            if let Some(greedy) = name.strip_suffix('+') {
                out.insert(
                    greedy.to_string(),
                    got.get(i..).unwrap_or_default().join("/"),
                );
                break;
            }
            if let Some(value) = got.get(i) {
                out.insert(name.to_string(), (*value).to_string());
            }
        }
        out
    }

    /// How specific the route is, smaller first: segment by segment, a literal before a
    /// `{variable}` before a greedy `{proxy+}`, then an exact method before `ANY`. "1. Full
    /// match for a route and method. 2. Match for a route and method with a greedy path
    /// variable ({proxy+}). 3. The $default route" (HTTP API routes doc; REST resolves
    /// resources the same way; reference §9 item 6).
    pub fn rank(&self) -> (Vec<u8>, bool) {
        if self.is_default() {
            return (vec![3], true);
        }
        let segments = self
            .segments()
            .map(|w| match w {
                w if w.starts_with('{') && w.ends_with("+}") => 2,
                w if w.starts_with('{') && w.ends_with('}') => 1,
                _ => 0,
            })
            .collect();
        (segments, self.method == "ANY")
    }

    /// Whether this is the `$default` route, which takes every request no other route does.
    pub fn is_default(&self) -> bool {
        self.path == DEFAULT_ROUTE
    }

    fn segments(&self) -> impl Iterator<Item = &str> {
        self.path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
    }
}

/// The kind of Lambda authorizer and how it reads its identity.
#[derive(Clone, Debug)]
pub struct AuthorizerSettings {
    /// The event it receives: `token` (REST TOKEN), `request` (REST REQUEST), `v1`/`v2`
    /// (HTTP API payload format).
    pub event: EventKind,
    /// HTTP API 2.0 simple responses (`{"isAuthorized": …}`).
    pub simple_responses: bool,
    /// Identity sources. A TOKEN authorizer has exactly one, a header (default
    /// `Authorization`); they are the cache key.
    pub identity_sources: Vec<IdentitySource>,
    /// TOKEN only: a regular expression the whole token must match, or 401 without
    /// invoking (`identityValidationExpression`).
    pub validation_expression: Option<String>,
}

impl AuthorizerSettings {
    /// The usual settings for an event shape: the `Authorization` header as the identity
    /// source, no validation expression.
    pub fn new(event: EventKind, simple_responses: bool) -> Self {
        AuthorizerSettings {
            event,
            simple_responses,
            identity_sources: vec![IdentitySource::Header("Authorization".into())],
            validation_expression: None,
        }
    }

    pub(super) fn is_http_api(&self) -> bool {
        matches!(self.event, EventKind::V1 | EventKind::V2)
    }
}

/// What the request goes to once the authorizer allows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A built-in backend that answers 200 with what a Lambda proxy integration would see.
    Echo,
    /// An HTTP backend: the request is forwarded to URL + path.
    Proxy(String),
}

/// How a gateway is set up.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The API stage (region, account, API id, stage, stage variables).
    pub api: Api,
    /// The authorizer.
    pub authorizer: AuthorizerSettings,
    /// Result cache TTL in seconds, 0 (off) to 3600.
    pub cache_ttl: u64,
    /// Most entries the result cache holds.
    pub cache_capacity: usize,
    /// Most bytes of keys and documents (as JSON) the result cache holds.
    pub cache_budget: usize,
    /// The API's routes; a request matching none gets API Gateway's answer for a missing
    /// resource, without the authorizer.
    pub routes: Vec<Route>,
    /// Where allowed requests go.
    pub backend: Backend,
    /// The cache's clock.
    pub clock: Clock,
}

impl GatewayConfig {
    /// A REST API with a TOKEN authorizer on the `Authorization` header, the default TTL,
    /// `routes`, the echo backend and the system clock.
    pub fn new(api: Api, routes: Vec<Route>) -> Self {
        GatewayConfig {
            api,
            authorizer: AuthorizerSettings::new(EventKind::Token, false),
            cache_ttl: DEFAULT_TTL,
            cache_capacity: cache::DEFAULT_CAPACITY,
            cache_budget: cache::DEFAULT_BUDGET,
            routes,
            backend: Backend::Echo,
            clock: Clock::system(),
        }
    }
}

/// A configuration the gateway refuses, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A stage name API Gateway refuses.
    #[error("stage name `{0}`: API Gateway takes 1 to 128 letters, digits, `-` and `_`")]
    Stage(String),
    /// `$default` on a REST API, which has no such route.
    #[error(
        "route `$default` is an HTTP API route: a REST API catches every path with `ANY /{{proxy+}}`"
    )]
    DefaultOnRest,
    /// A route no authorizer could ever be invoked for.
    #[error("route `{route}`: {reason}")]
    Route {
        /// The route.
        route: String,
        /// Why.
        reason: String,
    },
    /// TTL beyond API Gateway's range.
    #[error("cache TTL {0} is out of range: API Gateway allows 0 (off) to 3600 seconds")]
    Ttl(u64),
    /// TOKEN authorizers read one header.
    #[error("a TOKEN authorizer reads exactly one header, not {0}")]
    TokenSource(String),
    /// Caching needs a key.
    #[error("result caching needs at least one identity source (or --cache-ttl 0)")]
    NoIdentitySource,
    /// The validation expression is for TOKEN authorizers.
    #[error("identityValidationExpression applies to TOKEN authorizers only")]
    ValidationNotToken,
    /// The validation expression does not compile.
    #[error("identityValidationExpression `{expression}` is not a regular expression: {reason}")]
    Regex {
        /// As given.
        expression: String,
        /// Why.
        reason: String,
    },
    /// No routes.
    #[error("the API has no routes")]
    NoRoutes,
    /// Simple responses are HTTP API 2.0 only.
    #[error("simple responses exist only for HTTP API payload 2.0 (event v2)")]
    SimpleNotV2,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_sources_read_in_both_the_rest_and_the_http_api_forms() {
        assert_eq!(
            "method.request.header.Auth".parse(),
            Ok(IdentitySource::Header("Auth".into()))
        );
        assert_eq!(
            "$request.querystring.q".parse(),
            Ok(IdentitySource::Query("q".into()))
        );
        assert_eq!(
            "$stageVariables.v".parse(),
            Ok(IdentitySource::StageVariable("v".into()))
        );
        assert_eq!(
            "$context.routeKey".parse(),
            Ok(IdentitySource::Context("routeKey".into()))
        );
        assert!("context.nope".parse::<IdentitySource>().is_err());
        assert!("header.Auth".parse::<IdentitySource>().is_err());
    }

    #[test]
    fn routes_match_templates_greedy_parameters_and_any() {
        let r: Route = "GET /items/{id}".parse().unwrap();
        assert!(r.matches("GET", "/items/42"));
        assert!(!r.matches("GET", "/items/42/x"));
        assert!(!r.matches("POST", "/items/42"));
        let r: Route = "any /files/{proxy+}".parse().unwrap();
        assert!(r.matches("DELETE", "/files/a/b/c"));
        let root: Route = "GET /".parse().unwrap();
        assert!(root.matches("GET", "/"));
        assert!(!root.matches("GET", "/x"));
        assert!("hello".parse::<Route>().is_err());
    }
}
