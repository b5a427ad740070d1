//! Judging one answer: security, availability and contract findings, each with why it matters
//! and how to fix it.

use serde::Serialize;
use serde_json::Value;

use crate::event::EventKind;
use crate::policy::{self, ApiKind, Decision, MethodArn};
use crate::target::Outcome;
use crate::tokens::{Kind, Reason, Threat};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A token that must be rejected was allowed (critical).
    Security,
    /// A good token was not allowed, or the authorizer failed (500).
    Availability,
    /// The policy document changed since the last accepted snapshot.
    Regression,
    /// A bad token was allowed that only the trusted issuer could have made (another
    /// algorithm by its key, no `exp`, a genuine signature under a wrong `kid`): no one else
    /// gets in, but the authorizer trusts more than it should (a warning unless `--strict`).
    Hardening,
    /// A contract broken without a hole or a lockout: API Gateway's (Deny instead of
    /// Unauthorized, a policy unsafe to cache, …), the JWT RFCs', the profile's leeway (a
    /// warning unless `--strict`).
    Contract,
}

impl Severity {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Security => "security",
            Severity::Availability => "availability",
            Severity::Regression => "regression",
            Severity::Hardening => "hardening",
            Severity::Contract => "contract",
        }
    }
}

/// One thing wrong with an answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// For a bad token allowed: who can make such a token ([`Threat`]), which decides
    /// between `security` and `hardening`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threat: Option<Threat>,
    /// How bad.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// Why it matters.
    pub why: String,
    /// How to fix it.
    pub fix: String,
}

fn finding(severity: Severity, message: impl Into<String>, why: &str, fix: &str) -> Finding {
    Finding {
        threat: None,
        severity,
        message: message.into(),
        why: why.into(),
        fix: fix.into(),
    }
}

/// The fix for an authorizer that allowed a token bad for `reason`.
pub fn security_fix(reason: Reason) -> &'static str {
    use Reason::*;
    match reason {
        Expired => {
            "verify exp on every token, with at most a small leeway; never turn expiry checks off"
        }
        NotYetValid => "verify nbf (with the same small leeway as exp)",
        IssuedInFuture => "reject tokens whose iat lies in the future beyond the leeway",
        MissingClaim => {
            "require exp, iss, sub and the audience claim; a library may treat a missing claim as valid unless told it is required"
        }
        ClaimType => {
            "reject exp/nbf/iat that are not numbers: some libraries skip the check for a string (CVE-2026-25537 class)"
        }
        KidMissing => {
            "require a kid and look it up in the JWKS; never fall back to the first or only key"
        }
        KidUnknown => "accept only kids the JWKS holds; never use a kid as a file path, URL or SQL",
        BadSignature => "verify the signature with the key the kid names, and only that key",
        WeakKey => "refuse RSA keys under 2048 bits, even when the JWKS publishes them",
        UntrustedKeyHeader => {
            "take keys only from the configured JWKS URL; ignore or refuse jwk, jku, x5u and x5c headers"
        }
        AlgNotAllowed => {
            "pin the algorithm (e.g. algorithms=[\"RS256\"]); never take alg from the token, never accept none or HS256 with the RSA public key"
        }
        UnknownCrit => {
            "refuse tokens whose crit lists an extension you do not understand (RFC 7515 §4.1.11)"
        }
        WrongIssuer => {
            "compare iss with the expected issuer exactly: no prefix, substring or trailing-slash matching"
        }
        WrongAudience => {
            "require aud to hold this API's audience (a string equal to it, or an array containing it)"
        }
        WrongTokenUse => {
            "check Cognito token_use: access tokens where access is required, id tokens where id is"
        }
        WrongClientId => "check client_id of Cognito access tokens against the app client",
        Malformed => "refuse anything that is not exactly three base64url parts",
        Oversized => "refuse tokens over a few kilobytes before parsing them",
        BadScheme => "accept exactly `Bearer <token>` (scheme case-insensitive, one space)",
        MissingToken => "reject a missing or empty credential",
        WrongStaticToken => {
            "compare the whole header value with the expected token, in constant time"
        }
        MissingScope => "require the API's scopes in the token's scope claim",
        KeysUnavailable => "fail closed: when the JWKS cannot be fetched, reject",
    }
}

