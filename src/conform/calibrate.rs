//! Calibration: before the catalogue, find the form of the good request that the authorizer
//! accepts. The most common first mistake (not stripping `Bearer `, or expecting it where
//! clients do not send it) makes the profile's good token fail; so does a good token whose
//! shape the authorizer trips over (an `aud` it wants as an array, an `nbf` it requires, the
//! other Cognito token). Every bad token is then rejected for that reason alone, and every
//! defect behind it stays hidden. When the good token as the profile sends it is refused, each
//! variant below is tried in order, header forms first; the first one allowed becomes the
//! run's baseline, is reported once as the root cause, and every other case is sent the same
//! way and minted on the same token, so each bad kind is still bad in exactly one way relative
//! to what the authorizer accepts. The kinds a baseline makes unjudgeable (they change the
//! same thing) are skipped, and say so.
//!
//! Each variant changes one thing. When no single one is allowed, two are tried together (a
//! header form and a token shape, or two shapes of different claims), smallest first and at
//! most [`MAX_PROBES`] requests in all: an authorizer that trips over two things (it neither
//! strips `Bearer ` nor passes `audience=`) is calibrated past both, and each is a root cause.
//!
//! The variants are data: adding one is one entry.

use serde::Serialize;

use super::CaseResult;
use super::profile::{CaseKind, CaseSpec, HeaderForm, ProfileSpec};
use super::runner::{Baseline, Runner, Sent, blank, status_of};
use super::verdict::{Finding, Severity};
use crate::event::ClientRequest;
use crate::target::Outcome;
use crate::tokens::{ClaimEdit, Kind, Minted, Profile, Scheme, TokenUse};

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

/// What a variant changes about the good request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The header form around the same token.
    Header(HeaderShape),
    /// The token's claims; the header form stays the profile's.
    Claims(ClaimEdit),
    /// The HS256 secret: one from the list of guessable ones ([`crate::tokens::secrets`]),
    /// searched for by [`Runner::guess_secret`] after every other change was refused.
    Secret,
}

/// One documented change to the good request, tried when the profile's form is refused.
#[derive(Debug)]
pub struct Variant {
    /// Its name in reports.
    pub name: &'static str,
    /// What it sends, as a phrase ("the token alone, without `Bearer `").
    pub sends: &'static str,
    /// What it changes.
    pub change: Change,
    /// Whether it can differ from what the profile sends (a profile whose clients send
    /// `Bearer ` has no use for a `Bearer ` variant). A claim edit that would not change the
    /// profile's good token is not tried either.
    pub applies: fn(&ProfileSpec) -> bool,
    /// How bad it is when this is the only form the authorizer accepts.
    pub severity: fn(&ProfileSpec) -> Severity,
    /// Why that matters.
    pub why: &'static str,
    /// What to change in the authorizer.
    pub fix: &'static str,
    /// Catalogue kinds that change the same thing: on this baseline they are not bad (or good)
    /// in exactly one way relative to what the authorizer accepts, so they are skipped.
    pub skips: &'static [Kind],
}

impl Variant {
    /// What a run on this baseline does, as a phrase ("sends every token as …", "mints every
    /// token on …").
    pub fn run_does(&self) -> String {
        match self.change {
            Change::Header(_) => format!("sends every token as {}", self.sends),
            Change::Claims(_) => format!("mints every token on {}", self.sends),
            Change::Secret => {
                "signs every token with the guessable secret the authorizer accepts".into()
            }
        }
    }
}

/// Every profile but `static`, whose token is not a JWT.
fn jwt(p: &ProfileSpec) -> bool {
    p.profile != Profile::Static
}

/// Profiles whose good token carries `aud`: jwks, hs256, Cognito ID tokens.
fn has_aud(p: &ProfileSpec) -> bool {
    matches!(p.profile, Profile::Jwks | Profile::Hs256)
        || (p.profile == Profile::Cognito && p.token_use == TokenUse::Id)
}

/// Cognito access tokens: the one good token that carries `scope` and no `aud`.
fn cognito_access(p: &ProfileSpec) -> bool {
    p.profile == Profile::Cognito && p.token_use == TokenUse::Access
}

const HEADER_KINDS: &[Kind] = &[
    Kind::BearerLowercase,
    Kind::BearerDoubleSpace,
    Kind::BareToken,
];
const AUD_KINDS: &[Kind] = &[
    Kind::ValidAudArray,
    Kind::AudWrong,
    Kind::AudMissing,
    Kind::AudEmptyArray,
];

