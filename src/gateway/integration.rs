//! What an allowed request reaches: the built-in echo backend (what a Lambda proxy integration
//! would see) or a proxied HTTP backend, with the authorizer's context as the integration sees
//! it (§2.1). Only the path the policy was evaluated on is ever forwarded, and a client's
//! headers under the gateway's own names never are.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Backend, Gateway, GatewayRequest, Refusal, Route, path};
use crate::event::EventKind;

impl Gateway {
    pub(super) async fn integrate(
        &self,
        req: &GatewayRequest,
        route: &Route,
        doc: &Value,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let authorizer = AuthorizerView {
            doc,
            event: self.config.authorizer.event,
        };
        let json_type = || vec![("content-type".to_string(), "application/json".to_string())];
        // What the client sent under the gateway's own names is dropped: only the gateway
        // speaks for the authorizer (`x-authprobe-authorizer`).
        let client_headers = || {
            req.headers
                .iter()
                .filter(|(k, _)| !is_own_header(k))
                .map(|(k, v)| (k.as_str(), v.as_str()))
        };
        match &self.config.backend {
            Backend::Echo => {
                let stage = self.config.api.stage.as_str();
                let headers: BTreeMap<&str, &str> = client_headers().collect();
                let query: BTreeMap<&str, &str> = req
                    .query
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                // Serialized straight from the request and the cached document: no JSON
                // tree is built per request.
                let body = match self.config.authorizer.event {
                    EventKind::V2 => {
                        let route_key = route.to_string();
                        serde_json::to_vec(&echo::V2 {
                            headers,
                            query_string_parameters: query,
                            raw_path: format!("/{stage}{}", req.path),
                            request_context: echo::V2Context {
                                authorizer,
                                http: echo::V2Http {
                                    method: &req.method,
                                    path: &req.path,
                                },
                                route_key: &route_key,
                                stage,
                            },
                            route_key: &route_key,
                            version: "2.0",
                        })
                    }
                    _ => serde_json::to_vec(&echo::Rest {
                        headers,
                        http_method: &req.method,
                        path: &req.path,
                        query_string_parameters: query,
                        request_context: echo::RestContext {
                            authorizer,
                            http_method: &req.method,
                            resource_path: &route.path,
                            stage,
                        },
                        resource: &route.path,
                    }),
                };
                (200, json_type(), body.expect("JSON"))
            }
            Backend::Proxy(base) => {
                let url = format!("{}{}", base.trim_end_matches('/'), req.path);
                // The backend gets exactly the path the policy was evaluated on: a URL that
                // parses into another path (dot segments, backslashes) is never sent.
                let base_path = reqwest::Url::parse(base)
                    .map(|b| b.path().trim_end_matches('/').to_string())
                    .unwrap_or_default();
                let Some(url) = reqwest::Url::parse(&url)
                    .ok()
                    // Escaping may differ (the URL rules encode `{` or `"`); the resource may not.
                    .filter(|u| {
                        path::percent_decode(u.path())
                            == path::percent_decode(&format!("{base_path}{}", req.path))
                    })
                else {
                    let (status, _, body) =
                        Refusal::BadPath.answer(self.config.authorizer.is_http_api());
                    return (status, json_type(), body.as_bytes().to_vec());
                };
                let method = reqwest::Method::from_bytes(req.method.as_bytes())
                    .unwrap_or(reqwest::Method::GET);
                // Built on first use: only a proxy backend needs one, and each client reads
                // the system's TLS roots.
                let client = self.client.get_or_init(|| {
                    reqwest::Client::builder()
                        .no_proxy()
                        .build()
                        .expect("HTTP client builds")
                });
                let mut builder = client
                    .request(method, url)
                    .query(&req.query)
                    .header(
                        "x-authprobe-authorizer",
                        serde_json::to_string(&authorizer).expect("JSON"),
                    )
                    .body(req.body.clone());
                for (k, v) in client_headers() {
                    if !HOP_BY_HOP.iter().any(|h| k.eq_ignore_ascii_case(h)) {
                        builder = builder.header(k, v);
                    }
                }
                match builder.send().await {
                    Ok(answer) => {
                        let status = answer.status().as_u16();
                        let headers = answer
                            .headers()
                            .iter()
                            .filter(|(k, _)| {
                                !HOP_BY_HOP
                                    .iter()
                                    .any(|h| k.as_str().eq_ignore_ascii_case(h))
                            })
                            .filter_map(|(k, v)| {
                                v.to_str().ok().map(|v| (k.to_string(), v.to_string()))
                            })
                            .collect();
                        match answer.bytes().await {
                            Ok(body) => (status, headers, body.to_vec()),
                            Err(_) => self.bad_gateway(),
                        }
                    }
                    Err(_) => self.bad_gateway(),
                }
            }
        }
    }

    fn bad_gateway(&self) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let (status, _, body) = Refusal::BadGateway.answer(self.config.authorizer.is_http_api());
        (
            status,
            vec![("content-type".into(), "application/json".into())],
            body.as_bytes().to_vec(),
        )
    }
}

/// `requestContext.authorizer` as the integration sees it (§2.1), written straight from the
/// authorizer's document: on REST and HTTP 1.0, `principalId` plus the context, numbers and
/// booleans as strings on REST (null kept); on HTTP 2.0 the context under `lambda`. Keys come
/// out sorted, a context key `principalId` taking the place of the document's.
struct AuthorizerView<'a> {
    doc: &'a Value,
    event: EventKind,
}

