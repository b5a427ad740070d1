//! What goes in and out of the emulator: the request ([`GatewayRequest`]), the answer
//! ([`GatewayResponse`]), the refusals API Gateway answers before or instead of the
//! integration ([`Refusal`], with their status, body and headers), the quotas that decide some
//! of them, and the counters ([`GatewayStats`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{self, Api};
use crate::target::{Answer, Outcome};

/// API Gateway's quota on what a request carries before its body, in bytes: 10,240 for both
/// API kinds, counted differently ([`GatewayRequest::quota_bytes`]). REST: "Total combined size
/// of all header values, including header names, values, any line terminators, and
/// whitespaces: 10240 Bytes" ("Quotas for configuring and running a REST API in API Gateway",
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html);
/// HTTP: "Total combined size of request line and header values: 10240 bytes" ("Quotas for
/// configuring and running an HTTP API in API Gateway",
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
/// Those pages name the figure but not the status; see [`Refusal::TooLarge`].
pub const MAX_REQUEST_LINE_AND_HEADERS: usize = 10_240;

/// Longest method ARN of a method with authorization; longer gets 414 "Request URI too long"
/// (AWS, "Amazon API Gateway quotas and important notes",
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
pub const MAX_METHOD_ARN: usize = 1600;

/// Whether API Gateway can invoke an authorizer for `method path` on `api` at all: Err says
/// why not, when the method ARN is over [`MAX_METHOD_ARN`] (API Gateway then answers 414
/// before any authorizer runs).
pub fn check_method_arn(api: &Api, method: &str, path: &str) -> Result<(), String> {
    let length = event::method_arn(api, method, path).to_string().len();
    if length > MAX_METHOD_ARN {
        return Err(format!(
            "its method ARN is {length} characters, over API Gateway's limit of {MAX_METHOD_ARN}: API Gateway answers 414 without invoking the authorizer, so nothing could be judged there"
        ));
    }
    Ok(())
}

/// Longest authorizer result TTL (§3.1: "The maximum value is 3600").
pub const MAX_TTL: u64 = 3600;

/// TTL when none is set (§3.1: "the default value is 300").
pub const DEFAULT_TTL: u64 = 300;

