//! The runner of one conformance run: how a case's request is sent (through the gateway
//! emulator, or straight to a `url:` target), what came back ([`Sent`]), and how it is judged
//! into a [`CaseResult`]. The cases themselves live in `cases` (single tokens) and `stateful`;
//! calibration in `calibrate`; the sequencing of a run in `dispatch`.

use super::*;

pub(super) struct Runner {
    pub(super) harness: Arc<Harness>,
    pub(super) options: Arc<ConformOptions>,
    pub(super) api: Api,
    pub(super) route_arns: Vec<MethodArn>,
    pub(super) cache_ttl: u64,
    /// API Gateway in front of the target; `None` for `url:` targets, which have their own.
    pub(super) gateway: Option<Gateway>,
    /// How the gateway is set up (for the fresh gateways of cold-start cases).
    pub(super) gateway_config: GatewayConfig,
    /// The variant calibration settled on, when the profile's form was refused.
    pub(super) baseline: std::sync::OnceLock<Baseline>,
    /// Set when calibration found no form of the good token that is allowed: rejections then
    /// prove nothing, and no policy snapshot is written (a refusal would be accepted as the
    /// policy, and the next, correctly configured run would call it a regression).
    pub(super) good_refused: std::sync::atomic::AtomicBool,
    /// JWKS fetches during the unknown-kid flood, and the kids it sent.
    pub(super) flood_fetches: std::sync::OnceLock<(u64, usize)>,
    /// When the run's own environment took the key-rotation case's new key (seconds after it
    /// was published).
    pub(super) rotation_taken: std::sync::OnceLock<f64>,
}

/// A calibrated baseline: the variants (one, or two together), and the minter that mints every
/// token on it.
pub(super) struct Baseline {
    pub(super) variants: Vec<&'static calibrate::Variant>,
    pub(super) minter: crate::tokens::Minter,
    /// The guessable secret `minter` signs with, when calibration found one.
    pub(super) secret: Option<&'static str>,
}

pub(super) struct Sent {
    pub(super) outcome: Option<Outcome>,
    /// The HTTP status a client would see.
    pub(super) http_status: Option<u16>,
    /// Whether the gateway answered from its result cache.
    pub(super) cached: bool,
    pub(super) detail: String,
    pub(super) response: Option<Value>,
    pub(super) elapsed_ms: f64,
    pub(super) cold: bool,
    pub(super) could_not_ask: bool,
    /// When API Gateway answered without an authorizer outcome (`outcome` is `None`): whether
    /// a correct deployment refuses this request so whatever the authorizer does, which is
    /// all a must-reject case may pass on without one.
    pub(super) refusal_proves: bool,
    /// What the handler printed while it answered.
    pub(super) output: crate::target::output::Output,
    /// How the environment failed after it answered, if it did.
    pub(super) after_answer: Option<String>,
    /// The credential the request carried (Authorization, or `--token-header`).
    pub(super) credential: Option<String>,
}

impl Runner {
    pub(super) fn request(&self, case: &CaseSpec, header: Option<String>) -> ClientRequest {
        let mut r = ClientRequest::get(&case.route.path, header);
        r.method = case.route.method.clone();
        for (name, value) in &self.options.extra_headers {
            r.headers.insert(name.clone(), value.expose().to_string());
        }
        if let Some(name) = &self.options.token_header
            && let Some(token) = r.authorization.take()
        {
            r.headers.insert(name.clone(), token);
        }
        r
    }