impl Serialize for AuthorizerView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let context = self.doc.get("context").and_then(Value::as_object);
        let mut map = serializer.serialize_map(None)?;
        if self.event == EventKind::V2 {
            match context {
                Some(c) => map.serialize_entry("lambda", c)?,
                None => map.serialize_entry("lambda", &Map::new())?,
            }
            return map.end();
        }
        let stringify = self.event != EventKind::V1;
        let mut principal = self
            .doc
            .get("principalId")
            .filter(|_| !context.is_some_and(|c| c.contains_key("principalId")));
        for (k, v) in context.into_iter().flatten() {
            if let Some(p) = principal.filter(|_| k.as_str() > "principalId") {
                map.serialize_entry("principalId", p)?;
                principal = None;
            }
            match v {
                Value::Number(n) if stringify => map.serialize_entry(k, &Text(n))?,
                Value::Bool(b) if stringify => map.serialize_entry(k, &Text(b))?,
                other => map.serialize_entry(k, other)?,
            }
        }
        if let Some(p) = principal {
            map.serialize_entry("principalId", p)?;
        }
        map.end()
    }
}

/// A value written as the JSON string of its `Display`.
struct Text<T>(T);

impl<T: std::fmt::Display> Serialize for Text<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// The echo backend's body: what a Lambda proxy integration would see, borrowed from the
/// request. Fields in alphabetical order, as a JSON object's keys are written.
mod echo {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::AuthorizerView;

    /// REST and HTTP API payload 1.0.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Rest<'a> {
        pub headers: BTreeMap<&'a str, &'a str>,
        pub http_method: &'a str,
        pub path: &'a str,
        pub query_string_parameters: BTreeMap<&'a str, &'a str>,
        pub request_context: RestContext<'a>,
        pub resource: &'a str,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct RestContext<'a> {
        pub authorizer: AuthorizerView<'a>,
        pub http_method: &'a str,
        pub resource_path: &'a str,
        pub stage: &'a str,
    }

    /// HTTP API payload 2.0.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct V2<'a> {
        pub headers: BTreeMap<&'a str, &'a str>,
        pub query_string_parameters: BTreeMap<&'a str, &'a str>,
        pub raw_path: String,
        pub request_context: V2Context<'a>,
        pub route_key: &'a str,
        pub version: &'a str,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct V2Context<'a> {
        pub authorizer: AuthorizerView<'a>,
        pub http: V2Http<'a>,
        pub route_key: &'a str,
        pub stage: &'a str,
    }

    #[derive(Serialize)]
    pub(super) struct V2Http<'a> {
        pub method: &'a str,
        pub path: &'a str,
    }
}

/// The prefix of the headers the gateway itself sets for the integration.
pub const OWN_HEADER_PREFIX: &str = "x-authprobe-";

/// Whether a header name is in the gateway's own namespace ([`OWN_HEADER_PREFIX`]).
fn is_own_header(name: &str) -> bool {
    name.len() >= OWN_HEADER_PREFIX.len()
        && name.as_bytes()[..OWN_HEADER_PREFIX.len()]
            .eq_ignore_ascii_case(OWN_HEADER_PREFIX.as_bytes())
}

/// Headers that belong to one connection and are not forwarded.
const HOP_BY_HOP: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
    "content-length",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_authorizer_view_writes_what_the_integration_sees_without_copying_the_document() {
        let doc = json!({
            "principalId": "user-1",
            "context": {"a": 1, "b": true, "q": null, "z": "x", "n": 1.5},
        });
        let view = |event| serde_json::to_value(AuthorizerView { doc: &doc, event }).unwrap();
        // §2.1: REST stringifies numbers and booleans, keeps null, adds principalId.
        let rest = json!({"principalId": "user-1", "a": "1", "b": "true", "q": null, "z": "x", "n": "1.5"});
        assert_eq!(view(EventKind::Token), rest);
        assert_eq!(view(EventKind::Request), rest);
        // HTTP API 1.0 keeps the types; 2.0 puts the context under `lambda`.
        assert_eq!(
            view(EventKind::V1),
            json!({"principalId": "user-1", "a": 1, "b": true, "q": null, "z": "x", "n": 1.5})
        );
        assert_eq!(view(EventKind::V2), json!({"lambda": doc["context"]}));
        // Keys come out sorted, as the JSON tree wrote them, and a context key named
        // principalId takes the place of the document's.
        let text = serde_json::to_string(&AuthorizerView {
            doc: &doc,
            event: EventKind::Token,
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"a":"1","b":"true","n":"1.5","principalId":"user-1","q":null,"z":"x"}"#
        );
        let shadowed = json!({"principalId": "p", "context": {"principalId": "c"}});
        assert_eq!(
            serde_json::to_value(AuthorizerView {
                doc: &shadowed,
                event: EventKind::Token
            })
            .unwrap(),
            json!({"principalId": "c"})
        );
        let bare = json!({"principalId": "p"});
        assert_eq!(
            serde_json::to_value(AuthorizerView {
                doc: &bare,
                event: EventKind::V2
            })
            .unwrap(),
            json!({"lambda": {}})
        );
    }
}
