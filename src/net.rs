//! Where authprobe's servers may listen, and the token that guards an exposed server's
//! control endpoints.
//!
//! Every server authprobe runs (the mock IdP, the gateway, the Lambda Runtime API) answers on
//! loopback only unless the user passes `--expose`. An exposed server prints a fresh
//! [`ControlToken`] at start, and its control endpoints (faults, reload, retiring keys,
//! counters) answer 401 without it; what an authorizer fetches (JWKS, discovery) stays public.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Name of the flag that lets a server listen beyond loopback.
pub const EXPOSE_FLAG: &str = "--expose";

/// A listen address refused by the loopback rule.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A non-loopback address without `--expose`.
    #[error(
        "{addr} is not a loopback address: pass {EXPOSE_FLAG} to listen on the network (control endpoints then need the token printed at start)"
    )]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
}

/// Checks that `addr` is loopback (127.0.0.0/8 or ::1, also as `::ffff:127.x.y.z`), unless
/// `expose` is set.
///
/// ```
/// use authprobe::net::check_listen;
/// assert!(check_listen("127.0.0.1:0".parse().unwrap(), false).is_ok());
/// assert!(check_listen("0.0.0.0:0".parse().unwrap(), false).is_err());
/// assert!(check_listen("0.0.0.0:0".parse().unwrap(), true).is_ok());
/// ```
pub fn check_listen(addr: SocketAddr, expose: bool) -> Result<(), ListenError> {
    if expose || addr.ip().to_canonical().is_loopback() {
        Ok(())
    } else {
        Err(ListenError::NotLoopback { addr })
    }
}

/// The secret the control endpoints of an exposed server require, as
/// `Authorization: Bearer <token>`. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlToken(String);

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken(…)")
    }
}

impl ControlToken {
    /// A new token: 32 random bytes from the system's CSPRNG, base64url.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
        ControlToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The token, to print at start.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>` (compared in constant
    /// time).
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .is_some_and(|given| {
                aws_lc_rs::constant_time::verify_slices_are_equal(given, self.0.as_bytes()).is_ok()
            })
    }
}

/// axum middleware for control routes: with a token, a request without it gets 401; with
/// none (a loopback server), everything passes. Use it with
/// `route_layer(axum::middleware::from_fn_with_state(token, require_token))`.
pub async fn require_token(
    State(token): State<Option<ControlToken>>,
    request: Request,
    next: Next,
) -> Response {
    match token {
        Some(token) if !token.admits(request.headers()) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "this control endpoint needs `Authorization: Bearer <control token>` (printed at start)",
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// A client builder for requests to `url`, without a proxy. For plain HTTP to a loopback
/// address (the run's own IdP, a local mock) it skips the system's TLS roots: they are read
/// and parsed from `/etc/ssl/certs` for every client built, a few milliseconds each, and a
/// run builds one per authorizer and per IdP.
///
/// ```
/// let client = authprobe::net::client_builder("http://127.0.0.1:8787/jwks.json").build();
/// assert!(client.is_ok());
/// ```
pub fn client_builder(url: &str) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().no_proxy();
    let loopback_http = reqwest::Url::parse(url).is_ok_and(|u| {
        let host = u.host_str().unwrap_or_default();
        u.scheme() == "http"
            && (host.eq_ignore_ascii_case("localhost")
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.to_canonical().is_loopback()))
    });
    if loopback_http {
        builder.tls_certs_only(Vec::new())
    } else {
        builder
    }
}

/// Replaces the user-info part of every URL in `text` (`https://user:secret@host/`) with `***`,
/// so credentials given in a target URL never reach output, reports or error messages.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the first `/`, `?`, `#` or whitespace; user info ends at its
        // last `@`.
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"' || c == ')'
            })
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                rest = &tail[userinfo_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_listen_without_expose() {
        for (addr, loopback) in [
            ("127.0.0.1:0", true),
            ("127.8.9.10:80", true),
            ("[::1]:0", true),
            ("[::ffff:127.0.0.1]:0", true),
            ("0.0.0.0:0", false),
            ("[::]:0", false),
            ("192.168.1.2:8080", false),
            ("[::ffff:10.0.0.1]:0", false),
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(check_listen(addr, false).is_ok(), loopback, "{addr}");
            assert!(check_listen(addr, true).is_ok(), "{addr} with --expose");
        }
        let err = check_listen("0.0.0.0:9".parse().unwrap(), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("0.0.0.0:9") && err.contains("--expose"),
            "{err}"
        );
    }

    #[test]
    fn a_token_admits_only_its_own_bearer_header() {
        let token = ControlToken::generate();
        assert_ne!(token, ControlToken::generate());
        assert_eq!(token.as_str().len(), 43);
        let headers = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            h
        };
        assert!(token.admits(&headers(&format!("Bearer {}", token.as_str()))));
        assert!(!token.admits(&headers(token.as_str())));
        assert!(!token.admits(&headers("Bearer wrong")));
        assert!(!token.admits(&HeaderMap::new()));
        assert!(!format!("{token:?}").contains(token.as_str()));
    }
}