    /// Sends straight to the target (`url:` targets, which are behind their own gateway).
    pub(super) async fn send_to(&self, target: &dyn Target, request: ClientRequest) -> Sent {
        let event = event::build(self.options.profile.event, &self.api, &request);
        let arn = request.method_arn(&self.api).to_string();
        let credential = self.credential(&request);
        let answer = target.call(&Call { event, request }).await;
        let api = self
            .options
            .profile
            .event
            .api(self.options.profile.simple_responses);
        let (outcome, mut detail) = target::classify(&answer.reply, api, &arn);
        let could_not_ask = answer.reply.as_ref().is_err_and(|e| e.is_could_not_ask());
        // A deployed REST API answers a route or method it does not have with 403 "Missing
        // Authentication Token" before any authorizer (reference §2.3, D-GWR): no outcome.
        let no_route = matches!(&answer.reply, Ok(Reply::Http { status: 403, body })
            if body.contains("Missing Authentication Token"));
        if no_route {
            detail = "HTTP 403 Missing Authentication Token: the deployed API has no such route or method, so no authorizer ran".into();
        }
        Sent {
            outcome: (!could_not_ask && !no_route).then_some(outcome),
            http_status: match &answer.reply {
                Ok(Reply::Http { status, .. }) => Some(*status),
                _ => None,
            },
            cached: false,
            detail,
            response: match answer.reply {
                Ok(Reply::Response(doc)) => Some(doc),
                _ => None,
            },
            elapsed_ms: answer.elapsed.as_secs_f64() * 1e3,
            cold: answer.cold,
            could_not_ask,
            refusal_proves: false,
            output: answer.output,
            after_answer: answer.after_answer,
            credential,
        }
    }

    /// Sends through API Gateway's rules: what a client would see.
    pub(super) async fn send_via(&self, gateway: &Gateway, request: ClientRequest) -> Sent {
        let started = Instant::now();
        let credential = self.credential(&request);
        let answer = gateway.handle(gateway_request(&request)).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        let status = answer.status;
        let (cold, could_not_ask, response, cached) = match &answer.auth {
            AuthStep::Invoked(a) => (
                a.cold,
                a.reply.as_ref().is_err_and(|e| e.is_could_not_ask()),
                match &a.reply {
                    Ok(Reply::Response(doc)) => Some(doc.clone()),
                    _ => None,
                },
                false,
            ),
            AuthStep::Cached(doc) => (false, false, Some((**doc).clone()), true),
            AuthStep::NotInvoked => (false, false, None, false),
        };
        // Before the authorizer, only a missing or empty identity and a token that fails the
        // validation expression are the verdict a correct deployment gives (401); any other
        // refusal there (no route, quotas, a bad path) is no outcome of the authorizer.
        let outcome = match (&answer.auth, answer.refusal) {
            (AuthStep::NotInvoked, Some(Refusal::MissingIdentity | Refusal::ValidationFailed)) => {
                Some(Outcome::Unauthorized)
            }
            (AuthStep::NotInvoked, _) => None,
            _ => match status {
                200..=299 => Some(Outcome::Allow),
                401 => Some(Outcome::Unauthorized),
                403 => Some(Outcome::Deny),
                500..=599 => Some(Outcome::Error),
                _ => None,
            },
        };
        // The size quota proves a rejection only when it is the token that breaks it: the
        // same request with the good token in its place fits.
        let refusal_proves =
            answer.refusal == Some(Refusal::TooLarge) && self.fits_with_good_token(&request);
        let detail = match &answer.auth {
            AuthStep::NotInvoked if answer.detail.is_empty() => {
                format!("API Gateway answered {status} without invoking the authorizer")
            }
            AuthStep::NotInvoked => format!(
                "API Gateway answered {status} without invoking the authorizer: {}",
                answer.detail
            ),
            AuthStep::Cached(_) => format!("{}, from the cached policy", answer.detail),
            AuthStep::Invoked(_) => answer.detail.clone(),
        };
        let (output, after_answer) = match answer.auth {
            AuthStep::Invoked(a) => (a.output, a.after_answer),
            _ => Default::default(),
        };
        Sent {
            outcome: (!could_not_ask).then_some(outcome).flatten(),
            http_status: Some(status),
            cached,
            detail,
            response,
            elapsed_ms,
            cold,
            could_not_ask,
            refusal_proves,
            output,
            after_answer,
            credential,
        }
    }

    /// The credential `request` carries: in `--token-header`, else in Authorization.
    fn credential(&self, request: &ClientRequest) -> Option<String> {
        match &self.options.token_header {
            Some(name) => request.headers.get(name).cloned(),
            None => request.authorization.clone(),
        }
    }

