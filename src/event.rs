//! The events API Gateway sends an authorizer: REST TOKEN and REQUEST, and HTTP API payload
//! 1.0 and 2.0, built from one description of the client's request.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::policy::{ApiKind, MethodArn};

/// The event shape an authorizer receives.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// REST API TOKEN authorizer: `authorizationToken` and `methodArn`.
    Token,
    /// REST API REQUEST authorizer: headers, query, path, stage variables, request context.
    Request,
    /// HTTP API, payload format 1.0.
    V1,
    /// HTTP API, payload format 2.0.
    V2,
}

impl EventKind {
    /// Which API flavour answers are judged as; `simple` is HTTP API simple responses.
    pub fn api(self, simple: bool) -> ApiKind {
        match self {
            EventKind::Token | EventKind::Request => ApiKind::Rest,
            EventKind::V1 => ApiKind::HttpV1,
            EventKind::V2 if simple => ApiKind::HttpV2Simple,
            EventKind::V2 => ApiKind::HttpV2,
        }
    }
}

/// The API stage requests are made to.
#[derive(Clone, Debug)]
pub struct Api {
    /// Region.
    pub region: String,
    /// Account id.
    pub account: String,
    /// API id.
    pub api_id: String,
    /// Stage.
    pub stage: String,
    /// Stage variables.
    pub stage_variables: BTreeMap<String, String>,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            api_id: "authprobe1".into(),
            stage: "prod".into(),
            stage_variables: BTreeMap::new(),
        }
    }
}

/// One client request, as the gateway sees it.
#[derive(Clone, Debug)]
pub struct ClientRequest {
    /// HTTP method.
    pub method: String,
    /// Path, with its leading `/`.
    pub path: String,
    /// The Authorization header value, if the client sent one.
    pub authorization: Option<String>,
    /// The name the client sent it under, in its case: `Authorization` from most HTTP/1
    /// clients, `authorization` from HTTP/2 ones (REST REQUEST and HTTP API 1.0 events keep
    /// the name as sent; 2.0 events lower-case every name).
    pub authorization_name: String,
    /// Other headers.
    pub headers: BTreeMap<String, String>,
    /// Query string parameters.
    pub query: BTreeMap<String, String>,
}

impl ClientRequest {
    /// `GET /hello` with an Authorization header.
    pub fn get(path: &str, authorization: Option<String>) -> Self {
        ClientRequest {
            method: "GET".into(),
            path: path.into(),
            authorization,
            authorization_name: "Authorization".into(),
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
        }
    }

    /// The method ARN API Gateway builds for this request.
    pub fn method_arn(&self, api: &Api) -> MethodArn {
        method_arn(api, &self.method, &self.path)
    }
}

/// The method ARN API Gateway builds for `method path` on `api`: the real path (parameter
/// values, not the template), without its leading `/`, so the root ends in `/`
/// (reference/api-gateway-authorizers.md §1.1).
pub fn method_arn(api: &Api, method: &str, path: &str) -> MethodArn {
    MethodArn {
        partition: "aws".into(),
        region: api.region.clone(),
        account: api.account.clone(),
        api_id: api.api_id.clone(),
        stage: api.stage.clone(),
        verb: method.to_string(),
        path: path.trim_start_matches('/').into(),
    }
}

