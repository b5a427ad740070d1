//! The mock IdP, live on 127.0.0.1: documents, rotation, faults and counts.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authprobe::idp::{Fault, Idp};
use authprobe::keys::{KeyBits, SigningKey};
use serde_json::Value;

async fn start() -> Idp {
    support::idp().await
}

async fn get_json(url: &str) -> (u16, Value) {
    let answer = support::http().get(url).send().await.unwrap();
    let status = answer.status().as_u16();
    let body = answer.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn discovery_names_the_issuer_and_a_jwks_uri_that_serves_the_keys() {
    let idp = start().await;
    let (status, doc) = get_json(&format!(
        "{}/.well-known/openid-configuration",
        idp.base_url()
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["issuer"], idp.issuer());
    assert_eq!(doc["jwks_uri"], idp.jwks_url());
    let (status, jwks) = get_json(doc["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(kids(&jwks), idp.published_kids());
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["use"].as_str(),
            key["alg"].as_str()
        ),
        (Some("RSA"), Some("sig"), Some("RS256"))
    );
    assert!(key["n"].is_string() && key["e"] == "AQAB");
}

#[tokio::test]
async fn the_cognito_layout_serves_discovery_and_keys_under_the_pool_issuer() {
    let idp = start().await;
    assert_eq!(
        idp.cognito_issuer(),
        format!("{}/us-east-1_authprobe", idp.base_url())
    );
    let (status, doc) = get_json(&format!(
        "{}/.well-known/openid-configuration",
        idp.cognito_issuer()
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["issuer"], idp.cognito_issuer());
    assert_eq!(doc["jwks_uri"], idp.cognito_jwks_url());
    let (status, jwks) = get_json(&idp.cognito_jwks_url()).await;
    assert_eq!(status, 200);
    assert_eq!(kids(&jwks), idp.published_kids());
    let (status, _) = get_json(&format!(
        "{}/us-west-2_other/.well-known/jwks.json",
        idp.base_url()
    ))
    .await;
    assert_eq!(status, 404, "another pool is not served");
}

/// Held by the tests that load the process (the rotation's fetchers) or measure it (RSS), so
/// that the measuring one does not count the other's memory.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_never_shows_a_concurrent_fetcher_a_gap() {
    let _alone = HEAVY.lock().await;
    let idp = Arc::new(start().await);
    let extra = Arc::new(SigningKey::generate(KeyBits::B2048).unwrap());
    let base = idp.published_kids();
    let with_extra: Vec<String> = base
        .iter()
        .cloned()
        .chain([extra.kid().to_string()])
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut fetchers = Vec::new();
    for _ in 0..8 {
        let (url, stop) = (idp.jwks_url(), stop.clone());
        let (base, with_extra) = (base.clone(), with_extra.clone());
        fetchers.push(tokio::spawn(async move {
            let client = support::http();
            let mut seen = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let answer = client.get(&url).send().await.unwrap();
                assert_eq!(answer.status(), 200);
                let jwks: Value = answer.json().await.unwrap();
                let got = kids(&jwks);
                // The set before a swap or the set after it: never a mix, never an empty one.
                assert!(got == base || got == with_extra, "{got:?}");
                seen += 1;
            }
            seen
        }));
    }
    // At least 200 swaps, and on until the fetchers have made 100 fetches between them: on a
    // slow build the swaps alone can be over before the first answer.
    let mut swaps = 0;
    while swaps < 200 || idp.jwks_fetches() < 100 {
        idp.add_key(extra.clone());
        tokio::task::yield_now().await;
        assert!(idp.retire_key(extra.kid()));
        tokio::task::yield_now().await;
        swaps += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for f in fetchers {
        total += f.await.unwrap();
    }
    assert!(total > 0);
    assert_eq!(idp.jwks_fetches(), total, "every fetch was counted");
}

#[tokio::test]
async fn an_added_key_is_published_and_a_retired_one_is_gone() {
    let idp = start().await;
    let new = Arc::new(SigningKey::generate(KeyBits::B2048).unwrap());
    idp.add_key(new.clone());
    let (_, jwks) = get_json(&idp.jwks_url()).await;
    assert!(kids(&jwks).contains(&new.kid().to_string()));
    assert!(idp.retire_key(new.kid()));
    assert!(!idp.retire_key(new.kid()), "retiring twice finds nothing");
    let (_, jwks) = get_json(&idp.jwks_url()).await;
    assert!(!kids(&jwks).contains(&new.kid().to_string()));
}

#[tokio::test]
async fn a_status_fault_is_served_until_cleared() {
    let idp = start().await;
    idp.set_fault(Some(Fault::Status { status: 500 }));
    assert_eq!(get_json(&idp.jwks_url()).await.0, 500);
    assert_eq!(
        get_json(&idp.cognito_jwks_url()).await.0,
        500,
        "faults cover the Cognito layout too"
    );
    idp.set_fault(None);
    assert_eq!(get_json(&idp.jwks_url()).await.0, 200);
}

#[tokio::test]
async fn a_malformed_json_fault_answers_200_with_a_body_that_does_not_parse() {
    let idp = start().await;
    idp.set_fault(Some(Fault::MalformedJson));
    let answer = support::http().get(idp.jwks_url()).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let body = answer.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&body).is_err(), "{body}");
}