/// The variants, in the order they are tried: header forms first, then token shapes.
pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "bare-token",
        sends: "the token alone, without the `Bearer ` scheme",
        change: Change::Header(HeaderShape::Bare),
        applies: |p| p.bearer,
        severity: |_| Severity::Availability,
        why: "clients send `Authorization: Bearer <token>`, as the profile says: every one of them is refused, because the authorizer decodes the whole header value, scheme included",
        fix: "strip the `Bearer ` scheme (compared case-insensitively, one space) before decoding the token",
        skips: HEADER_KINDS,
    },
    Variant {
        name: "bearer-scheme",
        sends: "the token after `Bearer `",
        change: Change::Header(HeaderShape::Bearer),
        applies: |p| !p.bearer,
        severity: |_| Severity::Availability,
        why: "clients send the token as the whole header value, as the profile says: every one of them is refused, because the authorizer insists on a `Bearer ` scheme",
        fix: "accept the header value as the token itself; or, if clients really send `Bearer <token>`, set bearer = true in the profile",
        skips: HEADER_KINDS,
    },
    Variant {
        name: "lowercase-bearer-scheme",
        sends: "the token after `bearer ` in lower case",
        change: Change::Header(HeaderShape::LowercaseBearer),
        applies: |p| p.bearer,
        severity: |_| Severity::Availability,
        why: "clients send `Bearer <token>`: every one of them is refused, because the authorizer compares the scheme case-sensitively against `bearer`",
        fix: "compare the scheme `Bearer` case-insensitively (RFC 7235 §2.1)",
        skips: HEADER_KINDS,
    },
    Variant {
        name: "aud-array",
        sends: "the good token with `aud` as a one-element array",
        change: Change::Claims(ClaimEdit::AudAsArray),
        applies: has_aud,
        severity: |_| Severity::Availability,
        why: "the profile's tokens carry `aud` as a string, which RFC 7519 §4.1.3 allows as much as an array: every one of them is refused, because the authorizer reads `aud` only as an array",
        fix: "accept `aud` as a string equal to the audience or as an array holding it",
        // The other aud kinds change its value or presence, one thing relative to an array.
        skips: &[Kind::AudWrong],
    },
    Variant {
        name: "aud-absent",
        sends: "the good token without `aud`",
        change: Change::Claims(ClaimEdit::Remove("aud")),
        applies: has_aud,
        severity: |_| Severity::Security,
        why: "the profile's tokens carry the API's `aud` and are refused, while a token without `aud` is allowed: the authorizer never compares `aud` with the audience (PyJWT does exactly this when `jwt.decode` is called without `audience=`), so any token of the issuer that carries no `aud` (another app client's Cognito access token, a token minted for another purpose) gets in",
        fix: "require `aud` and compare it with the API's audience (PyJWT: pass `audience=`)",
        skips: AUD_KINDS,
    },
    Variant {
        name: "aud-present",
        sends: "the good token with `aud` added, holding the app client id",
        change: Change::Claims(ClaimEdit::Add("aud")),
        applies: cognito_access,
        severity: |_| Severity::Availability,
        why: "Cognito access tokens carry no `aud` (they name the app client in `client_id`): every real access token is refused, because the authorizer requires `aud`",
        fix: "on access tokens, compare `client_id` with the app client id; check `aud` only on ID tokens",
        // Both say which client the token is for: a wrong client_id beside a right aud is no
        // token Cognito issues.
        skips: &[Kind::ClientIdWrong],
    },
    Variant {
        name: "other-token-use",
        sends: "the other Cognito token (an ID token where the profile says access, or the reverse)",
        change: Change::Claims(ClaimEdit::OtherTokenUse),
        applies: |p| p.profile == Profile::Cognito,
        severity: |_| Severity::Availability,
        why: "clients send the token the profile names (token_use): every one of them is refused, because the authorizer requires the other one; either it compares `token_use` with the wrong value, or the profile does not say which token the API's clients send",
        fix: "require the token_use your clients send; if they really send the other token, set token_use in the profile",
        skips: &[
            Kind::TokenUseSwapped,
            Kind::ClientIdWrong,
            Kind::ValidAudArray,
            Kind::AudWrong,
            Kind::AudMissing,
            Kind::AudEmptyArray,
        ],
    },
    Variant {
        name: "scope-present",
        sends: "the good token with a `scope` claim (the profile's scopes)",
        change: Change::Claims(ClaimEdit::Add("scope")),
        applies: |p| jwt(p) && !cognito_access(p),
        severity: |_| Severity::Availability,
        why: "the profile's tokens carry no `scope`: every one of them is refused, because the authorizer requires one",
        fix: "require `scope` only where the IdP issues it (access tokens); if yours does, list the scopes in the profile (scopes = [...])",
        skips: &[],
    },
    Variant {
        name: "scope-absent",
        sends: "the good token without `scope`",
        change: Change::Claims(ClaimEdit::Remove("scope")),
        applies: cognito_access,
        severity: |p| {
            if p.scopes.is_empty() {
                Severity::Availability
            } else {
                Severity::Security
            }
        },
        why: "the profile's tokens carry `scope` and are refused, while a token without it is allowed: every real access token is locked out; and where the profile requires scopes, the authorizer never checks them, so a token that grants none gets in",
        fix: "read `scope` as a space-separated list and require the API's scopes in it; never refuse a token for having one",
        skips: &[],
    },
    Variant {
        name: "nbf-present",
        sends: "the good token with `nbf` set to the time it was minted",
        change: Change::Claims(ClaimEdit::Add("nbf")),
        applies: jwt,
        severity: |_| Severity::Availability,
        why: "the profile's tokens carry no `nbf`, which RFC 7519 §4.1.5 makes optional: every one of them is refused, because the authorizer requires it",
        fix: "check `nbf` when it is there, and do not require it (PyJWT: leave \"nbf\" out of options[\"require\"])",
        // not-yet-valid moves the baseline's nbf: one change, judged.
        skips: &[],
    },
    Variant {
        name: WEAK_SECRET,
        sends: "the good token signed with a secret from public lists",
        change: Change::Secret,
        applies: |p| p.profile == Profile::Hs256,
        severity: |_| Severity::Security,
        why: "the good token signed with the profile's secret is refused, and the same claims signed with a secret anyone can look up are allowed: anyone can sign tokens this authorizer accepts, with every claim (sub, scope, exp) of their choosing",
        fix: "sign and verify with a random secret of at least 32 bytes (RFC 7518 §3.2) kept in a secret store, never a word or a value from documentation; rotate it now, since every token ever signed with the old one can be forged; then set the profile's secret (or pass {secret} to the handler) so the run signs with yours",
        skips: &[],
    },
    Variant {
        name: "iat-absent",
        sends: "the good token without `iat`",
        change: Change::Claims(ClaimEdit::Remove("iat")),
        applies: jwt,
        severity: |_| Severity::Availability,
        why: "the profile's tokens carry `iat` set to the time they were minted: every one of them is refused, because the authorizer refuses a token that has one (an `iat` check that is upside down, or one with no leeway against a clock that runs behind)",
        fix: "refuse a token only when `iat` is in the future by more than the leeway",
        skips: &[Kind::IatFuture],
    },
];

