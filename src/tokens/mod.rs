//! Tokens: the catalogue of good and bad kinds and the minter that makes each one.
//!
//! Every bad kind is a copy of the profile's good token changed in exactly one way, so an
//! authorizer that rejects it can only be rejecting it for that one reason.

pub mod catalogue;
pub mod dangerous;
pub mod jws;
pub mod keyless;
pub mod secrets;
pub mod source;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

pub use catalogue::{Expect, Family, Kind, Profile, Reason, Threat, TokenUse};

use crate::keys::{KeyRing, RsaAlg, SigningKey};

/// The static token of the `static` profile.
pub const STATIC_TOKEN: &str = "allow-token";

/// How the Authorization header carries the credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// `Bearer <token>`.
    Bearer,
    /// The token alone (the static profile).
    Bare,
    /// `bearer <token>`.
    LowercaseBearer,
    /// `Bearer  <token>` (two spaces).
    DoubleSpace,
    /// An empty header value.
    Empty,
    /// The token alone where clients send `Bearer <token>` (the `bare-token` kind).
    Unprefixed,
}

/// One minted token and the header value that carries it.
#[derive(Clone, Debug)]
pub struct Minted {
    /// The kind it was minted as.
    pub kind: Kind,
    /// The credential: a compact JWS, a broken one, or the static token.
    pub credential: String,
    /// How the header carries it.
    pub scheme: Scheme,
}

impl Minted {
    /// The Authorization header value (what a REST TOKEN authorizer receives).
    pub fn header_value(&self) -> String {
        match self.scheme {
            Scheme::Bearer => format!("Bearer {}", self.credential),
            Scheme::Bare => self.credential.clone(),
            Scheme::LowercaseBearer => format!("bearer {}", self.credential),
            Scheme::DoubleSpace => format!("Bearer  {}", self.credential),
            Scheme::Empty => String::new(),
            Scheme::Unprefixed => self.credential.clone(),
        }
    }
}

/// The claims and secrets a minter puts in tokens: what the authorizer under test expects.
#[derive(Clone, Debug)]
pub struct MintSettings {
    /// `iss` of every good token.
    pub issuer: String,
    /// `aud` of JWKS/HS256 tokens.
    pub audience: String,
    /// `sub` of every good token.
    pub subject: String,
    /// Cognito app client id (`client_id` of access tokens, `aud` of ID tokens).
    pub client_id: String,
    /// `scope` of Cognito access tokens (space separated).
    pub scope: String,
    /// Lifetime of good tokens.
    pub ttl: Duration,
    /// Clock-skew leeway the authorizer allows on `exp`/`nbf`.
    pub leeway: Duration,
    /// Shared secret of the `hs256` profile.
    pub secret: Vec<u8>,
    /// Which Cognito token the authorizer requires.
    pub token_use: TokenUse,
    /// Extra claims merged into every token (`--claim k=v`); they win over the defaults.
    pub extra: Map<String, Value>,
    /// Where the `jku-header` case points (an attacker JWKS the IdP serves and counts).
    pub jku_url: String,
    /// Where the `x5u-header` case points.
    pub x5u_url: String,
    /// Where URL-valued claims point (`iss-url`): the IdP's canary, which counts every fetch
    /// under the kind's name ([`crate::idp::Idp::canary_fetches`]).
    pub canary_url: String,
    /// Changes to the good token that every token is minted on, in order (calibration's
    /// token-shape baselines); empty: the profile's good token as it is.
    pub edits: Vec<ClaimEdit>,
}

