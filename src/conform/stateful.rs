//! Stateful cases: key rotation, the result cache (a cached Deny, a second token after a
//! cached Allow), a flood of unknown kids, and cold starts with the JWKS down, slow or
//! malformed. Each sends more than one request, or changes the IdP or the target first.

use super::runner::{Runner, Sent, status_of};
use super::*;

impl Runner {
    pub(super) async fn stateful_case(&self, case: &CaseSpec, which: Stateful) -> CaseResult {
        let what = which.what();
        let jwt_rsa = matches!(
            self.options.profile.profile,
            Profile::Jwks | Profile::Cognito
        );
        if self.harness.minter.is_keyless()
            && let Some(why) = crate::tokens::keyless::stateful_needs_issuer(which.name())
        {
            return self.skipped(
                case,
                what,
                &format!("not testable without the issuer's keys or JWKS endpoint: {why}"),
            );
        }
        self.harness.refresh_identity().await;
        match which {
            Stateful::ValidAgain => {
                let request = self.good_request(case).await;
                let sent = self.send(request.clone()).await;
                let allowed = sent.outcome == Some(Outcome::Allow);
                let good = Some(self.minter().good_kind());
                let mut result = self.result(case, what, None, sent, good);
                if allowed {
                    let denied = self.other_routes_denied(case, &request).await;
                    self.observed_cross_route(&mut result, denied);
                }
                result
            }
            Stateful::MissingHeader => {
                let sent = self.send(self.request(case, None)).await;
                self.result(case, what, Some("missing-token".into()), sent, None)
            }
            Stateful::CachedDeny => self.cached_deny(case).await,
            Stateful::HeaderCase => self.header_case(case).await,
            Stateful::CacheKey => self.cache_key(case).await,
            Stateful::TokenInQuery => self.token_in_query(case).await,
            Stateful::WeakSecret => self.weak_secret(case).await,
            _ if !jwt_rsa => {
                self.skipped(case, what, "only for JWKS-based profiles (jwks, cognito)")
            }
            Stateful::KeyRotation => self.key_rotation(case).await,
            Stateful::KeyRetired if self.options.target.is_deployed() => self.skipped(
                case,
                what,
                "a deployed target trusts the run's IdP only where it was deployed so; the retired key's answer needs a fresh environment the run controls",
            ),
            Stateful::KeyRetired => self.key_retired(case).await,
            // A deployed stage or function is sent one request a case: the flood's 50 would
            // be a load test of someone's staging, billed and rate-limited.
            Stateful::UnknownKidFlood if self.options.target.is_deployed() => self.skipped(
                case,
                what,
                &format!("sends {FLOOD} requests: a deployed target gets one request a case"),
            ),
            Stateful::UnknownKidFlood => self.flood(case).await,
            Stateful::JwksUnreachable => self.cold_start(case, Fault::Status { status: 500 }).await,
            Stateful::JwksMalformed => self.cold_start(case, Fault::MalformedJson).await,
            Stateful::JwksSlow => {
                // Slower than both the fetch timeout and the invocation timeout: a correct
                // authorizer gives up on the fetch and rejects.
                let slower = self.harness.timeout().max(self.harness.jwks_timeout());
                let millis = (slower + Duration::from_secs(1)).as_millis() as u64;
                self.cold_start(case, Fault::Delay { millis }).await
            }
        }
    }