/// The name of the guessable-secret variant.
pub const WEAK_SECRET: &str = "weak-secret";

/// What calibration found, as reports show it.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    /// The variant the run used instead of the profile's form (two joined by ` + ` when it
    /// took two changes); `None` when none was allowed.
    pub baseline: Option<String>,
    /// What the good token as the profile sends it got.
    pub profile_form: String,
    /// Every variant tried, with what it got.
    pub tried: Vec<Tried>,
    /// The guessable secret the authorizer accepts, when the baseline is `weak-secret` (it
    /// is in a public list: printing it gives nothing away).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<&'static str>,
}

/// One variant tried.
#[derive(Clone, Debug, Serialize)]
pub struct Tried {
    /// Variant name (two joined by ` + `).
    pub variant: String,
    /// What it sends.
    pub sends: String,
    /// What it got (outcome and detail).
    pub got: String,
    /// Whether it was allowed.
    pub allowed: bool,
}

/// The variant of that name.
pub fn variant(name: &str) -> Option<&'static Variant> {
    VARIANTS.iter().find(|v| v.name == name)
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
        Scheme::LowercaseBearer | Scheme::DoubleSpace | Scheme::Empty | Scheme::Unprefixed => {
            minted.header_value()
        }
    }
}

impl Runner {
    /// Sends the good token as the profile says clients send it; when it is refused, tries
    /// each calibration variant in order. Returns what was found and, when a variant was
    /// allowed, the root-cause case that reports it (the baseline is then set for the run).
    /// `None` when the profile's form is allowed, or the target could not be asked.
    pub(super) async fn calibrate(&self) -> Option<(Calibration, Option<CaseResult>)> {
        let route = self.options.profile.routes.first()?.clone();
        let good = self.harness.minter.good_kind();
        let case = CaseSpec {
            name: "calibration".into(),
            kind: CaseKind::Token(good),
            expect_allow: true,
            header: HeaderForm::AsMinted,
            route,
        };
        // Probes go through a gateway of their own: the run's result cache starts empty, as
        // if calibration had not happened.
        let gateway = self.fresh_gateway();
        let probes = gateway.as_ref();
        let probe = |request: ClientRequest| async move {
            match probes {
                Some(gateway) => self.send_via(gateway, request).await,
                None => self.send(request).await,
            }
        };
        let minted = self.harness.minter.mint(good).ok()?;
        let profile_form = self.header(&case, &minted).unwrap_or_default();
        let first = probe(self.request(&case, Some(profile_form.clone()))).await;
        if first.could_not_ask || first.outcome == Some(Outcome::Allow) {
            return None;
        }
        let got = |sent: &Sent| match sent.outcome {
            Some(o) => format!("{o} ({})", sent.detail),
            None => sent.detail.clone(),
        };
        let mut found = Calibration {
            baseline: None,
            profile_form: got(&first),
            tried: Vec::new(),
            secret: None,
        };
        let mut probes = 1;
        for combination in self.combinations() {
            if probes >= MAX_PROBES {
                break;
            }
            let Some((minter, header)) = self.form(&case, &combination) else {
                continue;
            };
            probes += 1;
            let sent = probe(self.request(&case, Some(header))).await;
            let allowed = sent.outcome == Some(Outcome::Allow);
            found.tried.push(Tried {
                variant: name_of(&combination),
                sends: sends_of(&combination),
                got: got(&sent),
                allowed,
            });
            if !allowed {
                continue;
            }
            found.baseline = Some(name_of(&combination));
            let shown = shorten(&profile_form);
            let sends = sends_of(&combination);
            let mut root = self.root_case(&case, &first, &run_does(&combination));
            // One root cause a change, in the order to fix them: the header form first.
            for variant in &combination {
                let message = if combination.len() == 1 {
                    format!(
                        "the good token as clients send it (`{shown}`) is refused; {sends} is allowed"
                    )
                } else {
                    format!(
                        "the good token as clients send it (`{shown}`) is refused, and so is each single change; it is allowed only as {sends}: two defects, each a root cause. This one: {}",
                        variant.sends
                    )
                };
                root.findings.push(Finding {
                    threat: None,
                    severity: (variant.severity)(&self.options.profile),
                    message,
                    why: variant.why.into(),
                    fix: variant.fix.into(),
                });
            }
            root.status = status_of(&root.findings, false, self.options.strict);
            let _ = self.baseline.set(Baseline {
                variants: combination,
                minter,
                secret: None,
            });
            return Some((found, Some(root)));
        }
        if let Some(root) = self
            .guess_secret(&case, &first, &mut found, gateway.as_ref())
            .await
        {
            return Some((found, Some(root)));
        }
        self.good_refused
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // A good token that crashes the authorizer in every form is a crash, reported as one
        // on the cases; "no form was allowed" would only repeat it.
        if first.outcome == Some(Outcome::Error) {
            return None;
        }
        Some((found, None))
    }