fn availability_fix(kind: Option<Kind>) -> &'static str {
    match kind {
        Some(Kind::ValidAudArray) => {
            "accept aud as an array that holds the audience (RFC 7519 §4.1.3)"
        }
        Some(Kind::ValidWithinLeeway) => "allow a small leeway (e.g. 60 s) on exp for clock skew",
        Some(Kind::BearerLowercase) => {
            "compare the scheme `Bearer` case-insensitively (RFC 7235 §2.1)"
        }
        Some(Kind::CognitoAccess) => {
            "Cognito access tokens carry client_id and no aud: check client_id and token_use=access, not aud"
        }
        Some(Kind::CognitoId) => "Cognito ID tokens carry aud (the app client id) and token_use=id",
        _ => {
            "check the authorizer's issuer, audience, client id, secret and JWKS URL against the profile"
        }
    }
}

/// How the static cache-coverage finding begins (conform replaces it with what it observed).
pub const UNCOVERED: &str = "the Allow does not cover";

/// What the judge needs besides the answer.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// Event shape (REST or HTTP API).
    pub event: EventKind,
    /// HTTP API simple responses.
    pub simple: bool,
    /// Result cache TTL of the API.
    pub cache_ttl: u64,
    /// Method ARNs of every route of the API.
    pub routes: &'a [MethodArn],
    /// The `sub` good tokens carry (`None` for the static profile).
    pub subject: Option<&'a str>,
    /// Whether the issuer's key set is shared with other issuers (the profile's
    /// `shared_keys`): then an `iss` check is what keeps them out.
    pub shared_keys: bool,
}

impl Severity {
    /// Whether a finding of this severity fails the run (the warnings, contract and
    /// hardening, only with `--strict`).
    pub fn fails(self, strict: bool) -> bool {
        strict || !matches!(self, Severity::Contract | Severity::Hardening)
    }
}

