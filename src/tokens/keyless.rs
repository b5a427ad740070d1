//! The key-less catalogue: bad tokens derived from a real good token and the issuer's public
//! JWKS, for an authorizer that trusts an IdP whose private key authprobe does not have (a
//! deployed stage behind Cognito, Auth0 or Okta).
//!
//! A kind is derived when breaking the real token needs no issuer key: a changed header or
//! payload under the issuer's own signature, a stripped or damaged signature, `alg: none`,
//! HS256 keyed with the issuer's public key, a token signed by authprobe's attacker key, every
//! format kind. A kind whose point is a *correctly signed* token with other claims needs the
//! issuer's key: [`NEEDS_ISSUER_KEY`] lists those, each with why, and a run reports them as
//! not testable this way instead of passing them.

use serde_json::{Map, Value, json};

use super::{Kind, MintError, Minted, Minter, Scheme, dangerous, jws};
use crate::keys::RsaAlg;

/// The kinds that need the issuer's private key, each with the reason.
pub const NEEDS_ISSUER_KEY: &[(Kind, &str)] = &[
    (
        Kind::ValidAudArray,
        "a good token with aud as an array must be signed by the issuer",
    ),
    (
        Kind::ValidWithinLeeway,
        "a good token whose exp has just passed must be signed by the issuer",
    ),
    (
        Kind::Expired,
        "an expired token must be correctly signed to test the exp check; give one with --expired-token-file",
    ),
    (
        Kind::ExpiredBeyondLeeway,
        "a token expired by the leeway and 1 s must be correctly signed by the issuer",
    ),
    (
        Kind::NotYetValid,
        "an nbf in the future must be under the issuer's signature to test the nbf check",
    ),
    (
        Kind::IatFuture,
        "an iat in the future must be under the issuer's signature to test the iat check",
    ),
    (
        Kind::ExpMissing,
        "a token without exp must be correctly signed to test that exp is required",
    ),
    (
        Kind::ExpString,
        "an exp of the wrong type must be correctly signed to test the type check",
    ),
    (
        Kind::WeakKey,
        "only the issuer can publish a weak key in its JWKS",
    ),
    (
        Kind::AudWrong,
        "a wrong aud must be under the issuer's signature to test the aud check (tampering under the old signature is payload-tampered)",
    ),
    (
        Kind::AudMissing,
        "a missing aud must be under the issuer's signature to test that aud is required",
    ),
    (
        Kind::AudEmptyArray,
        "an empty aud must be under the issuer's signature to test the aud check",
    ),
    (
        Kind::IssWrong,
        "a wrong iss must be under the issuer's signature to test the iss check",
    ),
    (
        Kind::IssUrl,
        "an iss naming a URL must be under the issuer's signature to reach the code that might fetch it",
    ),
    (
        Kind::IssMissing,
        "a missing iss must be under the issuer's signature to test that iss is required",
    ),
    (
        Kind::IssTrailingSlash,
        "an iss with a trailing slash must be under the issuer's signature to test exact matching",
    ),
    (
        Kind::IssPrefix,
        "an iss prefix must be under the issuer's signature to test exact matching",
    ),
    (
        Kind::SubMissing,
        "a token without sub must be correctly signed to test that sub is required",
    ),
    (
        Kind::TokenUseSwapped,
        "the other Cognito token must come from the issuer (pass it as the good token of a second run)",
    ),
    (
        Kind::ClientIdWrong,
        "an access token of another app client must come from the issuer (fetch one with that client's credentials)",
    ),
    (
        Kind::CritUnknown,
        "a crit header must be under the issuer's signature to test the crit check",
    ),
    (Kind::Hs256Valid, "an HS256 token needs the shared secret"),
];

/// How a derived kind differs from the catalogue's wording, when it does: these keep the
/// issuer's signature over a changed header or payload instead of signing anew.
pub const DERIVED_AS: &[(Kind, &str)] = &[
    (
        Kind::Rs384,
        "alg `RS384` in the header, the issuer's RS256 signature kept",
    ),
    (
        Kind::Rs512,
        "alg `RS512` in the header, the issuer's RS256 signature kept",
    ),
    (
        Kind::Ps256,
        "alg `PS256` in the header, the issuer's RS256 signature kept",
    ),
    (
        Kind::KidMissing,
        "no kid in the header, the issuer's signature kept",
    ),
    (
        Kind::KidUnknown,
        "a kid the issuer's JWKS does not hold, the issuer's signature kept",
    ),
    (
        Kind::KidPathTraversal,
        "kid `../../dev/null`, the issuer's signature kept",
    ),
    (
        Kind::KidSqlInjection,
        "kid `x' UNION SELECT '1';--`, the issuer's signature kept",
    ),
    (
        Kind::KidCommandInjection,
        "kid `k$(sleep 1);sleep 1;#`, the issuer's signature kept",
    ),
    (
        Kind::KidWrong,
        "the header names another key of the issuer's JWKS, the signature kept",
    ),
    (
        Kind::KeyConfusion,
        "HS256 keyed with the issuer's public key PEM (from its JWKS)",
    ),
    (
        Kind::Oversized,
        "a 1 MB token: the real one padded, the issuer's signature kept",
    ),
];

