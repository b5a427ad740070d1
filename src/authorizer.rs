//! The reference authorizers, one per profile (`static`, `hs256`, `jwks`, `cognito`), written
//! the way a careful engineer would deploy them:
//!
//! - `Bearer ` stripped (scheme case-insensitive, exactly one space), tokens over 10 KiB
//!   refused before parsing;
//! - an algorithm allow-list, `kid` required, headers that carry their own key refused;
//! - the JWKS cached (10 minutes at most) and refetched on an unknown kid at most once per
//!   refetch interval, and failing closed when it cannot be had; while no key set has been
//!   loaded, a failed fetch is tried again on a token after a short back-off, so an
//!   environment that started during an IdP outage recovers with the IdP;
//! - `exp` required, `exp`/`nbf`/`iat` with a leeway, `iss` exact, `aud` (or Cognito
//!   `token_use` plus `client_id`/`aud`), required scopes;
//! - rejection by the error `Unauthorized` (401), never by a Deny;
//! - an Allow whose Resource covers the whole stage, so result caching is safe;
//!   `principalId` = `sub`, context values strings only.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};

use crate::event::credential_and_arn;
use crate::policy::MethodArn;
use crate::tokens::{MintSettings, Profile, Reason, STATIC_TOKEN, TokenUse, unix_now};

/// Longest credential accepted; API Gateway REST APIs cap a header near this size anyway.
pub const MAX_TOKEN_LEN: usize = 10 * 1024;

