//! The mock identity provider: JWKS, OIDC discovery, a Cognito user-pool layout, key rotation,
//! faults on demand and a count of JWKS fetches, all on 127.0.0.1.
//!
//! One small axum server answers every path itself (JWKS, discovery, the attacker's
//! `jku`/`x5u` targets, the control endpoints and a bare 404 for anything else) from bodies
//! built once, and keeps nothing per request: its memory stays flat whatever the path, the
//! method or the body (docs/PERFORMANCE.md has the measurement). A [`wiremock::MockServer`]
//! stands behind it only once a caller asks for [`Idp::mock_server`] to mount more paths;
//! wiremock keeps a copy of every request a mock matches, so the IdP's own paths never go
//! there.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wiremock::MockServer;

use crate::keys::{JwkSet, KeyRing, SigningKey};
use crate::net::{ControlToken, ListenError, check_listen, require_token};

mod token;

use token::{serve_pool_token, serve_token};

/// Path of the JWKS under the base URL (and under a Cognito pool's issuer).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Path of the discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Where the attacker's key set is served (the `jku` case points here).
pub const ATTACKER_JWKS_PATH: &str = "/.attacker/jwks.json";
/// Where the `x5u` case points.
pub const ATTACKER_X5U_PATH: &str = "/.attacker/cert.pem";
/// Where URL-valued claims point (`iss-url`): every request under it is counted by its first
/// segment (the kind's name) and answered 404. A correct authorizer never fetches a URL a
/// token names before the token is verified, so any count is server-side request forgery.
pub const CANARY_PATH: &str = "/.canary";
/// Distinct canary tags counted; requests under further tags are counted as `other`.
const MAX_CANARY_TAGS: usize = 64;
/// Prefix of the control endpoints used by `authprobe idp serve`.
pub const ADMIN_PREFIX: &str = "/_authprobe/idp";
/// Path of the OAuth 2.0 token endpoint under the base URL (and under a Cognito pool's
/// issuer), as the discovery documents name it.
pub const TOKEN_PATH: &str = "/oauth2/token";
/// Lifetime of the access tokens the token endpoint issues (Cognito's default: one hour).
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// An app client the token endpoint knows: the OAuth 2.0 client-credentials grant (RFC 6749
/// §4.4) of a Cognito app client or an Auth0/Okta machine-to-machine application.
#[derive(Clone)]
pub struct OAuthClient {
    /// `client_id`; also the `sub` of its tokens.
    pub id: String,
    /// `client_secret`, checked in constant time and never printed.
    pub secret: String,
    /// Scopes it may ask for; a request without `scope` gets them all.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A fault the JWKS endpoints serve until cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// Answer with this HTTP status and a small JSON body.
    Status {
        /// The status code: 200 to 599, and one that can carry a body (not 204 or 304;
        /// the control endpoint refuses those, [`Fault::check`] says why).
        #[serde(deserialize_with = "deserialize_status")]
        status: u16,
    },
    /// Answer normally after this many milliseconds.
    Delay {
        /// The delay.
        millis: u64,
    },
    /// Answer 200 with a body that is not valid JSON.
    MalformedJson,
    /// Answer 200 with `{"keys":[]}`.
    EmptyKeySet,
}

impl Fault {
    /// Checks that the fault can be served as asked: a status fault needs a status from 200
    /// to 599 that can carry its body (RFC 9110 §15: 1xx, 204 and 304 cannot).
    pub fn check(&self) -> Result<(), String> {
        match self {
            Fault::Status { status } => check_status(*status),
            _ => Ok(()),
        }
    }
}

fn check_status(status: u16) -> Result<(), String> {
    match status {
        204 | 304 => Err(format!(
            "status {status} cannot carry a body (RFC 9110 §15): pick another, e.g. 500 or 503"
        )),
        200..=599 => Ok(()),
        _ => Err(format!(
            "status {status} is not one a JWKS endpoint can answer with a body: use 200 to 599, e.g. 500 or 503"
        )),
    }
}

fn deserialize_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let status = u16::deserialize(d)?;
    check_status(status).map_err(serde::de::Error::custom)?;
    Ok(status)
}

