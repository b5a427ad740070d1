//! The API Gateway emulator: one in-process service (a request in, a response and counters
//! out) that puts API Gateway's rules in front of any [`Target`], and an HTTP front
//! ([`front`]) that serves the same service on 127.0.0.1 for curl, goose and users.
//!
//! The rules follow reference/api-gateway-authorizers.md (cited below by section): identity
//! sources and the TOKEN validation expression are checked before the authorizer is invoked
//! (§2.3), the method ARN is built from the real request path (§1.1), the result cache keeps
//! the policy and context per identity and re-evaluates them against every request's ARN
//! (§3.1, [`cache`]), and every outcome maps to the status, body and headers API Gateway
//! answers ([`Refusal::answer`], §2.3).

pub mod cache;
mod config;
mod exchange;
pub mod front;
mod integration;
mod names;
pub mod path;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::event::{self, ClientRequest, EventKind};
use crate::policy::{self, ApiKind, Decision};
use crate::target::{Answer, Call, Outcome, Reply, Target};

pub use cache::{Clock, ResultCache};
pub use config::{
    AuthorizerSettings, Backend, CONTEXT_VARIABLES, ConfigError, DEFAULT_ROUTE, GatewayConfig,
    IdentitySource, Route,
};
pub use exchange::{
    AuthStep, DEFAULT_TTL, GatewayRequest, GatewayResponse, GatewayStats, MAX_METHOD_ARN,
    MAX_PAYLOAD, MAX_REQUEST_LINE_AND_HEADERS, MAX_TTL, Refusal, RouteStats, check_method_arn,
};
pub use front::Front;
pub use integration::OWN_HEADER_PREFIX;

/// The emulator: API Gateway's rules around one authorizer target.
pub struct Gateway {
    config: GatewayConfig,
    validation: Option<regex::Regex>,
    target: Arc<dyn Target>,
    cache: ResultCache,
    counters: Mutex<Counters>,
    /// The proxy backend's client, built on its first request.
    client: std::sync::OnceLock<reqwest::Client>,
    /// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/`: the part of every method ARN that
    /// does not depend on the request.
    arn_prefix: String,
    /// `GET /hello` for each route, in order.
    route_keys: Vec<String>,
    /// Told of every request once it is answered (`gateway serve` prints them).
    request_log: Option<RequestLog>,
}

/// What a gateway tells of each request it answered: the request, the answer with the
/// authorizer's part in it (its output among it), and the values the request carried in its
/// identity sources (the token), which whatever is shown must not repeat.
pub type RequestLog = Box<dyn Fn(&GatewayRequest, &GatewayResponse, &[String]) + Send + Sync>;

/// Counters as kept per request: no strings, routes by index (the last slot is "no route").
#[derive(Default)]
struct Counters {
    requests: u64,
    invocations: u64,
    hits: u64,
    misses: u64,
    per_status: Vec<(u16, u64)>,
    per_route: Vec<RouteCounters>,
}

#[derive(Default)]
struct RouteCounters {
    requests: u64,
    invocations: u64,
    hits: u64,
    per_status: Vec<(u16, u64)>,
}

fn bump(counts: &mut Vec<(u16, u64)>, status: u16) {
    match counts.iter_mut().find(|(s, _)| *s == status) {
        Some((_, n)) => *n += 1,
        None => counts.push((status, 1)),
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("target", &self.target.describe())
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// A credential as API Gateway read it: the identity values (borrowed from the request or
/// the configuration where they can be), which make the cache key.
struct Identity<'a> {
    values: Vec<Cow<'a, str>>,
}

impl Identity<'_> {
    /// The cache key: the one value itself, or each value prefixed with its length. No
    /// separator would do: a query value may hold any character, NUL included (`?a=p%00q&b=r`
    /// and `?a=p&b=q%00r` must not share a key), and a length prefix leaves no two lists of
    /// values with the same key.
    fn key(&self) -> Cow<'_, str> {
        match self.values.as_slice() {
            [one] => Cow::Borrowed(one),
            many => {
                let mut key = String::with_capacity(many.iter().map(|v| v.len() + 8).sum());
                for value in many {
                    key.push_str(&value.len().to_string());
                    key.push(':');
                    key.push_str(value);
                }
                Cow::Owned(key)
            }
        }
    }
}