/// One documented change to the claims of the profile's good token. A minter with edits mints
/// every kind on the edited token, so a bad kind is still bad in exactly one way relative to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimEdit {
    /// Adds the claim, with the value the profile would give it: `aud` the audience (the app
    /// client id on Cognito), `scope` the profile's scopes, `nbf` and `iat` the minting time.
    Add(&'static str),
    /// Removes the claim.
    Remove(&'static str),
    /// `aud` as a one-element array instead of a string.
    AudAsArray,
    /// The other Cognito token: an ID token where the profile mints access tokens, or the
    /// reverse.
    OtherTokenUse,
}

impl ClaimEdit {
    /// The claim it changes: two edits of one claim do not combine.
    pub fn claim(self) -> &'static str {
        match self {
            ClaimEdit::Add(name) | ClaimEdit::Remove(name) => name,
            ClaimEdit::AudAsArray => "aud",
            ClaimEdit::OtherTokenUse => "token_use",
        }
    }

    /// Applies the edit to `claims` of a token minted at `now`; false when it changes nothing
    /// (the claim is already there, already absent, already an array).
    fn apply(
        self,
        claims: &mut Map<String, Value>,
        s: &MintSettings,
        profile: Profile,
        now: i64,
    ) -> bool {
        match self {
            ClaimEdit::Add(name) if !claims.contains_key(name) => {
                let value = match name {
                    "aud" if profile == Profile::Cognito => json!(s.client_id),
                    "aud" => json!(s.audience),
                    "scope" => json!(s.scope),
                    _ => json!(now),
                };
                claims.insert(name.into(), value);
                true
            }
            ClaimEdit::Remove(name) => claims.remove(name).is_some(),
            ClaimEdit::AudAsArray => match claims.get("aud") {
                Some(Value::String(aud)) => {
                    let array = json!([aud]);
                    claims.insert("aud".into(), array);
                    true
                }
                _ => false,
            },
            // The Cognito shapes are chosen in `Minter::base`.
            ClaimEdit::OtherTokenUse => profile == Profile::Cognito,
            ClaimEdit::Add(_) => false,
        }
    }
}

impl Default for MintSettings {
    fn default() -> Self {
        MintSettings {
            issuer: "https://idp.authprobe.test".into(),
            audience: "authprobe-api".into(),
            subject: "user-1234".into(),
            client_id: "authprobeclient0001".into(),
            scope: "hello/read".into(),
            ttl: Duration::from_secs(300),
            leeway: Duration::from_secs(60),
            secret: b"authprobe-hs256-shared-secret-0123456789".to_vec(),
            token_use: TokenUse::Access,
            extra: Map::new(),
            jku_url: "https://idp.authprobe.test/.attacker/jwks.json".into(),
            x5u_url: "https://idp.authprobe.test/.attacker/cert.pem".into(),
            canary_url: "https://idp.authprobe.test/.canary".into(),
            edits: Vec::new(),
        }
    }
}

/// Why a kind could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The kind means nothing for this profile.
    #[error("token kind `{kind}` does not apply to the {profile} profile{}", match (profile, token_use) {
        (Profile::Cognito, TokenUse::Access) => " with access tokens required",
        (Profile::Cognito, TokenUse::Id) => " with ID tokens required",
        _ => "",
    })]
    NotApplicable {
        /// The kind.
        kind: Kind,
        /// The profile.
        profile: Profile,
        /// Which Cognito token is required.
        token_use: TokenUse,
    },
    /// The kind needs a key role the key folder does not have.
    #[error("token kind `{kind}` needs a {role} key and the key set has none")]
    MissingKey {
        /// The kind.
        kind: Kind,
        /// `second` or `weak`.
        role: &'static str,
    },
    /// A key the kind is signed with could not be made.
    #[error("token kind `{kind}` could not be signed")]
    Keys {
        /// The kind.
        kind: Kind,
        /// Why.
        #[source]
        source: crate::keys::KeyError,
    },
    /// An issuer too short to have a strict prefix.
    #[error("token kind `{kind}` needs an issuer of two characters or more")]
    ShortIssuer {
        /// The kind.
        kind: Kind,
    },
    /// A key-less run cannot make the kind: it needs the issuer's private key.
    #[error("not testable without the issuer's private key: {why}")]
    NeedsIssuerKey {
        /// The kind.
        kind: Kind,
        /// Why ([`keyless::NEEDS_ISSUER_KEY`]).
        why: &'static str,
    },
    /// A key-less run cannot derive the kind from this good token or this JWKS.
    #[error("cannot be derived from the real token: {why}")]
    NotDerivable {
        /// The kind.
        kind: Kind,
        /// Why.
        why: String,
    },
    /// `valid-within-leeway` with a leeway too small to be inside of.
    #[error("token kind `{kind}` needs a leeway of at least 2 s")]
    NoLeeway {
        /// The kind.
        kind: Kind,
    },
}