/// Where the IdP listens and what its Cognito pool is called.
#[derive(Clone, Debug)]
pub struct IdpConfig {
    /// Address to bind; port 0 lets the OS choose.
    pub addr: SocketAddr,
    /// AWS region of the Cognito layout.
    pub region: String,
    /// Pool id suffix: the pool is `<region>_<pool_suffix>`.
    pub pool_suffix: String,
    /// Key folder that `POST /_authprobe/idp/reload` publishes anew (for `idp serve`).
    pub reload_from: Option<std::path::PathBuf>,
    /// Token the control endpoints require. Without one the IdP listens on loopback only
    /// ([`crate::net::check_listen`]).
    pub control_token: Option<ControlToken>,
    /// Base URL as the authorizer sees it (`http://host.docker.internal:8787`): the issuer,
    /// the JWKS URL and the discovery documents use it. `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    /// App clients of the token endpoint ([`TOKEN_PATH`]); none: it refuses every client.
    pub oauth_clients: Vec<OAuthClient>,
}

impl Default for IdpConfig {
    fn default() -> Self {
        IdpConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            region: "us-east-1".into(),
            pool_suffix: "authprobe".into(),
            reload_from: None,
            control_token: None,
            public_url: None,
            oauth_clients: Vec::new(),
        }
    }
}

/// Why the IdP could not start.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// A non-loopback address without a control token.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

struct Published {
    keys: Vec<Arc<SigningKey>>,
    body: Bytes,
}

impl Published {
    fn of(keys: Vec<Arc<SigningKey>>) -> Self {
        let body = serde_json::to_vec(&JwkSet::of(keys.iter().map(|k| k.as_ref())))
            .expect("JWKS serializes")
            .into();
        Published { keys, body }
    }
}

/// The fixed documents, built once at start.
struct Documents {
    discovery: Bytes,
    cognito_discovery: Bytes,
    attacker_set: Bytes,
}

