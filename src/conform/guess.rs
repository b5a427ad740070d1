//! Guessable HMAC secrets (the hs256 profile). Anyone who guesses an HS256 authorizer's secret
//! signs tokens it accepts, so a secret from a public list is a hole however carefully the
//! rest of the authorizer checks claims. Two places look for one:
//! - the `hs256-weak-secret` case, when the good token works: the secret the run signs with
//!   is checked against the list and RFC 7518's length before any request, then the good
//!   token's claims are signed with each listed secret in turn until one is allowed;
//! - calibration, when the good token is refused in every form: an authorizer with a
//!   hard-coded `mysecretkey` refuses the profile's secret, and the first listed secret it
//!   accepts becomes the run's baseline (reported once, as security), so the rest of the
//!   catalogue is still judged.
//!
//! Signing is local and costs microseconds; each search stops at the first secret allowed.

use super::CaseResult;
use super::calibrate::{self, Calibration, Tried, WEAK_SECRET};
use super::profile::{CaseSpec, Stateful};
use super::runner::{Baseline, Runner, Sent, status_of};
use super::verdict::{Finding, Severity};
use crate::event::ClientRequest;
use crate::gateway::Gateway;
use crate::target::Outcome;
use crate::tokens::Profile;
use crate::tokens::secrets::{self, MIN_HS256_SECRET_BYTES, Weakness};

/// Most tokens calibration's search sends: the most common secrets of the list (it is
/// ordered so) in every form. A handler that refuses everything pays for all of them, so the
/// bound is what such a run can afford on a slow handler (about 10 s at 50 ms a call).
pub const MAX_SECRET_PROBES: usize = 200;