/// Judges one answer. `kind` is the token kind, `reason` why a correct authorizer rejects it.
pub fn judge(
    expect_allow: bool,
    kind: Option<Kind>,
    reason: Option<Reason>,
    outcome: Outcome,
    detail: &str,
    response: Option<&Value>,
    cx: &Context<'_>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    // The routes a refused good token's policy allows: it was accepted, and the mapping from
    // the token to routes (scopes, groups, the Resource list) is what refused it.
    let partial: Vec<String> = match (expect_allow, outcome, response) {
        (true, Outcome::Deny, Some(doc)) => allowed_routes(doc, cx),
        _ => Vec::new(),
    };
    match (expect_allow, outcome) {
        (true, Outcome::Allow) | (false, Outcome::Unauthorized) => {}
        // One wording for good and bad tokens alike: a crash is one cause, whichever token
        // reached it, and the report groups it as one.
        (_, Outcome::Error) => out.push(finding(
            Severity::Availability,
            format!("the authorizer failed: {detail}"),
            "API Gateway answers 500 instead of a verdict: callers get errors, alarms fire, and anyone who can reach this path can trigger it at will",
            "catch every failure in the handler and answer within the timeout: reject with exactly `Unauthorized`; allow only with a policy API Gateway accepts",
        )),
        // A token past its exp by less than the profile's leeway is expired all the same: an
        // authorizer with less leeway (PyJWT's default is none) refuses it, and no caller with
        // a token still in its lifetime is refused for it. What it costs is said, as a warning.
        (true, Outcome::Unauthorized | Outcome::Deny) if kind == Some(Kind::ValidWithinLeeway) => {
            out.push(finding(
                Severity::Contract,
                format!("a token past its exp by less than the profile's leeway was refused ({outcome}: {detail}): the authorizer allows less leeway on exp than the profile says"),
                "no token still within its lifetime was refused; but where the authorizer's clock runs ahead of the IdP's or the client's, tokens are refused a little before the expiry the client sees, and clients that refresh on exp get 401s they did not expect",
                "allow a small leeway on exp (PyJWT: jwt.decode(..., leeway=60)), or set leeway_seconds in the profile to the leeway the authorizer allows (0: the case is skipped)",
            ));
        }
        (true, Outcome::Deny) if !partial.is_empty() => {
            out.push(finding(
                Severity::Availability,
                format!(
                    "a good token was not allowed ({outcome}: {detail}), though its policy allows {}",
                    partial.join(", ")
                ),
                "legitimate callers are locked out of this route",
                "the token was accepted: it is the route or scope logic that builds the policy's Resource list that leaves this route out; add it (or return the whole stage, …/STAGE/*/*)",
            ));
        }
        (true, _) => out.push(finding(
            Severity::Availability,
            format!("a good token was not allowed ({outcome}: {detail})"),
            "legitimate callers are locked out",
            availability_fix(kind),
        )),
        // Who gets in decides how bad it is: anyone, or a holder of another token, is a hole;
        // only the issuer itself is a weakness. A stateful case with no kind (no header at
        // all) is anyone's.
        (false, Outcome::Allow) => {
            let threat = kind.and_then(Kind::threat).unwrap_or(Threat::Anyone);
            let severity = if threat.exploitable(cx.shared_keys) {
                Severity::Security
            } else {
                Severity::Hardening
            };
            // The kid cases share one defect, whichever kid showed it: one cause, one fix.
            let (message, fix) = if threat == Threat::KidIgnored {
                (
                    format!("{KID_IGNORED} ({detail})"),
                    KID_IGNORED_FIX.to_string(),
                )
            } else {
                (
                    format!("a token that must be rejected was allowed ({detail})"),
                    reason.map_or("reject it", security_fix).to_string(),
                )
            };
            out.push(Finding {
                threat: Some(threat),
                severity,
                message,
                why: threat.who(cx.shared_keys).to_string(),
                fix,
            });
        }
        // HTTP APIs reject with `isAuthorized: false` (simple responses) or a Deny policy, both
        // answered 403: that is their documented contract (reference §2.2 and D-HTTP), and
        // the `Unauthorized` convention belongs to REST APIs. Only REST is judged on it.
        (false, Outcome::Deny) if cx.event.api(cx.simple) != ApiKind::Rest => {}
        (false, Outcome::Deny) => out.push(finding(
            Severity::Contract,
            format!("rejected with a Deny policy (403) instead of Unauthorized (401): {detail}"),
            "clients cannot tell a bad token (refresh it) from a forbidden route; a Deny is also cached for the token",
            "raise an error whose message is exactly `Unauthorized` (Python: raise Exception(\"Unauthorized\"); Node: throw new Error(\"Unauthorized\"))",
        )),
    }
    // A bad token denied on this route whose policy allows another route of the API gets in
    // there: a bad token let in is judged the same whichever route the case used.
    if !expect_allow
        && outcome == Outcome::Deny
        && let Some(doc) = response
    {
        let elsewhere = allowed_routes(doc, cx);
        if !elsewhere.is_empty() {
            let threat = kind.and_then(Kind::threat).unwrap_or(Threat::Anyone);
            out.retain(|f| f.severity != Severity::Contract);
            out.push(Finding {
                threat: Some(threat),
                severity: if threat.exploitable(cx.shared_keys) {
                    Severity::Security
                } else {
                    Severity::Hardening
                },
                message: format!(
                    "a token that must be rejected was denied here but its policy allows {}",
                    elsewhere.join(", ")
                ),
                why: threat.who(cx.shared_keys).to_string(),
                fix: reason.map_or("reject it", security_fix).to_string(),
            });
        }
    }
    // The policy of a token that should have been refused is beside the point: that case has
    // already failed.
    if expect_allow
        && outcome == Outcome::Allow
        && let Some(doc) = response
    {
        policy_findings(doc, cx, &mut out);
    }
    // A Condition the emulator cannot evaluate never passes silently: it is said on the case.
    if let Some(doc) = response {
        let conditioned = crate::policy::conditions(doc);
        if !conditioned.is_empty() {
            out.push(finding(
                Severity::Contract,
                format!(
                    "the policy has a Condition ({}) that the emulator does not evaluate: a conditioned Allow was taken as granting nothing, a conditioned Deny as applying",
                    conditioned.join(", ")
                ),
                "AWS does not document whether API Gateway evaluates a Condition in an authorizer's policy: what this verdict shows may not be what callers get",
                "decide in the authorizer (allow or deny for this request) instead of returning a Condition",
            ));
        }
    }
    out
}