    /// The good token under the header name in lower case (as HTTP/2 clients and many
    /// libraries send it) and in capitals. API Gateway looks the identity source up whatever
    /// the case, but a REST REQUEST or HTTP API 1.0 event carries the name as sent, so a
    /// handler that reads `headers["Authorization"]` misses the token. Each request carries a
    /// token of its own: no cached policy answers for the other.
    pub(super) async fn header_case(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::HeaderCase.what();
        if let Some(name) = &self.options.token_header {
            return self.skipped(
                case,
                what,
                &format!("the token goes in `{name}` (--token-header), not in Authorization"),
            );
        }
        let good = Some(self.minter().good_kind());
        let (mut last, mut seen) = (None, Vec::new());
        for name in ["authorization", "AUTHORIZATION"] {
            let mut request = self.good_request(case).await;
            request.authorization_name = name.to_string();
            let sent = self.send(request).await;
            let allowed = sent.outcome == Some(Outcome::Allow);
            let mut result = self.result(case, what, None, sent, good);
            if !allowed && !result.findings.is_empty() {
                // A refusal says which name; a crash keeps its words (one crash site, one
                // cause) and says it in a note. Either way the fix is the lookup.
                for f in &mut result.findings {
                    if f.severity != Severity::Availability {
                        continue;
                    }
                    if f.message.starts_with("a good token was not allowed") {
                        f.message = format!(
                            "a good token was not allowed under the header name `{name}`{}",
                            f.message.trim_start_matches("a good token was not allowed")
                        );
                    }
                    f.fix = "look request headers up without regard to case (Python: lower-case the keys of event[\"headers\"] first; Node: the same on event.headers): REST REQUEST and HTTP API 1.0 events carry header names as the client sent them, and HTTP/2 clients send them in lower case".into();
                }
                result.notes.extend(seen);
                result.notes.push(format!(
                    "`{name}`: {} (the good token, sent under the header name `{name}` as HTTP/2 clients and many libraries send it)",
                    result.detail
                ));
                return result;
            }
            seen.push(format!("`{name}`: {}", result.detail));
            last = Some(result);
        }
        let mut result = last.expect("two names were sent");
        result.notes.extend(seen);
        result
    }

    /// The good token in the query string under the names authorizers read it from, with no
    /// Authorization header, through a gateway whose authorizer is given every request (no
    /// identity source, no cache: what a REST REQUEST or HTTP API authorizer with caching off
    /// may be): allowed, the authorizer takes tokens from URLs.
    pub(super) async fn token_in_query(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::TokenInQuery.what();
        if self.options.profile.event == crate::event::EventKind::Token {
            return self.skipped(
                case,
                what,
                "a TOKEN authorizer is given its header alone: the query string never reaches it",
            );
        }
        if self.options.token_header.is_some() {
            return self.skipped(
                case,
                what,
                "the token goes in a header of its own (--token-header)",
            );
        }
        let mut request = self.good_request(case).await;
        let Some(header) = request.authorization.take() else {
            return self.skipped(
                case,
                what,
                "the good request carries no Authorization header",
            );
        };
        // The token itself, without a scheme.
        let token = header.rsplit(' ').next().unwrap_or_default().to_string();
        for name in QUERY_TOKEN_NAMES {
            request.query.insert((*name).to_string(), token.clone());
        }
        let sent = match &self.gateway {
            Some(_) => {
                let mut config = self.gateway_config.clone();
                config.cache_ttl = 0;
                config.authorizer.identity_sources.clear();
                match Gateway::new(config, self.harness.target.clone()) {
                    Ok(gateway) => self.send_via(&gateway, request).await,
                    Err(e) => return self.skipped(case, what, &e.to_string()),
                }
            }
            None => self.send(request).await,
        };
        let allowed = sent.outcome == Some(Outcome::Allow);
        let mut r = self.result(case, what, None, sent, None);
        if allowed {
            r.findings.retain(|f| f.threat.is_none());
            r.findings.push(Finding {
                threat: None,
                severity: Severity::Hardening,
                message: format!(
                    "the good token was allowed from the query string alone (sent as {})",
                    QUERY_TOKEN_NAMES.join(", ")
                ),
                why: "only its holder gets in, but a token in a URL is written to access logs, proxy logs, browser history and Referer headers, where others read it (RFC 6750 §2.3: not to be used unless the header cannot be)".into(),
                fix: "read the token from the Authorization header only; if a query parameter is meant, name it as the API's identity source (method.request.querystring.NAME) and keep its lifetime short".into(),
            });
            r.status = status_of(&r.findings, false, self.options.strict);
        }
        r
    }

