//! Single-token cases: mint the kind, send it, judge the answer, and for the kinds that need it
//! a second look (the other routes through the live cache after an Allow, an hour-old string
//! `exp`, fetches of a URL the token named).

use super::runner::{Runner, status_of};
use super::*;

/// A finding when `response` hands on the `name` of `valid-markup-name` as it came: in the
/// principalId or a context value, where the integration (a mapping template, a page, a log
/// view) takes it for the authorizer's word.
fn echoed(response: &serde_json::Value, findings: &mut Vec<Finding>) {
    let marker = crate::tokens::MARKUP_NAME;
    let mut places = Vec::new();
    if response["principalId"]
        .as_str()
        .is_some_and(|p| p.contains(marker))
    {
        places.push("principalId".to_string());
    }
    if let Some(context) = response["context"].as_object() {
        for (key, value) in context {
            if value.to_string().contains(&marker.replace('"', "\\\""))
                || value.as_str().is_some_and(|v| v.contains(marker))
            {
                places.push(format!("context.{key}"));
            }
        }
    }
    if places.is_empty() {
        return;
    }
    findings.push(Finding {
        threat: None,
        severity: Severity::Contract,
        message: format!(
            "the token's `name` claim, which users set for themselves, comes back unchanged in the policy's {}: `{marker}`",
            places.join(", ")
        ),
        why: "API Gateway hands principalId and context to the integration as the authorizer's word; a value any user typed into their profile arrives there unescaped, ready for a mapping template, a page or a log view that trusts it".into(),
        fix: "pass identifiers the issuer controls (sub, client_id, scope), not free text; if a user-set claim must pass, validate or encode it for where it goes".into(),
    });
}

/// How much later than an inert kid a `kid-command-injection` token must be answered, twice,
/// to count as run by a shell: its kid sleeps 1 s double-quoted, 2 s unquoted.
const SHELL_DELAY_MS: f64 = 700.0;

impl Runner {
    /// After an Allow, the same request to every other route of the API through the live
    /// cache; the routes that answered 403.
    pub(super) async fn other_routes_denied(
        &self,
        case: &CaseSpec,
        request: &ClientRequest,
    ) -> Vec<String> {
        let mut denied = Vec::new();
        if self.gateway.is_none() || self.cache_ttl == 0 {
            return denied;
        }
        for route in &self.options.profile.routes {
            if *route == case.route {
                continue;
            }
            let mut other = request.clone();
            other.method = route.method.clone();
            other.path = route.path.clone();
            if self.send(other).await.http_status == Some(403) {
                denied.push(route.to_string());
            }
        }
        denied
    }

    /// Records what [`Self::other_routes_denied`] saw. When the static check of the policy
    /// already explains it, the observation is a note on the case and the finding keeps its
    /// words: one policy shape is one cause, whichever case showed it (key-rotation's good
    /// token and the catalogue's alike).
    pub(super) fn observed_cross_route(&self, result: &mut CaseResult, denied: Vec<String>) {
        if denied.is_empty() {
            return;
        }
        let message = format!(
            "the same token then got 403 on {} from the cached policy (observed through the gateway)",
            denied.join(", ")
        );
        if result
            .findings
            .iter()
            .any(|f| f.message.starts_with(verdict::UNCOVERED))
        {
            result.notes.push(message);
        } else {
            result.findings.push(Finding {
                threat: None,
                severity: Severity::Contract,
                message,
                why: "API Gateway reuses the cached policy for every route of the API".into(),
                fix: "return Resource arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/*/* (or every route), or set the TTL to 0".into(),
            });
        }
        result.status = status_of(&result.findings, false, self.options.strict);
    }

