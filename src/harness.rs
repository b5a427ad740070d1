//! What one run needs before it can send a case: keys, the mock IdP, the claims the profile's
//! tokens carry, `--env` placeholders resolved, and the target started with all of it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::authorizer::AuthorizerConfig;
use crate::idp::{Idp, IdpConfig, IdpError};
use crate::keys::{KeyDir, KeyError, KeyRing};
use crate::target::{self, Target, TargetError, TargetOptions, TargetSpec};
use crate::tokens::{MintSettings, Minter, Profile};

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
        let keys = match &options.keys_dir {
            Some(dir) => KeyRing::from_keys(KeyDir::new(dir).load()?, dir)?,
            None => tokio::task::spawn_blocking(KeyRing::generate)
                .await
                .expect("key generation task")?,
        };
        let idp = Idp::start(
            keys.published(),
            Some(keys.attacker.clone()),
            IdpConfig {
                addr: options.idp.addr,
                control_token: options.idp.expose.then(crate::net::ControlToken::generate),
                public_url: options.idp.url.clone(),
                ..IdpConfig::default()
            },
        )
        .await?;
        let (issuer, jwks_url) = idp.layout(options.profile);
        let mut settings = options.settings.clone();
        if settings.issuer.is_empty() {
            settings.issuer = issuer;
        }
        settings.jku_url = idp.jku_url();
        settings.x5u_url = idp.x5u_url();
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
            (
                "token_use",
                match settings.token_use {
                    crate::tokens::TokenUse::Access => "access".to_string(),
                    crate::tokens::TokenUse::Id => "id".to_string(),
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
        let target_options = TargetOptions {
            env,
            workdir: options.workdir.clone(),
            concurrency: options.concurrency,
            timeout: options.timeout,
            builtin: Some(builtin),
            ..TargetOptions::default()
        };
        let target = target::start(&options.target, target_options.clone())
            .await
            .map_err(|source| HarnessError::Target {
                target: options.target.to_string(),
                source,
            })?;
        Ok(Harness {
            profile: options.profile,
            idp,
            minter: Minter::new(options.profile, keys, settings),
            target,
            jwks_url,
            spec: options.target,
            target_options,
        })
    }

    /// Starts another instance of the target with nothing cached: a cold start. `None` for
    /// targets whose instances the harness does not control (`invoke:`, `url:`).
    pub async fn fresh_target(&self) -> Option<Result<Arc<dyn Target>, TargetError>> {
        match self.spec {
            TargetSpec::Builtin(_) | TargetSpec::Lambda(_) => {
                Some(target::start(&self.spec, self.target_options.clone()).await)
            }
            TargetSpec::Invoke(_) | TargetSpec::Url(_) => None,
        }
    }

    /// The invocation timeout.
    pub fn timeout(&self) -> Duration {
        self.target_options.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
