//! Calibration: before the catalogue, find the form of the good request that the authorizer
//! accepts. The most common first mistake (not stripping `Bearer `, or expecting it where
//! clients do not send it) makes the profile's good token fail; every bad token is then
//! rejected for that reason alone, and every defect behind it stays hidden. When the good
//! token as the profile sends it is refused, each variant below is tried in order; the first
//! one allowed becomes the run's baseline, is reported once as the root cause, and every other
//! case is sent the same way, so each bad kind is still bad in exactly one way relative to
//! what the authorizer accepts.
//!
//! The variants are data: adding one is one entry.

use serde::Serialize;

use super::profile::ProfileSpec;
use super::verdict::Severity;
use crate::tokens::{Kind, Minted, Scheme};

/// How a variant writes the Authorization header around a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeaderShape {
    /// The credential alone.
    Bare,
    /// `Bearer <credential>`.
    Bearer,
    /// `bearer <credential>`.
    LowercaseBearer,
}

impl HeaderShape {
    /// The header value for `credential`.
    pub fn write(self, credential: &str) -> String {
        match self {
            HeaderShape::Bare => credential.to_string(),
            HeaderShape::Bearer => format!("Bearer {credential}"),
            HeaderShape::LowercaseBearer => format!("bearer {credential}"),
        }
    }
}

/// One documented change to the good request, tried when the profile's form is refused.
#[derive(Debug)]
pub struct Variant {
    /// Its name in reports.
    pub name: &'static str,
    /// What it sends, as a phrase ("the token alone, without `Bearer `").
    pub sends: &'static str,
    /// The header it writes.
    pub shape: HeaderShape,
    /// Whether it differs from what the profile sends (a profile whose clients send
    /// `Bearer ` has no use for a `Bearer ` variant).
    pub applies: fn(&ProfileSpec) -> bool,
    /// How bad it is when this is the only form the authorizer accepts.
    pub severity: Severity,
    /// Why that matters.
    pub why: &'static str,
    /// What to change in the authorizer.
    pub fix: &'static str,
}

/// The variants, in the order they are tried.
pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "bare-token",
        sends: "the token alone, without the `Bearer ` scheme",
        shape: HeaderShape::Bare,
        applies: |p| p.bearer,
        severity: Severity::Availability,
        why: "clients send `Authorization: Bearer <token>`, as the profile says: every one of them is refused, because the authorizer decodes the whole header value, scheme included",
        fix: "strip the `Bearer ` scheme (compared case-insensitively, one space) before decoding the token",
    },
    Variant {
        name: "bearer-scheme",
        sends: "the token after `Bearer `",
        shape: HeaderShape::Bearer,
        applies: |p| !p.bearer,
        severity: Severity::Availability,
        why: "clients send the token as the whole header value, as the profile says: every one of them is refused, because the authorizer insists on a `Bearer ` scheme",
        fix: "accept the header value as the token itself; or, if clients really send `Bearer <token>`, set bearer = true in the profile",
    },
    Variant {
        name: "lowercase-bearer-scheme",
        sends: "the token after `bearer ` in lower case",
        shape: HeaderShape::LowercaseBearer,
        applies: |p| p.bearer,
        severity: Severity::Availability,
        why: "clients send `Bearer <token>`: every one of them is refused, because the authorizer compares the scheme case-sensitively against `bearer`",
        fix: "compare the scheme `Bearer` case-insensitively (RFC 7235 §2.1)",
    },
];

/// What calibration found, as reports show it.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    /// The variant the run used instead of the profile's form; `None` when none was allowed.
    pub baseline: Option<&'static str>,
    /// What the good token as the profile sends it got.
    pub profile_form: String,
    /// Every variant tried, with what it got.
    pub tried: Vec<Tried>,
}

/// One variant tried.
#[derive(Clone, Debug, Serialize)]
pub struct Tried {
    /// Variant name.
    pub variant: &'static str,
    /// What it sends.
    pub sends: &'static str,
    /// What it got (outcome and detail).
    pub got: String,
    /// Whether it was allowed.
    pub allowed: bool,
}

/// The variant of that name.
pub fn variant(name: &str) -> Option<&'static Variant> {
    VARIANTS.iter().find(|v| v.name == name)
}

/// Kinds whose point is the header form itself: on a calibrated baseline they test nothing
/// the baseline has not already settled, and are skipped.
pub fn about_the_header_form(kind: Kind) -> bool {
    matches!(kind, Kind::BearerLowercase | Kind::BearerDoubleSpace)
}

/// The header for `minted` on a baseline `shape`: the credential in the baseline's form. An
/// empty credential stays empty (the gateway answers it without the authorizer).
pub fn header_on(shape: HeaderShape, minted: &Minted) -> String {
    if minted.credential.is_empty() {
        return minted.header_value();
    }
    match minted.scheme {
        Scheme::Bearer | Scheme::Bare => shape.write(&minted.credential),
        // The header-form kinds are skipped on a baseline; sent as minted if ever asked.
        Scheme::LowercaseBearer | Scheme::DoubleSpace | Scheme::Empty => minted.header_value(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_unique_name_and_says_what_it_sends() {
        for (i, v) in VARIANTS.iter().enumerate() {
            assert!(!v.sends.is_empty() && !v.why.is_empty() && !v.fix.is_empty());
            assert!(VARIANTS[..i].iter().all(|w| w.name != v.name), "{}", v.name);
            assert_eq!(variant(v.name).map(|w| w.name), Some(v.name));
        }
    }

    #[test]
    fn a_baseline_rewrites_the_scheme_and_keeps_an_empty_header_empty() {
        let minted = |credential: &str, scheme| Minted {
            kind: Kind::Valid,
            credential: credential.into(),
            scheme,
        };
        assert_eq!(
            header_on(HeaderShape::Bare, &minted("a.b.c", Scheme::Bearer)),
            "a.b.c"
        );
        assert_eq!(
            header_on(HeaderShape::Bearer, &minted("allow-token", Scheme::Bare)),
            "Bearer allow-token"
        );
        assert_eq!(
            header_on(HeaderShape::Bearer, &minted("", Scheme::Bare)),
            ""
        );
    }
}