impl Runner {
    /// The `hs256-weak-secret` case.
    pub(super) async fn weak_secret(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::WeakSecret.what();
        if self.options.profile.profile != Profile::Hs256 {
            return self.skipped(case, what, "only for the hs256 profile (HMAC secrets)");
        }
        if self.harness.minter.is_keyless() {
            return self.skipped(
                case,
                what,
                "a key-less run has no claims of its own to sign: the real good token cannot be re-signed",
            );
        }
        let count = secrets::weak_secrets().count();
        if self.options.target.is_deployed() {
            return self.skipped(
                case,
                what,
                &format!("sends up to {count} requests: a deployed target gets one request a case"),
            );
        }
        if let Some(secret) = self.baseline.get().and_then(|b| b.secret) {
            return self.skipped(
                case,
                what,
                &format!(
                    "calibration found it: the authorizer accepts tokens signed with `{secret}` (reported there)"
                ),
            );
        }
        let own = self.minter().settings().secret.clone();
        // Two requests first. The good token: the run's secret is the authorizer's only when
        // it is allowed, so only then is it judged. And the good claims under a random secret:
        // allowed, the authorizer checks no signature at all, which the sig-* cases report;
        // a guessable secret would say nothing more.
        let good = self.send(self.good_request(case).await).await;
        let good_allowed = good.outcome == Some(Outcome::Allow);
        let mut random = vec![0u8; MIN_HS256_SECRET_BYTES];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut random);
        let control = self.minter().with_secret(&random);
        if let Ok(minted) = control.mint(control.good_kind()) {
            let sent = self
                .send(self.request(case, self.header(case, &minted)))
                .await;
            if sent.outcome == Some(Outcome::Allow) {
                return self.skipped(
                    case,
                    what,
                    "the good claims signed with a random secret were allowed: the authorizer checks no signature, so any secret is as good as a guessed one (the sig-* cases report it)",
                );
            }
        }
        let mut findings = Vec::new();
        if good_allowed {
            findings.extend(own_secret_finding(&own));
        }
        let mut last: Option<Sent> = None;
        let mut tried = 0;
        for secret in secrets::weak_secrets() {
            if secret.as_bytes() == own.as_slice() {
                continue;
            }
            let minter = self.minter().with_secret(secret.as_bytes());
            let Ok(minted) = minter.mint(minter.good_kind()) else {
                break;
            };
            tried += 1;
            let request = self.request(case, self.header(case, &minted));
            let sent = self.send(request).await;
            let allowed = sent.outcome == Some(Outcome::Allow);
            let stop = allowed || sent.could_not_ask;
            last = Some(sent);
            if allowed {
                findings.push(Finding {
                    threat: None,
                    severity: Severity::Security,
                    message: format!(
                        "a token signed with `{secret}`, a secret from public lists, was allowed (found after {tried} of the {count} listed)"
                    ),
                    why: if good_allowed {
                        "anyone can sign tokens with a secret that can be looked up: every claim (sub, scope, exp) is theirs to choose. The authorizer also accepts the run's secret, so it holds more than one (a fallback or default left in)"
                    } else {
                        "anyone can sign tokens with a secret that can be looked up: every claim (sub, scope, exp) is theirs to choose"
                    }
                    .into(),
                    fix: "accept exactly one secret, random and at least 32 bytes (RFC 7518 §3.2), from a secret store; remove the default or fallback, and rotate every secret the code ever held".into(),
                });
            }
            if stop {
                break;
            }
        }
        let Some(sent) = last else {
            return self.skipped(case, what, "no secret of the list could be signed with");
        };
        let allowed = sent.outcome == Some(Outcome::Allow);
        let mut r = self.result(case, what, None, sent, None);
        // The generic "a token that must be rejected was allowed" says less than the finding
        // above, which names the secret.
        if allowed {
            r.findings.retain(|f| f.threat.is_none());
        }
        r.findings.extend(findings);
        if !allowed {
            r.notes.push(format!(
                "{tried} guessable secrets tried, every token refused; the last: {}",
                r.detail
            ));
        }
        r.status = status_of(&r.findings, false, self.options.strict);
        r
    }

    /// Calibration's last resort on the hs256 profile: the good token signed with each listed
    /// secret, in the profile's form and with the two changes tutorial code most often needs
    /// besides (`bare-token`, `aud-absent`, both). The first one allowed becomes the baseline
    /// and the root cause; `None` when none is.
    pub(super) async fn guess_secret(
        &self,
        case: &CaseSpec,
        first: &Sent,
        found: &mut Calibration,
        probes: Option<&Gateway>,
    ) -> Option<CaseResult> {
        let weak = calibrate::variant(WEAK_SECRET)?;
        if !(weak.applies)(&self.options.profile) || self.harness.minter.is_keyless() {
            return None;
        }
        if self.options.target.is_deployed() {
            found.tried.push(Tried {
                variant: WEAK_SECRET.into(),
                sends: "not searched".into(),
                got: "a deployed target is not sent hundreds of tokens; run against the handler locally (lambda:) to search".into(),
                allowed: false,
            });
            return None;
        }
        // With each secret, the two mistakes that most often come with it in tutorial code:
        // the `Bearer ` scheme not stripped, `aud` never compared (PyJWT then refuses every
        // token that has one). Secrets outside, forms inside: the common secrets go first.
        let forms: Vec<Vec<&'static calibrate::Variant>> = [
            &[][..],
            &["bare-token"][..],
            &["aud-absent"][..],
            &["bare-token", "aud-absent"][..],
        ]
        .iter()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| calibrate::variant(n))
                .collect::<Vec<_>>()
        })
        .filter(|form: &Vec<_>| form.iter().all(|v| (v.applies)(&self.options.profile)))
        .collect();
        let own = self.harness.minter.settings().secret.clone();
        let probe = |request: ClientRequest| async move {
            match probes {
                Some(gateway) => self.send_via(gateway, request).await,
                None => self.send(request).await,
            }
        };
        let mut sent_count: usize = 0;
        'search: for secret in secrets::weak_secrets() {
            if secret.as_bytes() == own.as_slice() {
                continue;
            }
            let base = self.harness.minter.with_secret(secret.as_bytes());
            for form in &forms {
                if sent_count >= MAX_SECRET_PROBES {
                    break 'search;
                }
                let Some((minter, header)) = self.form_on(&base, case, form) else {
                    continue;
                };
                sent_count += 1;
                let sent = probe(self.request(case, Some(header))).await;
                if sent.could_not_ask {
                    return None;
                }
                if sent.outcome != Some(Outcome::Allow) {
                    continue;
                }
                let mut variants = form.clone();
                variants.push(weak);
                let name = variants
                    .iter()
                    .map(|v| v.name)
                    .collect::<Vec<_>>()
                    .join(" + ");
                found.tried.push(Tried {
                    variant: name.clone(),
                    sends: format!("the good token signed with `{secret}`"),
                    got: format!(
                        "allow ({}), after {sent_count} tokens under listed secrets",
                        sent.detail
                    ),
                    allowed: true,
                });
                found.baseline = Some(name);
                found.secret = Some(secret);
                let does = std::iter::once(format!("signs every token with `{secret}`"))
                    .chain(form.iter().map(|v| v.run_does()))
                    .collect::<Vec<_>>()
                    .join(", and ");
                let mut root = self.root_case(case, first, &does);
                // One root cause a change, in the order to fix them: the form first.
                for v in form {
                    root.findings.push(Finding {
                        threat: None,
                        severity: (v.severity)(&self.options.profile),
                        message: format!(
                            "the good token as clients send it is refused; it is allowed only signed with a guessable secret and changed: {}. This root cause: {}",
                            form.iter().map(|v| v.sends).collect::<Vec<_>>().join(", and "),
                            v.sends
                        ),
                        why: v.why.into(),
                        fix: v.fix.into(),
                    });
                }
                root.findings.push(Finding {
                    threat: None,
                    severity: Severity::Security,
                    message: format!(
                        "the good token signed with the profile's secret is refused; signed with `{secret}`, a secret from public lists, it is allowed"
                    ),
                    why: weak.why.into(),
                    fix: weak.fix.into(),
                });
                root.status = status_of(&root.findings, false, self.options.strict);
                let _ = self.baseline.set(Baseline {
                    variants,
                    minter,
                    secret: Some(secret),
                });
                return Some(root);
            }
        }
        let secrets_tried = sent_count.div_ceil(forms.len().max(1));
        found.tried.push(Tried {
            variant: WEAK_SECRET.into(),
            sends: format!(
                "the good token signed with each of the {secrets_tried} most common guessable secrets, in {} form(s)",
                forms.len()
            ),
            got: format!("refused, all {sent_count} tokens"),
            allowed: false,
        });
        None
    }
}

