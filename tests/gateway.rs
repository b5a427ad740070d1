//! The API Gateway emulator: every rule as a table row (each naming the section of
//! reference/api-gateway-authorizers.md or the AWS page it follows), the result cache, the
//! classic cached-policy mistake through the HTTP front, and the curl flow of the tutorial
//! through the real binary.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authprobe::event::{self, Api, EventKind};
use authprobe::gateway::{
    AuthStep, AuthorizerSettings, Clock, ConfigError, Front, Gateway, GatewayConfig,
    GatewayRequest, IdentitySource, MAX_REQUEST_LINE_AND_HEADERS,
};
use authprobe::policy::MethodArn;
use authprobe::target::{Answer, BoxFuture, Call, Reply, Target, TargetError};
use serde_json::{Value, json};

/// An authorizer whose answer the token names, counting its invocations and keeping the last
/// event it saw.
#[derive(Default)]
struct Scripted {
    calls: AtomicU64,
    last_event: Mutex<Option<Value>>,
}

fn allow(principal: &str, resource: &str, context: Value) -> Reply {
    Reply::Response(json!({
        "principalId": principal,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}]},
        "context": context,
    }))
}

/// What the scripted authorizer answers for a token (the credential it reads).
fn script(token: &str, arn: &str) -> Result<Reply, TargetError> {
    let parsed = MethodArn::parse(arn).expect("a method ARN");
    let everywhere = parsed.stage_wildcard();
    let error = |message: &str| {
        Ok(Reply::FunctionError {
            error_type: "Exception".into(),
            message: message.into(),
            stack: Vec::new(),
        })
    };
    match token {
        // The classic mistake: Allow for exactly the method invoked.
        t if t.starts_with("exact") => Ok(allow("user", arn, json!({}))),
        t if t.starts_with("allow") => Ok(allow("user", &everywhere, json!({}))),
        "deny" => Ok(Reply::Response(json!({
            "principalId": "user",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": everywhere}]},
        }))),
        "other" => Ok(allow(
            "user",
            &parsed.with_route("GET", "/other").to_string(),
            json!({}),
        )),
        "context" => Ok(allow(
            "user-1",
            &everywhere,
            json!({"s": "x", "n": 1, "b": true, "z": null}),
        )),
        "context-array" => Ok(allow("user", &everywhere, json!({"roles": ["a"]}))),
        "simple-yes" => Ok(Reply::Response(
            json!({"isAuthorized": true, "context": {"k": [1]}}),
        )),
        "simple-no" => Ok(Reply::Response(json!({"isAuthorized": false}))),
        "malformed" => Ok(Reply::Response(json!({"statusCode": 401}))),
        "lower-case-action" => Ok(Reply::Response(json!({
            "principalId": "user",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:invoke", "Effect": "Allow", "Resource": everywhere}]},
        }))),
        "no-resource" => Ok(Reply::Response(json!({
            "principalId": "user",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": []}]},
        }))),
        "not-resource" => Ok(Reply::Response(json!({
            "principalId": "user",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow",
                 "NotResource": parsed.with_route("GET", "/other").to_string()}]},
        }))),
        "conditioned" => Ok(Reply::Response(json!({
            "principalId": "user",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": everywhere,
                 "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]},
        }))),
        // An Allow of the whole stage under a Resource past the 512-character limit.
        "long-resource" => Ok(allow(
            "user",
            &format!("{everywhere}{}", "x".repeat(600)),
            json!({}),
        )),
        // Answered, but 11 s after it was asked (see `elapsed` below).
        "slow" => Ok(allow("user", &everywhere, json!({}))),
        "timeout" => Err(TargetError::Timeout(Duration::from_secs(3))),
        "boom" => error("boom"),
        _ => error("Unauthorized"),
    }
}

impl Target for Scripted {
    fn describe(&self) -> String {
        "scripted".into()
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            *self.last_event.lock().unwrap() = Some(call.event.clone());
            let (credential, arn) = event::credential_and_arn(&call.event);
            // REQUEST-style events may carry the token elsewhere; v2 sends identitySource.
            let token = credential
                .or_else(|| call.event["identitySource"][0].as_str().map(str::to_string))
                .unwrap_or_default();
            Answer {
                reply: script(&token, &arn.unwrap_or_default()),
                elapsed: if token == "slow" {
                    Duration::from_secs(11)
                } else {
                    Duration::ZERO
                },
                cold: false,
                output: Default::default(),
                after_answer: None,
            }
        })
    }
}

fn routes() -> Vec<authprobe::gateway::Route> {
    ["GET /hello", "POST /items", "GET /items/{id}", "GET /"]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect()
}

fn config() -> GatewayConfig {
    GatewayConfig {
        clock: Clock::manual(),
        ..GatewayConfig::new(
            Api {
                stage: "dev".into(),
                ..Api::default()
            },
            routes(),
        )
    }
}

fn gateway(config: GatewayConfig) -> (Arc<Gateway>, Arc<Scripted>) {
    let target = Arc::new(Scripted::default());
    let gw = Gateway::new(config, target.clone()).expect("a valid configuration");
    (Arc::new(gw), target)
}

fn get(path: &str, token: Option<&str>) -> GatewayRequest {
    let r = GatewayRequest::new("GET", path);
    match token {
        Some(t) => r.header("Authorization", t),
        None => r,
    }
}

fn request_authorizer(c: &mut GatewayConfig, event: EventKind, simple: bool, sources: &[&str]) {
    c.authorizer = AuthorizerSettings {
        identity_sources: sources.iter().map(|s| s.parse().unwrap()).collect(),
        ..AuthorizerSettings::new(event, simple)
    };
}

/// One rule: a gateway set up so, a request, and what API Gateway answers.
struct Row {
    /// The section of reference/api-gateway-authorizers.md (or AWS page) it follows.
    source: &'static str,
    setup: fn(&mut GatewayConfig),
    request: fn() -> GatewayRequest,
    status: u16,
    body: &'static str,
    error_type: Option<&'static str>,
    invoked: bool,
}

fn nothing(_: &mut GatewayConfig) {}

