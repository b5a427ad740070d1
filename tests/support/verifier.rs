//! An independent token verifier for the tests: it shares no code with the minter. It fetches
//! the JWKS over HTTP, verifies signatures with jsonwebtoken, checks claims by hand, and says
//! why it rejects a token in the catalogue's own terms, so a test can tell "rejected because
//! expired" from "rejected because the signature is bad".

use std::collections::HashMap;

use authprobe::tokens::{Profile, Reason, TokenUse};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// What the verifier expects of a token.
#[derive(Clone, Debug)]
pub struct Expected {
    pub profile: Profile,
    pub issuer: String,
    pub audience: String,
    pub client_id: String,
    pub token_use: TokenUse,
    pub secret: Vec<u8>,
    pub leeway: i64,
}

pub struct Verifier {
    expected: Expected,
    keys: HashMap<String, (DecodingKey, usize)>,
}

const MAX_TOKEN: usize = 10 * 1024;

impl Verifier {
    /// Fetches the JWKS at `jwks_url` (when there is one) over HTTP.
    pub async fn fetch(expected: Expected, jwks_url: Option<&str>) -> Verifier {
        let mut keys = HashMap::new();
        if let Some(url) = jwks_url {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let set: JwkSet = client.get(url).send().await.unwrap().json().await.unwrap();
            for jwk in &set.keys {
                let kid = jwk.common.key_id.clone().expect("published keys have kids");
                let bits = match &jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) => {
                        URL_SAFE_NO_PAD.decode(&rsa.n).unwrap().len() * 8
                    }
                    _ => 0,
                };
                keys.insert(kid, (DecodingKey::from_jwk(jwk).unwrap(), bits));
            }
        }
        Verifier { expected, keys }
    }

    /// Ok with the claims, or the reason for rejecting.
    pub fn verify(&self, header_value: &str) -> Result<Value, Reason> {
        if header_value.is_empty() {
            return Err(Reason::MissingToken);
        }
        if self.expected.profile == Profile::Static {
            return if header_value == "allow-token" {
                Ok(Value::Null)
            } else {
                Err(Reason::WrongStaticToken)
            };
        }
        let (scheme, token) = header_value.split_once(' ').ok_or(Reason::BadScheme)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.starts_with(char::is_whitespace) {
            return Err(Reason::BadScheme);
        }
        if token.len() > MAX_TOKEN {
            return Err(Reason::Oversized);
        }
        let parts: Vec<&str> = token.split('.').collect();
        let b64url = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if parts.len() != 3
            || parts[0].is_empty()
            || parts[1].is_empty()
            || !parts.iter().all(|p| b64url(p))
        {
            return Err(Reason::Malformed);
        }
        let header: Value = URL_SAFE_NO_PAD
            .decode(parts[0])
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(Value::is_object)
            .ok_or(Reason::Malformed)?;
        let (alg, want) = match self.expected.profile {
            Profile::Hs256 => (Algorithm::HS256, "HS256"),
            _ => (Algorithm::RS256, "RS256"),
        };
        if header["alg"] != want {
            return Err(Reason::AlgNotAllowed);
        }
        if header.get("crit").is_some() {
            return Err(Reason::UnknownCrit);
        }
        if ["jwk", "jku", "x5u", "x5c"]
            .iter()
            .any(|h| header.get(*h).is_some())
        {
            return Err(Reason::UntrustedKeyHeader);
        }
        let key = match alg {
            Algorithm::HS256 => DecodingKey::from_secret(&self.expected.secret),
            _ => {
                let kid = header["kid"].as_str().ok_or(Reason::KidMissing)?;
                let (key, bits) = self.keys.get(kid).ok_or(Reason::KidUnknown)?;
                if *bits < 2048 {
                    return Err(Reason::WeakKey);
                }
                key.clone()
            }
        };
        // Signature only: every claim is checked by hand below.
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::Json(_) => Reason::ClaimType,
                _ => Reason::BadSignature,
            })?
            .claims;
        self.check_claims(&claims)?;
        Ok(claims)
    }

    fn check_claims(&self, c: &Value) -> Result<(), Reason> {
        let e = &self.expected;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let number = |name: &str, required: bool| -> Result<Option<i64>, Reason> {
            match c.get(name) {
                None if required => Err(Reason::MissingClaim),
                None => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or(Reason::ClaimType),
            }
        };
        if number("exp", true)?.unwrap() + e.leeway < now {
            return Err(Reason::Expired);
        }
        if number("nbf", false)?.is_some_and(|nbf| nbf - e.leeway > now) {
            return Err(Reason::NotYetValid);
        }
        if number("iat", false)?.is_some_and(|iat| iat - e.leeway > now) {
            return Err(Reason::IssuedInFuture);
        }
        match c.get("iss") {
            None => return Err(Reason::MissingClaim),
            Some(Value::String(iss)) if iss != e.issuer.as_str() => {
                return Err(Reason::WrongIssuer);
            }
            Some(Value::String(_)) => {}
            Some(_) => return Err(Reason::ClaimType),
        }
        match c.get("sub") {
            None => return Err(Reason::MissingClaim),
            Some(Value::String(s)) if s.is_empty() => return Err(Reason::MissingClaim),
            Some(Value::String(_)) => {}
            Some(_) => return Err(Reason::ClaimType),
        }
        let check_aud = |want: &str| match c.get("aud") {
            None => Err(Reason::MissingClaim),
            Some(Value::String(s)) if s == want => Ok(()),
            Some(Value::String(_)) => Err(Reason::WrongAudience),
            Some(Value::Array(a)) if !a.iter().all(Value::is_string) => Err(Reason::ClaimType),
            Some(Value::Array(a)) if a.iter().any(|v| v == want) => Ok(()),
            Some(Value::Array(_)) => Err(Reason::WrongAudience),
            Some(_) => Err(Reason::ClaimType),
        };
        match e.profile {
            Profile::Cognito => {
                let want = match e.token_use {
                    TokenUse::Access => "access",
                    TokenUse::Id => "id",
                };
                match c.get("token_use") {
                    None => return Err(Reason::MissingClaim),
                    Some(u) if u != want => return Err(Reason::WrongTokenUse),
                    _ => {}
                }
                match e.token_use {
                    TokenUse::Access => match c.get("client_id") {
                        None => Err(Reason::MissingClaim),
                        Some(id) if id != e.client_id.as_str() => Err(Reason::WrongClientId),
                        _ => Ok(()),
                    },
                    TokenUse::Id => check_aud(&e.client_id),
                }
            }
            _ => check_aud(&e.audience),
        }
    }
}