    pub(super) async fn token_case(&self, case: &CaseSpec, kind: Kind) -> CaseResult {
        if let Some(b) = self.baseline.get()
            && b.variants.iter().any(|v| v.skips.contains(&kind))
        {
            return self.skipped(
                case,
                kind.what(),
                &format!(
                    "not judged: the run sends {} (calibrated), and `{kind}` changes the same thing, so it is not {} in exactly one way relative to what the authorizer accepts",
                    b.variants
                        .iter()
                        .map(|v| v.sends)
                        .collect::<Vec<_>>()
                        .join(", and "),
                    if case.expect_allow { "good" } else { "bad" }
                ),
            );
        }
        // `bearer <token>` is a good token only where clients send the Bearer scheme, and the
        // bare token a bad one only there.
        if matches!(kind, Kind::BearerLowercase | Kind::BareToken) && !self.options.profile.bearer {
            return self.skipped(
                case,
                kind.what(),
                &format!(
                    "not judged: the profile says clients send the bare token (bearer = false), so `{kind}` is {}",
                    if kind == Kind::BareToken {
                        "the good token's own form"
                    } else {
                        "no form a client uses"
                    }
                ),
            );
        }
        self.harness.refresh_identity().await;
        let what = self.minter().what(kind);
        self.minter().key_ready(kind).await;
        let minted = match self.minter().mint(kind) {
            Ok(m) => m,
            Err(e) => return self.skipped(case, what, &e.to_string()),
        };
        let reason = match self.minter().expect(kind) {
            Some(Expect::Reject(r)) => Some(r.name()),
            _ => None,
        };
        let followed_before = self.harness.idp.attacker_fetches();
        let canary_before = self.harness.idp.canary_paths(kind.name());
        let request = self.request(case, self.header(case, &minted));
        let sent = self.send(request.clone()).await;
        let allowed = case.expect_allow && sent.outcome == Some(Outcome::Allow);
        let mut result = self.result(case, what, reason, sent, Some(kind));
        if allowed {
            let denied = self.other_routes_denied(case, &request).await;
            self.observed_cross_route(&mut result, denied);
        }
        if kind == Kind::ExpString && result.observed == Some(Outcome::Allow) {
            self.string_exp_enforced(case, &mut result).await;
        }
        if kind == Kind::ValidMarkupName
            && let Some(response) = &result.response
        {
            echoed(response, &mut result.findings);
            result.status = status_of(&result.findings, false, self.options.strict);
        }
        if kind == Kind::KidCommandInjection {
            self.kid_run_by_a_shell(case, &request, &mut result).await;
        }
        // Each URL a token carries is CANARY/KIND/CLAIM: a request under it names the claim.
        for (place, after) in self.harness.idp.canary_paths(kind.name()) {
            let before = canary_before
                .iter()
                .find(|(p, _)| *p == place)
                .map_or(0, |(_, n)| *n);
            if after <= before {
                continue;
            }
            let claim = place.split_once('/').map_or(place.as_str(), |(_, c)| c);
            result.findings.push(Finding {
                threat: None,
                severity: Severity::Security,
                message: format!(
                    "the authorizer fetched a URL taken from the token's `{claim}` claim ({} request(s) to {}/{place})",
                    after - before,
                    self.minter().settings().canary_url,
                ),
                why: "server-side request forgery: anyone can make the authorizer call a URL of their choosing from inside your network (cloud metadata, internal services); and an authorizer that finds keys at the issuer a token names trusts any issuer".into(),
                fix: "derive no URL from a token before it is verified, and none from user-set claims after: keep an allow-list of issuers, each with its configured JWKS URL, compare `iss` exactly against it first, and fetch only those URLs".into(),
            });
            result.status = status_of(&result.findings, false, self.options.strict);
        }
        let followed = self.harness.idp.attacker_fetches() - followed_before;
        if followed > 0 {
            result.findings.push(Finding {
                threat: None,
                severity: Severity::Security,
                message: format!("the authorizer fetched the URL named in the token header ({followed} time(s))"),
                why: "server-side request forgery: a token can make the authorizer call any URL, and trust the keys it finds there".into(),
                fix: verdict::security_fix(crate::tokens::Reason::UntrustedKeyHeader).into(),
            });
            result.status = status_of(&result.findings, false, self.options.strict);
        }
        result
    }

    /// `kid-command-injection` answered at least [`SHELL_DELAY_MS`] late: whether the delay
    /// is the kid's `sleep` (a control token with an inert unknown kid answers in time, and
    /// the same injected token is as late again) or the machine (nothing reported). A
    /// deployed target is not asked twice more.
    pub(super) async fn kid_run_by_a_shell(
        &self,
        case: &CaseSpec,
        request: &crate::event::ClientRequest,
        result: &mut CaseResult,
    ) {
        if result.elapsed_ms < SHELL_DELAY_MS || self.options.target.is_deployed() {
            return;
        }
        let Ok(control) = self.minter().mint(Kind::KidUnknown) else {
            return;
        };
        let control = self
            .send(self.request(case, self.header(case, &control)))
            .await;
        let again = self.send(request.clone()).await;
        let late = |ms: f64| ms - control.elapsed_ms >= SHELL_DELAY_MS;
        if control.cold || again.cold || !late(result.elapsed_ms) || !late(again.elapsed_ms) {
            result.notes.push(format!(
                "answered in {:.0} ms, but a token with an inert unknown kid took {:.0} ms and the same token again {:.0} ms: the delay is not the kid's",
                result.elapsed_ms, control.elapsed_ms, again.elapsed_ms
            ));
            return;
        }
        result.findings.push(Finding {
            threat: None,
            severity: Severity::Security,
            message: format!(
                "the kid appears to be run by a shell: the token whose kid is `{}` took {:.0} ms and {:.0} ms, one with an inert unknown kid {:.0} ms",
                crate::tokens::KID_COMMAND_INJECTION,
                result.elapsed_ms,
                again.elapsed_ms,
                control.elapsed_ms
            ),
            why: "remote code execution: anyone can put a command in a token header and the authorizer runs it, with the function's role and network".into(),
            fix: "never pass a kid (or any token field) to a shell, a file path or a query; look it up as a plain string in the key set you fetched".into(),
        });
        result.status = status_of(&result.findings, false, self.options.strict);
    }

    /// `exp-string` was allowed: whether the string is read as a number (an hour-old string
    /// exp is refused: expiry enforced, a warning) or never checked (allowed too: a hole).
    pub(super) async fn string_exp_enforced(&self, case: &CaseSpec, result: &mut CaseResult) {
        let Ok(expired) = self.minter().mint_exp_string_expired() else {
            return;
        };
        let again = self
            .send(self.request(case, self.header(case, &expired)))
            .await;
        match again.outcome {
            Some(Outcome::Unauthorized | Outcome::Deny) => {
                result.notes.push(format!(
                    "the same token with exp a string an hour in the past was refused ({}): the string is read as a number and expiry is enforced",
                    again.detail
                ));
                result.findings.retain(|f| f.threat.is_none());
                result.findings.push(Finding {
                    threat: None,
                    severity: Severity::Contract,
                    message: "exp as a string of digits was accepted and read as a number".into(),
                    why: "no hole: a string exp in the past was refused, so expiry is enforced; but exp is a NumericDate (RFC 7519 §2, §4.1.4), and libraries that accept a string here have skipped the check entirely (CVE-2026-25537 class)".into(),
                    fix: "refuse exp, nbf and iat that are not JSON numbers".into(),
                });
                result.status = status_of(&result.findings, false, self.options.strict);
            }
            Some(Outcome::Allow) => result.notes.push(
                "the same token with exp a string an hour in the past was allowed too: a string exp is never checked".into(),
            ),
            _ => result.notes.push(format!(
                "the same token with exp a string an hour in the past got {}",
                again.detail
            )),
        }
    }
}