const ROWS: &[Row] = &[
    Row {
        // §2.3 row 1: no token header: 401, the authorizer is not invoked.
        source: "§2.3 missing identity source",
        setup: nothing,
        request: || get("/hello", None),
        status: 401,
        body: r#"{"message":"Unauthorized"}"#,
        error_type: Some("UnauthorizedException"),
        invoked: false,
    },
    Row {
        // §2.3 row 1: an empty token is missing too.
        source: "§2.3 empty identity source",
        setup: nothing,
        request: || get("/hello", Some("")),
        status: 401,
        body: r#"{"message":"Unauthorized"}"#,
        error_type: Some("UnauthorizedException"),
        invoked: false,
    },
    Row {
        // §2.3 row 2: a token failing identityValidationExpression: 401 without invoking.
        source: "§2.3 identityValidationExpression mismatch",
        setup: |c| c.authorizer.validation_expression = Some("allow-[0-9]+".into()),
        request: || get("/hello", Some("allow-x")),
        status: 401,
        body: r#"{"message":"Unauthorized"}"#,
        error_type: Some("UnauthorizedException"),
        invoked: false,
    },
    Row {
        // §2.3 row 2: the whole token must match, not a part of it.
        source: "§2.3 identityValidationExpression partial match",
        setup: |c| c.authorizer.validation_expression = Some("allow-[0-9]+".into()),
        request: || get("/hello", Some("allow-1 and more")),
        status: 401,
        body: r#"{"message":"Unauthorized"}"#,
        error_type: Some("UnauthorizedException"),
        invoked: false,
    },
    Row {
        // §2.3 row 2: a match is invoked.
        source: "§2.3 identityValidationExpression match",
        setup: |c| c.authorizer.validation_expression = Some("allow-[0-9]+".into()),
        request: || get("/hello", Some("allow-1")),
        status: 200,
        body: r#""principalId":"user""#,
        error_type: None,
        invoked: true,
    },
    Row {
        // §2.3 row 3: the error `Unauthorized` is 401.
        source: "§2.3 error Unauthorized",
        setup: nothing,
        request: || get("/hello", Some("unauthorized")),
        status: 401,
        body: r#"{"message":"Unauthorized"}"#,
        error_type: Some("UnauthorizedException"),
        invoked: true,
    },
    Row {
        // §2.3 row 4: a matching Deny.
        source: "§2.3 explicit Deny",
        setup: nothing,
        request: || get("/hello", Some("deny")),
        status: 403,
        body: r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#,
        error_type: Some("AccessDeniedException"),
        invoked: true,
    },
    Row {
        // §2.3 row 5: no statement matches the method ARN.
        source: "§2.3 implicit deny",
        setup: nothing,
        request: || get("/hello", Some("other")),
        status: 403,
        body: r#"{"Message":"User is not authorized to access this resource"}"#,
        error_type: Some("AccessDeniedException"),
        invoked: true,
    },
    Row {
        // §2.3 row 6: any other error is 500 AuthorizerConfigurationException.
        source: "§2.3 other error",
        setup: nothing,
        request: || get("/hello", Some("boom")),
        status: 500,
        body: r#"{"message": null}"#,
        error_type: Some("AuthorizerConfigurationException"),
        invoked: true,
    },
    Row {
        // §2.3 row 6, §6 pain point 2: an HTTP-style `{statusCode: 401}` is malformed: 500.
        source: "§2.3 malformed response",
        setup: nothing,
        request: || get("/hello", Some("malformed")),
        status: 500,
        body: r#"{"message": null}"#,
        error_type: Some("AuthorizerConfigurationException"),
        invoked: true,
    },
    Row {
        // §2.3 row 7: a timeout is 500.
        source: "§2.3 timeout",
        setup: nothing,
        request: || get("/hello", Some("timeout")),
        status: 500,
        body: r#"{"message": null}"#,
        error_type: Some("AuthorizerConfigurationException"),
        invoked: true,
    },
    Row {
        // §2.1 context values (REST): an array fails the request with 500.
        source: "§2.1 REST context array",
        setup: nothing,
        request: || get("/hello", Some("context-array")),
        status: 500,
        body: r#"{"message": null}"#,
        error_type: Some("AuthorizerConfigurationException"),
        invoked: true,
    },
    Row {
        // §2.3 "Allow matches and no Deny matches → integration".
        source: "§2.3 Allow",
        setup: nothing,
        request: || get("/hello", Some("allow")),
        status: 200,
        body: r#""principalId":"user""#,
        error_type: None,
        invoked: true,
    },
    Row {
        // AWS quota pages: request line + headers over 10,240 bytes never reach the authorizer.
        source: "quotas: request line and headers",
        setup: nothing,
        request: || {
            get("/hello", Some("allow")).header("X-Big", &"a".repeat(MAX_REQUEST_LINE_AND_HEADERS))
        },
        status: 431,
        body: "Request Header Fields Too Large",
        error_type: None,
        invoked: false,
    },
    Row {
        // §9 item 11: an HTTP API counts the request line; a long query string is over.
        source: "quotas: HTTP API request line",
        setup: |c| request_authorizer(c, EventKind::V2, false, &["$request.header.Authorization"]),
        request: || {
            get("/hello", Some("allow")).query("q", &"a".repeat(MAX_REQUEST_LINE_AND_HEADERS))
        },
        status: 431,
        body: "Request Header Fields Too Large",
        error_type: None,
        invoked: false,
    },
    Row {
        // §9 item 11: a REST API counts the headers alone; the same query string is not.
        source: "quotas: REST headers only",
        setup: nothing,
        request: || {
            get("/hello", Some("allow")).query("q", &"a".repeat(MAX_REQUEST_LINE_AND_HEADERS))
        },
        status: 200,
        body: "",
        error_type: None,
        invoked: true,
    },
    Row {
        // D-GWR MISSING_AUTHENTICATION_TOKEN: a REST resource that does not exist.
        source: "D-GWR missing resource",
        setup: nothing,
        request: || get("/nowhere", Some("allow")),
        status: 403,
        body: r#"{"message":"Missing Authentication Token"}"#,
        error_type: Some("MissingAuthenticationTokenException"),
        invoked: false,
    },
    Row {
        // Not documented by AWS (src/gateway/path.rs): a dot segment could reach another
        // resource than the policy was evaluated on; refused before routing, 400.
        source: "path: dot segment",
        setup: nothing,
        request: || get("/items/../hello", Some("allow")),
        status: 400,
        body: r#"{"message":"Bad Request"}"#,
        error_type: None,
        invoked: false,
    },
    Row {
        // The same, percent-encoded (reqwest's URL rules resolve `%2e%2e` as `..`).
        source: "path: encoded dot segment",
        setup: nothing,
        request: || get("/items/%2E%2e/hello", Some("allow")),
        status: 400,
        body: r#"{"message":"Bad Request"}"#,
        error_type: None,
        invoked: false,
    },
    Row {
        // And an encoded slash, which a backend may read as a segment boundary.
        source: "path: encoded slash",
        setup: nothing,
        request: || get("/items/a%2Fb", Some("allow")),
        status: 400,
        body: r#"{"message":"Bad Request"}"#,
        error_type: None,
        invoked: false,
    },
    Row {
        // limits.html: a method ARN over 1600 bytes is 414.
        source: "limits: method ARN length",
        setup: nothing,
        request: || get(&format!("/items/{}", "x".repeat(1600)), Some("allow")),
        status: 414,
        body: "Request URI too long",
        error_type: None,
        invoked: false,
    },
    Row {
        // §2.3 row 1 + §3.1: a REQUEST authorizer with caching on needs every identity source.
        source: "§2.3 REQUEST identity source missing, caching on",
        setup: |c| {
            request_authorizer(
                c,
                EventKind::Request,
                false,
                &[
                    "method.request.header.Authorization",
                    "method.request.querystring.tenant",
                ],
            )
        },
        request: || get("/hello", Some("allow")),
        status: 401,
        body: r#"{"message":"Unauthorized"}"#,
        error_type: Some("UnauthorizedException"),
        invoked: false,
    },
    Row {
        // §3.1: a stage variable is an identity source like any other; missing, it is 401.
        source: "§3.1 REQUEST stage variable identity source missing",
        setup: |c| {
            request_authorizer(
                c,
                EventKind::Request,
                false,
                &[
                    "method.request.header.Authorization",
                    "stageVariables.tenant",
                ],
            )
        },
        request: || get("/hello", Some("allow")),
        status: 401,
        body: r#"{"message":"Unauthorized"}"#,
        error_type: Some("UnauthorizedException"),
        invoked: false,
    },
    Row {
        // §3.1: present, it is read from the stage.
        source: "§3.1 REQUEST stage variable identity source present",
        setup: |c| {
            c.api.stage_variables.insert("tenant".into(), "acme".into());
            request_authorizer(
                c,
                EventKind::Request,
                false,
                &[
                    "method.request.header.Authorization",
                    "stageVariables.tenant",
                ],
            )
        },
        request: || get("/hello", Some("allow")),
        status: 200,
        body: r#""principalId":"user""#,
        error_type: None,
        invoked: true,
    },
    Row {
        // API reference identitySource: with caching off a REQUEST authorizer is invoked anyway.
        source: "§2.3 REQUEST identity source missing, caching off",
        setup: |c| {
            c.cache_ttl = 0;
            request_authorizer(
                c,
                EventKind::Request,
                false,
                &[
                    "method.request.header.Authorization",
                    "method.request.querystring.tenant",
                ],
            )
        },
        request: || get("/hello", Some("allow")),
        status: 200,
        body: r#""principalId":"user""#,
        error_type: None,
        invoked: true,
    },
    Row {
        // §2.3 notes (D-HTTP "Identity sources"): an HTTP API answers 401 for a missing source
        // whether or not it caches.
        source: "§2.3 HTTP API identity source missing",
        setup: |c| {
            c.cache_ttl = 0;
            request_authorizer(c, EventKind::V2, true, &["$request.header.Authorization"])
        },
        request: || get("/hello", None),
        status: 401,
        body: r#"{"message":"Unauthorized"}"#,
        error_type: None,
        invoked: false,
    },
    Row {
        // §2.2: isAuthorized false is 403.
        source: "§2.2 simple response false",
        setup: |c| request_authorizer(c, EventKind::V2, true, &["$request.header.Authorization"]),
        request: || get("/hello", Some("simple-no")),
        status: 403,
        body: r#"{"message":"Forbidden"}"#,
        error_type: None,
        invoked: true,
    },
    Row {
        // §2.2 + §2.1: isAuthorized true reaches the integration, context under `lambda`
        // (arrays allowed on HTTP APIs).
        source: "§2.2 simple response true",
        setup: |c| request_authorizer(c, EventKind::V2, true, &["$request.header.Authorization"]),
        request: || get("/hello", Some("simple-yes")),
        status: 200,
        body: r#""authorizer":{"lambda":{"k":[1]}}"#,
        error_type: None,
        invoked: true,
    },
    Row {
        // D-HTTP "Troubleshooting": an invalid response is 500 on HTTP APIs too.
        source: "§2.3 HTTP API invalid response",
        setup: |c| request_authorizer(c, EventKind::V2, false, &["$request.header.Authorization"]),
        request: || get("/hello", Some("malformed")),
        status: 500,
        body: r#"{"message":"Internal Server Error"}"#,
        error_type: None,
        invoked: true,
    },
    Row {
        // §2.1 + §3.1: HTTP API IAM-policy responses are evaluated against the route ARN.
        source: "§2.1 HTTP API policy implicit deny",
        setup: |c| request_authorizer(c, EventKind::V1, false, &["$request.header.Authorization"]),
        request: || get("/hello", Some("other")),
        status: 403,
        body: "User is not authorized to access this resource",
        error_type: Some("AccessDeniedException"),
        invoked: true,
    },
    Row {
        // §9 item 7, IAM JSON policy elements: Action: "the action name [is] case insensitive".
        source: "§9.7 lower-case execute-api:invoke",
        setup: nothing,
        request: || get("/hello", Some("lower-case-action")),
        status: 200,
        body: "",
        error_type: None,
        invoked: true,
    },
    Row {
        // §9 item 7: NotResource is standard IAM, evaluated, not refused.
        source: "§9.7 NotResource naming another route",
        setup: nothing,
        request: || get("/hello", Some("not-resource")),
        status: 200,
        body: "",
        error_type: None,
        invoked: true,
    },
    Row {
        // §9 item 4, aws/chalice#971 (a real capture): an Allow of `"Resource": []` is 403.
        source: "§9.4 Allow with an empty Resource",
        setup: nothing,
        request: || get("/hello", Some("no-resource")),
        status: 403,
        body: "User is not authorized to access this resource",
        error_type: Some("AccessDeniedException"),
        invoked: true,
    },
    Row {
        // §9 item 3: undocumented; a conditioned Allow never passes silently.
        source: "§9.3 Allow with a Condition",
        setup: nothing,
        request: || get("/hello", Some("conditioned")),
        status: 403,
        body: "User is not authorized to access this resource",
        error_type: Some("AccessDeniedException"),
        invoked: true,
    },
    Row {
        // §2.2, the output doc: a Resource ARN is "currently limited to 512 characters";
        // past it is undocumented, so the whole policy is refused (skipping the statement
        // could skip a Deny).
        source: "§2.2 Resource longer than 512 characters",
        setup: nothing,
        request: || get("/hello", Some("long-resource")),
        status: 500,
        body: r#"{"message": null}"#,
        error_type: Some("AuthorizerConfigurationException"),
        invoked: true,
    },
    Row {
        // §9 item 8, HTTP API quotas: "Timeout for Lambda authorizer response: 10000 ms".
        source: "§9.8 HTTP API authorizer answering after 11 s",
        setup: |c| request_authorizer(c, EventKind::V2, false, &["$request.header.Authorization"]),
        request: || get("/hello", Some("slow")),
        status: 500,
        body: r#"{"message":"Internal Server Error"}"#,
        error_type: None,
        invoked: true,
    },
    Row {
        // REST has no authorizer limit of its own: the same answer is allowed.
        source: "§9.8 REST authorizer answering after 11 s",
        setup: nothing,
        request: || get("/hello", Some("slow")),
        status: 200,
        body: "",
        error_type: None,
        invoked: true,
    },
];

