//! What one run needs before it can send a case: keys, the mock IdP, the claims the profile's
//! tokens carry, `--env` placeholders resolved, and the target started with all of it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::authorizer::AuthorizerConfig;
use crate::idp::{Idp, IdpConfig, IdpError};
use crate::keys::{KeyDir, KeyError, KeyRing, KeyRole};
use crate::target::{self, Target, TargetError, TargetOptions, TargetSpec};
use crate::tokens::keyless::{External, IssuerKeys, RealToken, RealTokenError};
use crate::tokens::source::{SourceError, TokenSource};
use crate::tokens::{MintSettings, Minter, Profile, TokenUse};

/// The most of an issuer's JWKS a key-less run reads: public key sets are a few kilobytes.
pub const MAX_JWKS: usize = 1 << 20;

/// Where a run's mock IdP listens and how the authorizer reaches it.
#[derive(Clone, Debug)]
pub struct IdpPlacement {
    /// Address to listen on; port 0 picks a free one.
    pub addr: std::net::SocketAddr,
    /// Allow a non-loopback `addr` (the IdP's control endpoints then need a token).
    pub expose: bool,
    /// Base URL as the authorizer sees it; `None` means `http://<bound address>`.
    pub url: Option<String>,
}

impl Default for IdpPlacement {
    fn default() -> Self {
        IdpPlacement {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            expose: false,
            url: None,
        }
    }
}

/// How to set up a run.
#[derive(Clone, Debug)]
pub struct HarnessOptions {
    /// The authorizer profile.
    pub profile: Profile,
    /// Claims and secrets; an empty `issuer` means the IdP's own.
    pub settings: MintSettings,
    /// The authorizer under test.
    pub target: TargetSpec,
    /// `--env K=V` as given, placeholders unresolved.
    pub env: Vec<(String, String)>,
    /// `--workdir` of `lambda:` children.
    pub workdir: Option<PathBuf>,
    /// Execution environments of a `lambda:` target.
    pub concurrency: usize,
    /// Invocation timeout.
    pub timeout: Duration,
    /// Read keys from this folder instead of making them for the run.
    pub keys_dir: Option<PathBuf>,
    /// HTTP API simple responses (`isAuthorized`).
    pub simple_responses: bool,
    /// Where the IdP listens and the URL the authorizer uses for it.
    pub idp: IdpPlacement,
    /// The reference authorizer's JWKS fetch timeout, also `{jwks_timeout}` (seconds).
    pub jwks_timeout: Duration,
    /// Wait after each answer until the environment is ready again
    /// ([`TargetOptions::observe`]).
    pub observe: bool,
}

/// Good tokens from a real IdP instead of minted ones: a key-less run
/// ([`crate::tokens::keyless`]), for an authorizer that trusts an IdP whose keys authprobe
/// does not have.
#[derive(Clone, Debug)]
pub struct ExternalIdentity {
    /// Where the good token comes from.
    pub source: TokenSource,
    /// Get a new good token when the last one is this old; `None`: one per run.
    pub refresh: Option<Duration>,
    /// The issuer's JWKS; `None`: the good token's `iss` + `/.well-known/jwks.json`.
    pub jwks_url: Option<String>,
    /// A correctly signed expired token of the issuer (`--expired-token-file`).
    pub expired_token: Option<PathBuf>,
}

