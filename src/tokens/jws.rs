//! Compact JWS encoding and signing (RFC 7515 §7.1).

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::keys::{RsaAlg, SigningKey};

/// base64url (no padding) of the compact JSON of `value`.
pub fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON values serialize"))
}

/// `base64url(header).base64url(claims)`.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    let mut out = encode_part(header);
    out.push('.');
    out.push_str(&encode_part(claims));
    out
}

/// A compact JWS signed by an RSA key.
pub fn sign_rsa(header: &Value, claims: &Value, key: &SigningKey, alg: RsaAlg) -> String {
    let mut token = signing_input(header, claims);
    let sig = key.sign(alg, token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(sig, &mut token);
    token
}

/// A compact JWS signed with HMAC-SHA256 under `secret` (which may be empty).
pub fn sign_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let mut token = signing_input(header, claims);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut token);
    token
}