/// Largest payload (body) either API type accepts: 10 MB (same quota pages).
pub const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// One client request, as it reaches the gateway (the stage already taken off the path).
#[derive(Clone, Debug, Default)]
pub struct GatewayRequest {
    /// HTTP method.
    pub method: String,
    /// Path after the stage, with its leading `/` (`/` for the root).
    pub path: String,
    /// Query string parameters, in order.
    pub query: Vec<(String, String)>,
    /// Headers, in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl GatewayRequest {
    /// `METHOD path` with no headers.
    pub fn new(method: &str, path: &str) -> Self {
        GatewayRequest {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            ..GatewayRequest::default()
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a query string parameter.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// The last value of a header, by case-insensitive name.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Bytes counted against [`MAX_REQUEST_LINE_AND_HEADERS`], as each API kind's quota
    /// words it (reference §9 item 11): a REST API counts "all header values, including
    /// header names, values, any line terminators, and whitespaces" (REST quotas page); an
    /// HTTP API "request line and header values" (HTTP API quotas page).
    pub fn quota_bytes(&self, stage: &str, http_api: bool) -> usize {
        if http_api {
            let query: usize = self.query.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
            // `METHOD /stage/path?query HTTP/1.1`
            let line = self.method.len() + 1 + 1 + stage.len() + self.path.len() + query + 9;
            line + self.headers.iter().map(|(_, v)| v.len()).sum::<usize>()
        } else {
            // `Name: value\r\n`
            self.headers
                .iter()
                .map(|(k, v)| k.len() + 2 + v.len() + 2)
                .sum()
        }
    }
}

/// Why API Gateway answered without reaching the integration; each maps to one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// The headers (REST) or the request line and header values (HTTP API) exceed
    /// [`MAX_REQUEST_LINE_AND_HEADERS`].
    TooLarge,
    /// The body exceeds [`MAX_PAYLOAD`].
    PayloadTooLarge,
    /// The path could reach another resource than the one it names ([`path::check`]).
    BadPath,
    /// No route matches.
    NoRoute,
    /// The method ARN exceeds [`MAX_METHOD_ARN`].
    ArnTooLong,
    /// An identity source is missing or empty.
    MissingIdentity,
    /// The token does not match the validation expression.
    ValidationFailed,
    /// The authorizer raised `Unauthorized`.
    Unauthorized,
    /// A Deny statement matches the method ARN.
    ExplicitDeny,
    /// No statement matches the method ARN.
    ImplicitDeny,
    /// An HTTP API simple response said `isAuthorized: false`.
    NotAuthorized,
    /// The authorizer failed: any other error, a timeout, a malformed response.
    AuthorizerFailure,
    /// The proxied backend could not be reached.
    BadGateway,
}

impl Refusal {
    /// The status, the `x-amzn-ErrorType` header if any, and the body API Gateway answers.
    /// One row per rule, with its source.
    pub fn answer(self, http_api: bool) -> (u16, Option<&'static str>, &'static str) {
        match self {
            // Quota pages (see MAX_REQUEST_LINE_AND_HEADERS) name the limit, not the status.
            // 431 is the HTTP status for exactly this (RFC 6585 §5); the body follows API
            // Gateway's `{"message": …}` shape. [UNVERIFIED against a live API]
            Refusal::TooLarge => (
                431,
                None,
                r#"{"message":"Request Header Fields Too Large"}"#,
            ),
            // Not documented by AWS (see `path`): the conservative answer, a client error.
            Refusal::BadPath => (400, None, r#"{"message":"Bad Request"}"#),
            // Payload quota, 10 MB (same pages); 413 Request Entity Too Large.
            Refusal::PayloadTooLarge => (413, None, r#"{"message":"Request Too Long"}"#),
            // REST: an unknown resource or method is 403 "Missing Authentication Token"
            // (gateway response MISSING_AUTHENTICATION_TOKEN, D-GWR); HTTP APIs answer 404.
            Refusal::NoRoute if http_api => (404, None, r#"{"message":"Not Found"}"#),
            Refusal::NoRoute => (
                403,
                Some("MissingAuthenticationTokenException"),
                r#"{"message":"Missing Authentication Token"}"#,
            ),
            // limits.html: "the API client receives a 414 Request URI too long response".
            Refusal::ArnTooLong => (414, None, r#"{"message":"Request URI too long"}"#),
            // §2.3 rows 1-3: missing/empty identity, regex mismatch, error `Unauthorized`. A
            // REST API's 401 carries `x-amzn-ErrorType: UnauthorizedException` (a real
            // execute-api capture, reference §9 item 10); for HTTP APIs none is documented.
            Refusal::MissingIdentity | Refusal::ValidationFailed | Refusal::Unauthorized
                if http_api =>
            {
                (401, None, r#"{"message":"Unauthorized"}"#)
            }
            Refusal::MissingIdentity | Refusal::ValidationFailed | Refusal::Unauthorized => (
                401,
                Some("UnauthorizedException"),
                r#"{"message":"Unauthorized"}"#,
            ),
            // §2.3 row 4: a matching Deny.
            Refusal::ExplicitDeny => (
                403,
                Some("AccessDeniedException"),
                r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#,
            ),
            // §2.3 row 5: no statement matches the method ARN.
            Refusal::ImplicitDeny => (
                403,
                Some("AccessDeniedException"),
                r#"{"Message":"User is not authorized to access this resource"}"#,
            ),
            // §2.3 notes: `isAuthorized: false` is 403; the body is [UNVERIFIED] (commonly
            // reported as Forbidden).
            Refusal::NotAuthorized => (403, None, r#"{"message":"Forbidden"}"#),
            // §2.3 rows 6-7: any other error, malformed output, a timeout; D-HTTP the same
            // for HTTP APIs.
            Refusal::AuthorizerFailure if http_api => {
                (500, None, r#"{"message":"Internal Server Error"}"#)
            }
            Refusal::AuthorizerFailure => (
                500,
                Some("AuthorizerConfigurationException"),
                r#"{"message": null}"#,
            ),
            // An integration that cannot be reached: 502 (API Gateway's generic 5XX body).
            Refusal::BadGateway => (502, None, r#"{"message":"Internal server error"}"#),
        }
    }
}

/// What the authorizer step did for one request.
#[derive(Clone, Debug)]
pub enum AuthStep {
    /// API Gateway answered before the authorizer (size, route, identity checks).
    NotInvoked,
    /// The authorizer was invoked; this is its answer.
    Invoked(Answer),
    /// A cached response was evaluated instead of invoking the authorizer.
    Cached(Arc<Value>),
}

/// What the gateway answered, and how it got there.
#[derive(Clone, Debug)]
pub struct GatewayResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
    /// The route the request matched (`GET /hello`), if any.
    pub route: Option<String>,
    /// The method ARN of the request.
    pub method_arn: String,
    /// Why the request did not reach the integration, if it did not.
    pub refusal: Option<Refusal>,
    /// What the authorizer step did.
    pub auth: AuthStep,
    /// The authorizer's outcome as API Gateway read it (`None` when it was not consulted).
    pub outcome: Option<Outcome>,
    /// How the outcome was read.
    pub detail: String,
}

impl GatewayResponse {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Counters of one route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStats {
    /// Requests.
    pub requests: u64,
    /// Authorizer invocations.
    pub authorizer_invocations: u64,
    /// Requests answered from the result cache.
    pub cache_hits: u64,
    /// Responses by status.
    pub per_status: BTreeMap<String, u64>,
}

/// The gateway's counters (`GET /_authprobe/stats` answers them as JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStats {
    /// Requests.
    pub requests: u64,
    /// Authorizer invocations.
    pub authorizer_invocations: u64,
    /// Requests whose identity was found in the result cache.
    pub cache_hits: u64,
    /// Requests whose identity was looked up and not found (caching on).
    pub cache_misses: u64,
    /// Entries in the result cache now.
    pub cache_entries: u64,
    /// Live entries evicted to keep the cache bounded.
    pub cache_evictions: u64,
    /// Responses by status.
    pub per_status: BTreeMap<String, u64>,
    /// Counters by route (`GET /hello`; `-` for requests that matched none).
    pub per_route: BTreeMap<String, RouteStats>,
}