/// Why a key-less run could not get what it derives its tokens from.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No good token.
    #[error("cannot get the good token")]
    Source(#[source] SourceError),
    /// The good token is not a JWT.
    #[error("cannot use the good token")]
    Token(#[source] RealTokenError),
    /// The expired token cannot be read or is not a JWT.
    #[error("cannot use --expired-token-file")]
    Expired(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Neither `--jwks-url` nor an `iss` in the token.
    #[error("the good token has no iss claim to find the issuer's JWKS from")]
    NoIssuer,
    /// The JWKS could not be fetched.
    #[error("cannot fetch the issuer's JWKS from {url}")]
    Jwks {
        /// Where.
        url: String,
        /// Why.
        #[source]
        source: crate::bounded::ReadError,
    },
    /// The JWKS is not a key set with an RSA key.
    #[error("the issuer's JWKS at {url} is not usable")]
    JwksBody {
        /// Where.
        url: String,
        /// Why.
        #[source]
        source: RealTokenError,
    },
}

impl IdentityError {
    /// The fix, in one line.
    pub fn hint(&self) -> String {
        match self {
            IdentityError::Source(e) => e.hint().into(),
            IdentityError::Token(_) => {
                "the good token must be the JWT the authorizer receives (an access or ID token)"
                    .into()
            }
            IdentityError::Expired(_) => "write one expired JWT of the issuer into the file".into(),
            IdentityError::NoIssuer | IdentityError::JwksBody { .. } => {
                "pass the issuer's key set with --jwks-url".into()
            }
            IdentityError::Jwks { .. } => "check --jwks-url (or the token's iss)".into(),
        }
    }
}

impl ExternalIdentity {
    /// Gets the good token and parses it.
    pub async fn good_token(&self) -> Result<RealToken, IdentityError> {
        let token = self.source.fetch().await.map_err(IdentityError::Source)?;
        RealToken::parse(&token).map_err(IdentityError::Token)
    }

    /// The good token, the issuer's keys, and the expired token if given; `jwks_url` is
    /// where the keys came from.
    async fn load(&self) -> Result<(External, String), IdentityError> {
        let good = self.good_token().await?;
        let url = match (&self.jwks_url, good.claim("iss")) {
            (Some(url), _) => url.clone(),
            (None, Some(iss)) => format!("{}{}", iss.trim_end_matches('/'), crate::idp::JWKS_PATH),
            (None, None) => return Err(IdentityError::NoIssuer),
        };
        // Errors name the URL without its user information.
        let shown = crate::net::redact_userinfo(&url);
        let jwks_error = |source: crate::bounded::ReadError| IdentityError::Jwks {
            url: shown.clone(),
            source: match source {
                crate::bounded::ReadError::Http(e) => {
                    crate::bounded::ReadError::Http(e.without_url())
                }
                other => other,
            },
        };
        let mut answer = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| jwks_error(e.into()))?
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| jwks_error(e.into()))?;
        let body = crate::bounded::response(&mut answer, MAX_JWKS)
            .await
            .map_err(jwks_error)?;
        let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            jwks_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e).into())
        })?;
        let issuer = IssuerKeys::from_jwks(&doc).map_err(|source| IdentityError::JwksBody {
            url: shown.clone(),
            source,
        })?;
        let expired = match &self.expired_token {
            Some(path) => {
                let limit = crate::tokens::source::MAX_TOKEN_SOURCE as u64;
                let text = crate::bounded::text_file_async(path, limit)
                    .await
                    .map_err(|e| IdentityError::Expired(Box::new(e)))?;
                Some(RealToken::parse(&text).map_err(|e| IdentityError::Expired(Box::new(e)))?)
            }
            None => None,
        };
        Ok((
            External {
                good,
                expired,
                issuer,
            },
            url,
        ))
    }
}

/// The claims a key-less run judges by, read from the real good token: its `iss`, `sub`,
/// `client_id` (or an ID token's `aud`), `aud` and `token_use`.
fn settings_from(token: &RealToken, mut settings: MintSettings) -> MintSettings {
    if let Some(iss) = token.claim("iss") {
        settings.issuer = iss.to_string();
    }
    if let Some(sub) = token.claim("sub") {
        settings.subject = sub.to_string();
    }
    let aud = token.claims().get("aud").and_then(|a| match a {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) => items.first()?.as_str().map(str::to_string),
        _ => None,
    });
    match token.claim("token_use") {
        Some("id") => {
            settings.token_use = TokenUse::Id;
            if let Some(aud) = &aud {
                settings.client_id = aud.clone();
            }
        }
        Some("access") => settings.token_use = TokenUse::Access,
        _ => {}
    }
    if let Some(client_id) = token.claim("client_id") {
        settings.client_id = client_id.to_string();
    }
    if let Some(aud) = aud {
        settings.audience = aud;
    }
    settings
}