    /// What the report must never show of handler output: the case's token (whole and by
    /// segment), the headers every request carries, and the shared secret.
    pub(super) fn secrets<'a>(&'a self, credential: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
        let mut secrets = Vec::new();
        if let Some(credential) = credential {
            let token = credential
                .split_once(' ')
                .map_or(credential, |(_, t)| t.trim());
            secrets.push((credential, "[token]"));
            secrets.push((token, "[token]"));
            let segments: Vec<&str> = token.split('.').collect();
            if segments.len() == 3 {
                secrets.push((segments[2], "[token signature]"));
                secrets.push((segments[1], "[token payload]"));
            }
        }
        for (_, value) in &self.options.extra_headers {
            secrets.push((value.expose(), "[header value]"));
        }
        // The run's own secret, whatever minter a calibrated baseline signs with (a guessed
        // secret is public: it is in the list).
        if let Ok(secret) = std::str::from_utf8(&self.harness.minter.settings().secret) {
            secrets.push((secret, "[secret]"));
        }
        secrets
    }

    /// Whether `request` would fit API Gateway's quota on the request line and headers with
    /// the good token (in its longest form, with `Bearer `) in place of its own credential.
    /// Without a good token to compare, it does not.
    pub(super) fn fits_with_good_token(&self, request: &ClientRequest) -> bool {
        let credential = match &self.options.token_header {
            Some(name) => request.headers.get(name),
            None => request.authorization.as_ref(),
        };
        let Ok(good) = self.minter().mint(self.minter().good_kind()) else {
            return false;
        };
        let good = good.header_value().len();
        let profile = &self.options.profile;
        let http_api = profile.event.api(profile.simple_responses) != crate::policy::ApiKind::Rest;
        let bytes = gateway_request(request).quota_bytes(&self.api.stage, http_api);
        bytes - credential.map_or(0, String::len) + good
            <= crate::gateway::MAX_REQUEST_LINE_AND_HEADERS
    }

    pub(super) async fn send(&self, request: ClientRequest) -> Sent {
        match &self.gateway {
            Some(gateway) => self.send_via(gateway, request).await,
            None => self.send_to(self.harness.target.as_ref(), request).await,
        }
    }

    /// Mints every token of the run: on the calibrated baseline once there is one.
    pub(super) fn minter(&self) -> &crate::tokens::Minter {
        self.baseline
            .get()
            .map_or(&self.harness.minter, |b| &b.minter)
    }

    pub(super) fn header(&self, case: &CaseSpec, minted: &crate::tokens::Minted) -> Option<String> {
        if let (Some(b), HeaderForm::AsMinted) = (self.baseline.get(), case.header)
            && let Some(shape) = b.variants.iter().find_map(|v| match v.change {
                calibrate::Change::Header(shape) => Some(shape),
                calibrate::Change::Claims(_) | calibrate::Change::Secret => None,
            })
        {
            return Some(calibrate::header_on(shape, minted));
        }
        Some(match case.header {
            HeaderForm::Raw => minted.credential.clone(),
            HeaderForm::AsMinted
                if !self.options.profile.bearer
                    && minted.scheme == crate::tokens::Scheme::Bearer =>
            {
                minted.credential.clone()
            }
            HeaderForm::AsMinted => minted.header_value(),
        })
    }

    pub(super) fn judge_ctx(&self) -> verdict::Context<'_> {
        verdict::Context {
            event: self.options.profile.event,
            simple: self.options.profile.simple_responses,
            cache_ttl: self.cache_ttl,
            routes: &self.route_arns,
            shared_keys: self.options.profile.shared_keys,
            subject: (self.options.profile.profile != Profile::Static)
                .then_some(self.minter().settings().subject.as_str()),
        }
    }

    pub(super) fn result(
        &self,
        case: &CaseSpec,
        what: &str,
        reason: Option<String>,
        sent: Sent,
        kind: Option<Kind>,
    ) -> CaseResult {
        let mut findings = Vec::new();
        let mut detail = sent.detail.clone();
        // API Gateway refused the request before the authorizer with a status that is no
        // outcome of it (431, 414, …): the authorizer is not blamed; a good token refused is.
        // A token that must be rejected passes on such a refusal only when it proves the
        // rejection (`refusal_proves`); otherwise nothing was judged, and the case says so
        // instead of passing.
        let unjudged = sent.outcome.is_none()
            && !sent.could_not_ask
            && !case.expect_allow
            && sent.http_status.is_some()
            && !sent.refusal_proves;
        if unjudged {
            detail = format!(
                "not judged: {detail}; API Gateway gives that answer whatever the authorizer does, so nothing is known of how the authorizer treats this token"
            );
        }
        if sent.outcome.is_none()
            && !sent.could_not_ask
            && case.expect_allow
            && let Some(status) = sent.http_status
        {
            findings.push(Finding {
                threat: None,
                severity: Severity::Availability,
                message: format!("a good token got HTTP {status} from API Gateway: {detail}"),
                why: "legitimate callers are refused before the authorizer runs".into(),
                fix:
                    "keep the request line and headers under 10,240 bytes, and the route in the API"
                        .into(),
            });
        }
        if let Some(outcome) = sent.outcome {
            let catalogue_reason = kind.and_then(|k| match self.minter().expect(k) {
                Some(Expect::Reject(r)) => Some(r),
                _ => None,
            });
            findings = verdict::judge(
                case.expect_allow,
                kind,
                catalogue_reason,
                outcome,
                &detail,
                sent.response.as_ref(),
                &self.judge_ctx(),
            );
        }
        let snapshot = match (&self.options.snapshots, &sent.response) {
            (Some(snaps), Some(doc))
                if !self.good_refused.load(std::sync::atomic::Ordering::SeqCst) =>
            {
                Some(snaps.check(&case.name, doc))
            }
            _ => None,
        };
        if let (Some(snaps), Some(status)) = (&self.options.snapshots, &snapshot) {
            findings.extend(snaps.finding(status));
        }
        let mut notes = Vec::new();
        let output = super::evidence::judge(
            case,
            &sent,
            &mut findings,
            &mut notes,
            &self.secrets(sent.credential.as_deref()),
        );
        CaseResult {
            reason,
            observed: sent.outcome,
            http_status: sent.http_status,
            detail,
            status: status_of(
                &findings,
                sent.could_not_ask || unjudged,
                self.options.strict,
            ),
            findings,
            response: sent.response,
            snapshot,
            elapsed_ms: sent.elapsed_ms,
            cold: sent.cold,
            notes,
            output,
            ..blank(case, what)
        }
    }

    pub(super) fn skipped(&self, case: &CaseSpec, what: &str, why: &str) -> CaseResult {
        CaseResult {
            detail: why.to_string(),
            ..blank(case, what)
        }
    }

    pub(super) async fn good_request(&self, case: &CaseSpec) -> ClientRequest {
        let minted = self
            .minter()
            .mint(self.minter().good_kind())
            .expect("the good kind applies");
        self.request(case, self.header(case, &minted))
    }
}

