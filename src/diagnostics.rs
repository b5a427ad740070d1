//! authprobe's own diagnostics, for when a run does something you cannot explain: each
//! request the mock IdP serves, each request the gateway emulator decides (route, cache,
//! authorizer, status) and each call a handler makes to the embedded Runtime API, as `tracing`
//! events on stderr, never mixed into a report on stdout.
//!
//! Off unless asked for: `-vv` on `conform` shows the debug events, `-vvv` the trace ones, and
//! `RUST_LOG` (tracing's filter syntax: `authprobe=debug`, `authprobe::idp=trace`) overrides
//! both. No event carries a token, a header value or a body: paths, statuses and decisions
//! only.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// The variable that filters the diagnostics.
pub const FILTER_VAR: &str = "RUST_LOG";

/// Starts the diagnostics on stderr: `RUST_LOG` when set, else `authprobe=debug` for
/// `verbose` 2 and `authprobe=trace` from 3; below 2 and without the variable, nothing is set
/// up and the events cost nothing. Returns a warning to print when `RUST_LOG` cannot be read.
pub fn init(verbose: u8) -> Option<String> {
    use tracing_subscriber::EnvFilter;
    let (filter, warning) = match std::env::var(FILTER_VAR) {
        Ok(value) if !value.trim().is_empty() => match EnvFilter::try_new(&value) {
            Ok(filter) => (filter, None),
            Err(e) => (
                EnvFilter::new("authprobe=debug"),
                Some(format!(
                    "{FILTER_VAR}={value} is not a filter ({e}); showing authprobe=debug instead"
                )),
            ),
        },
        _ => match verbose {
            0 | 1 => return None,
            2 => (EnvFilter::new("authprobe=debug"), None),
            _ => (EnvFilter::new("authprobe=trace"), None),
        },
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    warning
}

/// Runs the request; returns its method, printable path, status and time taken in ms.
async fn timed(request: Request, next: Next) -> (Response, String, String, u16, f64) {
    let method = request.method().to_string();
    let path = crate::report::printable_line(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    (
        response,
        method,
        path,
        status,
        started.elapsed().as_secs_f64() * 1e3,
    )
}

/// Logs each request the mock IdP serves: method, path, status, time taken.
pub async fn idp_requests(request: Request, next: Next) -> Response {
    let (response, method, path, status, ms) = timed(request, next).await;
    tracing::debug!(target: "authprobe::idp", method, path, status, ms, "served");
    response
}

/// Logs each call a handler makes to the embedded Runtime API: `next` when an invocation is
/// handed out (after waiting for one), `response` and `error` when it answers.
pub async fn runtime_api_calls(request: Request, next: Next) -> Response {
    let (response, method, path, status, ms) = timed(request, next).await;
    tracing::debug!(target: "authprobe::runtime_api", method, path, status, ms, "handler called");
    response
}