/// How a reference authorizer is set up.
#[derive(Clone, Debug)]
pub struct AuthorizerConfig {
    /// Which of the four authorizers.
    pub profile: Profile,
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud` (jwks and hs256).
    pub audience: String,
    /// Cognito app client id.
    pub client_id: String,
    /// Which Cognito token is required.
    pub token_use: TokenUse,
    /// Scopes every token must carry in `scope`.
    pub required_scopes: Vec<String>,
    /// HS256 shared secret.
    pub secret: Vec<u8>,
    /// The static token.
    pub static_token: String,
    /// Where the JWKS is (jwks and cognito).
    pub jwks_url: Option<String>,
    /// Clock-skew leeway on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Least time between two JWKS fetches caused by unknown kids.
    pub refetch_interval: Duration,
    /// HTTP timeout of a JWKS fetch.
    pub fetch_timeout: Duration,
    /// How long a fetched key set is trusted before it is fetched again.
    pub jwks_max_age: Duration,
    /// Answer HTTP API 2.0 events with `{"isAuthorized": …}` instead of a policy.
    pub simple_responses: bool,
}

impl AuthorizerConfig {
    /// The configuration that matches tokens minted with `settings`.
    pub fn matching(profile: Profile, settings: &MintSettings, jwks_url: Option<String>) -> Self {
        AuthorizerConfig {
            profile,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            client_id: settings.client_id.clone(),
            token_use: settings.token_use,
            required_scopes: Vec::new(),
            secret: settings.secret.clone(),
            static_token: STATIC_TOKEN.to_string(),
            jwks_url,
            leeway: settings.leeway,
            refetch_interval: Duration::from_secs(10),
            fetch_timeout: DEFAULT_JWKS_TIMEOUT,
            jwks_max_age: Duration::from_secs(600),
            simple_responses: false,
        }
    }
}

impl AuthorizerConfig {
    /// Reads the configuration a deployed authorizer gets from its environment (the same
    /// variables the Python examples read): `AUTH_PROFILE` (static|hs256|jwks|cognito, default
    /// jwks), `JWKS_URL`, `ISSUER`, `AUDIENCE`, `CLIENT_ID`, `TOKEN_USE` (access|id),
    /// `REQUIRED_SCOPES`, `HS256_SECRET`, `STATIC_TOKEN`, `LEEWAY_SECONDS` (60),
    /// `JWKS_REFETCH_SECONDS` (10), `JWKS_TIMEOUT_SECONDS` (2, may be fractional),
    /// `JWKS_MAX_AGE_SECONDS` (600), `SIMPLE_RESPONSES` (true|false).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        use clap::ValueEnum;
        let profile = match var("AUTH_PROFILE") {
            Some(p) => Profile::from_str(&p, true)
                .map_err(|_| format!("AUTH_PROFILE `{p}` is not static, hs256, jwks or cognito"))?,
            None => Profile::Jwks,
        };
        let required = |name: &str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} is not set"))
        };
        let seconds = |name: &str, default: u64| -> Result<Duration, String> {
            var(name)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| format!("{name} `{v}` is not a number of seconds"))
                })
                .transpose()
                .map(|s| Duration::from_secs(s.unwrap_or(default)))
        };
        let needs_jwks = matches!(profile, Profile::Jwks | Profile::Cognito);
        let token_use = match var("TOKEN_USE").as_deref() {
            None | Some("access") => TokenUse::Access,
            Some("id") => TokenUse::Id,
            Some(other) => return Err(format!("TOKEN_USE `{other}` is not access or id")),
        };
        Ok(AuthorizerConfig {
            profile,
            issuer: if profile == Profile::Static {
                String::new()
            } else {
                required("ISSUER")?
            },
            audience: var("AUDIENCE").unwrap_or_default(),
            client_id: var("CLIENT_ID").unwrap_or_default(),
            token_use,
            required_scopes: var("REQUIRED_SCOPES")
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            secret: if profile == Profile::Hs256 {
                required("HS256_SECRET")?.into_bytes()
            } else {
                Vec::new()
            },
            static_token: var("STATIC_TOKEN").unwrap_or_else(|| STATIC_TOKEN.to_string()),
            jwks_url: if needs_jwks {
                Some(required("JWKS_URL")?)
            } else {
                None
            },
            leeway: seconds("LEEWAY_SECONDS", 60)?,
            refetch_interval: seconds("JWKS_REFETCH_SECONDS", 10)?,
            fetch_timeout: match var("JWKS_TIMEOUT_SECONDS") {
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| {
                        format!("JWKS_TIMEOUT_SECONDS `{v}` is not a positive number of seconds")
                    })?,
                None => Duration::from_secs(2),
            },
            jwks_max_age: seconds("JWKS_MAX_AGE_SECONDS", 600)?,
            simple_responses: var("SIMPLE_RESPONSES").is_some_and(|v| v == "true"),
        })
    }
}

/// How long the reference authorizers wait for a JWKS fetch unless told otherwise: short,
/// since the IdP they fetch from in a run is on the same machine (the `jwks-slow` case then
/// costs this long; a profile's `jwks_timeout` changes it). A good fetch from the run's IdP
/// takes a few milliseconds; 40 ms never timed out in 30 runs on two cores at load average 7
/// (docs/PERFORMANCE.md).
pub const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_millis(100);

/// Why an authorizer did not answer with a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizerError {
    /// Rejected: raise `Unauthorized` (API Gateway answers 401). The reason is for logs only.
    #[error("Unauthorized")]
    Unauthorized(Reason),
    /// The event itself is unusable (no method ARN): a configuration error, 500.
    #[error("{0}")]
    BadEvent(String),
}

struct Key {
    key: DecodingKey,
    bits: usize,
}

/// How soon a key cache that has never loaded tries again after a failed fetch.
const EMPTY_RETRY: Duration = Duration::from_millis(20);

/// Keys fetched from the JWKS URL, refetched on an unknown kid at most once per interval.
struct KeyCache {
    url: String,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, std::sync::Arc<Key>>>,
    /// When a miss last caused a fetch. Held across a fetch, so concurrent misses wait for one
    /// fetch instead of each making one.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    interval: Duration,
    /// When the key set was last loaded.
    loaded_at: RwLock<Option<Instant>>,
    max_age: Duration,
}

impl KeyCache {
    fn cached(&self, kid: &str) -> Option<std::sync::Arc<Key>> {
        self.keys.read().expect("lock").get(kid).cloned()
    }

    /// The key for `kid`. The first load is free; after that a miss refetches the JWKS at
    /// most once per interval, so a flood of unknown kids cannot hammer the IdP, and a
    /// rotated-in key is still found (by the first miss after the last refetch).
    async fn get(&self, kid: &str) -> Result<std::sync::Arc<Key>, Reason> {
        // A key set older than its maximum age is fetched again, so a key the IdP retired
        // stops working even when no unknown kid ever comes along.
        let stale = self
            .loaded_at
            .read()
            .expect("lock")
            .is_some_and(|t| t.elapsed() > self.max_age);
        if stale {
            let _guard = self.last_fetch.lock().await;
            let still_stale = self
                .loaded_at
                .read()
                .expect("lock")
                .is_some_and(|t| t.elapsed() > self.max_age);
            if still_stale && let Ok(keys) = self.fetch().await {
                *self.keys.write().expect("lock") = keys;
                *self.loaded_at.write().expect("lock") = Some(Instant::now());
            }
        }
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        let mut last_miss = self.last_fetch.lock().await;
        if let Some(k) = self.cached(kid) {
            return Ok(k); // fetched by whoever held the lock before us
        }
        let loaded = !self.keys.read().expect("lock").is_empty();
        let miss = if loaded {
            Reason::KidUnknown
        } else {
            Reason::KeysUnavailable
        };
        // With no key set yet, only the short back-off: the keys are needed for every token.
        let wait = if loaded {
            self.interval
        } else {
            self.interval.min(EMPTY_RETRY)
        };
        if last_miss.is_some_and(|t| t.elapsed() < wait) {
            return Err(miss);
        }
        let fetched = self.fetch().await;
        let ok = fetched.is_ok();
        if let Ok(keys) = fetched {
            *self.keys.write().expect("lock") = keys;
            *self.loaded_at.write().expect("lock") = Some(Instant::now());
        }
        let found = self.cached(kid);
        // Only the first load that finds its kid is free.
        if loaded || found.is_none() {
            *last_miss = Some(Instant::now());
        }
        match found {
            Some(k) => Ok(k),
            None if !ok && !loaded => Err(Reason::KeysUnavailable),
            None => Err(Reason::KidUnknown),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, std::sync::Arc<Key>>, ()> {
        let answer = self.client.get(&self.url).send().await.map_err(|_| ())?;
        if !answer.status().is_success() {
            return Err(());
        }
        let set: JwkSet = answer.json().await.map_err(|_| ())?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), AlgorithmParameters::RSA(rsa)) = (&jwk.common.key_id, &jwk.algorithm)
            else {
                continue;
            };
            let use_ok = jwk
                .common
                .public_key_use
                .as_ref()
                .is_none_or(|u| *u == jsonwebtoken::jwk::PublicKeyUse::Signature);
            let alg_ok = jwk
                .common
                .key_algorithm
                .is_none_or(|a| a == jsonwebtoken::jwk::KeyAlgorithm::RS256);
            let bits = URL_SAFE_NO_PAD
                .decode(&rsa.n)
                .map(|n| n.len() * 8)
                .unwrap_or(0);
            if let (true, true, Ok(key)) = (use_ok, alg_ok, DecodingKey::from_jwk(jwk)) {
                keys.entry(kid.clone())
                    .or_insert(std::sync::Arc::new(Key { key, bits }));
            }
        }
        if keys.is_empty() { Err(()) } else { Ok(keys) }
    }
}

/// A reference authorizer, ready to answer events.
pub struct Authorizer {
    config: AuthorizerConfig,
    cache: Option<KeyCache>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("profile", &self.config.profile)
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    /// An authorizer with `config`. Keys are fetched on first use.
    pub fn new(config: AuthorizerConfig) -> Self {
        let cache = config.jwks_url.clone().map(|url| KeyCache {
            client: crate::net::client_builder(&url)
                .timeout(config.fetch_timeout)
                .build()
                .expect("HTTP client builds"),
            url,
            keys: RwLock::new(HashMap::new()),
            last_fetch: tokio::sync::Mutex::new(None),
            interval: config.refetch_interval,
            loaded_at: RwLock::new(None),
            max_age: config.jwks_max_age,
        });
        Authorizer { config, cache }
    }

    /// The configuration.
    pub fn config(&self) -> &AuthorizerConfig {
        &self.config
    }

    /// Answers one event (any of the four shapes) with a response document, or an error.
    pub async fn handle(&self, event: &Value) -> Result<Value, AuthorizerError> {
        let (credential, arn) = credential_and_arn(event);
        let claims = self.verify(credential.as_deref().unwrap_or("")).await?;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or("static-user")
            .to_string();
        let mut context = Map::new();
        context.insert("sub".into(), json!(sub));
        for key in ["scope", "client_id", "token_use"] {
            if let Some(v) = claims.get(key).and_then(Value::as_str) {
                context.insert(key.into(), json!(v));
            }
        }
        if event.get("version").and_then(Value::as_str) == Some("2.0")
            && self.config.simple_responses
        {
            return Ok(json!({ "isAuthorized": true, "context": context }));
        }
        let arn = arn.as_deref().and_then(MethodArn::parse).ok_or_else(|| {
            AuthorizerError::BadEvent("the event has no methodArn or routeArn".into())
        })?;
        Ok(json!({
            "principalId": sub,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": arn.stage_wildcard(),
                }],
            },
            "context": context,
        }))
    }

    /// Checks a header value; Ok with the token's claims (empty for the static profile).
    pub async fn verify(&self, header_value: &str) -> Result<Map<String, Value>, AuthorizerError> {
        let no = |r: Reason| AuthorizerError::Unauthorized(r);
        if header_value.is_empty() {
            return Err(no(Reason::MissingToken));
        }
        if header_value.len() > MAX_TOKEN_LEN {
            return Err(no(Reason::Oversized));
        }
        if self.config.profile == Profile::Static {
            let expected = self.config.static_token.as_bytes();
            let equal = header_value.len() == expected.len()
                && aws_lc_rs::constant_time::verify_slices_are_equal(
                    header_value.as_bytes(),
                    expected,
                )
                .is_ok();
            return if equal {
                Ok(Map::new())
            } else {
                Err(no(Reason::WrongStaticToken))
            };
        }
        let token = match header_value.split_once(' ') {
            Some((scheme, rest))
                if scheme.eq_ignore_ascii_case("bearer")
                    && !rest.starts_with(char::is_whitespace) =>
            {
                rest
            }
            _ => return Err(no(Reason::BadScheme)),
        };
        let parts: Vec<&str> = token.split('.').collect();
        let base64url = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if parts.len() != 3
            || parts[0].is_empty()
            || parts[1].is_empty()
            || !parts.iter().all(|p| base64url(p))
        {
            return Err(no(Reason::Malformed));
        }
        let header: Map<String, Value> = URL_SAFE_NO_PAD
            .decode(parts[0])
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(no(Reason::Malformed))?;
        let alg = match (
            self.config.profile,
            header.get("alg").and_then(Value::as_str),
        ) {
            (Profile::Hs256, Some("HS256")) => Algorithm::HS256,
            (Profile::Jwks | Profile::Cognito, Some("RS256")) => Algorithm::RS256,
            _ => return Err(no(Reason::AlgNotAllowed)),
        };
        if header.contains_key("crit") {
            return Err(no(Reason::UnknownCrit));
        }
        if ["jwk", "jku", "x5u", "x5c"]
            .iter()
            .any(|h| header.contains_key(*h))
        {
            return Err(no(Reason::UntrustedKeyHeader));
        }
        let key = match alg {
            Algorithm::HS256 => std::sync::Arc::new(Key {
                key: DecodingKey::from_secret(&self.config.secret),
                bits: 0,
            }),
            _ => {
                let kid = header
                    .get("kid")
                    .and_then(Value::as_str)
                    .ok_or(no(Reason::KidMissing))?;
                let cache = self.cache.as_ref().ok_or(no(Reason::KeysUnavailable))?;
                let key = cache.get(kid).await.map_err(no)?;
                if key.bits < 2048 {
                    return Err(no(Reason::WeakKey));
                }
                key
            }
        };
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        // The signature is checked first; a claim the library cannot read after it (`sub` as
        // an array) is a claim of the wrong type.
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::Json(_) => no(Reason::ClaimType),
                _ => no(Reason::BadSignature),
            })?
            .claims;
        self.check_claims(&claims).map_err(no)?;
        Ok(claims)
    }

    fn check_claims(&self, c: &Map<String, Value>) -> Result<(), Reason> {
        let cfg = &self.config;
        let now = unix_now();
        let leeway = cfg.leeway.as_secs() as i64;
        let time = |name: &str| -> Result<Option<i64>, Reason> {
            match c.get(name) {
                None => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or(Reason::ClaimType),
            }
        };
        match time("exp")? {
            None => return Err(Reason::MissingClaim),
            Some(exp) if exp.saturating_add(leeway) < now => return Err(Reason::Expired),
            _ => {}
        }
        if time("nbf")?.is_some_and(|nbf| nbf.saturating_sub(leeway) > now) {
            return Err(Reason::NotYetValid);
        }
        if time("iat")?.is_some_and(|iat| iat.saturating_sub(leeway) > now) {
            return Err(Reason::IssuedInFuture);
        }
        match c.get("iss") {
            None => return Err(Reason::MissingClaim),
            Some(Value::String(iss)) if *iss != cfg.issuer => return Err(Reason::WrongIssuer),
            Some(Value::String(_)) => {}
            Some(_) => return Err(Reason::ClaimType),
        }
        match c.get("sub") {
            None => return Err(Reason::MissingClaim),
            Some(Value::String(sub)) if sub.is_empty() => return Err(Reason::MissingClaim),
            Some(Value::String(_)) => {}
            Some(_) => return Err(Reason::ClaimType),
        }
        // "aud" is a string or an array of strings (RFC 7519 §4.1.3); anything else is
        // refused for its type, before its value.
        let audience = |want: &str| match c.get("aud") {
            None => Err(Reason::MissingClaim),
            Some(Value::String(s)) if s == want => Ok(()),
            Some(Value::String(_)) => Err(Reason::WrongAudience),
            Some(Value::Array(a)) if !a.iter().all(Value::is_string) => Err(Reason::ClaimType),
            Some(Value::Array(a)) if a.iter().any(|v| v == want) => Ok(()),
            Some(Value::Array(_)) => Err(Reason::WrongAudience),
            Some(_) => Err(Reason::ClaimType),
        };
        match cfg.profile {
            Profile::Cognito => {
                let want = match cfg.token_use {
                    TokenUse::Access => "access",
                    TokenUse::Id => "id",
                };
                match c.get("token_use").and_then(Value::as_str) {
                    None => return Err(Reason::MissingClaim),
                    Some(u) if u != want => return Err(Reason::WrongTokenUse),
                    _ => {}
                }
                match cfg.token_use {
                    TokenUse::Access => match c.get("client_id").and_then(Value::as_str) {
                        None => return Err(Reason::MissingClaim),
                        Some(id) if id != cfg.client_id => return Err(Reason::WrongClientId),
                        _ => {}
                    },
                    TokenUse::Id => audience(&cfg.client_id)?,
                }
            }
            _ => audience(&cfg.audience)?,
        }
        if !cfg.required_scopes.is_empty() {
            let granted: Vec<&str> = c
                .get("scope")
                .and_then(Value::as_str)
                .map(|s| s.split_whitespace().collect())
                .unwrap_or_default();
            if cfg
                .required_scopes
                .iter()
                .any(|s| !granted.contains(&s.as_str()))
            {
                return Err(Reason::MissingScope);
            }
        }
        Ok(())
    }
}