impl Gateway {
    /// The same gateway telling `log` of every request it answers.
    pub fn with_request_log(self, log: RequestLog) -> Gateway {
        Gateway {
            request_log: Some(log),
            ..self
        }
    }

    /// The values a request carries in the authorizer's identity sources (its headers and
    /// query parameters; the token among them), for redacting them from what is shown.
    fn identity_values(&self, req: &GatewayRequest) -> Vec<String> {
        let mut values = Vec::new();
        for source in &self.config.authorizer.identity_sources {
            match source {
                IdentitySource::Header(name) => values.extend(
                    req.headers
                        .iter()
                        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone()),
                ),
                IdentitySource::Query(name) => values.extend(
                    req.query
                        .iter()
                        .filter(|(k, _)| k == name)
                        .map(|(_, v)| v.clone()),
                ),
                IdentitySource::StageVariable(_) | IdentitySource::Context(_) => {}
            }
        }
        // An Authorization header is a credential whichever source the authorizer reads.
        values.extend(
            req.headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.clone()),
        );
        // `Bearer TOKEN`: a handler that logs the token logs it without its scheme.
        let bare: Vec<String> = values
            .iter()
            .filter_map(|v| v.trim().split_once(' ').map(|(_, t)| t.trim().to_string()))
            .collect();
        values.extend(bare);
        values.retain(|v| !v.trim().is_empty());
        // Longest first, so that a whole value is replaced before the token inside it.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        values
    }

    /// A gateway in front of `target`; refuses settings API Gateway would refuse.
    pub fn new(config: GatewayConfig, target: Arc<dyn Target>) -> Result<Gateway, ConfigError> {
        let a = &config.authorizer;
        if config.cache_ttl > MAX_TTL {
            return Err(ConfigError::Ttl(config.cache_ttl));
        }
        if config.routes.is_empty() {
            return Err(ConfigError::NoRoutes);
        }
        // CreateStage: "Stage names can only contain alphanumeric characters, hyphens, and
        // underscores. Maximum length is 128 characters."
        let stage = &config.api.stage;
        if stage.is_empty()
            || stage.len() > 128
            || !stage
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::Stage(stage.clone()));
        }
        for route in &config.routes {
            if route.is_default() {
                if !a.is_http_api() {
                    return Err(ConfigError::DefaultOnRest);
                }
                continue;
            }
            check_method_arn(&config.api, &route.method, &route.path).map_err(|reason| {
                ConfigError::Route {
                    route: route.to_string(),
                    reason,
                }
            })?;
        }
        if a.simple_responses && a.event != EventKind::V2 {
            return Err(ConfigError::SimpleNotV2);
        }
        if a.event == EventKind::Token {
            if !matches!(a.identity_sources.as_slice(), [IdentitySource::Header(_)]) {
                let given: Vec<String> = a.identity_sources.iter().map(|s| s.to_string()).collect();
                return Err(ConfigError::TokenSource(if given.is_empty() {
                    "none".into()
                } else {
                    given.join(", ")
                }));
            }
        } else if a.validation_expression.is_some() {
            return Err(ConfigError::ValidationNotToken);
        }
        if config.cache_ttl > 0 && a.identity_sources.is_empty() {
            return Err(ConfigError::NoIdentitySource);
        }
        // API Gateway matches the whole token against the expression (it invokes "when there
        // is a match", §2.3 row 2); anchoring makes a partial match a mismatch.
        let validation = a
            .validation_expression
            .as_ref()
            .map(|e| {
                regex::Regex::new(&format!("^(?:{e})$")).map_err(|err| ConfigError::Regex {
                    expression: e.clone(),
                    reason: err.to_string(),
                })
            })
            .transpose()?;
        let cache = ResultCache::new(
            Duration::from_secs(config.cache_ttl),
            config.cache_capacity,
            config.cache_budget,
            config.clock.clone(),
        );
        // The ARN of an empty verb and path ends in `//`; the prefix keeps one.
        let mut arn_prefix = event::method_arn(&config.api, "", "").to_string();
        arn_prefix.pop();
        Ok(Gateway {
            arn_prefix,
            route_keys: config.routes.iter().map(Route::to_string).collect(),
            validation,
            target,
            cache,
            counters: Mutex::new(Counters {
                per_route: (0..=config.routes.len())
                    .map(|_| RouteCounters::default())
                    .collect(),
                ..Counters::default()
            }),
            client: std::sync::OnceLock::new(),
            request_log: None,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The authorizer target.
    pub fn target(&self) -> &Arc<dyn Target> {
        &self.target
    }

    /// The counters so far.
    pub fn stats(&self) -> GatewayStats {
        let c = self.counters.lock().expect("counters lock");
        let by_status = |v: &[(u16, u64)]| v.iter().map(|(s, n)| (s.to_string(), *n)).collect();
        let names = self
            .config
            .routes
            .iter()
            .map(Route::to_string)
            .chain(std::iter::once("-".to_string()));
        GatewayStats {
            requests: c.requests,
            authorizer_invocations: c.invocations,
            cache_hits: c.hits,
            cache_misses: c.misses,
            cache_entries: self.cache.len() as u64,
            cache_evictions: self.cache.evictions(),
            per_status: by_status(&c.per_status),
            per_route: names
                .zip(&c.per_route)
                .filter(|(_, r)| r.requests > 0)
                .map(|(name, r)| {
                    (
                        name,
                        RouteStats {
                            requests: r.requests,
                            authorizer_invocations: r.invocations,
                            cache_hits: r.hits,
                            per_status: by_status(&r.per_status),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The request's method ARN (§1.1; [`event::method_arn`] is the rule): the prefix
    /// worked out once, then the verb and the path without its leading `/`, in one buffer.
    fn method_arn(&self, method: &str, path: &str) -> String {
        let path = path.trim_start_matches('/');
        let mut arn = String::with_capacity(self.arn_prefix.len() + method.len() + 1 + path.len());
        arn.push_str(&self.arn_prefix);
        arn.push_str(method);
        arn.push('/');
        arn.push_str(path);
        arn
    }

    fn api_kind(&self) -> ApiKind {
        let a = &self.config.authorizer;
        a.event.api(a.simple_responses)
    }

    /// Whether a request `method path` matches a route of the API (the HTTP front reads no
    /// body for one that does not).
    pub fn has_route(&self, method: &str, path: &str) -> bool {
        self.config.routes.iter().any(|r| r.matches(method, path))
    }

    /// The most specific route that matches ([`Route::rank`]); of equals, the first declared.
    fn route_for(&self, req: &GatewayRequest) -> Option<(usize, &Route)> {
        self.config
            .routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.matches(&req.method, &req.path))
            .min_by_key(|(i, r)| (r.rank(), *i))
    }

    /// Reads the identity sources. `Err` when one is missing or empty, or the token fails
    /// the validation expression.
    fn identity<'a>(
        &'a self,
        req: &'a GatewayRequest,
        route: &Route,
    ) -> Result<Identity<'a>, Refusal> {
        let a = &self.config.authorizer;
        let mut values = Vec::with_capacity(a.identity_sources.len());
        let mut missing = false;
        for source in &a.identity_sources {
            let value = match source {
                IdentitySource::Header(name) => req.header_value(name).map(Cow::Borrowed),
                IdentitySource::Query(name) => req
                    .query
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| Cow::Borrowed(v.as_str())),
                IdentitySource::StageVariable(name) => self
                    .config
                    .api
                    .stage_variables
                    .get(name)
                    .map(|v| Cow::Borrowed(v.as_str())),
                IdentitySource::Context(name) => {
                    self.context_value(name, req, route).map(Cow::Owned)
                }
            };
            match value {
                Some(v) if !v.is_empty() => values.push(v),
                _ => {
                    missing = true;
                    values.push(Cow::Borrowed(""));
                }
            }
        }
        // §2.3 row 1: a missing or empty TOKEN header, or any missing HTTP API identity
        // source, is 401 without invoking. A REST REQUEST authorizer needs its identity
        // sources only when caching is on (they are the cache key; §2.3 row 1, API reference
        // identitySource).
        let enforce = a.event == EventKind::Token || a.is_http_api() || self.cache.enabled();
        if missing && enforce {
            return Err(Refusal::MissingIdentity);
        }
        // §2.3 row 2: TOKEN only; "the validation expression does not apply to the REQUEST
        // authorizer".
        if let Some(re) = &self.validation
            && !re.is_match(&values[0])
        {
            return Err(Refusal::ValidationFailed);
        }
        Ok(Identity { values })
    }

    fn context_value(&self, name: &str, req: &GatewayRequest, route: &Route) -> Option<String> {
        let api = &self.config.api;
        Some(match name {
            "routeKey" => route.to_string(),
            "stage" => api.stage.clone(),
            "httpMethod" => req.method.clone(),
            "path" => format!("/{}{}", api.stage, req.path),
            "apiId" => api.api_id.clone(),
            "accountId" => api.account.clone(),
            "domainName" => format!("{}.execute-api.{}.amazonaws.com", api.api_id, api.region),
            "identity.sourceIp" => "127.0.0.1".into(),
            _ => return None,
        })
    }

    /// The request as the event builder reads it.
    fn client_request(req: &GatewayRequest) -> ClientRequest {
        let mut headers = BTreeMap::new();
        let mut authorization = None;
        let mut authorization_name = "Authorization".to_string();
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case("authorization") {
                authorization = Some(v.clone());
                authorization_name = k.clone();
            } else {
                headers.insert(k.clone(), v.clone());
            }
        }
        ClientRequest {
            method: req.method.clone(),
            path: req.path.clone(),
            authorization,
            authorization_name,
            headers,
            query: req.query.iter().cloned().collect(),
        }
    }

    /// Headers and query parameters as the request carried them, repeats included (reference
    /// §9 item 9): REST REQUEST and HTTP 1.0 events keep each name as sent, the last value in
    /// `headers` / `queryStringParameters` and every value in the `multiValue` fields; 2.0
    /// lower-cases names and joins repeated values with commas, and moves the cookies into
    /// `cookies` ("Duplicate headers are combined with commas"; "all cookie headers are
    /// combined into cookies", Lambda proxy integrations for HTTP APIs).
    fn repeated_values(&self, event: &mut Value, req: &GatewayRequest) {
        let mut headers = req.headers.clone();
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            let api = &self.config.api;
            let host = format!("{}.execute-api.{}.amazonaws.com", api.api_id, api.region);
            headers.push(("Host".into(), host));
        }
        let last = |pairs: &[(String, String)]| -> BTreeMap<String, String> {
            pairs.iter().cloned().collect()
        };
        let every = |pairs: &[(String, String)]| {
            let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (k, v) in pairs {
                m.entry(k.clone()).or_default().push(v.clone());
            }
            m
        };
        match self.config.authorizer.event {
            EventKind::Token => {}
            EventKind::Request | EventKind::V1 => {
                event["headers"] = json!(last(&headers));
                event["multiValueHeaders"] = json!(every(&headers));
                event["queryStringParameters"] = json!(last(&req.query));
                event["multiValueQueryStringParameters"] = json!(every(&req.query));
            }
            EventKind::V2 => {
                let mut cookies = Vec::new();
                let mut joined: BTreeMap<String, String> = BTreeMap::new();
                for (k, v) in &headers {
                    let name = k.to_ascii_lowercase();
                    if name == "cookie" {
                        cookies.extend(v.split("; ").map(str::to_string));
                        continue;
                    }
                    joined
                        .entry(name)
                        .and_modify(|all| {
                            all.push(',');
                            all.push_str(v);
                        })
                        .or_insert_with(|| v.clone());
                }
                let query: BTreeMap<String, String> = every(&req.query)
                    .into_iter()
                    .map(|(k, v)| (k, v.join(",")))
                    .collect();
                let raw: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
                event["headers"] = json!(joined);
                event["cookies"] = json!(cookies);
                event["queryStringParameters"] = json!(query);
                event["rawQueryString"] = json!(raw.join("&"));
            }
        }
    }

    /// The event the authorizer receives for this request (§1).
    fn event(&self, req: &GatewayRequest, route: &Route, identity: &Identity) -> Value {
        let a = &self.config.authorizer;
        let mut event = event::build(a.event, &self.config.api, &Self::client_request(req));
        self.repeated_values(&mut event, req);
        // §9 item 2: the route's path parameters; item 12: REST's resourcePath is the
        // resource template (SAM's sample event: "/{proxy+}"), like `resource`.
        let parameters = json!(route.path_parameters(&req.path));
        match a.event {
            // §1.1: the whole value of the token header, whatever its name.
            EventKind::Token => event["authorizationToken"] = json!(identity.values[0]),
            EventKind::Request => {
                event["resource"] = json!(route.path);
                event["requestContext"]["resourcePath"] = json!(route.path);
                event["pathParameters"] = parameters;
            }
            // §1.3: 1.0 joins the identity values with commas, in both fields.
            EventKind::V1 => {
                let joined = identity.values.join(",");
                event["identitySource"] = json!(joined);
                event["authorizationToken"] = json!(joined);
                event["resource"] = json!(route.path);
                event["requestContext"]["resourcePath"] = json!(route.path);
                event["pathParameters"] = parameters;
            }
            // §1.3: 2.0 sends them as an array; the route key is the route's, not the path.
            // §9 item 5: a named stage is part of rawPath and http.path (`/dev/agents/1234` in
            // a real payload, logandk/serverless-wsgi#191).
            EventKind::V2 => {
                event["identitySource"] = json!(identity.values);
                event["routeKey"] = json!(route.to_string());
                event["requestContext"]["routeKey"] = json!(route.to_string());
                event["pathParameters"] = parameters;
                let stage = &self.config.api.stage;
                let staged = if stage == "$default" {
                    req.path.clone()
                } else {
                    format!("/{stage}{}", req.path)
                };
                event["rawPath"] = json!(staged);
                event["requestContext"]["http"]["path"] = json!(staged);
            }
        }
        event
    }

    /// Handles one request the way API Gateway would.
    pub async fn handle(&self, req: GatewayRequest) -> GatewayResponse {
        // A path that could reach another resource matches no route (`decide` refuses it).
        let bad_path = path::check(&req.path).err();
        let route = bad_path.is_none().then(|| self.route_for(&req)).flatten();
        let response = self.decide(&req, route, bad_path).await;
        tracing::debug!(
            target: "authprobe::gateway",
            method = %crate::report::printable_line(&req.method),
            path = %crate::report::printable_line(&req.path),
            route = response.route.as_deref().unwrap_or("-"),
            authorizer = match &response.auth {
                AuthStep::Invoked(_) => "invoked",
                AuthStep::Cached(_) => "cached",
                AuthStep::NotInvoked => "not invoked",
            },
            outcome = ?response.outcome,
            refusal = ?response.refusal,
            status = response.status,
            "decided"
        );
        if let Some(log) = &self.request_log {
            log(&req, &response, &self.identity_values(&req));
        }
        let mut c = self.counters.lock().expect("counters lock");
        let c = &mut *c;
        let index = route.map_or(self.config.routes.len(), |(i, _)| i);
        c.requests += 1;
        bump(&mut c.per_status, response.status);
        let r = &mut c.per_route[index];
        r.requests += 1;
        bump(&mut r.per_status, response.status);
        match &response.auth {
            AuthStep::Invoked(_) => {
                r.invocations += 1;
                c.invocations += 1;
                if self.cache.enabled() {
                    c.misses += 1;
                }
            }
            AuthStep::Cached(_) => {
                r.hits += 1;
                c.hits += 1;
            }
            AuthStep::NotInvoked => {}
        }
        response
    }

    async fn decide(
        &self,
        req: &GatewayRequest,
        matched: Option<(usize, &Route)>,
        bad_path: Option<&'static str>,
    ) -> GatewayResponse {
        let route = matched.map(|(_, r)| r);
        let route_key = matched.map(|(i, _)| self.route_keys[i].clone());
        let http_api = self.config.authorizer.is_http_api();
        let arn = self.method_arn(&req.method, &req.path);
        let refuse = |refusal: Refusal, route: Option<String>, auth: AuthStep| {
            let (status, error_type, body) = refusal.answer(http_api);
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            if let Some(t) = error_type {
                headers.push(("x-amzn-ErrorType".to_string(), t.to_string()));
            }
            GatewayResponse {
                status,
                headers,
                body: body.as_bytes().to_vec(),
                route,
                method_arn: arn.clone(),
                refusal: Some(refusal),
                auth,
                outcome: None,
                detail: String::new(),
            }
        };
        // Quotas come first: such a request never reaches the authorizer, so the authorizer
        // is never blamed for a token that could not reach it.
        let http_api = self.api_kind() != ApiKind::Rest;
        if req.quota_bytes(&self.config.api.stage, http_api) > MAX_REQUEST_LINE_AND_HEADERS {
            return refuse(Refusal::TooLarge, None, AuthStep::NotInvoked);
        }
        if req.body.len() > MAX_PAYLOAD {
            return refuse(Refusal::PayloadTooLarge, None, AuthStep::NotInvoked);
        }
        if let Some(why) = bad_path {
            let mut r = refuse(Refusal::BadPath, None, AuthStep::NotInvoked);
            r.detail = format!("the path holds {why}");
            return r;
        }
        let Some(route) = route else {
            return refuse(Refusal::NoRoute, None, AuthStep::NotInvoked);
        };
        if arn.len() > MAX_METHOD_ARN {
            return refuse(Refusal::ArnTooLong, route_key, AuthStep::NotInvoked);
        }
        let identity = match self.identity(req, route) {
            Ok(identity) => identity,
            Err(refusal) => return refuse(refusal, route_key, AuthStep::NotInvoked),
        };
        let api = self.api_kind();
        let (document, auth) = match self.cache.get(&identity.key()) {
            Some(doc) => (Ok(doc.clone()), AuthStep::Cached(doc)),
            None => {
                let call = Call {
                    event: self.event(req, route, &identity),
                    request: Self::client_request(req),
                };
                let answer = self.target.call(&call).await;
                let document = self.read_answer(&answer, &arn);
                // Only an accepted document is cached. Failures (401 `Unauthorized`, 500
                // errors, timeouts, malformed answers) are not: whether AWS caches them is
                // unverified (§3.1), and caching one would turn a passing glitch, such as a
                // cold JWKS fetch that timed out, into a TTL-long outage for that caller,
                // while not caching it costs only another invocation.
                if let Ok(doc) = &document {
                    self.cache.insert(&identity.key(), doc.clone());
                }
                (document, AuthStep::Invoked(answer))
            }
        };
        let doc = match document {
            Ok(doc) => doc,
            Err((refusal, outcome, detail)) => {
                let mut r = refuse(refusal, route_key, auth);
                r.outcome = Some(outcome);
                r.detail = detail;
                return r;
            }
        };
        // §3.1: the (possibly cached) policy is evaluated against this request's own ARN.
        let decision = policy::evaluate(&doc, api, &arn);
        let (refusal, outcome, detail) = match decision {
            Ok(Decision::Allow) => (None, Outcome::Allow, "policy allows the method"),
            Ok(Decision::ExplicitDeny) => (
                Some(Refusal::ExplicitDeny),
                Outcome::Deny,
                "policy denies the method explicitly",
            ),
            Ok(Decision::ImplicitDeny) if api == ApiKind::HttpV2Simple => (
                Some(Refusal::NotAuthorized),
                Outcome::Deny,
                "isAuthorized is false",
            ),
            Ok(Decision::ImplicitDeny) => (
                Some(Refusal::ImplicitDeny),
                Outcome::Deny,
                "no statement allows the method",
            ),
            // Cached documents were accepted once; this cannot happen, but is a 500 if it does.
            Err(_) => (
                Some(Refusal::AuthorizerFailure),
                Outcome::Error,
                "the response is not accepted",
            ),
        };
        if let Some(refusal) = refusal {
            let mut r = refuse(refusal, route_key, auth);
            r.outcome = Some(outcome);
            r.detail = detail.to_string();
            return r;
        }
        let (status, headers, body) = self.integrate(req, route, &doc).await;
        GatewayResponse {
            status,
            headers,
            body,
            route: route_key,
            method_arn: arn,
            refusal: (status == 502).then_some(Refusal::BadGateway),
            auth,
            outcome: Some(Outcome::Allow),
            detail: detail.to_string(),
        }
    }

    /// Reads the authorizer's answer: an accepted document, or the refusal it causes.
    #[allow(clippy::type_complexity)]
    fn read_answer(
        &self,
        answer: &Answer,
        arn: &str,
    ) -> Result<Arc<Value>, (Refusal, Outcome, String)> {
        let failure = |detail: String| (Refusal::AuthorizerFailure, Outcome::Error, detail);
        if let Some(limit) = authorizer_timeout(self.api_kind())
            && answer.elapsed > limit
        {
            return Err(failure(format!(
                "the authorizer answered after {:.1} s; an HTTP API waits {} s for it",
                answer.elapsed.as_secs_f64(),
                limit.as_secs()
            )));
        }
        match &answer.reply {
            // §2.3 row 3: exactly `Unauthorized`.
            Ok(Reply::FunctionError { message, .. }) if message == "Unauthorized" => Err((
                Refusal::Unauthorized,
                Outcome::Unauthorized,
                "raised Unauthorized".into(),
            )),
            Ok(Reply::FunctionError {
                error_type,
                message,
                stack,
            }) => Err(failure(crate::target::crash::describe(
                error_type, message, stack,
            ))),
            Ok(Reply::Http { status, .. }) => Err(failure(format!(
                "HTTP {status} from a url: target, which cannot stand behind the gateway"
            ))),
            Err(e) => Err(failure(e.to_string())),
            Ok(Reply::Response(doc)) => {
                let api = self.api_kind();
                if let Err(refused) = policy::evaluate(doc, api, arn) {
                    return Err(failure(format!(
                        "API Gateway refuses the response: {refused}"
                    )));
                }
                // §2.1: a REST context value that is an object or an array fails the request
                // with 500 AuthorizerConfigurationException.
                let bad = policy::non_primitive_context(doc);
                if api == ApiKind::Rest && !bad.is_empty() {
                    return Err(failure(format!(
                        "context values {} are objects or arrays, which REST APIs refuse",
                        bad.join(", ")
                    )));
                }
                Ok(Arc::new(doc.clone()))
            }
        }
    }
}

/// How long API Gateway waits for a Lambda authorizer: an HTTP API 10 s ("Timeout for Lambda
/// authorizer response: 10000 ms", HTTP API quotas, reference §9 item 8); a REST API documents
/// no limit of its own for authorizers, so the target's timeout decides.
pub fn authorizer_timeout(api: ApiKind) -> Option<Duration> {
    match api {
        ApiKind::Rest => None,
        ApiKind::HttpV1 | ApiKind::HttpV2 | ApiKind::HttpV2Simple => Some(Duration::from_secs(10)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Api;

    /// A target the ARN test never calls.
    struct Unused;

    impl Target for Unused {
        fn describe(&self) -> String {
            "unused".into()
        }

        fn call<'a>(&'a self, _: &'a Call) -> crate::target::BoxFuture<'a, Answer> {
            unreachable!("the gateway only builds ARNs here")
        }
    }

    #[test]
    fn method_arns_are_the_ones_the_event_rule_builds() {
        let api = Api::default();
        let config = GatewayConfig::new(api.clone(), vec!["ANY /{proxy+}".parse().unwrap()]);
        let gateway = Gateway::new(config, Arc::new(Unused)).unwrap();
        for (method, path) in [("GET", "/"), ("POST", "/items/42"), ("DELETE", "//a/b/")] {
            assert_eq!(
                gateway.method_arn(method, path),
                event::method_arn(&api, method, path).to_string()
            );
        }
    }
}
