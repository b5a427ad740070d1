//! The example authorizers, each under its real runtime client (Python awslambdaric, Rust
//! lambda_runtime) as `lambda:` targets, with a good and a bad token.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use authprobe::event::{self, Api, ClientRequest, EventKind};
use authprobe::harness::{Harness, HarnessOptions};
use authprobe::policy::ApiKind;
use authprobe::target::{self, Call, Outcome, TargetSpec};
use authprobe::tokens::{Kind, MintSettings, Profile, TokenUse};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn harness(
    profile: Profile,
    token_use: TokenUse,
    command: Vec<String>,
    workdir: Option<PathBuf>,
    vars: &[(&str, &str)],
) -> Harness {
    Harness::start(HarnessOptions {
        profile,
        settings: MintSettings {
            issuer: String::new(),
            token_use,
            ..MintSettings::default()
        },
        target: TargetSpec::Lambda(command),
        env: env(vars),
        workdir,
        concurrency: 1,
        timeout: Duration::from_secs(10),
        keys_dir: None,
        simple_responses: false,
        idp: Default::default(),
        jwks_timeout: authprobe::authorizer::DEFAULT_JWKS_TIMEOUT,
        observe: false,
    })
    .await
    .unwrap()
}

async fn outcome(h: &Harness, kind: Kind) -> Outcome {
    let request = ClientRequest::get("/hello", Some(h.minter.mint(kind).unwrap().header_value()));
    let api = Api::default();
    let call = Call {
        event: event::build(EventKind::Token, &api, &request),
        request: request.clone(),
    };
    let answer = h.target.call(&call).await;
    target::classify(
        &answer.reply,
        ApiKind::Rest,
        &request.method_arn(&api).to_string(),
    )
    .0
}

fn python_command() -> Vec<String> {
    let python = support::python::venv_python();
    vec![
        python.display().to_string(),
        "-m".into(),
        "awslambdaric".into(),
        "app.handler".into(),
    ]
}

const JWKS_ENV: &[(&str, &str)] = &[
    ("AUTH_PROFILE", "jwks"),
    ("JWKS_URL", "{jwks_url}"),
    ("ISSUER", "{issuer}"),
    ("AUDIENCE", "{audience}"),
];

const COGNITO_ENV: &[(&str, &str)] = &[
    ("AUTH_PROFILE", "cognito"),
    ("JWKS_URL", "{jwks_url}"),
    ("ISSUER", "{issuer}"),
    ("CLIENT_ID", "{client_id}"),
    ("TOKEN_USE", "{token_use}"),
];

#[tokio::test]
async fn the_correct_python_authorizer_allows_a_good_token_and_rejects_an_expired_one() {
    let h = harness(
        Profile::Jwks,
        TokenUse::Access,
        python_command(),
        Some(support::python::example_dir("correct")),
        JWKS_ENV,
    )
    .await;
    assert_eq!(outcome(&h, Kind::Valid).await, Outcome::Allow);
    assert_eq!(outcome(&h, Kind::Expired).await, Outcome::Unauthorized);
    assert_eq!(outcome(&h, Kind::AlgNone).await, Outcome::Unauthorized);
}

#[tokio::test]
async fn the_correct_python_authorizer_handles_cognito_access_tokens() {
    let h = harness(
        Profile::Cognito,
        TokenUse::Access,
        python_command(),
        Some(support::python::example_dir("correct")),
        COGNITO_ENV,
    )
    .await;
    assert_eq!(outcome(&h, Kind::CognitoAccess).await, Outcome::Allow);
    assert_eq!(
        outcome(&h, Kind::TokenUseSwapped).await,
        Outcome::Unauthorized
    );
}

#[tokio::test]
async fn the_flawed_python_authorizer_denies_instead_of_401_and_lets_a_swapped_token_use_in() {
    let h = harness(
        Profile::Cognito,
        TokenUse::Access,
        python_command(),
        Some(support::python::example_dir("flawed")),
        COGNITO_ENV,
    )
    .await;
    // It checks aud on access tokens, which have none: good tokens are refused, by a Deny.
    assert_eq!(outcome(&h, Kind::CognitoAccess).await, Outcome::Deny);
    // It ignores token_use: an ID token gets in where an access token is required.
    assert_eq!(outcome(&h, Kind::TokenUseSwapped).await, Outcome::Allow);
}

fn rust_example() -> PathBuf {
    // Cargo builds examples next to the test binaries: <target>/<profile>/examples/.
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(2)
        .unwrap()
        .join("examples")
        .join("rust-authorizer")
}

#[tokio::test]
async fn the_rust_authorizer_on_lambda_runtime_allows_a_good_token_and_rejects_a_bad_one() {
    let command = vec![rust_example().display().to_string()];
    let h = harness(Profile::Jwks, TokenUse::Access, command, None, JWKS_ENV).await;
    assert_eq!(outcome(&h, Kind::Valid).await, Outcome::Allow);
    assert_eq!(outcome(&h, Kind::KidUnknown).await, Outcome::Unauthorized);
    assert_eq!(outcome(&h, Kind::Expired).await, Outcome::Unauthorized);
}
