//! The mock IdP's OAuth 2.0 token endpoint (RFC 6749 §4.4, client credentials): what a
//! Cognito app client, an Auth0 or Okta machine-to-machine app is answered, at the root and
//! under the Cognito pool path.

use super::*;

/// A form of the token request (`application/x-www-form-urlencoded`, RFC 6749 §4.4.2).
#[derive(Debug, Default, Deserialize)]
pub(super) struct TokenForm {
    grant_type: Option<String>,
    scope: Option<String>,
    /// Auth0's extension: the API the token is for, put in `aud`.
    audience: Option<String>,
    /// `client_secret_post` (RFC 6749 §2.3.1), for clients that do not use HTTP Basic.
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub(super) async fn serve_token(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    form: Result<axum::Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let issuer = shared.base_url.clone();
    issue_token(&shared, &issuer, &headers, form.map(|f| f.0).ok())
}

pub(super) async fn serve_pool_token(
    State(shared): State<Arc<Shared>>,
    Path(pool): Path<String>,
    headers: axum::http::HeaderMap,
    form: Result<axum::Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if pool != shared.pool_id {
        return StatusCode::NOT_FOUND.into_response();
    }
    let issuer = format!("{}/{}", shared.base_url, shared.pool_id);
    issue_token(&shared, &issuer, &headers, form.map(|f| f.0).ok())
}

fn jti() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OAuth 2.0 error answer (RFC 6749 §5.2); `invalid_client` is 401 with a Basic challenge.
fn oauth_error(error: &'static str, description: &str) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = serde_json::to_vec(&json!({ "error": error, "error_description": description }))
        .expect("error serializes");
    let mut response = json_response(status, body.into());
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"authprobe\""),
        );
    }
    response
}

/// `client_id` and `client_secret` from `Authorization: Basic` (RFC 6749 §2.3.1), else
/// from the form.
fn client_credentials(
    headers: &axum::http::HeaderMap,
    form: &TokenForm,
) -> Option<(String, String)> {
    use base64::Engine as _;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, b64)| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(i, s)| (i.to_string(), s.to_string()))
        });
    basic.or_else(|| Some((form.client_id.clone()?, form.client_secret.clone()?)))
}

/// The client-credentials grant: checks the client and the scopes and answers a
/// Cognito-shaped access token (`token_use=access`, `client_id`, `scope`, `sub` = the client
/// id, no `aud` unless an Auth0-style `audience` was asked for), signed by the current key.
fn issue_token(
    shared: &Shared,
    issuer: &str,
    headers: &axum::http::HeaderMap,
    form: Option<TokenForm>,
) -> Response {
    let Some(form) = form else {
        return oauth_error(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    };
    let Some((id, secret)) = client_credentials(headers, &form) else {
        return oauth_error("invalid_client", "no client credentials");
    };
    let known = shared.oauth_clients.iter().find(|c| {
        c.id == id
            && aws_lc_rs::constant_time::verify_slices_are_equal(
                c.secret.as_bytes(),
                secret.as_bytes(),
            )
            .is_ok()
    });
    let Some(client) = known else {
        return oauth_error("invalid_client", "unknown client or wrong secret");
    };
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            "unsupported_grant_type",
            "only client_credentials is supported",
        );
    }
    let scope = match &form.scope {
        Some(asked) => {
            if let Some(bad) = asked
                .split_whitespace()
                .find(|s| !client.scopes.iter().any(|c| c == s))
            {
                return oauth_error("invalid_scope", &format!("scope {bad} is not allowed"));
            }
            asked.split_whitespace().collect::<Vec<_>>().join(" ")
        }
        None => client.scopes.join(" "),
    };
    let published = shared.published.read().expect("lock").clone();
    let Some(key) = published.keys.iter().find(|k| !k.is_weak()) else {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from_static(br#"{"error":"temporarily_unavailable"}"#),
        );
    };
    let now = crate::tokens::unix_now();
    let ttl = ACCESS_TOKEN_TTL.as_secs();
    let mut claims = json!({
        "sub": client.id,
        "token_use": "access",
        "scope": scope,
        "auth_time": now,
        "iss": issuer,
        "exp": now + ttl as i64,
        "iat": now,
        "version": 2,
        "jti": jti(),
        "client_id": client.id,
    });
    if let Some(aud) = &form.audience {
        claims["aud"] = json!(aud);
    }
    let header = json!({ "kid": key.kid(), "alg": "RS256" });
    let token = crate::tokens::jws::sign_rsa(&header, &claims, key, crate::keys::RsaAlg::Rs256);
    shared.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let body = serde_json::to_vec(&json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
    }))
    .expect("token response serializes");
    let mut response = json_response(StatusCode::OK, body.into());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