    /// A token under the second published key is allowed; the key is removed from the JWKS
    /// (as after a leak) and a new token under it is sent. Still accepted, a fresh environment
    /// is asked: one that refuses shows a key set cached per environment (reported, no
    /// finding); one that accepts shows keys that do not follow the JWKS at all, so a leaked
    /// key can never be revoked. The key is published again afterwards.
    pub(super) async fn key_retired(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::KeyRetired.what();
        let ring = self.harness.minter.keys().clone();
        let Ok(Some(key)) = tokio::task::spawn_blocking(move || ring.secondary())
            .await
            .expect("task")
        else {
            return self.skipped(
                case,
                what,
                "the key set has no second published key to retire",
            );
        };
        let mint = || self.minter().mint_good_with(key.clone());
        let first = match mint() {
            Ok(minted) => minted,
            Err(e) => return self.skipped(case, what, &e.to_string()),
        };
        let before = self
            .send(self.request(case, self.header(case, &first)))
            .await;
        if before.outcome != Some(Outcome::Allow) {
            return self.skipped(
                case,
                what,
                &format!(
                    "a token under the second published key was not allowed before its removal ({}): nothing to retire",
                    before.detail
                ),
            );
        }
        let kid = key.kid().to_string();
        self.harness.idp.retire_key(&kid);
        // Right after the removal, with a new token (no cached policy answers for the last).
        // An authorizer that caches its key set for minutes, as it should, still accepts it
        // here: only a fresh environment tells a cache from keys that never follow the JWKS.
        let Ok(minted) = mint() else {
            self.harness.idp.add_key(key);
            return self.skipped(case, what, "could not mint under the retired key");
        };
        let sent = self
            .send(self.request(case, self.header(case, &minted)))
            .await;
        let still_accepted = sent.outcome == Some(Outcome::Allow);
        let fresh = if still_accepted {
            Some(self.fresh_look(case, &minted).await)
        } else {
            None
        };
        self.harness.idp.add_key(key);
        let mut r = self.result(case, what, Some("key-retired".into()), sent, None);
        if !still_accepted {
            r.notes.push(
                "refused right after the key left the JWKS: the key set is read afresh".into(),
            );
            return r;
        }
        // The verdict's generic "must be rejected" finding says too little: replaced.
        r.findings.retain(|f| f.threat.is_none());
        match fresh {
            Some(FreshLook::Accepted) => r.findings.push(Finding {
                threat: Some(crate::tokens::Threat::Anyone),
                severity: Severity::Security,
                message: "a token under a key removed from the JWKS was still accepted, by a fresh environment too".into(),
                why: "the authorizer does not take its keys from the JWKS (a pinned key, keys baked into the code or a cache that outlives environments): a signing key that leaked can never be revoked, and whoever holds it keeps minting tokens that work".into(),
                fix: "verify against the issuer's current JWKS, cached for minutes at most, and look an unknown or removed kid up again rather than trusting an old copy".into(),
            }),
            // What counts is the fresh environment's answer: it is the one reported.
            Some(FreshLook::Refused(detail, outcome, http_status)) => {
                r.notes.push(format!(
                    "still accepted right after the key left the JWKS by the environment that had cached it ({}); a fresh environment refuses it: the key set is cached per environment (how long is not measured: jwks-rsa 1.x caches keys 10 hours, current versions 10 minutes, PyJWKClient 5 minutes)",
                    r.detail
                ));
                r.detail = format!("a fresh environment: {detail}");
                r.observed = outcome;
                r.http_status = http_status;
            }
            Some(FreshLook::Unknown(why)) => r.notes.push(format!(
                "still accepted right after the key left the JWKS; {why}"
            )),
            None => {}
        }
        r.status = status_of(
            &r.findings,
            r.status == Status::Errored,
            self.options.strict,
        );
        r
    }