/// An error and its sources, `: `-joined.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Why a run could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Keys.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The IdP.
    #[error(transparent)]
    Idp(#[from] IdpError),
    /// The target.
    #[error("{target} could not start")]
    Target {
        /// The target as given.
        target: String,
        /// Why.
        #[source]
        source: TargetError,
    },
    /// The API Gateway emulator refuses the API's settings.
    #[error(transparent)]
    Gateway(#[from] crate::gateway::ConfigError),
    /// A key-less run's good token or issuer keys.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// An `--env` value names a placeholder that does not exist.
    #[error("--env {key}: unknown placeholder `{{{name}}}`")]
    Placeholder {
        /// The variable.
        key: String,
        /// The placeholder.
        name: String,
    },
}

impl HarnessError {
    /// The fix, in one line.
    pub fn hint(&self) -> Option<String> {
        match self {
            HarnessError::Keys(e) => e.hint(),
            HarnessError::Placeholder { .. } => {
                Some(format!("placeholders are {}", PLACEHOLDERS.join(", ")))
            }
            HarnessError::Target {
                source: TargetError::Start(_),
                ..
            } => Some("check the command and --workdir; it runs without a shell".into()),
            HarnessError::Target {
                source:
                    TargetError::Init { stderr_tail, .. } | TargetError::Crashed { stderr_tail, .. },
                ..
            } if !stderr_tail.trim().is_empty() => {
                Some("the handler's own output follows; fix its start-up".into())
            }
            HarnessError::Target { .. } => Some(
                "the handler printed nothing; run the command by hand in --workdir to see why it does not start"
                    .into(),
            ),
            HarnessError::Idp(_) => None,
            HarnessError::Identity(e) => Some(e.hint()),
            HarnessError::Gateway(_) => Some("fix the profile's [api] table or --cache-ttl".into()),
        }
    }
}

/// The `--env` placeholders.
pub const PLACEHOLDERS: &[&str] = &[
    "{jwks_url}",
    "{issuer}",
    "{audience}",
    "{client_id}",
    "{secret}",
    "{region}",
    "{pool_id}",
    "{token_use}",
    "{jwks_timeout}",
    "{public_key_pem}",
    "{certificate_pem}",
];

/// A run, set up.
pub struct Harness {
    /// The profile.
    pub profile: Profile,
    /// The IdP serving the keys.
    pub idp: Idp,
    /// Mints the profile's tokens.
    pub minter: Minter,
    /// The authorizer under test.
    pub target: Arc<dyn Target>,
    /// The JWKS URL the authorizer is told about (none for static and hs256).
    pub jwks_url: Option<String>,
    /// The target as given.
    pub spec: TargetSpec,
    target_options: TargetOptions,
    /// A key-less run's token source, and when its good token was fetched.
    identity: Option<(ExternalIdentity, std::sync::Mutex<std::time::Instant>)>,
    jwks_timeout: Duration,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("profile", &self.profile)
            .field("target", &self.spec)
            .finish_non_exhaustive()
    }
}

