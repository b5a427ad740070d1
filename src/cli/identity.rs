//! The identity kit's commands: `keys`, `token` and `idp`, with the claims and app-client
//! arguments they share.

use super::*;

/// `authprobe keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate RSA keys as PKCS#8 PEM files (mode 0600) and rewrite jwks.json.
    Generate(KeysGenerate),
    /// Print the public JWKS of the keys in a folder.
    Jwks {
        /// Key folder.
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
    },
}

/// Arguments of `keys generate`.
#[derive(Debug, Args)]
pub struct KeysGenerate {
    /// Key folder.
    #[arg(long, default_value = "keys")]
    pub dir: PathBuf,
    /// Key id of the new key (default: its RFC 7638 thumbprint). Only with --count 1.
    #[arg(long)]
    pub kid: Option<String>,
    /// Key size: 2048, 3072 or 4096; 1024 makes a deliberately weak key for the weak-key case.
    #[arg(long, default_value = "2048", value_parser = crate::keys::KeyBits::parse)]
    pub bits: crate::keys::KeyBits,
    /// How many keys to make.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub count: u16,
    /// Keep the keys already in the folder and add these beside them.
    #[arg(long, conflicts_with = "force")]
    pub add: bool,
    /// Delete the keys already in the folder and write these instead.
    #[arg(long)]
    pub force: bool,
}

/// `authprobe token …`
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print every kind: NAME<TAB>allow|reject<TAB>what it is.
    List {
        /// Only the kinds that apply to this profile.
        #[arg(long, value_enum)]
        profile: Option<Profile>,
        /// With --profile cognito: which token the authorizer requires.
        #[arg(long, value_enum, default_value_t = TokenUse::Access)]
        token_use: TokenUse,
        /// Print a JSON array of {name, expect, what} instead.
        #[arg(long)]
        json: bool,
        /// Say which kinds a key-less run (real good token, no issuer key) derives: a column
        /// `keyless` or `issuer-key`, then how the kind is made or why it needs the issuer's
        /// key (JSON: `keyless` and `what`).
        #[arg(long)]
        keyless: bool,
    },
    /// Print one token of a kind (the Authorization header value; --raw for the token alone).
    Mint(TokenMint),
}

/// Arguments of `token mint`.
#[derive(Debug, Args)]
pub struct TokenMint {
    /// The kind, as `authprobe token list` names it.
    #[arg(add = clap_complete::ArgValueCompleter::new(complete::kinds))]
    pub kind: String,
    /// Profile whose good token the kind is a variation of.
    #[arg(long, value_enum, default_value_t = Profile::Jwks)]
    pub profile: Profile,
    /// Key folder (jwks and cognito profiles).
    #[arg(long, default_value = "keys")]
    pub dir: PathBuf,
    /// Print the credential alone, without the `Bearer ` scheme.
    #[arg(long)]
    pub raw: bool,
    /// Claims and secrets of the token.
    #[command(flatten)]
    pub claims: ClaimArgs,
}

/// The claims and secrets a token is minted with.
#[derive(Debug, Clone, Args)]
pub struct ClaimArgs {
    /// Issuer (`iss`). Default: the mock IdP's (token mint: https://idp.authprobe.test, or the
    /// Cognito pool issuer).
    #[arg(long)]
    pub iss: Option<String>,
    /// Audience (`aud`).
    #[arg(long, default_value = "authprobe-api")]
    pub aud: String,
    /// Subject (`sub`).
    #[arg(long, default_value = "user-1234")]
    pub sub: String,
    /// Cognito app client id.
    #[arg(long, default_value = "authprobeclient0001")]
    pub client_id: String,
    /// Cognito access-token scope (space separated).
    #[arg(long, default_value = "hello/read")]
    pub scope: String,
    /// Token lifetime, e.g. 300s, 5m, 1h.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub ttl: Duration,
    /// Clock-skew leeway the authorizer allows, e.g. 60s.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub leeway: Duration,
    /// Shared secret of the hs256 profile.
    #[arg(long, env = "AUTHPROBE_HS256_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Which Cognito token the authorizer requires.
    #[arg(long, value_enum, default_value_t = TokenUse::Access)]
    pub token_use: TokenUse,
    /// Cognito region and pool id (the default issuer is built from them).
    #[arg(long, default_value = "us-east-1_authprobe")]
    pub pool_id: String,
    /// Extra claim, repeatable: k=v, where v is JSON if it parses (`n=3`, `a=[1,2]`) and a
    /// string otherwise.
    #[arg(long = "claim", value_name = "K=V", value_parser = parse_claim)]
    pub claims: Vec<(String, Value)>,
}

