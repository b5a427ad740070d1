//! Properties over hostile input, run as part of the normal test suite with a bounded number of
//! cases: the profile parser and the reference authorizers' token-header parsing never panic,
//! whatever they are given; they answer with an error instead. The gateway's request path rule
//! never lets a proxied backend see another resource than the policy was evaluated on, and its
//! result cache never lets two identities share an entry.

use authprobe::authorizer::{Authorizer, AuthorizerConfig};
use authprobe::conform::profile;
use authprobe::tokens::{MintSettings, Profile};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A built-in profile with a few bytes replaced, removed or inserted: near-valid TOML reaches
/// deeper into the parser than random text does.
fn mutated_profile() -> impl Strategy<Value = String> {
    let texts: Vec<&'static str> = profile::BUILTIN.iter().map(|(_, t)| *t).collect();
    (
        proptest::sample::select(texts),
        proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..6),
    )
        .prop_map(|(text, edits)| {
            let mut chars: Vec<char> = text.chars().collect();
            for (at, op, c) in edits {
                if chars.is_empty() {
                    break;
                }
                let i = at.index(chars.len());
                match op {
                    0 => chars[i] = c,
                    1 => {
                        chars.remove(i);
                    }
                    _ => chars.insert(i, c),
                }
            }
            chars.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_profile_parser_never_panics_on_any_text(text in ".{0,400}") {
        let _ = profile::parse(&text, "fuzz.toml");
    }

    #[test]
    fn the_profile_parser_never_panics_on_a_mutated_builtin_profile(text in mutated_profile()) {
        if let Err(e) = profile::parse(&text, "fuzz.toml") {
            // Every refusal names the file.
            prop_assert!(e.to_string().starts_with("fuzz.toml:"), "{e}");
        }
    }
}

/// JWT-shaped header values: a scheme, then dot-separated parts that are base64url of JSON
/// objects with hostile members, raw bytes, or nothing.
fn jwt_shaped() -> impl Strategy<Value = String> {
    let json_part = proptest::collection::btree_map(
        prop_oneof![
            Just("alg".to_string()),
            Just("kid".to_string()),
            Just("typ".to_string()),
            Just("crit".to_string()),
            Just("jku".to_string()),
            Just("exp".to_string()),
            Just("aud".to_string()),
            Just("iss".to_string()),
            Just("sub".to_string()),
            "[a-z]{1,4}",
        ],
        prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            ".{0,20}".prop_map(serde_json::Value::from),
            Just(serde_json::json!(["RS256", {"a": []}])),
            Just(serde_json::json!({"kty": "RSA", "n": "", "e": ""})),
        ],
        0..6,
    )
    .prop_map(|m| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&m).unwrap()));
    let part = prop_oneof![
        json_part,
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        "[A-Za-z0-9_=+/ .-]{0,30}",
    ];
    (
        prop_oneof![
            Just(""),
            Just("Bearer "),
            Just("bearer "),
            Just("Bearer  "),
            Just("Basic ")
        ],
        proptest::collection::vec(part, 0..5),
    )
        .prop_map(|(scheme, parts)| format!("{scheme}{}", parts.join(".")))
}

fn authorizer(profile: Profile) -> Authorizer {
    let settings = MintSettings::default();
    // Nothing listens on port 9: a kid that gets as far as a JWKS fetch fails fast.
    let jwks = matches!(profile, Profile::Jwks | Profile::Cognito)
        .then(|| "http://127.0.0.1:9/.well-known/jwks.json".to_string());
    Authorizer::new(AuthorizerConfig::matching(profile, &settings, jwks))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_reference_authorizers_never_panic_on_any_header(
        header in prop_oneof![jwt_shaped(), ".{0,200}"],
        profile in proptest::sample::select(vec![Profile::Static, Profile::Hs256, Profile::Jwks, Profile::Cognito]),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(authorizer(profile).verify(&header));
        // Nothing random is a valid token.
        prop_assert!(result.is_err(), "{header} was accepted by {profile}");
    }
}

/// Path characters that matter to routing and to URL parsers: dots, slashes, backslashes and
/// percent escapes (of dots and slashes among others), with plain letters between.
fn hostile_path() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("/"),
            Just("."),
            Just(".."),
            Just("%2e"),
            Just("%2E"),
            Just("%252e"),
            Just("%2f"),
            Just("%5c"),
            Just("\\"),
            Just("%"),
            Just("%zz"),
            Just("a"),
            Just("public"),
            Just("%20"),
        ],
        0..12,
    )
    .prop_map(|parts| format!("/{}", parts.concat()))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_path_the_gateway_takes_reaches_a_proxied_backend_as_the_same_resource(
        path in prop_oneof![hostile_path(), "/[!-~]{0,40}"],
    ) {
        use authprobe::gateway::path;
        // Not a path: the front splits the query off before the gateway sees it (and hyper
        // takes no spaces or control characters in a request target).
        if path.contains(['?', '#']) {
            return Ok(());
        }
        if path::check(&path).is_ok() {
            // What the proxy backend's URL parser makes of it is the path the policy saw.
            let url = reqwest::Url::parse(&format!("http://backend.test{path}")).unwrap();
            prop_assert_eq!(path::percent_decode(url.path()), path::percent_decode(&path));
        }
    }

    #[test]
    fn distinct_identities_never_share_a_cache_entry(
        a in proptest::collection::vec(".{0,6}", 2),
        b in proptest::collection::vec(".{0,6}", 2),
    ) {
        use authprobe::event::{Api, EventKind};
        use authprobe::gateway::{AuthorizerSettings, Gateway, GatewayConfig, GatewayRequest};
        use authprobe::target::{Answer, BoxFuture, Call, Reply, Target};
        use std::sync::atomic::{AtomicU64, Ordering};

        /// Allows everything, counting its invocations.
        #[derive(Default)]
        struct Counting(AtomicU64);
        impl Target for Counting {
            fn describe(&self) -> String {
                "counting".into()
            }
            fn call<'a>(&'a self, call: &'a Call) -> BoxFuture<'a, Answer> {
                self.0.fetch_add(1, Ordering::SeqCst);
                let arn = call.event["methodArn"].as_str().unwrap_or_default().to_string();
                Box::pin(async move {
                    Answer {
                        reply: Ok(Reply::Response(serde_json::json!({
                            "principalId": "p",
                            "policyDocument": {"Version": "2012-10-17", "Statement": [
                                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}]},
                        }))),
                        elapsed: std::time::Duration::ZERO,
                        cold: false,
                        output: Default::default(),
                        after_answer: None,
                    }
                })
            }
        }
        // Empty values are a missing identity (401, never cached): only the rest count.
        prop_assume!(a.iter().chain(&b).all(|v| !v.is_empty()));
        let target = std::sync::Arc::new(Counting::default());
        let config = GatewayConfig {
            authorizer: AuthorizerSettings {
                identity_sources: vec![
                    "method.request.querystring.x".parse().unwrap(),
                    "method.request.querystring.y".parse().unwrap(),
                ],
                ..AuthorizerSettings::new(EventKind::Request, false)
            },
            ..GatewayConfig::new(Api::default(), vec!["GET /hello".parse().unwrap()])
        };
        let gateway = Gateway::new(config, target.clone()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            for values in [&a, &b] {
                let r = GatewayRequest::new("GET", "/hello")
                    .query("x", &values[0])
                    .query("y", &values[1]);
                gateway.handle(r).await;
            }
        });
        let expected = if a == b { 1 } else { 2 };
        prop_assert_eq!(target.0.load(Ordering::SeqCst), expected);
    }
}