#[tokio::test]
async fn an_empty_key_set_fault_publishes_no_key() {
    let idp = start().await;
    idp.set_fault(Some(Fault::EmptyKeySet));
    let (status, jwks) = get_json(&idp.jwks_url()).await;
    assert_eq!(status, 200);
    assert!(kids(&jwks).is_empty());
}

#[tokio::test]
async fn a_delay_fault_outlasts_a_client_timeout_and_clears() {
    let idp = start().await;
    idp.set_fault(Some(Fault::Delay { millis: 10_000 }));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client.get(idp.jwks_url()).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    idp.set_fault(None);
    assert_eq!(get_json(&idp.jwks_url()).await.0, 200);
}

#[tokio::test]
async fn following_the_jku_target_is_counted() {
    let idp = start().await;
    assert_eq!(idp.attacker_fetches(), 0);
    let (status, jwks) = get_json(&idp.jku_url()).await;
    assert_eq!(status, 200);
    assert_eq!(
        kids(&jwks),
        vec![support::keyring().attacker().unwrap().kid().to_string()]
    );
    get_json(&idp.x5u_url()).await;
    assert_eq!(idp.attacker_fetches(), 2);
    idp.reset_counts();
    assert_eq!(idp.attacker_fetches(), 0);
}

#[tokio::test]
async fn the_jku_target_serves_the_attacker_key_of_a_ring_made_after_the_idp_started() {
    let idp = Idp::start(
        support::keyring().published().unwrap(),
        None,
        authprobe::idp::IdpConfig::default(),
    )
    .await
    .unwrap();
    let ring = authprobe::keys::KeyRing::on_demand();
    idp.serve_attacker_key_of(&ring);
    assert_eq!(
        ring.made(),
        0,
        "the key is made when first fetched, not before"
    );
    let (status, jwks) = get_json(&idp.jku_url()).await;
    assert_eq!(status, 200);
    assert_eq!(
        kids(&jwks),
        vec![ring.attacker().unwrap().kid().to_string()]
    );
    assert_eq!(get_json(&idp.x5u_url()).await.1, jwks);
    assert_eq!(idp.attacker_fetches(), 2);
}

#[tokio::test]
async fn a_mock_mounted_on_the_backend_answers_at_the_idp_address() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let idp = start().await;
    Mock::given(method("GET"))
        .and(path("/custom/keys"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"keys": [{"kty": "oct"}]})),
        )
        .mount(idp.mock_server().await)
        .await;
    let (status, body) = get_json(&format!("{}/custom/keys", idp.base_url())).await;
    assert_eq!(status, 200);
    assert_eq!(body["keys"][0]["kty"], "oct");
    assert_eq!(
        get_json(&format!("{}/nothing-here", idp.base_url()))
            .await
            .0,
        404
    );
}

/// This process's resident set size in bytes (VmRSS of /proc/self/status).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test]
async fn requests_to_every_other_path_leave_nothing_behind_whatever_their_body() {
    let _alone = HEAVY.lock().await;
    let idp = start().await;
    let http = support::http();
    let base = idp.base_url().to_string();
    let body = bytes_of(100 * 1024);
    let paths = [
        format!("{base}/.well-known/openid-configuration"),
        format!("{}/.well-known/openid-configuration", idp.cognito_issuer()),
        idp.jku_url(),
        idp.x5u_url(),
        format!("{base}/nothing-here"),
    ];
    let send = async |round: usize| {
        for i in 0..round {
            let url = &paths[i % paths.len()];
            let answer = if i % 2 == 0 {
                http.get(url).send().await.unwrap()
            } else {
                http.post(url).body(body.clone()).send().await.unwrap()
            };
            let _ = answer.bytes().await.unwrap();
        }
    };
    send(200).await;
    let before = rss_bytes();
    // 2,000 requests, half of them carrying 100 KB: about 100 MB that a request journal keeps.
    send(2_000).await;
    let growth = rss_bytes().saturating_sub(before);
    assert!(
        growth < 40 << 20,
        "RSS grew {} MiB over 2,000 requests",
        growth >> 20
    );
    // Every GET of the jku and x5u targets is counted (2 in 10 requests), no POST is.
    assert_eq!(idp.attacker_fetches(), 2 * 2_200 / 10);
}

fn bytes_of(n: usize) -> Vec<u8> {
    vec![b'x'; n]
}