impl MintError {
    /// How to fix it.
    pub fn hint(&self) -> String {
        match self {
            MintError::NotApplicable {
                kind,
                profile,
                token_use,
            } if kind.expect(*profile, *token_use).is_none()
                && kind.expect(*profile, other_use(*token_use)).is_some() =>
            {
                format!("use --token-use {}", other_use(*token_use))
            }
            MintError::NotApplicable { kind, .. } => {
                let fits: Vec<&str> = [
                    Profile::Static,
                    Profile::Hs256,
                    Profile::Jwks,
                    Profile::Cognito,
                ]
                .into_iter()
                .filter(|p| {
                    kind.expect(*p, TokenUse::Access).is_some()
                        || kind.expect(*p, TokenUse::Id).is_some()
                })
                .map(Profile::name)
                .collect();
                format!("use --profile {}", fits.join(" or --profile "))
            }
            MintError::MissingKey { role: "weak", .. } => {
                "add one with `authprobe keys generate --add --bits 1024`".into()
            }
            MintError::MissingKey { .. } => "add one with `authprobe keys generate --add`".into(),
            MintError::NoLeeway { .. } => "pass a larger --leeway".into(),
            MintError::ShortIssuer { .. } => "pass the real issuer URL with --iss".into(),
            MintError::NeedsIssuerKey { .. } | MintError::NotDerivable { .. } => {
                "run against the mock IdP (the default) to test it, where authprobe holds the keys"
                    .into()
            }
            MintError::Keys { source, .. } => source.hint().unwrap_or_else(|| {
                "try again; key generation needs the system's random source".into()
            }),
        }
    }
}

fn other_use(token_use: TokenUse) -> TokenUse {
    match token_use {
        TokenUse::Access => TokenUse::Id,
        TokenUse::Id => TokenUse::Access,
    }
}

/// The URL-valued claims of `valid-url-claims`: OpenID Connect's `picture`, `profile` and
/// `website` (users set them at most IdPs) and an application's own `callback_url`.
pub const URL_CLAIMS: &[&str] = &["picture", "profile", "website", "callback_url"];

/// The `name` of `valid-markup-name`: HTML, a template expression of three syntaxes and both
/// quotes, as a user could write into their own profile at the IdP.
pub const MARKUP_NAME: &str = "<img src=x onerror=alert(1)>\"'${7*7}{{7*7}}#{7*7}";

