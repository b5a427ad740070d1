//! Shared pieces of the integration tests.
#![allow(dead_code)]

pub mod python;
pub mod verifier;

use std::sync::OnceLock;

use authprobe::keys::KeyRing;

/// One key ring per test binary: RSA key generation is the slow part of every test.
pub fn keyring() -> KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| KeyRing::generate().expect("keys generate"))
        .clone()
}

/// The mock IdP publishing the shared key ring, with its attacker key at the jku/x5u targets.
pub async fn idp() -> authprobe::idp::Idp {
    let ring = keyring();
    authprobe::idp::Idp::start(
        ring.published().expect("keys"),
        Some(ring.attacker().expect("keys")),
        authprobe::idp::IdpConfig::default(),
    )
    .await
    .expect("the IdP starts")
}

/// A reqwest client that never goes through a proxy (tests talk to 127.0.0.1 only).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client builds")
}