    /// The case that reports a calibrated baseline: what the good token in the profile's form
    /// (`first`) got, and a note that the rest of the run `does` ("sends every token as …").
    pub(super) fn root_case(&self, case: &CaseSpec, first: &Sent, does: &str) -> CaseResult {
        let mut root = CaseResult {
            what: "the good token, in the form the profile says clients send it".into(),
            observed: first.outcome,
            http_status: first.http_status,
            detail: first.detail.clone(),
            elapsed_ms: first.elapsed_ms,
            cold: first.cold,
            notes: vec![format!(
                "the rest of the run {does}, so each bad kind is bad in one way only relative to what the authorizer accepts"
            )],
            output: first
                .output
                .redacted(&self.secrets(first.credential.as_deref())),
            ..blank(case, "")
        };
        root.kind = "calibration".into();
        root.stateful = true;
        root
    }

    /// The changes to try, smallest first: each variant alone, then two together (a header
    /// form and a token shape, or two token shapes that touch different claims), in the order
    /// of [`VARIANTS`].
    fn combinations(&self) -> Vec<Vec<&'static Variant>> {
        let profile = &self.options.profile;
        let applicable: Vec<&'static Variant> =
            VARIANTS.iter().filter(|v| (v.applies)(profile)).collect();
        // A secret is not one change but a search: `guess_secret` runs it last.
        let applicable: Vec<&'static Variant> = applicable
            .into_iter()
            .filter(|v| v.change != Change::Secret)
            .collect();
        let mut all: Vec<Vec<&'static Variant>> = applicable.iter().map(|v| vec![*v]).collect();
        for (i, a) in applicable.iter().enumerate() {
            for b in &applicable[i + 1..] {
                let both_headers =
                    matches!((a.change, b.change), (Change::Header(_), Change::Header(_)));
                let same_claim = match (a.change, b.change) {
                    (Change::Claims(x), Change::Claims(y)) => x.claim() == y.claim(),
                    _ => false,
                };
                if !both_headers && !same_claim {
                    all.push(vec![*a, *b]);
                }
            }
        }
        all
    }

    /// The minter and the header of the good request with every change of `combination`;
    /// `None` when a token shape changes nothing on this profile's good token.
    fn form(
        &self,
        case: &CaseSpec,
        combination: &[&'static Variant],
    ) -> Option<(crate::tokens::Minter, String)> {
        self.form_on(&self.harness.minter, case, combination)
    }

    /// [`Runner::form`] on `base` instead of the run's minter.
    pub(super) fn form_on(
        &self,
        base: &crate::tokens::Minter,
        case: &CaseSpec,
        combination: &[&'static Variant],
    ) -> Option<(crate::tokens::Minter, String)> {
        let good = base.good_kind();
        let mut minter = base.clone();
        let mut shape = None;
        for variant in combination {
            match variant.change {
                Change::Header(s) => shape = Some(s),
                Change::Claims(edit) => {
                    if !minter.edit_changes_good_token(edit) {
                        return None;
                    }
                    minter = minter.with_edit(edit);
                }
                Change::Secret => return None,
            }
        }
        let minted = minter.mint(good).ok()?;
        let header = match shape {
            Some(shape) => shape.write(&minted.credential),
            None => self.header(case, &minted)?,
        };
        Some((minter, header))
    }
}

/// Most requests calibration sends: the profile's form, then single and paired changes until
/// one is allowed.
pub const MAX_PROBES: usize = 60;

fn name_of(combination: &[&Variant]) -> String {
    combination
        .iter()
        .map(|v| v.name)
        .collect::<Vec<_>>()
        .join(" + ")
}

fn sends_of(combination: &[&Variant]) -> String {
    match combination {
        [one] => one.sends.to_string(),
        _ => combination
            .iter()
            .map(|v| v.sends)
            .collect::<Vec<_>>()
            .join(", and "),
    }
}

/// What a run on `combination` does: "sends every token as …", "mints every token on …".
pub fn run_does(combination: &[&Variant]) -> String {
    combination
        .iter()
        .map(|v| v.run_does())
        .collect::<Vec<_>>()
        .join(", and ")
}

/// The variants a baseline's name (`bare-token + aud-absent`) stands for.
pub fn variants_named(name: &str) -> Vec<&'static Variant> {
    name.split(" + ").filter_map(variant).collect()
}

/// A header value short enough to quote: the first and last characters of a long token.
fn shorten(header: &str) -> String {
    let chars: Vec<char> = header.chars().collect();
    if chars.len() <= 40 {
        return header.to_string();
    }
    let head: String = chars[..24].iter().collect();
    let tail: String = chars[chars.len() - 8..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_unique_name_and_says_what_it_sends() {
        for (i, v) in VARIANTS.iter().enumerate() {
            assert!(!v.sends.is_empty() && !v.why.is_empty() && !v.fix.is_empty());
            // The good token itself is what the baseline is: never skipped.
            for good in [
                Kind::Valid,
                Kind::CognitoAccess,
                Kind::CognitoId,
                Kind::Hs256Valid,
                Kind::AllowToken,
            ] {
                assert!(!v.skips.contains(&good), "{}: {good}", v.name);
            }
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
