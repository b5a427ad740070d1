//! Targets reached over HTTP: a Lambda invoke endpoint, or a deployed API Gateway stage.

use std::time::Instant;

use reqwest::header::AUTHORIZATION;
use serde_json::Value;

use super::{Answer, BoxFuture, Call, Reply, Target, TargetError, TargetOptions, TargetStats};

/// Lambda's limit on a synchronous response.
pub(crate) const MAX_RESPONSE: usize = 6 * 1024 * 1024;

fn client(options: &TargetOptions) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(options.timeout)
        // A redirect is an answer of its own, never followed: a deployed API that sends a
        // client to a login page answering 200 has not allowed it.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client builds")
}

/// What a failed request becomes: a timeout (sending or reading the body), or an unreachable
/// target with the root cause (refused, DNS, TLS, reset) rather than reqwest's summary.
pub(super) fn request_error(
    url: &str,
    timeout: std::time::Duration,
    e: &reqwest::Error,
) -> TargetError {
    if e.is_timeout() {
        return TargetError::Timeout(timeout);
    }
    TargetError::Unreachable {
        url: url.to_string(),
        reason: causes(e),
    }
}

/// The messages of an error's sources, `: `-joined, skipping the error's own summary (which
/// only repeats the URL) and any message its successor repeats.
fn causes(e: &reqwest::Error) -> String {
    let mut messages: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !messages.last().is_some_and(|m| m.contains(&text)) {
            messages.push(text);
        }
        source = s.source();
    }
    if messages.is_empty() {
        e.to_string()
    } else {
        messages.join(": ")
    }
}

/// Reads a body chunk by chunk and stops at Lambda's 6 MB limit, so an endless answer costs
/// no more than the limit. A stall past the timeout is a [`TargetError::Timeout`].
pub(super) async fn read_body(
    answer: &mut reqwest::Response,
    url: &str,
    timeout: std::time::Duration,
) -> Result<Vec<u8>, TargetError> {
    match crate::bounded::response(answer, MAX_RESPONSE).await {
        Ok(body) => Ok(body),
        Err(crate::bounded::ReadError::Http(e)) => Err(request_error(url, timeout, &e)),
        Err(_) => Err(TargetError::Oversized(MAX_RESPONSE + 1)),
    }
}

pub(super) fn cut(s: &str) -> String {
    let mut out: String = s.chars().take(300).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Counts an answered call and times it (HTTP targets have no cold starts of their own).
fn answered(
    stats: &std::sync::Mutex<TargetStats>,
    started: Instant,
    reply: Result<Reply, TargetError>,
) -> Answer {
    stats.lock().expect("lock").invocations += 1;
    Answer::new(reply, started.elapsed(), false)
}

/// A Lambda invoke endpoint: `POST …/2015-03-31/functions/NAME/invocations`.
pub(crate) struct InvokeTarget {
    url: String,
    client: reqwest::Client,
    timeout: std::time::Duration,
    stats: std::sync::Mutex<TargetStats>,
}

impl InvokeTarget {
    pub(crate) fn new(url: &str, options: &TargetOptions) -> Self {
        let url = if url.contains("/2015-03-31/functions/") {
            url.to_string()
        } else {
            // The Runtime Interface Emulator names its one function `function`.
            format!(
                "{}/2015-03-31/functions/function/invocations",
                url.trim_end_matches('/')
            )
        };
        InvokeTarget {
            url,
            client: client(options),
            timeout: options.timeout,
            stats: Default::default(),
        }
    }
}

/// Reads a Lambda invoke answer: function errors come as `X-Amz-Function-Error` or as an
/// `errorType`/`errorMessage` body.
pub(crate) fn read_invoke_answer(function_error: bool, body: &[u8]) -> Result<Reply, TargetError> {
    if body.len() > MAX_RESPONSE {
        return Err(TargetError::Oversized(body.len()));
    }
    let text = String::from_utf8_lossy(body);
    let value: Value =
        serde_json::from_slice(body).map_err(|_| TargetError::NotJson(cut(&text)))?;
    let field = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
    let looks_like_error = value
        .as_object()
        .is_some_and(|o| o.contains_key("errorMessage") && o.contains_key("errorType"));
    if function_error || looks_like_error {
        return Ok(Reply::FunctionError {
            error_type: field("errorType").unwrap_or_else(|| "Unhandled".into()),
            message: field("errorMessage").unwrap_or_else(|| cut(&text)),
            stack: super::crash::stack_of(&value),
        });
    }
    Ok(Reply::Response(value))
}

impl Target for InvokeTarget {
    fn describe(&self) -> String {
        format!("invoke:{}", super::redact_userinfo(&self.url))
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let started = Instant::now();
            let sent = self.client.post(&self.url).json(&call.event).send().await;
            let reply = match sent {
                Err(e) => Err(request_error(&self.url, self.timeout, &e)),
                Ok(mut answer) => {
                    let status = answer.status();
                    let function_error = answer.headers().contains_key("x-amz-function-error");
                    match read_body(&mut answer, &self.url, self.timeout).await {
                        Err(e) => Err(e),
                        Ok(body) if !status.is_success() && !function_error => {
                            Err(TargetError::Unreachable {
                                url: self.url.clone(),
                                reason: format!(
                                    "HTTP {status}: {}",
                                    cut(&String::from_utf8_lossy(&body))
                                ),
                            })
                        }
                        Ok(body) => read_invoke_answer(function_error, &body),
                    }
                }
            };
            answered(&self.stats, started, reply)
        })
    }

    fn stats(&self) -> TargetStats {
        self.stats.lock().expect("lock").clone()
    }
}

/// A deployed API stage: the case's request path is appended to the URL.
pub(crate) struct UrlTarget {
    base: String,
    client: reqwest::Client,
    timeout: std::time::Duration,
    stats: std::sync::Mutex<TargetStats>,
}

impl UrlTarget {
    pub(crate) fn new(url: &str, options: &TargetOptions) -> Self {
        UrlTarget {
            base: url.trim_end_matches('/').to_string(),
            client: client(options),
            timeout: options.timeout,
            stats: Default::default(),
        }
    }
}

impl Target for UrlTarget {
    fn describe(&self) -> String {
        format!("url:{}", super::redact_userinfo(&self.base))
    }

    fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let started = Instant::now();
            let url = format!("{}{}", self.base, call.request.path);
            let method = reqwest::Method::from_bytes(call.request.method.as_bytes())
                .unwrap_or(reqwest::Method::GET);
            let mut builder = self.client.request(method, &url).query(&call.request.query);
            if let Some(auth) = &call.request.authorization {
                builder = builder.header(AUTHORIZATION, auth);
            }
            for (k, v) in &call.request.headers {
                builder = builder.header(k, v);
            }
            let reply = match builder.send().await {
                Err(e) => Err(request_error(&url, self.timeout, &e)),
                Ok(answer) if answer.status().is_redirection() => Err(TargetError::Redirect {
                    status: answer.status().as_u16(),
                    location: answer
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .map_or("(no Location header)".into(), |l| {
                            cut(&String::from_utf8_lossy(l.as_bytes()))
                        }),
                }),
                Ok(mut answer) => read_body(&mut answer, &url, self.timeout)
                    .await
                    .map(|body| Reply::Http {
                        status: answer.status().as_u16(),
                        body: cut(&String::from_utf8_lossy(&body)),
                    }),
            };
            answered(&self.stats, started, reply)
        })
    }

    fn stats(&self) -> TargetStats {
        self.stats.lock().expect("lock").clone()
    }
}