fn request_id() -> String {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Builds the event of `kind` for `req` to `api`.
pub fn build(kind: EventKind, api: &Api, req: &ClientRequest) -> Value {
    let arn = req.method_arn(api).to_string();
    let token = req.authorization.clone().unwrap_or_default();
    let mut headers: BTreeMap<String, String> = req.headers.clone();
    if let Some(auth) = &req.authorization {
        headers.insert(req.authorization_name.clone(), auth.clone());
    }
    headers
        .entry("Host".into())
        .or_insert_with(|| format!("{}.execute-api.{}.amazonaws.com", api.api_id, api.region));
    let lower: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let multi = |m: &BTreeMap<String, String>| -> BTreeMap<String, Vec<String>> {
        m.iter()
            .map(|(k, v)| (k.clone(), vec![v.clone()]))
            .collect()
    };
    let resource = req.path.clone();
    // REST REQUEST and HTTP API 1.0 events share the REST-style request context.
    let rest_context = json!({
        "path": format!("/{}{}", api.stage, req.path),
        "accountId": api.account,
        "resourceId": "authprobe",
        "stage": api.stage,
        "requestId": request_id(),
        "identity": {"sourceIp": "127.0.0.1", "userAgent": "authprobe"},
        "resourcePath": resource,
        "httpMethod": req.method,
        "apiId": api.api_id,
    });
    match kind {
        EventKind::Token => json!({
            "type": "TOKEN",
            "authorizationToken": token,
            "methodArn": arn,
        }),
        EventKind::Request => json!({
            "type": "REQUEST",
            "methodArn": arn,
            "resource": resource,
            "path": req.path,
            "httpMethod": req.method,
            "headers": headers,
            "multiValueHeaders": multi(&headers),
            "queryStringParameters": req.query,
            "multiValueQueryStringParameters": multi(&req.query),
            "pathParameters": {},
            "stageVariables": api.stage_variables,
            "requestContext": rest_context.clone(),
        }),
        EventKind::V1 => json!({
            "version": "1.0",
            "type": "REQUEST",
            "methodArn": arn,
            "identitySource": token,
            "authorizationToken": token,
            "resource": resource,
            "path": req.path,
            "httpMethod": req.method,
            "headers": headers,
            "queryStringParameters": req.query,
            "pathParameters": {},
            "stageVariables": api.stage_variables,
            "requestContext": rest_context.clone(),
        }),
        EventKind::V2 => {
            let raw_query: Vec<String> =
                req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            json!({
                "version": "2.0",
                "type": "REQUEST",
                "routeArn": arn,
                "identitySource": req.authorization.iter().collect::<Vec<_>>(),
                "routeKey": format!("{} {}", req.method, req.path),
                "rawPath": req.path,
                "rawQueryString": raw_query.join("&"),
                "cookies": [],
                "headers": lower,
                "queryStringParameters": req.query,
                "requestContext": {
                    "accountId": api.account,
                    "apiId": api.api_id,
                    "domainName": format!("{}.execute-api.{}.amazonaws.com", api.api_id, api.region),
                    "domainPrefix": api.api_id,
                    "http": {
                        "method": req.method,
                        "path": req.path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": "127.0.0.1",
                        "userAgent": "authprobe",
                    },
                    "requestId": request_id(),
                    "routeKey": format!("{} {}", req.method, req.path),
                    "stage": api.stage,
                    "time": "26/Nov/2026:00:00:00 +0000",
                    "timeEpoch": 0,
                },
                "pathParameters": {},
                "stageVariables": api.stage_variables,
            })
        }
    }
}

/// The credential an authorizer reads from an event (the value of the identity source), and
/// the method or route ARN it is for.
pub fn credential_and_arn(event: &Value) -> (Option<String>, Option<String>) {
    let arn = event
        .get("methodArn")
        .or_else(|| event.get("routeArn"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(token) = event.get("authorizationToken").and_then(Value::as_str) {
        return (Some(token.to_string()), arn);
    }
    let header = event
        .get("headers")
        .and_then(Value::as_object)
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_string)
        });
    (header, arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::apigw::{
        ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerRequestTypeRequest,
        ApiGatewayV2CustomAuthorizerV1Request, ApiGatewayV2CustomAuthorizerV2Request,
    };

    fn req() -> ClientRequest {
        ClientRequest::get("/hello", Some("Bearer abc".into()))
    }

    #[test]
    fn every_event_kind_reads_as_the_aws_lambda_events_type() {
        let api = Api::default();
        let token: ApiGatewayCustomAuthorizerRequest =
            serde_json::from_value(build(EventKind::Token, &api, &req())).unwrap();
        assert_eq!(token.authorization_token.as_deref(), Some("Bearer abc"));
        assert_eq!(
            token.method_arn.as_deref(),
            Some("arn:aws:execute-api:us-east-1:123456789012:authprobe1/prod/GET/hello")
        );
        let request: ApiGatewayCustomAuthorizerRequestTypeRequest =
            serde_json::from_value(build(EventKind::Request, &api, &req())).unwrap();
        assert_eq!(request.headers.get("authorization").unwrap(), "Bearer abc");
        let v1: ApiGatewayV2CustomAuthorizerV1Request =
            serde_json::from_value(build(EventKind::V1, &api, &req())).unwrap();
        assert_eq!(v1.identity_source.as_deref(), Some("Bearer abc"));
        let v2: ApiGatewayV2CustomAuthorizerV2Request =
            serde_json::from_value(build(EventKind::V2, &api, &req())).unwrap();
        assert_eq!(v2.identity_source, Some(vec!["Bearer abc".to_string()]));
        assert_eq!(v2.route_key.as_deref(), Some("GET /hello"));
    }

    #[test]
    fn request_events_keep_the_header_name_as_sent_and_v2_lower_cases_it() {
        let api = Api::default();
        let mut sent = req();
        sent.authorization_name = "AUTHORIZATION".into();
        let request = build(EventKind::Request, &api, &sent);
        assert_eq!(request["headers"]["AUTHORIZATION"], "Bearer abc");
        assert_eq!(
            request["multiValueHeaders"]["AUTHORIZATION"][0],
            "Bearer abc"
        );
        assert!(request["headers"].get("Authorization").is_none());
        let v1 = build(EventKind::V1, &api, &sent);
        assert_eq!(v1["headers"]["AUTHORIZATION"], "Bearer abc");
        let v2 = build(EventKind::V2, &api, &sent);
        assert_eq!(v2["headers"]["authorization"], "Bearer abc");
    }

    #[test]
    fn the_credential_is_found_in_every_event_kind() {
        let api = Api::default();
        for kind in [
            EventKind::Token,
            EventKind::Request,
            EventKind::V1,
            EventKind::V2,
        ] {
            let (credential, arn) = credential_and_arn(&build(kind, &api, &req()));
            assert_eq!(credential.as_deref(), Some("Bearer abc"), "{kind:?}");
            assert!(arn.unwrap().ends_with("/prod/GET/hello"));
        }
    }
}