/// A finding on the secret the run signs with, when the authorizer accepts it: a listed one
/// is anyone's; a short one has less key material than RFC 7518 §3.2 requires.
fn own_secret_finding(secret: &[u8]) -> Option<Finding> {
    match secrets::weakness(secret)? {
        Weakness::Listed => Some(Finding {
            threat: None,
            severity: Severity::Security,
            // The run's own secret is never printed, listed or not: the line says which.
            message: format!(
                "the secret the authorizer accepts (the profile's) is in public lists of guessable secrets: line {} of src/tokens/weak-secrets.txt",
                secrets::line_of(secret).unwrap_or(0)
            ),
            why: "anyone can sign tokens with a secret that can be looked up: every claim (sub, scope, exp) is theirs to choose".into(),
            fix: "use a random secret of at least 32 bytes (RFC 7518 §3.2) from a secret store, and rotate it now: every token ever signed with it can be forged".into(),
        }),
        Weakness::Short(n) => Some(Finding {
            threat: None,
            severity: Severity::Hardening,
            message: format!(
                "the secret the authorizer accepts (the profile's) is {n} bytes, under the {MIN_HS256_SECRET_BYTES} RFC 7518 §3.2 requires for HS256"
            ),
            why: "a short secret, above all one a person chose, can be found offline from a single token by trying candidates at billions a second; only its holder can sign today, not for long".into(),
            fix: "use a random secret of at least 32 bytes from a secret store (e.g. `openssl rand -base64 48`)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::calibrate::Change;

    #[test]
    fn the_run_s_own_secret_is_judged_by_the_list_first_then_by_its_length() {
        assert_eq!(
            own_secret_finding(b"mysecretkey").map(|f| f.severity),
            Some(Severity::Security)
        );
        assert_eq!(
            own_secret_finding(b"an-unlisted-16ch").map(|f| f.severity),
            Some(Severity::Hardening)
        );
        assert!(own_secret_finding(b"authprobe-hs256-shared-secret-0123456789").is_none());
        // The run's own secret is never quoted, listed or not.
        let short = own_secret_finding(b"an-unlisted-16ch").unwrap();
        assert!(
            !short.message.contains("an-unlisted-16ch"),
            "{}",
            short.message
        );
        let listed = own_secret_finding(b"mysecretkey").unwrap();
        assert!(
            !listed.message.contains("mysecretkey") && listed.message.contains("line 8 "),
            "{}",
            listed.message
        );
    }

    #[test]
    fn the_secret_variant_is_searched_never_combined() {
        let v = calibrate::variant(WEAK_SECRET).unwrap();
        assert_eq!(v.change, Change::Secret);
    }
}