impl Documents {
    fn new(base: &str, pool_id: &str, attacker: Option<&SigningKey>) -> Self {
        let discovery = |issuer: String| {
            Bytes::from(
                serde_json::to_vec(&json!({
                    "issuer": issuer,
                    "jwks_uri": format!("{issuer}{JWKS_PATH}"),
                    "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
                    "token_endpoint": format!("{issuer}/oauth2/token"),
                    "response_types_supported": ["code", "token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }))
                .expect("discovery serializes"),
            )
        };
        Documents {
            discovery: discovery(base.to_string()),
            cognito_discovery: discovery(format!("{base}/{pool_id}")),
            attacker_set: attacker_set(attacker),
        }
    }
}

struct Shared {
    pool_id: String,
    documents: Documents,
    published: RwLock<Arc<Published>>,
    fault: RwLock<Option<Fault>>,
    jwks_fetches: AtomicU64,
    attacker_fetches: AtomicU64,
    /// Requests under [`CANARY_PATH`], by tag.
    canary_fetches: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    /// The ring whose attacker key the `jku`/`x5u` targets serve instead of the one given
    /// at start ([`Idp::serve_attacker_key_of`]), and its key set once made.
    attacker_from: std::sync::OnceLock<KeyRing>,
    attacker_made: tokio::sync::OnceCell<Bytes>,
    tokens_issued: AtomicU64,
    base_url: String,
    oauth_clients: Vec<OAuthClient>,
    /// Made on the first [`Idp::mock_server`] call; until then unknown paths are a bare 404.
    mock: tokio::sync::OnceCell<MockServer>,
    client: reqwest::Client,
    reload_from: Option<std::path::PathBuf>,
}

/// A running mock IdP. Dropping it stops the server.
pub struct Idp {
    base_url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Idp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idp")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Idp {
    /// Starts the IdP publishing `keys`; `attacker` is served at the `jku`/`x5u` targets.
    pub async fn start(
        keys: Vec<Arc<SigningKey>>,
        attacker: Option<Arc<SigningKey>>,
        config: IdpConfig,
    ) -> Result<Idp, IdpError> {
        check_listen(config.addr, config.control_token.is_some())?;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| IdpError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| IdpError::Bind {
            addr: config.addr,
            source,
        })?;
        let base_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{addr}"),
        };
        let pool_id = format!("{}_{}", config.region, config.pool_suffix);

        let shared = Arc::new(Shared {
            documents: Documents::new(&base_url, &pool_id, attacker.as_deref()),
            pool_id,
            published: RwLock::new(Arc::new(Published::of(keys))),
            fault: RwLock::new(None),
            jwks_fetches: AtomicU64::new(0),
            attacker_fetches: AtomicU64::new(0),
            canary_fetches: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            attacker_from: std::sync::OnceLock::new(),
            attacker_made: tokio::sync::OnceCell::new(),
            tokens_issued: AtomicU64::new(0),
            base_url: base_url.clone(),
            oauth_clients: config.oauth_clients,
            mock: tokio::sync::OnceCell::new(),
            // It only forwards to the mocks' server, on loopback.
            client: crate::net::client_builder("http://127.0.0.1/")
                .build()
                .expect("HTTP client builds"),
            reload_from: config.reload_from,
        });
        // The control endpoints; behind the token when the IdP is exposed.
        let control = Router::new()
            .route(&format!("{ADMIN_PREFIX}/stats"), get(admin_stats))
            .route(
                &format!("{ADMIN_PREFIX}/fault"),
                post(admin_set_fault).delete(admin_clear_fault),
            )
            .route(&format!("{ADMIN_PREFIX}/reload"), post(admin_reload))
            .route(
                &format!("{ADMIN_PREFIX}/keys/{{kid}}"),
                axum::routing::delete(admin_retire_key),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                config.control_token,
                require_token,
            ));
        // What an authorizer fetches: bodies are never needed, and are read and dropped.
        let public = Router::new()
            .route(JWKS_PATH, get(serve_jwks))
            .route("/{pool}/.well-known/jwks.json", get(serve_pool_jwks))
            .route(DISCOVERY_PATH, get(serve_discovery))
            .route(
                "/{pool}/.well-known/openid-configuration",
                get(serve_pool_discovery),
            )
            .route(ATTACKER_JWKS_PATH, get(serve_attacker))
            .route(ATTACKER_X5U_PATH, get(serve_attacker))
            .route(
                &format!("{CANARY_PATH}/{{tag}}"),
                axum::routing::any(serve_canary),
            )
            .route(
                &format!("{CANARY_PATH}/{{tag}}/{{*rest}}"),
                axum::routing::any(serve_canary),
            )
            .layer(axum::middleware::from_fn(discard_body));
        // The token endpoint reads its form body (within the limit below).
        let oauth = Router::new()
            .route(TOKEN_PATH, post(serve_token))
            .route("/{pool}/oauth2/token", post(serve_pool_token));
        let app = public
            .merge(oauth)
            .merge(control)
            .fallback(fallback)
            // Only the fault and token endpoints read a body (a small JSON document, a form).
            .layer(DefaultBodyLimit::max(64 * 1024))
            .layer(axum::middleware::from_fn(crate::diagnostics::idp_requests))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Idp {
            base_url,
            addr,
            shared,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Issuer of the plain (Auth0/Okta style) layout: the base URL.
    pub fn issuer(&self) -> String {
        self.base_url.clone()
    }

    /// JWKS URL of the plain layout.
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.base_url)
    }

    /// Cognito pool id, `<region>_<suffix>`.
    pub fn pool_id(&self) -> &str {
        &self.shared.pool_id
    }

    /// Issuer of the Cognito layout: `<base>/<pool id>`.
    pub fn cognito_issuer(&self) -> String {
        format!("{}/{}", self.base_url, self.shared.pool_id)
    }

    /// JWKS URL of the Cognito layout.
    pub fn cognito_jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.cognito_issuer())
    }

    /// The issuer and JWKS URL a profile's authorizer is given: the Cognito layout for
    /// `cognito`, the plain one for `jwks`, the plain issuer and no key set for the profiles
    /// that sign with a secret or none.
    pub fn layout(&self, profile: crate::tokens::Profile) -> (String, Option<String>) {
        use crate::tokens::Profile;
        match profile {
            Profile::Cognito => (self.cognito_issuer(), Some(self.cognito_jwks_url())),
            Profile::Jwks => (self.issuer(), Some(self.jwks_url())),
            Profile::Hs256 | Profile::Static => (self.issuer(), None),
        }
    }

    /// The token endpoint of the plain layout: its tokens' `iss` is [`Idp::issuer`].
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url)
    }

    /// The token endpoint of the Cognito layout: its tokens' `iss` is [`Idp::cognito_issuer`].
    pub fn cognito_token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.cognito_issuer())
    }

    /// Access tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens_issued.load(Ordering::Relaxed)
    }

    /// Where the `jku-header` case points.
    pub fn jku_url(&self) -> String {
        format!("{}{ATTACKER_JWKS_PATH}", self.base_url)
    }

    /// Where the `x5u-header` case points.
    pub fn x5u_url(&self) -> String {
        format!("{}{ATTACKER_X5U_PATH}", self.base_url)
    }

    /// The canary's base URL ([`CANARY_PATH`]); a token names `<it>/<tag>`.
    pub fn canary_url(&self) -> String {
        format!("{}{CANARY_PATH}", self.base_url)
    }

    /// Requests so far under the canary's `tag`, whatever path below it.
    pub fn canary_fetches(&self, tag: &str) -> u64 {
        self.canary_paths(tag).iter().map(|(_, n)| n).sum()
    }

    /// The places under the canary's `tag` requested so far (`tag`, `tag/SEGMENT`), with how
    /// many requests each.
    pub fn canary_paths(&self, tag: &str) -> Vec<(String, u64)> {
        let counts = self
            .shared
            .canary_fetches
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        counts
            .iter()
            .filter(|(k, _)| *k == tag || k.strip_prefix(tag).is_some_and(|r| r.starts_with('/')))
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }

    /// A wiremock server behind this IdP, started on the first call: mount mocks on it to
    /// serve more paths at this IdP's address (the IdP's own paths stay with the IdP, and
    /// requests it does not know go there, with a body of 1 MiB at most). Request recording
    /// is off, but wiremock keeps a copy of every request a mounted mock matches.
    pub async fn mock_server(&self) -> &MockServer {
        self.shared
            .mock
            .get_or_init(|| MockServer::builder().disable_request_recording().start())
            .await
    }

    /// Serves the attacker key of `keys` at the `jku`/`x5u` targets instead of the one given
    /// at start, so the IdP can start before that key is made: the first fetch waits for it.
    /// Call it before the IdP's URLs are handed out; a second call changes nothing.
    pub fn serve_attacker_key_of(&self, keys: &KeyRing) {
        let _ = self.shared.attacker_from.set(keys.clone());
    }

    /// Publishes another key. Requests see the old set or the new one, never a gap.
    pub fn add_key(&self, key: Arc<SigningKey>) {
        add_key(&self.shared, key);
    }

    /// Stops publishing `kid`; returns whether it was published.
    pub fn retire_key(&self, kid: &str) -> bool {
        retire_key(&self.shared, kid)
    }

    /// Kids currently published, in order.
    pub fn published_kids(&self) -> Vec<String> {
        let published = self.shared.published.read().expect("lock").clone();
        published.keys.iter().map(|k| k.kid().to_string()).collect()
    }

    /// Serves `fault` on the JWKS paths until cleared with `None`. A status fault that fails
    /// [`Fault::check`] is served as 500.
    pub fn set_fault(&self, fault: Option<Fault>) {
        *self.shared.fault.write().expect("lock") = fault;
    }

    /// JWKS fetches served (any layout, faults included).
    pub fn jwks_fetches(&self) -> u64 {
        self.shared.jwks_fetches.load(Ordering::Relaxed)
    }

    /// Fetches of the attacker's `jku`/`x5u` targets: anything above zero means the
    /// authorizer followed a URL from a token header.
    pub fn attacker_fetches(&self) -> u64 {
        self.shared.attacker_fetches.load(Ordering::Relaxed)
    }

    /// Sets both counters back to zero.
    pub fn reset_counts(&self) {
        self.shared.jwks_fetches.store(0, Ordering::Relaxed);
        self.shared.attacker_fetches.store(0, Ordering::Relaxed);
    }
}