/// Replaces the placeholders in `value`.
pub fn resolve(key: &str, value: &str, known: &[(&str, String)]) -> Result<String, HarnessError> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &rest[start + 1..start + len];
        let looks_like_placeholder =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        match known.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => out.push_str(v),
            // Anything else in braces (JSON, say) is left as written.
            None if !looks_like_placeholder => out.push_str(&rest[start..=start + len]),
            None => {
                return Err(HarnessError::Placeholder {
                    key: key.to_string(),
                    name: name.to_string(),
                });
            }
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Harness {
    /// Makes or reads keys, starts the IdP, and starts the target.
    pub async fn start(options: HarnessOptions) -> Result<Harness, HarnessError> {
        Harness::start_with_identity(options, None).await
    }

    /// [`Harness::start`], with good tokens from a real IdP when `identity` is given: the
    /// minter is then key-less, and `{issuer}`, `{jwks_url}`, `{client_id}` and `{audience}`
    /// are the real token's. The run's own IdP still serves the attacker's `jku`/`x5u`
    /// targets.
    pub async fn start_with_identity(
        options: HarnessOptions,
        identity: Option<ExternalIdentity>,
    ) -> Result<Harness, HarnessError> {
        let external = match &identity {
            Some(identity) => Some(identity.load().await?),
            None => None,
        };
        let keys = match &options.keys_dir {
            Some(dir) => KeyRing::from_keys(KeyDir::new(dir).load()?, dir)?,
            None => KeyRing::on_demand(),
        };
        // Only the RSA profiles sign with keys; their runs need every role. All are started
        // now on background threads, in the order a run needs them: the IdP waits only for
        // the keys it publishes, and the rest are made while the first cases run (a case
        // that needs one waits for that one). A static or hs256 run makes none and its IdP
        // publishes none.
        let published = if options.profile.signs_with_rsa() {
            keys.make_in_background(&KeyRole::RUN_ORDER);
            let ring = keys.clone();
            tokio::task::spawn_blocking(move || ring.published())
                .await
                .expect("key generation task")?
        } else {
            Vec::new()
        };
        let idp = Idp::start(
            published,
            None,
            IdpConfig {
                addr: options.idp.addr,
                control_token: options.idp.expose.then(crate::net::ControlToken::generate),
                public_url: options.idp.url.clone(),
                ..IdpConfig::default()
            },
        )
        .await?;
        if options.profile.signs_with_rsa() {
            idp.serve_attacker_key_of(&keys);
        }
        let (issuer, mut jwks_url) = idp.layout(options.profile);
        let mut settings = options.settings.clone();
        if settings.issuer.is_empty() {
            settings.issuer = issuer;
        }
        if let Some((external, url)) = &external {
            settings = settings_from(&external.good, settings);
            jwks_url = Some(url.clone());
        }
        settings.jku_url = idp.jku_url();
        settings.x5u_url = idp.x5u_url();
        settings.canary_url = idp.canary_url();
        let known = [
            ("jwks_url", jwks_url.clone().unwrap_or_default()),
            ("issuer", settings.issuer.clone()),
            ("audience", settings.audience.clone()),
            ("client_id", settings.client_id.clone()),
            (
                "secret",
                String::from_utf8_lossy(&settings.secret).into_owned(),
            ),
            ("region", "us-east-1".to_string()),
            ("pool_id", idp.pool_id().to_string()),
            ("token_use", settings.token_use.to_string()),
            (
                "jwks_timeout",
                options.jwks_timeout.as_secs_f64().to_string(),
            ),
            // For an authorizer that pins the issuer's key instead of fetching a JWKS: the
            // public key the good tokens are signed with (RSA profiles; empty otherwise).
            (
                "public_key_pem",
                if options.profile.signs_with_rsa() && external.is_none() {
                    keys.primary()?.public_key_pem()
                } else {
                    String::new()
                },
            ),
            // The same key as a self-signed certificate, made only when asked for.
            (
                "certificate_pem",
                if options.profile.signs_with_rsa()
                    && external.is_none()
                    && options
                        .env
                        .iter()
                        .any(|(_, v)| v.contains("{certificate_pem}"))
                {
                    keys.primary()?.certificate_pem()?
                } else {
                    String::new()
                },
            ),
        ];
        let env = options
            .env
            .iter()
            .map(|(k, v)| resolve(k, v, &known).map(|v| (k.clone(), v)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut builtin = AuthorizerConfig::matching(options.profile, &settings, jwks_url.clone());
        builtin.simple_responses = options.simple_responses;
        builtin.fetch_timeout = options.jwks_timeout;
        let target_options = TargetOptions {
            env,
            workdir: options.workdir.clone(),
            concurrency: options.concurrency,
            timeout: options.timeout,
            builtin: Some(builtin),
            observe: options.observe,
            ..TargetOptions::default()
        };
        let target = target::start(&options.target, target_options.clone())
            .await
            .map_err(|source| HarnessError::Target {
                target: options.target.to_string(),
                source,
            })?;
        let minter = match external {
            Some((external, _)) => Minter::keyless(options.profile, keys, settings, external),
            None => Minter::new(options.profile, keys, settings),
        };
        Ok(Harness {
            profile: options.profile,
            idp,
            minter,
            target,
            jwks_url,
            spec: options.target,
            target_options,
            identity: identity.map(|i| (i, std::sync::Mutex::new(std::time::Instant::now()))),
            jwks_timeout: options.jwks_timeout,
        })
    }

    /// In a key-less run with a token lifetime (`--token-ttl`), gets a new good token once
    /// the last one is that old. A failed refresh keeps the old token and says so on stderr.
    pub async fn refresh_identity(&self) {
        let Some((identity, fetched)) = &self.identity else {
            return;
        };
        let Some(ttl) = identity.refresh else {
            return;
        };
        if fetched.lock().expect("lock").elapsed() < ttl {
            return;
        }
        match identity.good_token().await {
            Ok(good) => {
                self.minter.replace_good_token(good);
                *fetched.lock().expect("lock") = std::time::Instant::now();
            }
            Err(e) => eprintln!(
                "warning: {}; the run goes on with the previous good token",
                chain(&e)
            ),
        }
    }

    /// Starts another instance of the target with nothing cached: a cold start. `None` for
    /// targets whose instances the harness does not control (`invoke:`, `url:`).
    pub async fn fresh_target(&self) -> Option<Result<Arc<dyn Target>, TargetError>> {
        match self.spec {
            TargetSpec::Builtin(_) | TargetSpec::Lambda(_) => {
                Some(target::start(&self.spec, self.target_options.clone()).await)
            }
            TargetSpec::Invoke(_) | TargetSpec::Url(_) | TargetSpec::AwsLambda(_) => None,
        }
    }

    /// The invocation timeout.
    pub fn timeout(&self) -> Duration {
        self.target_options.timeout
    }

    /// The authorizer's JWKS fetch timeout, as configured for the run.
    pub fn jwks_timeout(&self) -> Duration {
        self.jwks_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(profile: Profile) -> HarnessOptions {
        HarnessOptions {
            profile,
            settings: MintSettings::default(),
            target: TargetSpec::Builtin(profile),
            env: Vec::new(),
            workdir: None,
            concurrency: 1,
            timeout: Duration::from_secs(3),
            keys_dir: None,
            simple_responses: false,
            idp: IdpPlacement::default(),
            jwks_timeout: crate::authorizer::DEFAULT_JWKS_TIMEOUT,
            observe: false,
        }
    }

    #[tokio::test]
    async fn only_the_profiles_that_sign_with_rsa_make_keys() {
        for profile in [Profile::Static, Profile::Hs256] {
            let harness = Harness::start(options(profile)).await.unwrap();
            harness.minter.mint(harness.minter.good_kind()).unwrap();
            assert_eq!(harness.minter.keys().made(), 0, "{profile}");
            assert!(harness.idp.published_kids().is_empty(), "{profile}");
            harness.target.shutdown().await;
        }
        let harness = Harness::start(options(Profile::Jwks)).await.unwrap();
        assert_eq!(harness.idp.published_kids().len(), 3);
        // The unpublished ones are being made in the background; asking waits for them.
        harness.minter.keys().prepare(&KeyRole::ALL).unwrap();
        assert_eq!(harness.minter.keys().made(), 6);
        harness.target.shutdown().await;
    }

    #[test]
    fn placeholders_are_replaced_and_unknown_ones_named() {
        let known = [(
            "jwks_url",
            "http://127.0.0.1:1/.well-known/jwks.json".to_string(),
        )];
        assert_eq!(
            resolve("JWKS_URL", "{jwks_url}", &known).unwrap(),
            "http://127.0.0.1:1/.well-known/jwks.json"
        );
        assert_eq!(resolve("X", "plain", &known).unwrap(), "plain");
        let err = resolve("X", "{jwks}", &known).unwrap_err();
        assert_eq!(err.to_string(), "--env X: unknown placeholder `{jwks}`");
        assert_eq!(resolve("C", r#"{"a":1}"#, &known).unwrap(), r#"{"a":1}"#);
    }
}