#[tokio::test]
async fn every_rule_answers_as_api_gateway_does() {
    for row in ROWS {
        let mut c = config();
        (row.setup)(&mut c);
        let (gw, target) = gateway(c);
        let r = gw.handle((row.request)()).await;
        let what = format!("{}: {} {}", row.source, r.status, r.text());
        assert_eq!(r.status, row.status, "{what}");
        assert!(r.text().contains(row.body), "{what}");
        assert_eq!(r.header("x-amzn-ErrorType"), row.error_type, "{what}");
        let invoked = target.calls.load(Ordering::SeqCst) > 0;
        assert_eq!(invoked, row.invoked, "{what}");
        assert_eq!(
            matches!(r.auth, AuthStep::Invoked(_)),
            row.invoked,
            "{what}"
        );
    }
}

#[tokio::test]
async fn the_method_arn_carries_the_real_path_and_the_root_ends_in_a_slash() {
    // §1.1: path parameter values, not the template; the root resource ends in `/`.
    let (gw, target) = gateway(config());
    let r = gw.handle(get("/items/42", Some("allow"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.method_arn,
        "arn:aws:execute-api:us-east-1:123456789012:authprobe1/dev/GET/items/42"
    );
    let event = target.last_event.lock().unwrap().clone().unwrap();
    assert_eq!(event["type"], "TOKEN");
    assert_eq!(event["authorizationToken"], "allow");
    assert_eq!(event["methodArn"], r.method_arn.as_str());
    let root = gw.handle(get("/", Some("allow"))).await;
    assert!(
        root.method_arn.ends_with("/dev/GET/"),
        "{}",
        root.method_arn
    );
}

#[tokio::test]
async fn a_token_header_of_another_name_is_the_whole_token() {
    // §1.1: the token is the whole value of the configured header, `Bearer ` and all.
    let mut c = config();
    c.authorizer.identity_sources = vec![IdentitySource::Header("X-Token".into())];
    let (gw, target) = gateway(c);
    let r = gw
        .handle(GatewayRequest::new("GET", "/hello").header("x-token", "allow Bearer x"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let event = target.last_event.lock().unwrap().clone().unwrap();
    assert_eq!(event["authorizationToken"], "allow Bearer x");
    assert_eq!(gw.handle(get("/hello", Some("allow"))).await.status, 401);
}

#[tokio::test]
async fn the_integration_sees_the_principal_and_the_context_as_strings_on_rest() {
    // §2.1: numbers and booleans stringified, null kept, principalId added.
    let (gw, _) = gateway(config());
    let r = gw.handle(get("/hello", Some("context"))).await;
    assert_eq!(r.status, 200);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body["requestContext"]["authorizer"],
        json!({"principalId": "user-1", "s": "x", "n": "1", "b": "true", "z": null})
    );
    assert_eq!(body["resource"], "/hello");
}

#[tokio::test]
async fn a_cached_policy_is_evaluated_again_for_each_route() {
    // §3.1, §3.2: the classic mistake in process; the HTTP front test below does it over HTTP.
    let (gw, target) = gateway(config());
    assert_eq!(gw.handle(get("/hello", Some("exact"))).await.status, 200);
    let post = gw
        .handle(GatewayRequest::new("POST", "/items").header("Authorization", "exact"))
        .await;
    assert_eq!(post.status, 403, "{}", post.text());
    assert!(matches!(post.auth, AuthStep::Cached(_)));
    assert_eq!(target.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_deny_is_cached_but_failures_are_not() {
    // §3.1: the Deny policy is cached like any policy; 401 and 500 are not (see cache.rs).
    let (gw, target) = gateway(config());
    for token in ["deny", "unauthorized", "boom", "malformed"] {
        gw.handle(get("/hello", Some(token))).await;
        gw.handle(get("/hello", Some(token))).await;
    }
    assert_eq!(target.calls.load(Ordering::SeqCst), 1 + 2 + 2 + 2);
    let stats = gw.stats();
    assert_eq!(stats.cache_entries, 1);
    assert_eq!(stats.per_status["403"], 2);
}

#[tokio::test]
async fn an_entry_expires_after_the_ttl_on_the_moved_clock() {
    // §3.1: authorizerResultTtlInSeconds, default 300.
    let c = config();
    let clock = c.clock.clone();
    let (gw, target) = gateway(c);
    gw.handle(get("/hello", Some("allow"))).await;
    clock.advance(Duration::from_secs(299));
    gw.handle(get("/hello", Some("allow"))).await;
    assert_eq!(target.calls.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(1));
    gw.handle(get("/hello", Some("allow"))).await;
    assert_eq!(target.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn invocations_equal_distinct_tokens_with_the_cache_on_and_requests_with_it_off() {
    for ttl in [300, 0] {
        let mut c = config();
        c.cache_ttl = ttl;
        let (gw, target) = gateway(c);
        for round in 0..5 {
            for n in 0..10 {
                let path = if round % 2 == 0 { "/hello" } else { "/items/7" };
                let r = gw.handle(get(path, Some(&format!("allow-{n}")))).await;
                assert_eq!(r.status, 200);
            }
        }
        let stats = gw.stats();
        let expected = if ttl > 0 { 10 } else { 50 };
        assert_eq!(target.calls.load(Ordering::SeqCst), expected, "ttl {ttl}");
        assert_eq!(stats.authorizer_invocations, expected, "ttl {ttl}");
        assert_eq!(stats.cache_hits, 50 - expected, "ttl {ttl}");
        assert_eq!(stats.cache_misses, if ttl > 0 { 10 } else { 0 });
        assert_eq!(stats.per_route["GET /hello"].requests, 30);
        assert_eq!(stats.per_status["200"], 50);
    }
}

#[tokio::test]
async fn the_cache_key_is_every_identity_source_value() {
    // §3.1: "When multiple identity sources are defined, they all used to derive the
    // authorizer's cache key."
    let mut c = config();
    request_authorizer(
        &mut c,
        EventKind::Request,
        false,
        &[
            "method.request.header.Authorization",
            "method.request.querystring.tenant",
        ],
    );
    let (gw, target) = gateway(c);
    for tenant in ["a", "b", "a"] {
        let r = gw
            .handle(get("/hello", Some("allow")).query("tenant", tenant))
            .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(target.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn identity_values_holding_nul_cannot_share_a_cache_entry_across_identities() {
    // `?a=p%00q&b=r` and `?a=p&b=q%00r` join to the same bytes with a NUL separator; they are
    // two identities and must be two cache entries (two invocations).
    let mut c = config();
    request_authorizer(
        &mut c,
        EventKind::Request,
        false,
        &[
            "method.request.header.Authorization",
            "method.request.querystring.a",
            "method.request.querystring.b",
        ],
    );
    let (gw, target) = gateway(c);
    let first = get("/hello", Some("allow"))
        .query("a", "p\0q")
        .query("b", "r");
    let second = get("/hello", Some("allow"))
        .query("a", "p")
        .query("b", "q\0r");
    for r in [first, second] {
        assert_eq!(gw.handle(r).await.status, 200);
    }
    assert_eq!(target.calls.load(Ordering::SeqCst), 2);
    assert_eq!(gw.stats().cache_hits, 0);
}

#[tokio::test]
async fn an_http_api_caches_across_routes_unless_the_route_key_is_a_source() {
    // §3.1 (D-HTTP): the cached response serves every route, unless $context.routeKey is an
    // identity source.
    for (sources, calls, post_status) in [
        (&["$request.header.Authorization"][..], 1, 403),
        (
            &["$request.header.Authorization", "$context.routeKey"][..],
            2,
            200,
        ),
    ] {
        let mut c = config();
        request_authorizer(&mut c, EventKind::V2, false, sources);
        let (gw, target) = gateway(c);
        assert_eq!(gw.handle(get("/hello", Some("exact"))).await.status, 200);
        let post = gw
            .handle(GatewayRequest::new("POST", "/items").header("Authorization", "exact"))
            .await;
        assert_eq!(post.status, post_status, "{sources:?}");
        assert_eq!(target.calls.load(Ordering::SeqCst), calls, "{sources:?}");
        let event = target.last_event.lock().unwrap().clone().unwrap();
        assert_eq!(
            event["routeKey"],
            if calls == 2 {
                "POST /items"
            } else {
                "GET /hello"
            }
        );
    }
}

#[tokio::test]
async fn a_flood_of_distinct_tokens_keeps_the_cache_bounded() {
    let mut c = config();
    c.cache_capacity = 50;
    let (gw, _) = gateway(c);
    for n in 0..500 {
        gw.handle(get("/hello", Some(&format!("allow-{n}")))).await;
    }
    let stats = gw.stats();
    assert_eq!(stats.cache_entries, 50);
    assert_eq!(stats.cache_evictions, 450);
}

#[test]
fn settings_api_gateway_refuses_are_refused() {
    let target: Arc<dyn Target> = Arc::new(Scripted::default());
    let refused = |f: fn(&mut GatewayConfig)| {
        let mut c = config();
        f(&mut c);
        Gateway::new(c, target.clone()).unwrap_err()
    };
    assert_eq!(refused(|c| c.cache_ttl = 3601), ConfigError::Ttl(3601));
    assert!(matches!(
        refused(|c| c
            .authorizer
            .identity_sources
            .push(IdentitySource::Query("q".into()))),
        ConfigError::TokenSource(_)
    ));
    assert_eq!(
        refused(|c| {
            request_authorizer(c, EventKind::Request, false, &[]);
        }),
        ConfigError::NoIdentitySource
    );
    assert_eq!(
        refused(|c| {
            request_authorizer(c, EventKind::Request, false, &["$request.header.A"]);
            c.authorizer.validation_expression = Some("x".into());
        }),
        ConfigError::ValidationNotToken
    );
    assert!(matches!(
        refused(|c| c.authorizer.validation_expression = Some("(".into())),
        ConfigError::Regex { .. }
    ));
}

async fn front_with_ttl(ttl: u64) -> (Front, Arc<Gateway>) {
    let mut c = config();
    c.cache_ttl = ttl;
    let (gw, _) = gateway(c);
    let front = Front::start(gw.clone(), "127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    (front, gw)
}

#[tokio::test]
async fn the_classic_mistake_shows_through_the_http_front() {
    // §3.2: Allow Resource = the exact method ARN, cache on, same token: GET /hello then
    // POST /items is 200 then 403; with the cache off, 200 and 200.
    let http = support::http();
    for (ttl, second) in [(300, 403), (0, 200)] {
        let (front, _gw) = front_with_ttl(ttl).await;
        let base = front.base_url();
        assert!(base.ends_with("/dev"), "{base}");
        let first = http
            .get(format!("{base}/hello"))
            .header("Authorization", "exact")
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 200, "ttl {ttl}");
        let post = http
            .post(format!("{base}/items"))
            .header("Authorization", "exact")
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), second, "ttl {ttl}");
        if second == 403 {
            assert_eq!(
                post.headers()["x-amzn-errortype"].to_str().unwrap(),
                "AccessDeniedException"
            );
            assert_eq!(
                post.text().await.unwrap(),
                r#"{"Message":"User is not authorized to access this resource"}"#
            );
        }
    }
}

#[tokio::test]
async fn the_http_front_serves_the_counters_and_the_stage_root() {
    let http = support::http();
    let (front, gw) = front_with_ttl(300).await;
    let base = front.base_url();
    for _ in 0..3 {
        let r = http
            .get(format!("{base}/hello?x=1"))
            .header("Authorization", "allow")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let root = http
        .get(&base)
        .header("Authorization", "allow")
        .send()
        .await
        .unwrap();
    assert_eq!(root.status(), 200);
    let outside = http
        .get(format!("http://{}/prod/hello", front.addr()))
        .header("Authorization", "allow")
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 403);
    let stats: authprobe::gateway::GatewayStats = http
        .get(front.stats_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, gw.stats());
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.authorizer_invocations, 1);
    assert_eq!(stats.cache_hits, 3);
    assert_eq!(stats.cache_misses, 1);
    assert_eq!(stats.cache_entries, 1);
    assert_eq!(stats.per_route["GET /hello"].requests, 3);
    assert_eq!(stats.per_route["GET /"].requests, 1);
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn authprobe(args: &[&str]) -> std::process::Output {
    support::authprobe_command()
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("authprobe runs")
}

#[tokio::test]
async fn the_tutorial_curl_flow_works_against_gateway_serve() {
    let child = support::authprobe_command()
        .args([
            "gateway",
            "serve",
            "--target",
            "builtin:static",
            "--route",
            "GET /hello",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    // Readiness is the printed URL: the front listens before it prints it.
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let base = lines.next().unwrap().unwrap();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/dev"),
        "{base}"
    );
    let http = support::http();
    let status = |token: Option<&'static str>| {
        let mut r = http.get(format!("{base}/hello"));
        if let Some(t) = token {
            r = r.header("Authorization", t);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(Some("allow-token")).await, 200);
    assert_eq!(status(Some("wrong-token")).await, 401);
    assert_eq!(status(None).await, 401);
    // SIGTERM stops it cleanly.
    unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) };
    assert_eq!(server.0.wait().unwrap().code(), Some(0));
}

#[tokio::test]
async fn gateway_serve_streams_each_request_with_the_handlers_output_and_never_the_token() {
    let bootstrap = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/runtime/bootstrap.py")
        .display()
        .to_string();
    let child = support::authprobe_command()
        .args([
            "gateway",
            "serve",
            "--profile",
            "static",
            "--target",
            &format!("lambda:python3 {bootstrap}"),
            "--env",
            "PRINT_EVENT=1",
            "--env",
            "MODE=bare",
            "--route",
            "GET /hello",
            "--cache-ttl",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut stdout = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let base = stdout.next().unwrap().unwrap();
    let stderr = server.0.stderr.take().unwrap();
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let http = support::http();
    let token = "a-token-nobody-may-read-1234";
    let answer = http
        .get(format!("{base}/hello"))
        .header("Authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    // The handler printed the event, token and all: shown under the request, token removed.
    let mut seen = Vec::new();
    while let Ok(line) = received.recv_timeout(std::time::Duration::from_secs(10)) {
        let done = line.contains("stdout |");
        seen.push(line);
        if done {
            break;
        }
    }
    unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) };
    let _ = server.0.wait();
    let request = seen
        .iter()
        .position(|l| l.starts_with("GET /dev/hello -> 200 allow (authorizer invoked"))
        .unwrap_or_else(|| panic!("{seen:#?}"));
    let printed = &seen[request + 1];
    assert!(printed.starts_with("  stdout | {"), "{seen:#?}");
    assert!(
        printed.contains("\"authorizationToken\": \"[token]\""),
        "{seen:#?}"
    );
    assert!(seen.iter().all(|l| !l.contains(token)), "{seen:#?}");
}

#[tokio::test]
async fn gateway_serve_quiet_prints_no_request_lines() {
    for quiet in [false, true] {
        let mut args = vec![
            "gateway",
            "serve",
            "--target",
            "builtin:static",
            "--route",
            "GET /hello",
        ];
        if quiet {
            args.push("--quiet");
        }
        let child = support::authprobe_command()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut server = Server(child);
        let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
        let base = lines.next().unwrap().unwrap();
        let status = support::http()
            .get(format!("{base}/hello"))
            .header("Authorization", "allow-token")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200);
        unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut server.0.stderr.take().unwrap(), &mut stderr).unwrap();
        let _ = server.0.wait();
        let line = "GET /dev/hello -> 200 allow (authorizer invoked";
        assert_eq!(stderr.contains(line), !quiet, "quiet {quiet}: {stderr}");
        assert!(!stderr.contains("allow-token\n"), "{stderr}");
    }
}

#[test]
fn gateway_serve_says_when_its_sample_token_expires() {
    let child = support::authprobe_command()
        .args(["gateway", "serve", "--target", "builtin:jwks"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let lines = BufReader::new(server.0.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines {
        let line = line.unwrap();
        let done = line.starts_with("counters:");
        seen.push(line);
        if done {
            break;
        }
    }
    unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) };
    let _ = server.0.wait();
    let curl = seen
        .iter()
        .position(|l| l.starts_with("try: curl"))
        .unwrap();
    let expiry = &seen[curl + 1];
    assert!(
        expiry.starts_with("that token expires in 5m (at ") && expiry.contains("restart"),
        "{seen:?}"
    );
}

#[test]
fn a_builtin_target_implies_its_profile() {
    let out = authprobe(&[
        "invoke",
        "--target",
        "builtin:static",
        "--token",
        "allow-token",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("outcome   allow"), "{stdout}");
}

#[test]
fn a_profile_that_contradicts_the_builtin_target_is_bad_usage_with_the_fix() {
    for command in ["invoke", "conform"] {
        let out = authprobe(&[command, "--profile", "jwks", "--target", "builtin:static"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().find(|l| l.starts_with("error:")).unwrap();
        assert!(
            line.contains("--profile jwks does not match --target builtin:static")
                && line.contains("drop --profile"),
            "{line}"
        );
    }
}

#[test]
fn gateway_serve_listens_beyond_loopback_only_with_expose() {
    let out = authprobe(&[
        "gateway",
        "serve",
        "--target",
        "builtin:static",
        "--addr",
        "0.0.0.0:0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--expose"), "{err}");
}

#[tokio::test]
async fn request_events_carry_path_parameters_and_templates_and_v2_paths_the_stage() {
    // Reference §9 items 2, 5 and 12: pathParameters from the route, REST's resource and
    // resourcePath as the template, and a named stage in a 2.0 event's rawPath and http.path.
    let cases: [(EventKind, &[&str]); 3] = [
        (EventKind::Request, &["method.request.header.Authorization"]),
        (EventKind::V1, &["$request.header.Authorization"]),
        (EventKind::V2, &["$request.header.Authorization"]),
    ];
    for (kind, sources) in cases {
        let mut c = config();
        request_authorizer(&mut c, kind, false, sources);
        let (gw, target) = gateway(c);
        let r = gw.handle(get("/items/42", Some("allow"))).await;
        assert_eq!(r.status, 200, "{kind:?}: {}", r.text());
        let event = target.last_event.lock().unwrap().clone().unwrap();
        assert_eq!(event["pathParameters"], json!({"id": "42"}), "{kind:?}");
        match kind {
            EventKind::V2 => {
                assert_eq!(event["routeKey"], "GET /items/{id}");
                assert_eq!(event["rawPath"], "/dev/items/42");
                assert_eq!(event["requestContext"]["http"]["path"], "/dev/items/42");
            }
            _ => {
                assert_eq!(event["resource"], "/items/{id}", "{kind:?}");
                assert_eq!(
                    event["requestContext"]["resourcePath"], "/items/{id}",
                    "{kind:?}"
                );
                assert_eq!(event["path"], "/items/42", "{kind:?}");
            }
        }
    }
}

#[tokio::test]
async fn the_most_specific_route_wins_whatever_the_order_they_were_declared_in() {
    // Reference §9 item 6: a full match before a path variable before a greedy variable,
    // and an exact method before ANY (HTTP API routes doc).
    let routes: Vec<authprobe::gateway::Route> = [
        "ANY /{proxy+}",
        "GET /items/{id}",
        "ANY /items/special",
        "GET /items/special",
    ]
    .iter()
    .map(|r| r.parse().unwrap())
    .collect();
    for (path, want) in [
        ("/items/special", "GET /items/special"),
        ("/items/7", "GET /items/{id}"),
        ("/other/deep/path", "ANY /{proxy+}"),
    ] {
        let mut c = GatewayConfig {
            clock: Clock::manual(),
            ..GatewayConfig::new(Api::default(), routes.clone())
        };
        request_authorizer(
            &mut c,
            EventKind::V2,
            false,
            &["$request.header.Authorization"],
        );
        let (gw, target) = gateway(c);
        let r = gw.handle(get(path, Some("allow"))).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let event = target.last_event.lock().unwrap().clone().unwrap();
        assert_eq!(event["routeKey"], want, "{path}");
        if want == "ANY /{proxy+}" {
            assert_eq!(event["pathParameters"], json!({"proxy": "other/deep/path"}));
        }
    }
}

#[tokio::test]
async fn repeated_headers_and_query_values_reach_the_authorizer_as_each_payload_carries_them() {
    // Reference §9 item 9: REST keeps every value in the multiValue fields (names as sent);
    // 2.0 lower-cases names, joins repeats with commas and moves cookies into `cookies`.
    let request = || {
        get("/hello", Some("allow"))
            .header("X-Tenant", "a")
            .header("X-Tenant", "b")
            .header("Cookie", "s=1; t=2")
            .query("tag", "x")
            .query("tag", "y")
    };
    let mut rest = config();
    request_authorizer(
        &mut rest,
        EventKind::Request,
        false,
        &["method.request.header.Authorization"],
    );
    let (gw, target) = gateway(rest);
    assert_eq!(gw.handle(request()).await.status, 200);
    let event = target.last_event.lock().unwrap().clone().unwrap();
    assert_eq!(event["multiValueHeaders"]["X-Tenant"], json!(["a", "b"]));
    assert_eq!(event["headers"]["X-Tenant"], "b");
    assert_eq!(
        event["multiValueQueryStringParameters"]["tag"],
        json!(["x", "y"])
    );
    // The client sent no Host: API Gateway's own, once.
    let hosts = event["headers"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.eq_ignore_ascii_case("host"))
        .count();
    assert_eq!(hosts, 1);

    let mut v2 = config();
    request_authorizer(
        &mut v2,
        EventKind::V2,
        false,
        &["$request.header.Authorization"],
    );
    let (gw, target) = gateway(v2);
    assert_eq!(gw.handle(request()).await.status, 200);
    let event = target.last_event.lock().unwrap().clone().unwrap();
    assert_eq!(event["headers"]["x-tenant"], "a,b");
    assert_eq!(event["cookies"], json!(["s=1", "t=2"]));
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["queryStringParameters"]["tag"], "x,y");
    assert_eq!(event["rawQueryString"], "tag=x&tag=y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_documented_request_authorizer_allows_with_its_header_query_and_stage_variable() {
    // The REQUEST authorizer of AWS's "Input to an API Gateway Lambda authorizer", rewritten in
    // Python (examples/python/aws-request-sample), under the real runtime interface client: it
    // reads `headers["HeaderAuth1"]` under the name the client sent.
    use authprobe::target::{self, TargetOptions, TargetSpec};
    let python = support::python::venv_python();
    let spec = TargetSpec::Lambda(vec![
        python.display().to_string(),
        "-m".into(),
        "awslambdaric".into(),
        "app.handler".into(),
    ]);
    let options = TargetOptions {
        workdir: Some(support::python::example_dir("aws-request-sample")),
        timeout: Duration::from_secs(10),
        ..TargetOptions::default()
    };
    let target = target::start(&spec, options).await.unwrap();
    let gateway_with = |stage_variable: Option<&str>| {
        let mut api = Api {
            stage: "dev".into(),
            ..Api::default()
        };
        if let Some(value) = stage_variable {
            api.stage_variables.insert("StageVar1".into(), value.into());
        }
        let mut c = GatewayConfig {
            clock: Clock::manual(),
            cache_ttl: 0,
            ..GatewayConfig::new(api, vec!["GET /hello".parse().unwrap()])
        };
        request_authorizer(
            &mut c,
            EventKind::Request,
            false,
            &[
                "method.request.header.HeaderAuth1",
                "method.request.querystring.QueryString1",
            ],
        );
        Gateway::new(c, target.clone()).unwrap()
    };
    let request = |header: &str, query: &str| {
        GatewayRequest::new("GET", "/hello")
            .header("HeaderAuth1", header)
            .query("QueryString1", query)
    };
    let documented = gateway_with(Some("stageValue1"));
    let r = documented
        .handle(request("headerValue1", "queryValue1"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = documented.handle(request("headerValue1", "other")).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = gateway_with(None)
        .handle(request("headerValue1", "queryValue1"))
        .await;
    assert_eq!(r.status, 401, "without StageVar1: {}", r.text());
    target.shutdown().await;
}

/// Sends `head` (a request line and header lines, without the final empty line) over a new
/// connection, byte for byte, as curl would, and returns the status code of the answer.
fn raw_status(base: &str, head: &str) -> u16 {
    use std::io::{Read, Write};
    let authority = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{head}\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer}"))
}

#[test]
fn aws_documented_request_authorizer_allows_through_gateway_serve_with_header_names_as_sent() {
    // Over HTTP/1 the front hands the REQUEST event the header names as the client spelled
    // them, as API Gateway does: `HeaderAuth1` from curl stays `HeaderAuth1`.
    let dir = tempfile::tempdir().unwrap();
    let profile = authprobe(&["profile", "show", "jwks"]);
    let text = String::from_utf8(profile.stdout).unwrap().replacen(
        "event = \"token\"",
        "event = \"request\"",
        1,
    );
    let scenario = dir.path().join("request.toml");
    std::fs::write(&scenario, text).unwrap();
    let python = support::python::venv_python();
    let workdir = support::python::example_dir("aws-request-sample");
    let child = support::authprobe_command()
        .args(["gateway", "serve", "--scenario"])
        .arg(&scenario)
        .arg("--target")
        .arg(format!(
            "lambda:{} -m awslambdaric app.handler",
            python.display()
        ))
        .arg("--workdir")
        .arg(&workdir)
        .args([
            "--route",
            "GET /hello",
            "--cache-ttl",
            "0",
            "--identity-source",
            "method.request.header.HeaderAuth1",
            "--identity-source",
            "method.request.querystring.QueryString1",
            "--stage-variable",
            "StageVar1=stageValue1",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let base = lines.next().unwrap().unwrap();
    let documented =
        "GET /dev/hello?QueryString1=queryValue1 HTTP/1.1\r\nHeaderAuth1: headerValue1";
    assert_eq!(raw_status(&base, documented), 200);
    let wrong_value = "GET /dev/hello?QueryString1=queryValue1 HTTP/1.1\r\nHeaderAuth1: other";
    assert_eq!(raw_status(&base, wrong_value), 401);
    // A client that lower-cases the name (every HTTP/2 client) reaches a handler that reads
    // `headers["HeaderAuth1"]` without it, on AWS as here.
    let lower = "GET /dev/hello?QueryString1=queryValue1 HTTP/1.1\r\nheaderauth1: headerValue1";
    assert_eq!(raw_status(&base, lower), 401);
    // One kept-alive connection: a POST with a body that looks like headers, a chunked one,
    // then the documented request. Each is answered under its own header names.
    let authority = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = "HeaderAuth1: headerValue1\r\n\r\n";
    let wire = format!(
        "POST /dev/hello HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\n\r\n{body}\
         POST /dev/hello HTTP/1.1\r\nHost: {authority}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
         GET /dev/hello?QueryString1=queryValue1 HTTP/1.1\r\nHost: {authority}\r\nHeaderAuth1: headerValue1\r\nConnection: close\r\n\r\n",
        body.len()
    );
    {
        use std::io::{Read, Write};
        stream.write_all(wire.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        // Bodies end without a line break: each answer starts where the text says HTTP/1.1.
        let statuses: Vec<&str> = answer.split("HTTP/1.1 ").skip(1).map(|a| &a[..3]).collect();
        // No route for POST: 404s (HTTP API) or 403s (REST) need no authorizer; the GET is
        // allowed only if its names reached the handler as sent, after the two bodies.
        assert_eq!(statuses.len(), 3, "{answer}");
        assert_eq!(statuses[2], "200", "{answer}");
    }
    unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) };
    assert_eq!(server.0.wait().unwrap().code(), Some(0));
}

#[tokio::test]
async fn the_default_route_takes_what_no_other_route_does_on_an_http_api_only() {
    // §9 item 6: "3. The $default route" comes after every full and greedy match; its
    // routeKey is `$default`, its routeArn the request's own verb and path (the 2.0 payload
    // example of the HTTP API authorizer doc).
    let mut c = config();
    c.routes = vec![
        "$default".parse().unwrap(),
        "GET /items/{proxy+}".parse().unwrap(),
    ];
    c.cache_ttl = 0;
    request_authorizer(
        &mut c,
        EventKind::V2,
        false,
        &["$request.header.Authorization"],
    );
    let (gw, target) = gateway(c);
    let r = gw.handle(get("/items/a/b", Some("allow"))).await;
    assert_eq!(r.route.as_deref(), Some("GET /items/{proxy+}"));
    let r = gw.handle(get("/anything/else", Some("allow"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.route.as_deref(), Some("$default"));
    let event = target.last_event.lock().unwrap().clone().unwrap();
    assert_eq!(event["routeKey"], "$default");
    assert_eq!(event["pathParameters"], json!({}));
    assert!(
        event["routeArn"]
            .as_str()
            .unwrap()
            .ends_with("/dev/GET/anything/else"),
        "{event}"
    );
    let mut rest = config();
    rest.routes = vec!["$default".parse().unwrap()];
    let refused = Gateway::new(rest, target.clone()).unwrap_err();
    assert!(refused.to_string().contains("ANY /{proxy+}"), "{refused}");
}