/// The words of a token with a wrong or missing `kid` and a genuine signature that got in.
const KID_IGNORED: &str = "the kid is not looked at: a token with a wrong, unknown or missing kid but a genuine signature by a published key was allowed";
/// Its fix, the same for every kid case.
const KID_IGNORED_FIX: &str = "verify with the JWKS key the token's kid names, and only that key; reject a token whose kid is missing or not in the key set (refetching the JWKS at most once per interval); never fall back to the first or only key";

/// The routes of the API (`GET /hello`) a policy document allows.
fn allowed_routes(doc: &Value, cx: &Context<'_>) -> Vec<String> {
    let api = cx.event.api(cx.simple);
    cx.routes
        .iter()
        .filter(|arn| policy::evaluate(doc, api, &arn.to_string()) == Ok(Decision::Allow))
        .map(|arn| format!("{} /{}", arn.verb, arn.path))
        .collect()
}

fn policy_findings(doc: &Value, cx: &Context<'_>, out: &mut Vec<Finding>) {
    let api = cx.event.api(cx.simple);
    if api == ApiKind::HttpV2Simple {
        return;
    }
    if let (Some(sub), Some(principal)) =
        (cx.subject, doc.get("principalId").and_then(Value::as_str))
        && principal != sub
    {
        out.push(finding(
            Severity::Contract,
            format!("principalId `{principal}` is not the token's sub `{sub}`"),
            "logs, usage plans and the integration see the wrong caller",
            "set principalId to the verified token's sub",
        ));
    }
    if cx.cache_ttl > 0 {
        let uncovered: Vec<String> = cx
            .routes
            .iter()
            .filter(|arn| policy::evaluate(doc, api, &arn.to_string()) != Ok(Decision::Allow))
            .map(|arn| format!("{} /{}", arn.verb, arn.path))
            .collect();
        if !uncovered.is_empty() {
            out.push(finding(
                Severity::Contract,
                format!(
                    "{UNCOVERED} {} while results are cached for {} s",
                    uncovered.join(", "),
                    cx.cache_ttl
                ),
                "API Gateway reuses the cached policy for every route: the same token then gets 403 there",
                "return Resource arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/*/* (or every route), or set the TTL to 0",
            ));
        }
    }
    if api == ApiKind::Rest {
        let bad = policy::non_primitive_context(doc);
        if !bad.is_empty() {
            out.push(finding(
                Severity::Contract,
                format!("context values {} are objects or arrays", bad.join(", ")),
                "REST APIs accept only strings, numbers and booleans in context: the request fails with 500",
                "flatten the context, or JSON-encode the value into a string",
            ));
        }
    }
    if doc
        .get("usageIdentifierKey")
        .is_some_and(|k| !k.is_string() && !k.is_null())
    {
        out.push(finding(
            Severity::Contract,
            "usageIdentifierKey is not a string",
            "API Gateway cannot match it to a usage plan key",
            "return the API key as a string, or leave the field out",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(event: EventKind, simple: bool) -> Context<'static> {
        Context {
            event,
            simple,
            cache_ttl: 0,
            routes: &[],
            subject: None,
            shared_keys: false,
        }
    }

    #[test]
    fn a_rejection_by_deny_is_a_contract_finding_on_rest_apis_only() {
        let judge_deny = |event, simple| {
            judge(
                false,
                Some(Kind::Expired),
                Some(Reason::Expired),
                Outcome::Deny,
                "isAuthorized is false",
                None,
                &cx(event, simple),
            )
        };
        assert_eq!(judge_deny(EventKind::Token, false).len(), 1);
        assert_eq!(judge_deny(EventKind::Request, false).len(), 1);
        // HTTP APIs reject with isAuthorized: false or a Deny policy: their documented way.
        assert!(judge_deny(EventKind::V2, true).is_empty());
        assert!(judge_deny(EventKind::V2, false).is_empty());
        assert!(judge_deny(EventKind::V1, false).is_empty());
    }

    #[test]
    fn a_bad_token_allowed_is_security_when_others_can_make_it_and_hardening_when_only_the_issuer_can()
     {
        let allowed = |kind: Kind, shared_keys: bool| {
            let cx = Context {
                shared_keys,
                ..cx(EventKind::Token, false)
            };
            let f = judge(
                false,
                Some(kind),
                None,
                Outcome::Allow,
                "policy allows",
                None,
                &cx,
            );
            (f[0].severity, f[0].why.clone())
        };
        assert_eq!(allowed(Kind::AlgNone, false).0, Severity::Security);
        assert_eq!(allowed(Kind::AudWrong, false).0, Severity::Security);
        assert_eq!(allowed(Kind::Rs512, false).0, Severity::Hardening);
        assert_eq!(allowed(Kind::KidUnknown, false).0, Severity::Hardening);
        assert!(allowed(Kind::KidUnknown, false).1.contains("genuine"));
        // iss: the issuer's own key set makes it the issuer's; a shared one, anyone's.
        assert_eq!(allowed(Kind::IssWrong, false).0, Severity::Hardening);
        assert_eq!(allowed(Kind::IssWrong, true).0, Severity::Security);
        assert!(allowed(Kind::IssWrong, false).1.contains("shared_keys"));
    }

    #[test]
    fn a_bad_token_denied_on_its_route_but_allowed_on_another_is_judged_as_let_in() {
        let api = crate::event::Api::default();
        let get = crate::event::method_arn(&api, "GET", "/hello");
        let options = crate::event::method_arn(&api, "OPTIONS", "/hello");
        let routes = [get.clone(), options.clone()];
        let cx = Context {
            routes: &routes,
            ..cx(EventKind::Token, false)
        };
        // Denied on GET, allowed on OPTIONS: the token gets in there.
        let doc = serde_json::json!({
            "principalId": "x",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": options.to_string()}]},
        });
        let found = judge(
            false,
            Some(Kind::AlgNone),
            Some(Reason::AlgNotAllowed),
            Outcome::Deny,
            "no statement allows the method",
            Some(&doc),
            &cx,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::Security);
        assert!(
            found[0].message.contains("OPTIONS /hello"),
            "{}",
            found[0].message
        );
        // A Deny that allows nothing is the contract warning it always was.
        let deny_all = serde_json::json!({
            "principalId": "x",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "*"}]},
        });
        let found = judge(
            false,
            Some(Kind::AlgNone),
            Some(Reason::AlgNotAllowed),
            Outcome::Deny,
            "policy denies the method explicitly",
            Some(&deny_all),
            &cx,
        );
        assert_eq!(found[0].severity, Severity::Contract);
    }

    #[test]
    fn an_error_reads_the_same_for_good_and_bad_tokens_so_a_crash_is_one_cause() {
        let error = |allow| {
            judge(
                allow,
                None,
                None,
                Outcome::Error,
                "raised KeyError: 'kid' at app.py:9",
                None,
                &cx(EventKind::Token, false),
            )
        };
        assert_eq!(error(true), error(false));
    }

    #[test]
    fn a_token_within_the_leeway_refused_is_a_warning_and_any_other_good_token_refused_fails() {
        let refused = |kind| {
            judge(
                true,
                Some(kind),
                None,
                Outcome::Unauthorized,
                "raised Unauthorized",
                None,
                &cx(EventKind::Token, false),
            )
        };
        let severities =
            |kind| -> Vec<Severity> { refused(kind).iter().map(|f| f.severity).collect() };
        // It is expired all the same: less leeway than the profile's locks no caller out.
        assert_eq!(severities(Kind::ValidWithinLeeway), [Severity::Contract]);
        assert_eq!(severities(Kind::Valid), [Severity::Availability]);
        assert_eq!(severities(Kind::ValidAudArray), [Severity::Availability]);
    }
}