    pub(super) async fn key_rotation(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::KeyRotation.what();
        // Warm up: the authorizer loads and caches the key set as it is.
        let warm = self.send(self.good_request(case).await).await;
        if warm.outcome != Some(Outcome::Allow) {
            let mut r = self.result(case, what, None, warm, None);
            r.notes
                .push("the good token was not allowed before the rotation".into());
            return r;
        }
        // Made at the start with the run's other keys, in parallel.
        let ring = self.harness.minter.keys().clone();
        let Ok(new_key) = tokio::task::spawn_blocking(move || ring.rotation())
            .await
            .expect("task")
        else {
            return self.skipped(case, what, "could not make the rotated-in key");
        };
        let minted = match self.minter().mint_good_with(new_key.clone()) {
            Ok(minted) => minted,
            Err(e) => return self.skipped(case, what, &e.to_string()),
        };
        self.harness.idp.add_key(new_key);
        let started = Instant::now();
        let window = self.options.rotation_window;
        let deployed = self.options.target.is_deployed();
        let mut attempts = 0;
        let sent = loop {
            attempts += 1;
            let sent = self
                .send(self.request(case, self.header(case, &minted)))
                .await;
            if sent.outcome == Some(Outcome::Allow)
                || sent.could_not_ask
                || started.elapsed() >= window
                || (deployed && attempts == DEPLOYED_ROTATION_ATTEMPTS)
            {
                break sent;
            }
            if deployed {
                // Asked right after the key is published (an authorizer that refetches on an
                // unknown kid accepts it then) and once more at the end of the window (one
                // whose refetch waits out a cooldown accepts it by then).
                tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
            } else {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        };
        let waited = started.elapsed().as_secs_f64();
        let margin = self.options.profile.key_publish_ahead;
        // Refused for the window, where the IdP publishes keys long before signing with them:
        // a defect only if the key is never picked up, which a fresh environment tells.
        let fresh =
            if sent.outcome != Some(Outcome::Allow) && !sent.could_not_ask && margin > window {
                Some(self.fresh_look(case, &minted).await)
            } else {
                None
            };
        let window = window.as_secs_f64();
        let refusal_cached = sent.cached;
        let mut r = self.result(case, what, None, sent, None);
        if r.observed == Some(Outcome::Allow) {
            let _ = self.rotation_taken.set(waited);
            r.notes.push(format!(
                "the new key was accepted {waited:.1} s after it was published ({attempts} attempt(s); window {window:.0} s)"
            ));
        } else {
            r.notes.push(format!(
                "the new key was still refused {waited:.1} s after it was published ({attempts} attempt(s)); nothing is known of later"
            ));
            // Say what was measured: refused for the whole window. An authorizer that never
            // refetches and one whose refetch cooldown or cache lifetime is longer than the
            // window look the same from here.
            for f in r
                .findings
                .iter_mut()
                .filter(|f| f.severity == Severity::Availability)
            {
                f.message = format!(
                    "a token under a newly published key was refused for the whole {window:.0} s window ({})",
                    r.detail
                );
                f.why = "after a key rotation, callers with tokens under the new key are locked out until the authorizer refetches the JWKS: either it never refetches on an unknown kid, or it waits longer than the window (a refetch cooldown or a cache lifetime)".into();
                if refusal_cached {
                    f.why.push_str("; here the refusal was a policy (a Deny or isAuthorized: false), which API Gateway caches, so the retries within the result TTL never reached the authorizer: a refusal during a refetch cooldown locks the token out for the whole TTL");
                }
                f.fix = "on an unknown kid, refetch the JWKS (rate-limited, e.g. at most once per 10 s) before rejecting; if your library waits out a longer cooldown on purpose, set rotation_window_seconds in the profile to what you accept".into();
            }
            let margin = crate::duration::format(margin);
            match fresh {
                // Picked up on a cold start (or a cache expiry): in place long before the IdP
                // signs with it.
                Some(FreshLook::Accepted) => {
                    r.findings.retain(|f| f.severity != Severity::Availability);
                    r.notes.push(format!(
                        "a fresh environment accepted the new key: the key set is loaded per environment (or per cache lifetime), and the IdP publishes keys {margin} before signing with them (key_publish_ahead_seconds), so no caller is locked out"
                    ));
                }
                Some(FreshLook::Refused(detail, ..)) => {
                    for f in r
                        .findings
                        .iter_mut()
                        .filter(|f| f.severity == Severity::Availability)
                    {
                        f.message = format!(
                            "a token under a newly published key was refused for the whole {window:.0} s window, and by a fresh environment too ({detail})"
                        );
                        f.why = "the authorizer never takes a key from the key set it is given (a pinned or built-in key): when the issuer rotates, every caller is locked out until the authorizer is redeployed".into();
                        f.fix = "take the signing keys from the issuer's JWKS by kid (cached, refetched on an unknown kid), or redeploy with the new key before the issuer signs with it".into();
                    }
                }
                // Not known beyond the window: what was measured, as a warning.
                Some(FreshLook::Unknown(why)) => {
                    for f in r
                        .findings
                        .iter_mut()
                        .filter(|f| f.severity == Severity::Availability)
                    {
                        f.severity = Severity::Contract;
                        f.why = format!(
                            "the IdP publishes keys {margin} before signing with them, so this locks callers out only if the key is never picked up, which this run could not tell ({why})"
                        );
                    }
                }
                None => {}
            }
            r.status = status_of(&r.findings, false, self.options.strict);
        }
        r
    }

    /// The newly published key's token sent to a fresh environment, behind a fresh gateway.
    async fn fresh_look(&self, case: &CaseSpec, minted: &crate::tokens::Minted) -> FreshLook {
        let target = match self.harness.fresh_target().await {
            Some(Ok(target)) => target,
            Some(Err(e)) => {
                return FreshLook::Unknown(format!("a fresh environment did not start: {e}"));
            }
            None => {
                return FreshLook::Unknown(
                    "a deployed target has no cold start the run controls; a longer --rotation-window tells".into(),
                );
            }
        };
        let request = self.request(case, self.header(case, minted));
        let sent = match Gateway::new(self.gateway_config.clone(), target.clone()) {
            Ok(gateway) => self.send_via(&gateway, request).await,
            Err(_) => self.send_to(target.as_ref(), request).await,
        };
        target.shutdown().await;
        match sent.outcome {
            Some(Outcome::Allow) => FreshLook::Accepted,
            _ if sent.could_not_ask => FreshLook::Unknown(sent.detail),
            _ => FreshLook::Refused(sent.detail, sent.outcome, sent.http_status),
        }
    }

    /// A gateway of its own, cache empty and clock at zero, in front of the run's target
    /// (`None` for `url:` targets): stateful cache cases see only their own requests.
    pub(super) fn fresh_gateway(&self) -> Option<Gateway> {
        self.gateway.as_ref()?;
        let config = GatewayConfig {
            clock: Clock::manual(),
            ..self.gateway_config.clone()
        };
        Gateway::new(config, self.harness.target.clone()).ok()
    }

    /// A token every authorizer of the profile must reject.
    pub(super) fn reject_kind(&self) -> Kind {
        match self.options.profile.profile {
            Profile::Static => Kind::WrongStaticToken,
            // A key-less run cannot sign an expired token; a damaged signature it can make.
            _ if self.harness.minter.is_keyless() => Kind::SigBitFlipped,
            _ => Kind::Expired,
        }
    }

    pub(super) async fn cached_deny(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::CachedDeny.what();
        let Some(gateway) = self.fresh_gateway() else {
            return self.skipped(
                case,
                what,
                "needs the gateway emulator (every target but url:)",
            );
        };
        if self.cache_ttl == 0 {
            return self.skipped(case, what, "result caching is off (--cache-ttl 0)");
        }
        let kind = self.reject_kind();
        let Ok(minted) = self.minter().mint(kind) else {
            return self.skipped(case, what, "the rejected token cannot be minted");
        };
        let request = self.request(case, self.header(case, &minted));
        let invocations = || gateway.stats().authorizer_invocations;
        let before = invocations();
        let first = self.send_via(&gateway, request.clone()).await;
        let first_outcome = first.outcome;
        let mut seen = Vec::new();
        let mut allowed = Vec::new();
        for route in &self.options.profile.routes {
            let mut r = request.clone();
            r.method = route.method.clone();
            r.path = route.path.clone();
            let sent = self.send_via(&gateway, r).await;
            seen.push(format!(
                "{route} {}",
                sent.http_status.map_or("-".into(), |s| s.to_string())
            ));
            if sent.outcome == Some(Outcome::Allow) && *route != case.route {
                allowed.push(route.to_string());
            }
        }
        let during = invocations() - before;
        // Past the TTL the entry is gone: the same token invokes the authorizer again. This
        // shows the emulator's expiry, nothing of the authorizer's: a deployed one is not
        // asked for it.
        let again = if self.options.target.is_deployed() {
            None
        } else {
            gateway
                .config()
                .clock
                .advance(Duration::from_secs(self.cache_ttl + 1));
            let before_again = invocations();
            self.send_via(&gateway, request.clone()).await;
            Some(invocations() - before_again)
        };
        let reason = match self.minter().expect(kind) {
            Some(Expect::Reject(r)) => Some(r.name()),
            _ => None,
        };
        let mut r = self.result(case, what, reason, first, Some(kind));
        r.notes.push(format!(
            "`{kind}` on every route: {}; {during} authorizer invocation(s) for {} request(s)",
            seen.join(", "),
            seen.len() + 1
        ));
        match first_outcome {
            Some(Outcome::Deny) if during == 1 => r.notes.push(match again {
                Some(again) => format!(
                    "the Deny was cached: every route answered 403 without invoking the authorizer; after the TTL it was invoked {again} time(s)"
                ),
                None => "the Deny was cached: every route answered 403 without invoking the authorizer".into(),
            }),
            Some(Outcome::Unauthorized) => r
                .notes
                .push("401 is not cached: every request invoked the authorizer".into()),
            _ => {}
        }
        if first_outcome == Some(Outcome::Deny) && !allowed.is_empty() {
            r.findings.push(Finding {
                threat: None,
                severity: Severity::Security,
                message: format!(
                    "a token denied on {} was allowed on {} (from the same cached policy)",
                    case.route,
                    allowed.join(", ")
                ),
                why: "the cached policy denies only the invoked method and allows the rest".into(),
                fix: "reject with the error `Unauthorized`, or Deny the whole API (…/STAGE/*/*)"
                    .into(),
            });
            r.status = status_of(&r.findings, false, self.options.strict);
        }
        r
    }

    pub(super) async fn cache_key(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::CacheKey.what();
        let Some(gateway) = self.fresh_gateway() else {
            return self.skipped(
                case,
                what,
                "needs the gateway emulator (every target but url:)",
            );
        };
        // The fresh cache holds only the good token's entry: a hit for the second token can
        // only be the good token's policy.
        let good = self.send_via(&gateway, self.good_request(case).await).await;
        let good_cached = good.outcome == Some(Outcome::Allow) && self.cache_ttl > 0;
        let kind = self.reject_kind();
        let Ok(minted) = self.minter().mint(kind) else {
            return self.skipped(case, what, "the rejected token cannot be minted");
        };
        let before = gateway.stats().authorizer_invocations;
        let sent = self
            .send_via(&gateway, self.request(case, self.header(case, &minted)))
            .await;
        let shared = sent.cached;
        let invoked = gateway.stats().authorizer_invocations - before;
        let reason = match self.minter().expect(kind) {
            Some(Expect::Reject(r)) => Some(r.name()),
            _ => None,
        };
        let mut r = self.result(case, what, reason, sent, Some(kind));
        r.notes.push(if good_cached {
            format!("with the good token's policy cached, `{kind}` invoked the authorizer {invoked} time(s)")
        } else {
            "the good token was not allowed, so nothing was cached before the second token".into()
        });
        if shared {
            r.findings.push(Finding {
                threat: None,
                severity: Severity::Security,
                message: format!("`{kind}` was answered from another token's cached policy"),
                why: "anyone gets in with any token while a good one is cached".into(),
                fix: "make the credential itself an identity source (method.request.header.Authorization)".into(),
            });
            r.status = status_of(&r.findings, false, self.options.strict);
        }
        r
    }

    pub(super) async fn flood(&self, case: &CaseSpec) -> CaseResult {
        let what = Stateful::UnknownKidFlood.what();
        let before = self.harness.idp.jwks_fetches();
        let mut worst: Option<Sent> = None;
        for _ in 0..FLOOD {
            let minted = self
                .minter()
                .mint(Kind::KidUnknown)
                .expect("kid-unknown applies");
            let sent = self
                .send(self.request(case, self.header(case, &minted)))
                .await;
            let bad = sent.outcome != Some(Outcome::Unauthorized);
            if worst.is_none()
                || (bad
                    && worst
                        .as_ref()
                        .is_some_and(|w| w.outcome == Some(Outcome::Unauthorized)))
            {
                worst = Some(sent);
            }
        }
        let fetches = self.harness.idp.jwks_fetches() - before;
        let _ = self.flood_fetches.set((fetches, FLOOD));
        let mut r = self.result(
            case,
            what,
            Some("kid-unknown".into()),
            worst.expect("the flood sent"),
            Some(Kind::KidUnknown),
        );
        r.notes.push(format!(
            "{FLOOD} unknown kids caused {fetches} JWKS fetch(es)"
        ));
        if fetches > FLOOD_FETCH_BOUND {
            r.findings.push(Finding {
                threat: None,
                severity: Severity::Availability,
                message: format!("{FLOOD} unknown kids caused {fetches} JWKS fetches (bound: {FLOOD_FETCH_BOUND})"),
                why: "anyone can make the authorizer hammer the IdP, get it throttled, and lock everyone out".into(),
                fix: "refetch the JWKS on an unknown kid at most once per interval (e.g. 10 s); reject meanwhile".into(),
            });
            r.status = status_of(&r.findings, false, self.options.strict);
        }
        r
    }

    pub(super) async fn cold_start(&self, case: &CaseSpec, fault: Fault) -> CaseResult {
        let what = match fault {
            Fault::Status { .. } => Stateful::JwksUnreachable.what(),
            Fault::MalformedJson => Stateful::JwksMalformed.what(),
            _ => Stateful::JwksSlow.what(),
        };
        self.harness.idp.set_fault(Some(fault));
        let fresh = self.harness.fresh_target().await;
        let result = match fresh {
            None => self.skipped(
                case,
                what,
                "needs a cold start the harness controls (builtin: or lambda: targets)",
            ),
            Some(Err(e)) => {
                let sent = Sent {
                    outcome: Some(Outcome::Error),
                    http_status: self.gateway.as_ref().map(|_| 500),
                    cached: false,
                    detail: format!("the authorizer could not start while the JWKS was down: {e}"),
                    response: None,
                    elapsed_ms: 0.0,
                    cold: true,
                    could_not_ask: false,
                    refusal_proves: false,
                    output: Default::default(),
                    after_answer: None,
                    credential: None,
                };
                self.result(case, what, Some("keys-unavailable".into()), sent, None)
            }
            Some(Ok(target)) => {
                let request = self.good_request(case).await;
                // A fresh target behind a fresh gateway: nothing cached anywhere.
                let gateway = Gateway::new(self.gateway_config.clone(), target.clone()).ok();
                let send = async |request| match &gateway {
                    Some(gateway) => self.send_via(gateway, request).await,
                    None => self.send_to(target.as_ref(), request).await,
                };
                let sent = send(request).await;
                let result = if sent.outcome == Some(Outcome::Allow) {
                    // The good token got in with no JWKS to be had. Right, if the authorizer
                    // verified it with a key it holds (pinned, built in); a hole, if it did not
                    // verify at all. A token signed by a key never published tells which.
                    self.minter().key_ready(Kind::KeyNotInJwks).await;
                    match self.minter().mint(Kind::KeyNotInJwks) {
                        Ok(forged) => {
                            let forged = send(self.request(case, self.header(case, &forged))).await;
                            self.judge_without_keys(case, what, sent, forged)
                        }
                        Err(e) => self.skipped(case, what, &e.to_string()),
                    }
                } else {
                    let mut r =
                        self.result(case, what, Some("keys-unavailable".into()), sent, None);
                    // Refusing while the keys are away is right; the environment must take
                    // the good token again once they are back.
                    // Asked straight, not through the gateway: a cached Deny would answer.
                    self.harness.idp.set_fault(None);
                    let back = Instant::now();
                    let again = loop {
                        let again = self
                            .send_to(target.as_ref(), self.good_request(case).await)
                            .await;
                        if again.outcome == Some(Outcome::Allow)
                            || again.could_not_ask
                            || back.elapsed() >= self.options.rotation_window
                        {
                            break again;
                        }
                        tokio::time::sleep(RECOVERY_POLL).await;
                    };
                    self.judge_recovery(&mut r, again, back.elapsed());
                    r
                };
                target.shutdown().await;
                result
            }
        };
        self.harness.idp.set_fault(None);
        let mut result = result;
        // A fix about failing closed, whichever token got in.
        if let Some(f) = result
            .findings
            .iter_mut()
            .find(|f| f.severity == Severity::Security)
        {
            f.fix = verdict::security_fix(crate::tokens::Reason::KeysUnavailable).into();
        }
        result
    }

    /// The good token sent again to an environment that started while the JWKS was away,
    /// after it came back (for up to the rotation window, the time the authorizer is given to
    /// refetch): still refused, the failure is kept for the environment's life.
    fn judge_recovery(&self, r: &mut CaseResult, again: Sent, waited: Duration) {
        let secs = waited.as_secs_f64();
        match again.outcome {
            Some(Outcome::Allow) => r.notes.push(format!(
                "once the JWKS was back, the same environment allowed the good token ({secs:.1} s later)"
            )),
            _ if again.could_not_ask => r.notes.push(format!(
                "once the JWKS was back, the same environment could not be asked again: {}",
                again.detail
            )),
            outcome => {
                let what = outcome.map_or("error".to_string(), |o| o.to_string());
                r.findings.push(Finding {
                    threat: None,
                    severity: Severity::Availability,
                    message: format!(
                        "once the JWKS was back, the environment that started while it was away still refused the good token {secs:.1} s later ({what}: {})",
                        again.detail
                    ),
                    why: "a key set that failed to load is kept for the environment's life: every caller it serves is locked out until Lambda retires it, long after the IdP recovered".into(),
                    fix: "never keep a failed or empty key set: fetch it again on the next token (at most once per interval), or fail the init so Lambda starts a new environment".into(),
                });
                r.status = status_of(&r.findings, false, self.options.strict);
            }
        }
    }

    /// A cold start with the JWKS unavailable let the good token in: judged by what a forged
    /// token (the published kid, a key never published) got. Refused: the authorizer verifies
    /// with a key it holds, which is right (a pinned key needs no JWKS), and the case passes
    /// with a note. Allowed: it verifies nothing while the keys are away, a hole anyone can use.
    fn judge_without_keys(
        &self,
        case: &CaseSpec,
        what: &str,
        good: Sent,
        forged: Sent,
    ) -> CaseResult {
        let reason = Some("keys-unavailable".to_string());
        if forged.outcome == Some(Outcome::Allow) {
            let mut r = self.result(case, what, reason, forged, Some(Kind::KeyNotInJwks));
            r.notes.push(
                "with the JWKS unavailable, the good token and a token signed by a key never published both got in: nothing is verified".into(),
            );
            return r;
        }
        let forged_detail = forged.detail.clone();
        let mut r = self.result(case, what, reason, good, None);
        // The good token's entry is no finding: it was verified, with a key the authorizer
        // holds.
        r.findings.retain(|f| f.threat.is_none());
        r.notes.push(format!(
            "the good token got in without the JWKS, and a token signed by a key never published was refused ({forged_detail}): the authorizer verifies with a key it holds (pinned, built in, or fetched before), so the JWKS being down does not reach it"
        ));
        r.status = status_of(&r.findings, forged.could_not_ask, self.options.strict);
        r
    }
}

/// What a fresh environment made of a token under the newly published key.
enum FreshLook {
    /// Allowed: the key is picked up on a cold start.
    Accepted,
    /// Refused (what it said, its outcome and the status a client saw): the key is never
    /// picked up.
    Refused(String, Option<Outcome>, Option<u16>),
    /// No fresh environment could be asked.
    Unknown(String),
}