/// Stateful cases that need the issuer (its key or its JWKS endpoint), each with the reason.
pub const STATEFUL_NEEDS_ISSUER: &[(&str, &str)] = &[
    (
        "key-rotation",
        "only the issuer can publish a new key and sign with it",
    ),
    (
        "key-retired",
        "only the issuer can sign with a key and then remove it from its JWKS",
    ),
    (
        "unknown-kid-flood",
        "the JWKS fetches happen at the real IdP, where authprobe cannot count them",
    ),
    (
        "jwks-unreachable",
        "the fault must be served by the real IdP's JWKS endpoint",
    ),
    (
        "jwks-slow",
        "the fault must be served by the real IdP's JWKS endpoint",
    ),
    (
        "jwks-malformed",
        "the fault must be served by the real IdP's JWKS endpoint",
    ),
];

/// Why `kind` cannot be derived without the issuer's key; `None` when it can.
pub fn needs_issuer_key(kind: Kind) -> Option<&'static str> {
    if matches!(kind, Kind::ValidMarkupName | Kind::ValidUrlClaims) {
        return Some("a claim added to the good token must be under the issuer's signature");
    }
    if let Kind::ClaimType(_) = kind {
        return Some(
            "a claim of the wrong JSON type must be under the issuer's signature to test the type check",
        );
    }
    NEEDS_ISSUER_KEY
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, why)| *why)
}

/// Why the stateful case `name` cannot run against a real IdP; `None` when it can.
pub fn stateful_needs_issuer(name: &str) -> Option<&'static str> {
    STATEFUL_NEEDS_ISSUER
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// What a derived `kind` is, in the key-less run's words.
pub fn what(kind: Kind) -> &'static str {
    DERIVED_AS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(kind.what(), |(_, how)| *how)
}

/// Why a token cannot be the good token of a key-less run.
#[derive(Debug, thiserror::Error)]
pub enum RealTokenError {
    /// Not `header.payload.signature`.
    #[error("the good token is not a compact JWS (three base64url parts): {why}")]
    NotJws {
        /// What is wrong.
        why: String,
    },
    /// The issuer's JWKS has no RSA key.
    #[error("the issuer's JWKS holds no RSA key")]
    NoKey,
}

/// A real token, taken apart: its header and claims, and its parts as they came.
#[derive(Clone, Debug)]
pub struct RealToken {
    compact: String,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl RealToken {
    /// Parses a compact JWS whose header and payload are JSON objects.
    pub fn parse(token: &str) -> Result<RealToken, RealTokenError> {
        use base64::Engine as _;
        let token = token.trim();
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token);
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, s] = parts[..] else {
            return Err(RealTokenError::NotJws {
                why: format!("{} part(s)", parts.len()),
            });
        };
        let object = |part: &str, name: &str| -> Result<Map<String, Value>, RealTokenError> {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|e| RealTokenError::NotJws {
                    why: format!("the {name} is not base64url: {e}"),
                })?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(RealTokenError::NotJws {
                    why: format!("the {name} is not a JSON object"),
                }),
            }
        };
        if s.is_empty() {
            return Err(RealTokenError::NotJws {
                why: "it has no signature".into(),
            });
        }
        Ok(RealToken {
            compact: token.to_string(),
            header: object(h, "header")?,
            claims: object(p, "payload")?,
        })
    }

    /// The token as it came.
    pub fn compact(&self) -> &str {
        &self.compact
    }

    /// Its claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// A string claim.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// Its `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The header changed by `change`, over the original payload and signature.
    fn with_header(&self, change: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut header = self.header.clone();
        change(&mut header);
        let (_, rest) = self.compact.split_once('.').expect("three parts");
        format!("{}.{rest}", jws::encode_part(&Value::Object(header)))
    }
}

/// The issuer's public keys, as its JWKS publishes them: kid and SPKI PEM.
#[derive(Clone, Debug)]
pub struct IssuerKeys {
    keys: Vec<(Option<String>, String)>,
}

