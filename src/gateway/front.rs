//! The gateway's HTTP front: `http://ADDR/STAGE/...` goes to [`Gateway::handle`], the same
//! service conform and the load generator call in process; `GET /_authprobe/stats` answers
//! the counters as JSON.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::{Body as _, Incoming};
use hyper::service::Service as _;

use super::names::{Heads, Tapped, as_sent};
use super::{Gateway, GatewayRequest, MAX_PAYLOAD, Refusal};
use crate::net::{ControlToken, check_listen, require_token};

/// Where the counters are served.
pub const STATS_PATH: &str = "/_authprobe/stats";

/// What the front allows its clients; each is a `gateway serve` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's line and headers; a connection that
    /// dawdles longer (slowloris) is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once; further ones wait in the listen queue until one closes.
    /// Lowered to half the process's open-file limit when that is smaller, so the front
    /// cannot starve the rest of the run (the target, the IdP) of file descriptors.
    pub max_connections: usize,
    /// Largest request body, in bytes; a larger one is answered 413 as it arrives. A body is
    /// read only for a request that matches a route, and kept only for a proxied backend.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_body: MAX_PAYLOAD,
        }
    }
}

/// [`Limits::header_read_timeout`] unless told otherwise.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// [`Limits::max_connections`] unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Half the soft limit on open files, when there is one.
fn file_budget() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    usize::try_from(limit.rlim_cur / 2).ok()
}

/// A running HTTP front. Dropping it stops the server.
#[derive(Debug)]
pub struct Front {
    addr: SocketAddr,
    stage: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Front {
    /// Serves `gateway` on `addr` (port 0 picks a free one) with the default [`Limits`].
    /// `addr` must be loopback unless a control token is given (`--expose`); the token then
    /// guards the counters.
    pub async fn start(
        gateway: Arc<Gateway>,
        addr: SocketAddr,
        control_token: Option<ControlToken>,
    ) -> std::io::Result<Front> {
        Front::start_with(gateway, addr, control_token, Limits::default()).await
    }

    /// [`Front::start`] with the limits given.
    pub async fn start_with(
        gateway: Arc<Gateway>,
        addr: SocketAddr,
        control_token: Option<ControlToken>,
        limits: Limits,
    ) -> std::io::Result<Front> {
        check_listen(addr, control_token.is_some())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e))?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stage = gateway.config().api.stage.clone();
        // The counters go through axum (the control token's middleware, a 405 for other
        // methods); every other request goes straight to `handle`: axum's router, boxed
        // services and response mapping cost about a fifth of the front's own work per
        // request, for a match the front can make with one comparison (docs/PERFORMANCE.md).
        let stats = hyper_util::service::TowerToHyperService::new(
            Router::new()
                .route(
                    STATS_PATH,
                    get(stats).route_layer(axum::middleware::from_fn_with_state(
                        control_token,
                        require_token,
                    )),
                )
                .with_state(gateway.clone()),
        );
        let front = Arc::new(Stage {
            prefix: format!("/{stage}"),
            http_api: gateway.config().authorizer.event.api(false) != crate::policy::ApiKind::Rest,
            keep_body: matches!(gateway.config().backend, super::Backend::Proxy(_)),
            max_body: limits.max_body,
            gateway,
        });
        let max_connections = limits
            .max_connections
            .min(file_budget().unwrap_or(usize::MAX))
            .max(1);
        let connections = Arc::new(tokio::sync::Semaphore::new(max_connections));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        // Plain HTTP/1 connections straight on hyper: the front has no use for axum::serve's
        // protocol detection and upgrades, and the wrk comparison measures it against a bare
        // hyper server (docs/PERFORMANCE.md).
        let server = tokio::spawn(async move {
            loop {
                // At the cap, no connection is accepted until one closes.
                let Ok(permit) = connections.clone().acquire_owned().await else {
                    return;
                };
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (stats, front) = (stats.clone(), front.clone());
                let heads = Heads::default();
                let stream = Tapped::new(stream, heads.clone());
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (stats, front) = (stats.clone(), front.clone());
                    let sent = heads.next(request.headers());
                    async move {
                        if request.uri().path() == STATS_PATH {
                            stats.call(request).await
                        } else {
                            Ok::<_, Infallible>(handle(&front, request, sent).await)
                        }
                    }
                });
                let http = http.clone();
                tokio::spawn(async move {
                    let _ = http
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                    drop(permit);
                });
            }
        });
        Ok(Front {
            addr,
            stage,
            server,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/STAGE`: what a client puts in front of a route's path.
    pub fn base_url(&self) -> String {
        format!("http://{}/{}", self.addr, self.stage)
    }

    /// `http://ADDR/_authprobe/stats`.
    pub fn stats_url(&self) -> String {
        format!("http://{}{STATS_PATH}", self.addr)
    }
}

async fn stats(State(gateway): State<Arc<Gateway>>) -> axum::Json<super::GatewayStats> {
    axum::Json(gateway.stats())
}

/// Percent-decodes a query component (`+` is a space).
fn decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `handle` needs for every request, worked out once when the front starts.
struct Stage {
    gateway: Arc<Gateway>,
    /// `/STAGE`.
    prefix: String,
    /// Whether refusals take the HTTP API form.
    http_api: bool,
    /// Whether the backend needs the body (a proxy); the echo backend only counts it.
    keep_body: bool,
    /// [`Limits::max_body`].
    max_body: usize,
}

fn refused(refusal: Refusal, http_api: bool) -> Response {
    let (status, error_type, body) = refusal.answer(http_api);
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response();
    if let Some(t) = error_type {
        r.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(t));
    }
    r
}