/// A client's request as it reaches the gateway.
pub(super) fn gateway_request(request: &ClientRequest) -> GatewayRequest {
    let mut r = GatewayRequest::new(&request.method, &request.path);
    if let Some(a) = &request.authorization {
        r = r.header(&request.authorization_name, a);
    }
    for (k, v) in &request.headers {
        r = r.header(k, v);
    }
    for (k, v) in &request.query {
        r = r.query(k, v);
    }
    r
}

/// A result naming `case`, skipped until filled in.
pub(super) fn blank(case: &CaseSpec, what: &str) -> CaseResult {
    CaseResult {
        name: case.name.clone(),
        kind: match case.kind {
            CaseKind::Token(k) => k.name().to_string(),
            CaseKind::Stateful(s) => s.name().to_string(),
        },
        stateful: matches!(case.kind, CaseKind::Stateful(_)),
        what: what.to_string(),
        route: case.route.to_string(),
        expected: if case.expect_allow { "allow" } else { "reject" }.to_string(),
        reason: None,
        observed: None,
        http_status: None,
        detail: String::new(),
        status: Status::Skipped,
        findings: Vec::new(),
        response: None,
        snapshot: None,
        elapsed_ms: 0.0,
        wall_ms: 0.0,
        cold: false,
        notes: Vec::new(),
        causes: Vec::new(),
        output: Default::default(),
    }
}

pub(super) fn status_of(findings: &[Finding], could_not_ask: bool, strict: bool) -> Status {
    if could_not_ask {
        Status::Errored
    } else if findings.iter().any(|f| f.severity.fails(strict)) {
        Status::Failed
    } else if findings.is_empty() {
        Status::Passed
    } else {
        Status::Warned
    }
}