impl IssuerKeys {
    /// Reads the RSA keys of a JWKS document; other key types are left out.
    pub fn from_jwks(doc: &Value) -> Result<IssuerKeys, RealTokenError> {
        use base64::Engine as _;
        let b64 = |v: Option<&Value>| {
            v.and_then(Value::as_str).and_then(|s| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(s.trim_end_matches('='))
                    .ok()
            })
        };
        let keys: Vec<_> = doc
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))
            .filter_map(|k| {
                let pem = crate::keys::public_key_pem(&b64(k.get("n"))?, &b64(k.get("e"))?)?;
                let kid = k.get("kid").and_then(Value::as_str).map(str::to_string);
                Some((kid, pem))
            })
            .collect();
        if keys.is_empty() {
            return Err(RealTokenError::NoKey);
        }
        Ok(IssuerKeys { keys })
    }

    /// The PEM of the key named `kid`, else the first key.
    fn pem_for(&self, kid: Option<&str>) -> &str {
        self.keys
            .iter()
            .find(|(k, _)| k.as_deref() == kid && kid.is_some())
            .unwrap_or(&self.keys[0])
            .1
            .as_str()
    }

    /// A published kid other than `kid`.
    fn other_kid(&self, kid: Option<&str>) -> Option<&str> {
        self.keys
            .iter()
            .filter_map(|(k, _)| k.as_deref())
            .find(|k| Some(*k) != kid)
    }
}

/// What a key-less run mints from: the real good token, the issuer's public keys, and a
/// correctly signed expired token if the user has one.
#[derive(Clone, Debug)]
pub struct External {
    /// The real good token.
    pub good: RealToken,
    /// A correctly signed expired token (`--expired-token-file`).
    pub expired: Option<RealToken>,
    /// The issuer's public keys.
    pub issuer: IssuerKeys,
}