/// Turns the HTTP request into a [`GatewayRequest`], hands it to [`Gateway::handle`] and
/// the answer back to hyper. Each part of the request is copied once, straight into the
/// request's strings; header names are spelled as `sent` ([`Heads::next`]).
async fn handle(stage: &Stage, request: Request<Incoming>, sent: Option<Vec<String>>) -> Response {
    let (parts, body) = request.into_parts();
    // Everything lives under the stage: `/STAGE` is the root, `/STAGE/x` is `/x`.
    let Some(rest) = parts.uri.path().strip_prefix(stage.prefix.as_str()) else {
        return refused(Refusal::NoRoute, stage.http_api);
    };
    let path = match rest {
        "" => "/".to_string(),
        r if r.starts_with('/') => r.to_string(),
        _ => return refused(Refusal::NoRoute, stage.http_api),
    };
    // A body is read only for a route that exists (no route: the gateway answers without
    // it), streamed against the limit, and kept only for a backend that is sent it.
    let body = if body.is_end_stream() || !stage.gateway.has_route(parts.method.as_str(), &path) {
        Vec::new()
    } else if stage.keep_body {
        match crate::bounded::body(Body::new(body), stage.max_body).await {
            Ok(b) => b.to_vec(),
            Err(_) => return refused(Refusal::PayloadTooLarge, stage.http_api),
        }
    } else {
        if crate::bounded::drain(body, stage.max_body).await.is_err() {
            return refused(Refusal::PayloadTooLarge, stage.http_api);
        }
        Vec::new()
    };
    let query = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let headers = as_sent(&parts.headers, sent);
    let answer = stage
        .gateway
        .handle(GatewayRequest {
            method: parts.method.as_str().to_string(),
            path,
            query,
            headers,
            body,
        })
        .await;
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let out = response.headers_mut();
    out.reserve(answer.headers.len());
    for (k, v) in answer.headers {
        // The gateway's own answers carry one header, content-type: no parsing for it.
        if k == "content-type" && v == "application/json" {
            out.append(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        } else if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::try_from(v),
        ) {
            out.append(k, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn query_components_are_percent_decoded() {
        assert_eq!(decode("a%20b+c"), "a b c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }
}