fn add_key(shared: &Shared, key: Arc<SigningKey>) {
    let mut slot = shared.published.write().expect("lock");
    let mut keys = slot.keys.clone();
    keys.retain(|k| k.kid() != key.kid());
    keys.push(key);
    *slot = Arc::new(Published::of(keys));
}

fn retire_key(shared: &Shared, kid: &str) -> bool {
    let mut slot = shared.published.write().expect("lock");
    let before = slot.keys.len();
    let keys: Vec<_> = slot
        .keys
        .iter()
        .filter(|k| k.kid() != kid)
        .cloned()
        .collect();
    let removed = keys.len() != before;
    *slot = Arc::new(Published::of(keys));
    removed
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn serve_jwks(State(shared): State<Arc<Shared>>) -> Response {
    jwks_response(&shared).await
}

async fn serve_pool_jwks(
    State(shared): State<Arc<Shared>>,
    Path(pool): Path<String>,
    req: Request,
) -> Response {
    if pool == shared.pool_id {
        jwks_response(&shared).await
    } else {
        fallback(State(shared), req).await
    }
}

async fn jwks_response(shared: &Shared) -> Response {
    shared.jwks_fetches.fetch_add(1, Ordering::Relaxed);
    let fault = shared.fault.read().expect("lock").clone();
    let body = shared.published.read().expect("lock").body.clone();
    match fault {
        None => json_response(StatusCode::OK, body),
        Some(Fault::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            json_response(StatusCode::OK, body)
        }
        Some(Fault::Status { status }) => json_response(
            check_status(status)
                .ok()
                .and_then(|()| StatusCode::from_u16(status).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Bytes::from_static(br#"{"message":"fault injected by authprobe"}"#),
        ),
        Some(Fault::MalformedJson) => json_response(
            StatusCode::OK,
            Bytes::from_static(br#"{"keys":[{"kty":"RSA","#),
        ),
        Some(Fault::EmptyKeySet) => {
            json_response(StatusCode::OK, Bytes::from_static(br#"{"keys":[]}"#))
        }
    }
}

async fn serve_discovery(State(shared): State<Arc<Shared>>) -> Response {
    json_response(StatusCode::OK, shared.documents.discovery.clone())
}

async fn serve_pool_discovery(
    State(shared): State<Arc<Shared>>,
    Path(pool): Path<String>,
    req: Request,
) -> Response {
    if pool == shared.pool_id {
        json_response(StatusCode::OK, shared.documents.cognito_discovery.clone())
    } else {
        fallback(State(shared), req).await
    }
}

/// A request under the canary: counted by its tag, answered 404.
async fn serve_canary(
    State(shared): State<Arc<Shared>>,
    Path(params): Path<Vec<(String, String)>>,
) -> Response {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // The tag and the first segment under it: `iss-url`, `url-claims/picture`.
    let tag = match (
        param("tag"),
        param("rest").and_then(|r| r.split('/').next()),
    ) {
        (Some(tag), Some(sub)) if !sub.is_empty() => format!("{tag}/{sub}"),
        (Some(tag), _) => tag.to_string(),
        (None, _) => "other".to_string(),
    };
    let tag = tag.as_str();
    {
        let mut counts = shared
            .canary_fetches
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let tag = if counts.contains_key(tag) || counts.len() < MAX_CANARY_TAGS {
            tag
        } else {
            "other"
        };
        *counts.entry(tag.to_string()).or_insert(0) += 1;
    }
    json_response(
        StatusCode::NOT_FOUND,
        Bytes::from_static(br#"{"message":"authprobe canary: a URL taken from a token"}"#),
    )
}

/// The attacker's key set, at the `jku` and `x5u` targets: every fetch is counted.
async fn serve_attacker(State(shared): State<Arc<Shared>>) -> Response {
    shared.attacker_fetches.fetch_add(1, Ordering::Relaxed);
    let body = match shared.attacker_from.get() {
        None => shared.documents.attacker_set.clone(),
        Some(ring) => shared
            .attacker_made
            .get_or_init(|| async {
                let ring = ring.clone();
                // Made on a background thread already, most likely: this waits for it.
                let key = tokio::task::spawn_blocking(move || ring.attacker().ok())
                    .await
                    .ok()
                    .flatten();
                attacker_set(key.as_deref())
            })
            .await
            .clone(),
    };
    json_response(StatusCode::OK, body)
}

/// The attacker's key set document: the key, or an empty set without one.
fn attacker_set(key: Option<&SigningKey>) -> Bytes {
    serde_json::to_vec(&JwkSet::of(key))
        .expect("JWKS serializes")
        .into()
}

/// Any other path: a bare 404, or the caller's mocks once [`Idp::mock_server`] was asked for.
async fn fallback(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    match shared.mock.get() {
        None => {
            drain(req.into_body()).await;
            StatusCode::NOT_FOUND.into_response()
        }
        Some(mock) => forward(&shared.client, &mock.uri(), req).await,
    }
}

/// Most of a request body the IdP reads and drops to keep a connection open; past this it
/// answers and closes the connection instead.
const DRAIN_LIMIT: usize = 1 << 20;

/// Answers without the request body, then reads and drops it (up to [`DRAIN_LIMIT`]), so the
/// client's connection stays open for the next request and no body is ever kept.
async fn discard_body(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let response = next.run(Request::from_parts(parts, Body::empty())).await;
    drain(body).await;
    response
}

async fn drain(body: Body) {
    let _ = crate::bounded::drain(body, DRAIN_LIMIT).await;
}

/// Most of a mock's answer the IdP relays.
const FORWARD_LIMIT: usize = 16 << 20;

/// Forwards a request to the wiremock server and relays its answer.
async fn forward(client: &reqwest::Client, backend: &str, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let target = format!(
        "{backend}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let body = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let mut headers = parts.headers;
    headers.remove(header::HOST);
    let sent = client
        .request(parts.method, target)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let mut answer = answer;
    let bytes = match crate::bounded::response(&mut answer, FORWARD_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

/// Counters as the control endpoint reports them.
#[derive(Debug, Serialize, Deserialize)]
pub struct IdpStats {
    /// JWKS fetches.
    pub jwks_fetches: u64,
    /// Fetches of the attacker targets.
    pub attacker_fetches: u64,
    /// Access tokens the token endpoint issued.
    #[serde(default)]
    pub tokens_issued: u64,
    /// Kids published.
    pub published_kids: Vec<String>,
    /// The fault being served, if any.
    pub fault: Option<Fault>,
}

async fn admin_stats(State(shared): State<Arc<Shared>>) -> axum::Json<IdpStats> {
    let published = shared.published.read().expect("lock").clone();
    axum::Json(IdpStats {
        jwks_fetches: shared.jwks_fetches.load(Ordering::Relaxed),
        attacker_fetches: shared.attacker_fetches.load(Ordering::Relaxed),
        tokens_issued: shared.tokens_issued.load(Ordering::Relaxed),
        published_kids: published.keys.iter().map(|k| k.kid().to_string()).collect(),
        fault: shared.fault.read().expect("lock").clone(),
    })
}

async fn admin_set_fault(
    State(shared): State<Arc<Shared>>,
    axum::Json(fault): axum::Json<Fault>,
) -> StatusCode {
    *shared.fault.write().expect("lock") = Some(fault);
    StatusCode::NO_CONTENT
}

async fn admin_clear_fault(State(shared): State<Arc<Shared>>) -> StatusCode {
    *shared.fault.write().expect("lock") = None;
    StatusCode::NO_CONTENT
}

async fn admin_reload(State(shared): State<Arc<Shared>>) -> Response {
    let Some(dir) = shared.reload_from.clone() else {
        return (
            StatusCode::CONFLICT,
            "this IdP was not started from a key folder",
        )
            .into_response();
    };
    match tokio::task::spawn_blocking(move || crate::keys::KeyDir::new(dir).load()).await {
        Ok(Ok(keys)) => {
            let kids: Vec<String> = keys.iter().map(|k| k.kid().to_string()).collect();
            *shared.published.write().expect("lock") =
                Arc::new(Published::of(keys.into_iter().map(Arc::new).collect()));
            axum::Json(json!({ "published_kids": kids })).into_response()
        }
        Ok(Err(e)) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn admin_retire_key(
    State(shared): State<Arc<Shared>>,
    Path(kid): Path<String>,
) -> StatusCode {
    if retire_key(&shared, &kid) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}