impl Minter {
    /// Derives `kind` from the real good token (see the module docs).
    pub(super) fn mint_keyless(&self, ext: &External, kind: Kind) -> Result<Minted, MintError> {
        use Kind::*;
        let good = &ext.good;
        let with = |scheme: Scheme, credential: String| {
            Ok(Minted {
                kind,
                credential,
                scheme,
            })
        };
        let ok = |credential: String| with(Scheme::Bearer, credential);
        if kind == Expired
            && let Some(expired) = &ext.expired
        {
            return ok(expired.compact.clone());
        }
        if let Some(why) = needs_issuer_key(kind) {
            return Err(MintError::NeedsIssuerKey { kind, why });
        }
        let claims = Value::Object(good.claims.clone());
        let header_with = |change: &dyn Fn(&mut Map<String, Value>)| {
            let mut h = good.header.clone();
            change(&mut h);
            Value::Object(h)
        };
        let compact = good.compact.clone();
        match kind {
            Valid | CognitoAccess | CognitoId => ok(compact),
            BearerLowercase => with(Scheme::LowercaseBearer, compact),
            BearerDoubleSpace => with(Scheme::DoubleSpace, compact),
            BareToken => with(Scheme::Unprefixed, compact),
            EmptyHeader => with(Scheme::Empty, String::new()),
            AllowToken => with(Scheme::Bare, super::STATIC_TOKEN.into()),
            WrongStaticToken => with(Scheme::Bare, "deny-token".into()),
            ManyDots => ok(dangerous::many_dots(5000)),
            AlgNone | AlgNoneCapitalized | AlgNoneUpper | AlgNoneMixed => {
                let alg = match kind {
                    AlgNone => "none",
                    AlgNoneCapitalized => "None",
                    AlgNoneUpper => "NONE",
                    _ => "nOnE",
                };
                let header = header_with(&|h| {
                    h.insert("alg".into(), json!(alg));
                });
                ok(dangerous::unsigned(&header, &claims))
            }
            KeyConfusion => {
                let pem = ext.issuer.pem_for(good.kid());
                let header = header_with(&|h| {
                    h.insert("alg".into(), json!("HS256"));
                });
                ok(jws::sign_hs256(&header, &claims, pem.as_bytes()))
            }
            Hs256EmptySecret => {
                let header = header_with(&|h| {
                    h.insert("alg".into(), json!("HS256"));
                });
                ok(jws::sign_hs256(&header, &claims, &[]))
            }
            Rs384 | Rs512 | Ps256 => {
                let alg = match kind {
                    Rs384 => "RS384",
                    Rs512 => "RS512",
                    _ => "PS256",
                };
                ok(good.with_header(|h| {
                    h.insert("alg".into(), json!(alg));
                }))
            }
            SigStripped => ok(dangerous::strip_signature(&compact)),
            SigTruncated => ok(dangerous::truncate_signature(&compact, 4)),
            SigBitFlipped => ok(dangerous::flip_signature_bit(&compact)),
            PayloadTampered => {
                let mut changed = good.claims.clone();
                changed.insert("sub".into(), json!("admin"));
                ok(dangerous::replace_payload(
                    &compact,
                    &Value::Object(changed),
                ))
            }
            KidMissing => ok(good.with_header(|h| {
                h.remove("kid");
            })),
            KidUnknown => ok(good.with_header(|h| {
                h.insert(
                    "kid".into(),
                    json!(format!("unknown-{}", super::random_hex(8))),
                );
            })),
            KidPathTraversal => ok(good.with_header(|h| {
                h.insert("kid".into(), json!("../../dev/null"));
            })),
            KidSqlInjection => ok(good.with_header(|h| {
                h.insert("kid".into(), json!("x' UNION SELECT '1';--"));
            })),
            KidCommandInjection => ok(good.with_header(|h| {
                h.insert("kid".into(), json!(super::KID_COMMAND_INJECTION));
            })),
            KidWrong => match ext.issuer.other_kid(good.kid()) {
                Some(other) => ok(good.with_header(|h| {
                    h.insert("kid".into(), json!(other));
                })),
                None => Err(MintError::NotDerivable {
                    kind,
                    why: "the issuer's JWKS publishes one key: there is no other kid to name"
                        .into(),
                }),
            },
            KeyNotInJwks => {
                let header = header_with(&|h| {
                    h.insert("alg".into(), json!("RS256"));
                });
                let outside = self
                    .keys
                    .outside()
                    .map_err(|source| MintError::Keys { kind, source })?;
                ok(jws::sign_rsa(&header, &claims, &outside, RsaAlg::Rs256))
            }
            JwkEmbedded | JkuHeader | X5uHeader => {
                let attacker = self
                    .keys
                    .attacker()
                    .map_err(|source| MintError::Keys { kind, source })?;
                let (name, value) = match kind {
                    JwkEmbedded => (
                        "jwk",
                        serde_json::to_value(attacker.public_jwk()).expect("JWK"),
                    ),
                    JkuHeader => ("jku", json!(self.settings.jku_url)),
                    _ => ("x5u", json!(self.settings.x5u_url)),
                };
                let header = header_with(&|h| {
                    h.insert("alg".into(), json!("RS256"));
                    h.insert("kid".into(), json!(attacker.kid()));
                    h.insert(name.into(), value.clone());
                });
                ok(jws::sign_rsa(&header, &claims, &attacker, RsaAlg::Rs256))
            }
            TwoParts => ok(dangerous::two_parts(&compact)),
            FourParts => ok(dangerous::four_parts(&compact)),
            Base64Padding => ok(dangerous::pad_base64(&compact)),
            Base64Standard if compact.contains(['-', '_']) => {
                ok(dangerous::standard_alphabet(&compact))
            }
            Base64Standard => Err(MintError::NotDerivable {
                kind,
                why:
                    "the token has no `-` or `_`, so in the standard alphabet it is the same token"
                        .into(),
            }),
            WhitespaceInside => ok(dangerous::whitespace_inside(&compact)),
            Oversized => {
                const TARGET: usize = 1 << 20;
                let mut padded = good.claims.clone();
                let pad = TARGET.saturating_sub(compact.len() + 16) * 3 / 4;
                padded.insert("pad".into(), json!("A".repeat(pad)));
                ok(dangerous::replace_payload(&compact, &Value::Object(padded)))
            }
            _ => unreachable!("{kind} is in NEEDS_ISSUER_KEY"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_derived_or_says_why_it_needs_the_issuer_key() {
        for kind in Kind::ALL {
            if let Some(why) = needs_issuer_key(*kind) {
                assert!(why.len() > 20, "{kind}: {why}");
                assert!(
                    DERIVED_AS.iter().all(|(k, _)| k != kind),
                    "{kind} is both derived and not"
                );
            }
        }
    }

    #[test]
    fn a_real_token_is_taken_apart_and_refused_when_it_is_no_jws() {
        let t = RealToken::parse("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln").unwrap();
        assert_eq!(t.claim("sub"), Some("x"));
        assert_eq!(t.compact(), "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln");
        assert!(RealToken::parse("not-a-token").is_err());
        assert!(RealToken::parse("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.").is_err());
    }
}
