//! Builders for tokens no sane JWT library will produce: unsigned `alg: none` tokens and
//! deliberately broken signatures and encodings. They exist to be rejected.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::jws;

/// `header.payload.` with an empty signature; `header` carries whatever `alg` it was given.
pub fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.", jws::signing_input(header, claims))
}

fn split(token: &str) -> (&str, &str, &str) {
    let mut parts = token.splitn(3, '.');
    let h = parts.next().unwrap_or_default();
    let p = parts.next().unwrap_or_default();
    let s = parts.next().unwrap_or_default();
    (h, p, s)
}

/// Removes the signature, keeping the second dot: `header.payload.`.
pub fn strip_signature(token: &str) -> String {
    let (h, p, _) = split(token);
    format!("{h}.{p}.")
}

/// Drops the last `n` characters of the signature.
pub fn truncate_signature(token: &str, n: usize) -> String {
    let (h, p, s) = split(token);
    format!("{h}.{p}.{}", &s[..s.len().saturating_sub(n)])
}

/// Flips the lowest bit of the signature's middle byte and re-encodes it.
pub fn flip_signature_bit(token: &str) -> String {
    let (h, p, s) = split(token);
    let mut sig = URL_SAFE_NO_PAD.decode(s).unwrap_or_default();
    if sig.is_empty() {
        sig.push(0);
    }
    let mid = sig.len() / 2;
    sig[mid] ^= 1;
    format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Replaces the payload with `claims`, keeping the original header and signature.
pub fn replace_payload(token: &str, claims: &Value) -> String {
    let (h, _, s) = split(token);
    format!("{h}.{}.{s}", jws::encode_part(claims))
}

/// `header.payload`: no signature part at all.
pub fn two_parts(token: &str) -> String {
    let (h, p, _) = split(token);
    format!("{h}.{p}")
}

/// Appends a fourth part.
pub fn four_parts(token: &str) -> String {
    format!("{token}.{}", URL_SAFE_NO_PAD.encode(b"extra"))
}

/// Adds `=` padding to every part whose length is not a multiple of 4.
pub fn pad_base64(token: &str) -> String {
    token
        .split('.')
        .map(|part| {
            let pad = (4 - part.len() % 4) % 4;
            format!("{part}{}", "=".repeat(pad))
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Swaps the base64url alphabet for the standard one (`-` → `+`, `_` → `/`).
pub fn standard_alphabet(token: &str) -> String {
    token.replace('-', "+").replace('_', "/")
}

/// Puts a space in the middle of the payload part.
pub fn whitespace_inside(token: &str) -> String {
    let (h, p, s) = split(token);
    let mid = p.len() / 2;
    format!("{h}.{} {}.{s}", &p[..mid], &p[mid..])
}

/// `dots` dots and nothing else of substance (the golang-jwt allocation DoS shape).
pub fn many_dots(dots: usize) -> String {
    format!("e{}", ".".repeat(dots))
}