/// The kid of `kid-command-injection`: run by a shell unquoted it sleeps 2 s (the command
/// substitution, then the command after `;`), double-quoted 1 s; `#` comments out whatever
/// the handler appends.
pub const KID_COMMAND_INJECTION: &str = "k$(sleep 1);sleep 1;#";

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn random_hex(bytes: usize) -> String {
    // The rand crate's thread generator, not aws-lc's: aws-lc seeds its generator with CPU
    // jitter entropy on first use (tens of milliseconds), which a run that signs nothing
    // with RSA (static, hs256) would pay for one claim.
    let mut buf = vec![0u8; bytes];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

enum Signing {
    Rsa(Arc<SigningKey>, RsaAlg),
    Hmac(Vec<u8>),
    Unsigned,
}

/// A token before it is encoded: header, claims and how to sign them.
struct Draft {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signing: Signing,
}

impl Draft {
    fn encode(&self) -> String {
        let header = Value::Object(self.header.clone());
        let claims = Value::Object(self.claims.clone());
        match &self.signing {
            Signing::Rsa(key, alg) => jws::sign_rsa(&header, &claims, key, *alg),
            Signing::Hmac(secret) => jws::sign_hs256(&header, &claims, secret),
            Signing::Unsigned => dangerous::unsigned(&header, &claims),
        }
    }

    fn set_alg(&mut self, alg: &str) {
        self.header.insert("alg".into(), json!(alg));
    }

    /// Moves `iat` with a changed `exp`, so the token keeps its lifetime; a token minted
    /// without `iat` (a calibrated baseline) stays without.
    fn keep_iat(&mut self, iat: i64) {
        if let Some(old) = self.claims.get_mut("iat") {
            *old = json!(iat);
        }
    }
}

/// A profile's plain good kind (`valid`, `cognito-access`, `hs256-valid`, …).
pub fn good_kind(profile: Profile, token_use: TokenUse) -> Kind {
    match (profile, token_use) {
        (Profile::Jwks, _) => Kind::Valid,
        (Profile::Cognito, TokenUse::Access) => Kind::CognitoAccess,
        (Profile::Cognito, TokenUse::Id) => Kind::CognitoId,
        (Profile::Hs256, _) => Kind::Hs256Valid,
        (Profile::Static, _) => Kind::AllowToken,
    }
}

/// Mints every kind of the catalogue for one profile.
#[derive(Clone, Debug)]
pub struct Minter {
    profile: Profile,
    keys: KeyRing,
    settings: MintSettings,
    /// A key-less run's real good token and issuer keys ([`keyless`]); `None`: every kind is
    /// signed with `keys`.
    external: Option<Arc<std::sync::RwLock<keyless::External>>>,
}

impl Minter {
    /// A minter for `profile`, signing with `keys`.
    pub fn new(profile: Profile, keys: KeyRing, settings: MintSettings) -> Self {
        Minter {
            profile,
            keys,
            settings,
            external: None,
        }
    }

    /// A key-less minter: good tokens are `external`'s real one, bad ones are derived from it
    /// ([`keyless`]); `keys` only sign as an attacker would (`jwk`, `jku`, key not in JWKS).
    pub fn keyless(
        profile: Profile,
        keys: KeyRing,
        settings: MintSettings,
        external: keyless::External,
    ) -> Self {
        Minter {
            external: Some(Arc::new(std::sync::RwLock::new(external))),
            ..Minter::new(profile, keys, settings)
        }
    }

    /// True for a key-less minter.
    pub fn is_keyless(&self) -> bool {
        self.external.is_some()
    }

    /// Replaces a key-less minter's real good token (after a refresh); other minters ignore it.
    pub fn replace_good_token(&self, good: keyless::RealToken) {
        if let Some(external) = &self.external {
            external.write().expect("lock").good = good;
        }
    }

    /// What a token of `kind` is, as this minter makes it.
    pub fn what(&self, kind: Kind) -> &'static str {
        if self.is_keyless() {
            keyless::what(kind)
        } else {
            kind.what()
        }
    }

    /// The profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The settings.
    pub fn settings(&self) -> &MintSettings {
        &self.settings
    }

    /// The keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Waits until the key `kind` is signed with exists, on a blocking thread: the keys the
    /// IdP does not publish are made in the background while the run goes on, and
    /// [`Minter::mint`] waiting for one on an async worker would stall the IdP, the
    /// in-process authorizer and the timers that share it.
    pub async fn key_ready(&self, kind: Kind) {
        let role = match kind {
            Kind::KeyNotInJwks => crate::keys::KeyRole::Outside,
            Kind::JwkEmbedded | Kind::JkuHeader | Kind::X5uHeader => crate::keys::KeyRole::Attacker,
            _ => return,
        };
        let ring = self.keys.clone();
        // A key that cannot be made is reported by `mint`, which asks again.
        let _ = tokio::task::spawn_blocking(move || ring.get(role)).await;
    }

    /// The same minter, minting every token on the good token changed by `edit` (after the
    /// edits it already has).
    pub fn with_edit(&self, edit: ClaimEdit) -> Minter {
        let mut edited = self.clone();
        edited.settings.edits.push(edit);
        edited
    }

    /// The same minter with `claims` set on every token (they replace the good token's own,
    /// as `--claim` does): an authorization matrix's principal.
    pub fn with_claims(&self, claims: &Map<String, Value>) -> Minter {
        let mut other = self.clone();
        for (k, v) in claims {
            other.settings.extra.insert(k.clone(), v.clone());
        }
        other
    }

    /// The same minter, signing HS256 tokens with `secret` instead of the profile's.
    pub fn with_secret(&self, secret: &[u8]) -> Minter {
        let mut other = self.clone();
        other.settings.secret = secret.to_vec();
        other
    }

    /// Whether `edit` changes this minter's good token (a static token has no claims, a
    /// key-less run's real token cannot be re-signed, `aud` cannot be removed from a token
    /// that has none).
    pub fn edit_changes_good_token(&self, edit: ClaimEdit) -> bool {
        // A key-less minter cannot re-sign the real token: it has no edits to offer.
        if self.profile == Profile::Static || self.is_keyless() {
            return false;
        }
        let now = unix_now();
        // The base of an RSA profile makes its signing key; without one there is no token.
        let Ok(draft) = self.base(now, self.settings.token_use, self.good_kind()) else {
            return false;
        };
        let mut claims = draft.claims;
        edit.apply(&mut claims, &self.settings, self.profile, now)
    }

    /// What a correct authorizer does with `kind` under this minter's profile, or `None`.
    pub fn expect(&self, kind: Kind) -> Option<Expect> {
        kind.expect(self.profile, self.settings.token_use)
    }

    /// The kinds that apply to this profile, in catalogue order.
    pub fn kinds(&self) -> Vec<Kind> {
        Kind::ALL
            .iter()
            .copied()
            .filter(|k| self.expect(*k).is_some())
            .collect()
    }

    /// The profile's plain good kind (`valid`, `cognito-access`, `hs256-valid`, …).
    pub fn good_kind(&self) -> Kind {
        good_kind(self.profile, self.settings.token_use)
    }

    /// Mints one token of `kind`, as of now.
    pub fn mint(&self, kind: Kind) -> Result<Minted, MintError> {
        self.mint_at(kind, unix_now())
    }

    /// The profile's good token, signed by `key` under its own kid (for rotation cases).
    pub fn mint_good_with(&self, key: Arc<SigningKey>) -> Result<Minted, MintError> {
        let now = unix_now();
        let mut draft = self.base(now, self.settings.token_use, Kind::Valid)?;
        draft.header.insert("kid".into(), json!(key.kid()));
        draft.signing = Signing::Rsa(key, RsaAlg::Rs256);
        Ok(self.finish(Kind::Valid, draft.encode(), Scheme::Bearer))
    }

    /// The `exp-string` kind with its string an hour in the past: allowed too, the string is
    /// never checked; refused, it is read as a number and expiry is enforced.
    pub fn mint_exp_string_expired(&self) -> Result<Minted, MintError> {
        let kind = Kind::ExpString;
        if self.is_keyless() || self.expect(kind).is_none() {
            return Err(MintError::NotApplicable {
                kind,
                profile: self.profile,
                token_use: self.settings.token_use,
            });
        }
        let now = unix_now();
        let mut d = self.base(now, self.settings.token_use, kind)?;
        d.claims
            .insert("exp".into(), json!((now - 3600).to_string()));
        d.keep_iat(now - 3600 - self.settings.ttl.as_secs() as i64);
        Ok(self.finish(kind, d.encode(), Scheme::Bearer))
    }

    fn finish(&self, kind: Kind, credential: String, scheme: Scheme) -> Minted {
        Minted {
            kind,
            credential,
            scheme,
        }
    }

    /// Mints one token of `kind` as if the clock read `now` (Unix seconds).
    pub fn mint_at(&self, kind: Kind, now: i64) -> Result<Minted, MintError> {
        if self.expect(kind).is_none() {
            return Err(MintError::NotApplicable {
                kind,
                profile: self.profile,
                token_use: self.settings.token_use,
            });
        }
        if let Some(external) = &self.external {
            let external = external.read().expect("lock").clone();
            return self.mint_keyless(&external, kind);
        }
        use Kind::*;
        let s = &self.settings;
        let ok = |credential: String| Ok(self.finish(kind, credential, Scheme::Bearer));
        match kind {
            AllowToken => return Ok(self.finish(kind, STATIC_TOKEN.into(), Scheme::Bare)),
            WrongStaticToken => return Ok(self.finish(kind, "deny-token".into(), Scheme::Bare)),
            EmptyHeader => return Ok(self.finish(kind, String::new(), Scheme::Empty)),
            ManyDots => return ok(dangerous::many_dots(5000)),
            _ => {}
        }

        let mut d = self.base(now, s.token_use, kind)?;
        let ttl = s.ttl.as_secs() as i64;
        let leeway = s.leeway.as_secs() as i64;
        let keys_err = |source| MintError::Keys { kind, source };
        let primary = || self.keys.primary().map_err(keys_err);
        match kind {
            Valid | CognitoAccess | CognitoId | Hs256Valid => {}
            ValidAudArray => {
                d.claims
                    .insert("aud".into(), json!([s.audience, "another-api"]));
            }
            ValidWithinLeeway => {
                if leeway < 2 {
                    return Err(MintError::NoLeeway { kind });
                }
                d.claims.insert("exp".into(), json!(now - leeway / 2));
                d.keep_iat(now - leeway / 2 - ttl);
            }
            BearerLowercase => return Ok(self.finish(kind, d.encode(), Scheme::LowercaseBearer)),
            ValidMarkupName => {
                d.claims.insert("name".into(), json!(MARKUP_NAME));
            }
            BearerDoubleSpace => return Ok(self.finish(kind, d.encode(), Scheme::DoubleSpace)),
            BareToken => return Ok(self.finish(kind, d.encode(), Scheme::Unprefixed)),

            Expired => {
                d.claims.insert("exp".into(), json!(now - 3600));
                d.keep_iat(now - 3600 - ttl);
            }
            ExpiredBeyondLeeway => {
                d.claims.insert("exp".into(), json!(now - leeway - 1));
                d.keep_iat(now - leeway - 1 - ttl);
            }
            NotYetValid => {
                d.claims.insert("nbf".into(), json!(now + 3600));
            }
            IatFuture => {
                d.claims.insert("iat".into(), json!(now + 3600));
            }
            ExpMissing => {
                d.claims.remove("exp");
            }
            ExpString => {
                d.claims
                    .insert("exp".into(), json!((now + ttl).to_string()));
            }

            KidMissing => {
                d.header.remove("kid");
            }
            KidUnknown => {
                d.header
                    .insert("kid".into(), json!(format!("unknown-{}", random_hex(8))));
            }
            KidPathTraversal => {
                d.header.insert("kid".into(), json!("../../dev/null"));
            }
            KidSqlInjection => {
                d.header
                    .insert("kid".into(), json!("x' UNION SELECT '1';--"));
            }
            KidCommandInjection => {
                d.header.insert("kid".into(), json!(KID_COMMAND_INJECTION));
            }
            KidWrong => {
                let other =
                    self.keys
                        .secondary()
                        .map_err(keys_err)?
                        .ok_or(MintError::MissingKey {
                            kind,
                            role: "second published",
                        })?;
                d.header.insert("kid".into(), json!(other.kid()));
            }
            KeyNotInJwks => {
                d.signing = Signing::Rsa(self.keys.outside().map_err(keys_err)?, RsaAlg::Rs256)
            }
            WeakKey => {
                let weak = self
                    .keys
                    .weak()
                    .map_err(keys_err)?
                    .ok_or(MintError::MissingKey { kind, role: "weak" })?;
                d.header.insert("kid".into(), json!(weak.kid()));
                d.signing = Signing::Rsa(weak, RsaAlg::Rs256);
            }
            JwkEmbedded | JkuHeader | X5uHeader => {
                let attacker = self.keys.attacker().map_err(keys_err)?;
                d.header.insert("kid".into(), json!(attacker.kid()));
                let (name, value) = match kind {
                    JwkEmbedded => (
                        "jwk",
                        serde_json::to_value(attacker.public_jwk()).expect("JWK"),
                    ),
                    JkuHeader => ("jku", json!(s.jku_url)),
                    _ => ("x5u", json!(s.x5u_url)),
                };
                d.header.insert(name.into(), value);
                d.signing = Signing::Rsa(attacker, RsaAlg::Rs256);
            }

            AlgNone | AlgNoneCapitalized | AlgNoneUpper | AlgNoneMixed => {
                d.set_alg(match kind {
                    AlgNone => "none",
                    AlgNoneCapitalized => "None",
                    AlgNoneUpper => "NONE",
                    _ => "nOnE",
                });
                d.signing = Signing::Unsigned;
            }
            KeyConfusion => {
                d.set_alg("HS256");
                d.signing = Signing::Hmac(primary()?.public_key_pem().into_bytes());
            }
            Hs256EmptySecret => {
                d.set_alg("HS256");
                d.signing = Signing::Hmac(Vec::new());
            }
            Rs384 | Rs512 | Ps256 => {
                let (name, alg) = match kind {
                    Rs384 => ("RS384", RsaAlg::Rs384),
                    Rs512 => ("RS512", RsaAlg::Rs512),
                    _ => ("PS256", RsaAlg::Ps256),
                };
                d.set_alg(name);
                d.signing = Signing::Rsa(primary()?, alg);
            }

            SigStripped => return ok(dangerous::strip_signature(&d.encode())),
            SigTruncated => return ok(dangerous::truncate_signature(&d.encode(), 4)),
            SigBitFlipped => return ok(dangerous::flip_signature_bit(&d.encode())),
            PayloadTampered => {
                let token = d.encode();
                d.claims.insert("sub".into(), json!("admin"));
                return ok(dangerous::replace_payload(&token, &Value::Object(d.claims)));
            }

            AudWrong => {
                d.claims.insert("aud".into(), json!("another-api"));
            }
            AudMissing => {
                d.claims.remove("aud");
            }
            AudEmptyArray => {
                d.claims.insert("aud".into(), json!([]));
            }
            IssWrong => {
                d.claims
                    .insert("iss".into(), json!("https://attacker.authprobe.test"));
            }
            IssMissing => {
                d.claims.remove("iss");
            }
            ClaimType(i) => {
                let c = &catalogue::CLAIM_TYPES[i as usize];
                let value: Value = serde_json::from_str(c.value).expect("CLAIM_TYPES holds JSON");
                d.claims.insert(c.claim.into(), value);
            }
            IssUrl => {
                d.claims.insert(
                    "iss".into(),
                    json!(format!("{}/{}/iss", s.canary_url, kind.name())),
                );
            }
            ValidUrlClaims => {
                for claim in URL_CLAIMS {
                    let url = format!("{}/{}/{claim}", s.canary_url, kind.name());
                    d.claims.insert((*claim).into(), json!(url));
                }
            }
            IssTrailingSlash => {
                let iss = match s.issuer.strip_suffix('/') {
                    Some(bare) => bare.to_string(),
                    None => format!("{}/", s.issuer),
                };
                d.claims.insert("iss".into(), json!(iss));
            }
            IssPrefix => {
                // The issuer without its last character (and any trailing slash): a strict
                // prefix, which a substring or prefix match would let through.
                let trimmed = s.issuer.trim_end_matches('/');
                let prefix = match trimmed.char_indices().last() {
                    Some((at, _)) if at > 0 => &trimmed[..at],
                    _ => return Err(MintError::ShortIssuer { kind }),
                };
                d.claims.insert("iss".into(), json!(prefix));
            }
            SubMissing => {
                d.claims.remove("sub");
            }
            TokenUseSwapped => d = self.base(now, other_use(s.token_use), kind)?,
            ClientIdWrong => {
                d.claims
                    .insert("client_id".into(), json!("anotherclient0002"));
            }
            CritUnknown => {
                d.header
                    .insert("crit".into(), json!(["urn:authprobe:unknown"]));
                d.header.insert("urn:authprobe:unknown".into(), json!(true));
            }

            TwoParts => return ok(dangerous::two_parts(&d.encode())),
            FourParts => return ok(dangerous::four_parts(&d.encode())),
            Base64Padding => return ok(dangerous::pad_base64(&d.encode())),
            Base64Standard => {
                // The change only shows where the token has `-` or `_`; a fresh jti makes
                // a new signature, so a few tries always find one.
                let mut token = d.encode();
                while !token.contains(['-', '_']) {
                    d.claims.insert("jti".into(), json!(random_hex(16)));
                    token = d.encode();
                }
                return ok(dangerous::standard_alphabet(&token));
            }
            WhitespaceInside => return ok(dangerous::whitespace_inside(&d.encode())),
            Oversized => {
                const TARGET: usize = 1 << 20;
                let len = d.encode().len();
                let pad = (TARGET.saturating_sub(len + 16)) * 3 / 4;
                d.claims.insert("pad".into(), json!("A".repeat(pad)));
            }
            AllowToken | WrongStaticToken | EmptyHeader | ManyDots => unreachable!("handled above"),
        }
        ok(d.encode())
    }

    /// The profile's good token as a draft for `kind`, with the minter's edits; `token_use`
    /// picks the Cognito shape (the other one under [`ClaimEdit::OtherTokenUse`]).
    fn base(&self, now: i64, token_use: TokenUse, kind: Kind) -> Result<Draft, MintError> {
        let s = &self.settings;
        let token_use = if s.edits.contains(&ClaimEdit::OtherTokenUse) {
            other_use(token_use)
        } else {
            token_use
        };
        let exp = now + s.ttl.as_secs() as i64;
        let mut claims = Map::new();
        let mut put = |k: &str, v: Value| {
            claims.insert(k.to_string(), v);
        };
        put("iss", json!(s.issuer));
        put("sub", json!(s.subject));
        put("iat", json!(now));
        put("exp", json!(exp));
        put("jti", json!(random_hex(16)));
        match (self.profile, token_use) {
            (Profile::Cognito, TokenUse::Access) => {
                put("client_id", json!(s.client_id));
                put("token_use", json!("access"));
                put("scope", json!(s.scope));
                put("auth_time", json!(now));
                // Not the sub, as for most real pools: an authorizer that takes the principal
                // from `username` is told apart from one that takes `sub`.
                put("username", json!(username_of(&s.subject)));
            }
            (Profile::Cognito, TokenUse::Id) => {
                put("aud", json!(s.client_id));
                put("token_use", json!("id"));
                put("auth_time", json!(now));
                put("cognito:username", json!(username_of(&s.subject)));
            }
            _ => put("aud", json!(s.audience)),
        }
        for (k, v) in &s.extra {
            claims.insert(k.clone(), v.clone());
        }
        for edit in &s.edits {
            edit.apply(&mut claims, s, self.profile, now);
        }
        let mut header = Map::new();
        header.insert("typ".into(), json!("JWT"));
        let signing = if self.profile == Profile::Hs256 {
            header.insert("alg".into(), json!("HS256"));
            Signing::Hmac(s.secret.clone())
        } else {
            header.insert("alg".into(), json!("RS256"));
            let primary = self
                .keys
                .primary()
                .map_err(|source| MintError::Keys { kind, source })?;
            header.insert("kid".into(), json!(primary.kid()));
            Signing::Rsa(primary, RsaAlg::Rs256)
        };
        Ok(Draft {
            header,
            claims,
            signing,
        })
    }
}

/// The Cognito user name of the user whose `sub` is `subject`: another string, as in pools
/// where users sign in with a name of their own.
pub fn username_of(subject: &str) -> String {
    format!("name-of-{subject}")
}