/// `authprobe idp …`
#[derive(Debug, Subcommand)]
pub enum IdpCommand {
    /// Serve the JWKS and discovery documents of a key folder until Ctrl-C.
    Serve {
        /// Key folder.
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
        /// Address to listen on (loopback unless --expose; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// Allow a non-loopback --addr. The control endpoints (stats, faults, reload, retiring
        /// keys) then need `Authorization: Bearer TOKEN`, with the token printed at start.
        #[arg(long)]
        expose: bool,
        /// Cognito region and pool id of the Cognito layout.
        #[arg(long, default_value = "us-east-1_authprobe")]
        pool_id: String,
        /// The app client of the token endpoint (POST /oauth2/token).
        #[command(flatten)]
        oauth: IdpClientArgs,
    },
}

/// The app client `idp serve` accepts at its OAuth 2.0 token endpoint (client credentials).
#[derive(Debug, Clone, Args)]
pub struct IdpClientArgs {
    /// Client id of the token endpoint's app client (the `client_id` and `sub` of its tokens).
    #[arg(long, default_value = "authprobeclient0001")]
    pub client_id: String,
    /// Environment variable that holds the app client's secret; without it the token endpoint
    /// knows no client and refuses every request.
    #[arg(long, value_name = "VAR")]
    pub client_secret_env: Option<String>,
    /// Scope the app client may ask for, repeatable (all of them when a request names none).
    #[arg(long = "scope", value_name = "SCOPE", default_value = "hello/read")]
    pub scopes: Vec<String>,
}

/// Reads a secret from the environment variable `var` (`--client-secret-env`): unset or empty
/// is bad usage. The value is never printed.
pub fn secret_from_env(flag: &str, var: &str) -> Result<String, crate::Error> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(crate::Error::Usage {
            message: format!("{flag} {var}: the variable is not set or empty"),
            hint: format!("export {var} with the client secret (in CI, from a secret store)"),
        }),
    }
}

/// Parses `300`, `300s`, `1.5s`, `1m30s`, `5m`, `1h`, `250ms` (see [`crate::duration`]).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s)
}

/// Parses an invocation timeout: a duration from 1 ms to 15 minutes (Lambda's limit).
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() || d > Duration::from_secs(900) {
        return Err(format!(
            "`{s}`: the timeout must be between 1ms and 15m (Lambda's limit)"
        ));
    }
    Ok(d)
}

/// Parses the gateway front's header-read timeout: 100 ms to 5 minutes.
pub fn parse_header_read_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(100) || d > Duration::from_secs(300) {
        return Err(format!(
            "`{s}`: the header-read timeout must be between 100ms and 5m"
        ));
    }
    Ok(d)
}

/// Parses a key-rotation window: a duration from 1 s to 10 minutes. An authorizer that caches
/// its JWKS for longer than 10 minutes without refetching on an unknown kid is what the case
/// is there to catch.
pub fn parse_rotation_window(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(600) {
        return Err(format!(
            "`{s}`: the rotation window must be between 1s and 10m"
        ));
    }
    Ok(d)
}

/// Parses `k=v`; `v` is JSON when it parses as JSON, a string otherwise.
pub fn parse_claim(s: &str) -> Result<(String, Value), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not K=V: write e.g. --claim role=admin or --claim n=3"))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(format!(
            "`{s}` has an empty claim name: write e.g. --claim role=admin"
        ));
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

/// Splits `us-east-1_abc` into region and suffix.
pub fn split_pool_id(pool_id: &str) -> Result<(String, String), String> {
    let (region, suffix) = pool_id
        .split_once('_')
        .filter(|(r, s)| !r.is_empty() && !s.is_empty())
        .ok_or_else(|| {
            format!("`{pool_id}` is not a user pool id: write REGION_ID, e.g. us-east-1_abc123")
        })?;
    Ok((region.to_string(), suffix.to_string()))
}