#[tokio::test]
async fn the_fault_endpoint_refuses_a_status_that_cannot_carry_a_body() {
    let idp = start().await;
    let http = support::http();
    let url = format!("{}/_authprobe/idp/fault", idp.base_url());
    for status in [101, 204, 304, 99, 600] {
        let answer = http
            .post(&url)
            .json(&serde_json::json!({"fault": "status", "status": status}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 422, "status {status}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(&format!("status {status}")), "{text}");
    }
    assert_eq!(get_json(&idp.jwks_url()).await.0, 200, "no fault was set");
    let set = http
        .post(&url)
        .json(&serde_json::json!({"fault": "status", "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    assert_eq!(get_json(&idp.jwks_url()).await.0, 503);
}

#[tokio::test]
async fn the_idp_url_the_authorizer_sees_is_its_jwks_url_and_the_tokens_issuer() {
    use authprobe::harness::{Harness, HarnessOptions, IdpPlacement};
    use authprobe::target::TargetSpec;
    use authprobe::tokens::{MintSettings, Profile};
    use base64::Engine;
    let harness = Harness::start(HarnessOptions {
        profile: Profile::Jwks,
        settings: MintSettings {
            issuer: String::new(),
            ..MintSettings::default()
        },
        target: TargetSpec::Builtin(Profile::Jwks),
        env: Vec::new(),
        workdir: None,
        concurrency: 1,
        timeout: Duration::from_secs(3),
        keys_dir: None,
        simple_responses: false,
        idp: IdpPlacement {
            url: Some("http://host.docker.internal:8787/".into()),
            ..IdpPlacement::default()
        },
        jwks_timeout: authprobe::authorizer::DEFAULT_JWKS_TIMEOUT,
        observe: false,
    })
    .await
    .unwrap();
    assert_eq!(
        harness.jwks_url.as_deref(),
        Some("http://host.docker.internal:8787/.well-known/jwks.json")
    );
    let token = harness
        .minter
        .mint(harness.minter.good_kind())
        .unwrap()
        .credential;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["iss"], "http://host.docker.internal:8787");
    // It still listens where it was told: loopback.
    assert!(harness.idp.addr().ip().is_loopback());
    harness.target.shutdown().await;
}

const CLIENT_ID: &str = "m2mclient0001";
const CLIENT_SECRET: &str = "test-client-secret-not-for-production";

async fn oauth_idp() -> Idp {
    let ring = support::keyring();
    Idp::start(
        ring.published().expect("keys"),
        None,
        authprobe::idp::IdpConfig {
            oauth_clients: vec![authprobe::idp::OAuthClient {
                id: CLIENT_ID.into(),
                secret: CLIENT_SECRET.into(),
                scopes: vec!["hello/read".into(), "hello/write".into()],
            }],
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn ask_token(url: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let answer = support::http()
        .post(url)
        .basic_auth(CLIENT_ID, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_token_endpoint_issues_cognito_shaped_access_tokens_that_verify_against_the_jwks() {
    use support::verifier::{Expected, Verifier};
    let idp = oauth_idp().await;
    let (status, body) = ask_token(
        &idp.cognito_token_url(),
        CLIENT_SECRET,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "hello/read"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let verifier = Verifier::fetch(
        Expected {
            profile: authprobe::tokens::Profile::Cognito,
            issuer: idp.cognito_issuer(),
            audience: String::new(),
            client_id: CLIENT_ID.into(),
            token_use: authprobe::tokens::TokenUse::Access,
            secret: Vec::new(),
            leeway: 60,
        },
        Some(&idp.cognito_jwks_url()),
    )
    .await;
    let claims = verifier
        .verify(&format!("Bearer {token}"))
        .unwrap_or_else(|reason| panic!("the issued token is refused: {reason:?}"));
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(claims["client_id"], CLIENT_ID);
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["scope"], "hello/read");
    assert!(
        claims.get("aud").is_none(),
        "Cognito access tokens carry no aud"
    );
    assert_eq!(idp.tokens_issued(), 1);
}

#[tokio::test]
async fn the_token_endpoint_gives_every_scope_when_none_is_asked_and_aud_when_an_audience_is() {
    let idp = oauth_idp().await;
    let (status, body) = ask_token(
        &idp.token_url(),
        CLIENT_SECRET,
        &[
            ("grant_type", "client_credentials"),
            ("audience", "authprobe-api"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let payload = body["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["scope"], "hello/read hello/write");
    assert_eq!(claims["aud"], "authprobe-api");
}

#[tokio::test]
async fn the_token_endpoint_refuses_wrong_secrets_grants_and_scopes_as_rfc_6749_says() {
    let idp = oauth_idp().await;
    let url = idp.cognito_token_url();
    let (status, body) = ask_token(&url, "wrong", &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = ask_token(&url, CLIENT_SECRET, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = ask_token(
        &url,
        CLIENT_SECRET,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // Without Basic, the client may authenticate in the form (client_secret_post).
    let answer = support::http()
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(idp.tokens_issued(), 1, "only the good request got a token");
    // An unknown pool is not a token endpoint.
    let (status, _) = ask_token(
        &format!("{}/us-east-1_other/oauth2/token", idp.base_url()),
        CLIENT_SECRET,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 404);
}
