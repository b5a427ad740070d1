//! The reference authorizers walk the whole catalogue: every allow kind of their profile is
//! allowed with a stage-wide policy, every reject kind is refused with `Unauthorized` for the
//! kind's own reason, and nothing follows a `jku`/`x5u` header.

mod support;

use authprobe::authorizer::{Authorizer, AuthorizerConfig, AuthorizerError};
use authprobe::event::{self, Api, ClientRequest, EventKind};
use authprobe::policy::{self, Decision};
use authprobe::tokens::{Expect, MintSettings, Minter, Profile, TokenUse};

async fn walk(profile: Profile, token_use: TokenUse, kind: EventKind) {
    let ring = support::keyring();
    let idp = support::idp().await;
    let (issuer, jwks) = idp.layout(profile);
    let settings = MintSettings {
        issuer,
        token_use,
        jku_url: idp.jku_url(),
        x5u_url: idp.x5u_url(),
        ..MintSettings::default()
    };
    let authorizer = Authorizer::new(AuthorizerConfig::matching(profile, &settings, jwks));
    let minter = Minter::new(profile, ring, settings);
    let api = Api::default();
    let mut wrong = Vec::new();
    for k in minter.kinds() {
        let minted = minter.mint(k).unwrap();
        let request = ClientRequest::get("/hello", Some(minted.header_value()));
        let ev = event::build(kind, &api, &request);
        let answer = authorizer.handle(&ev).await;
        let ok = match (minter.expect(k).unwrap(), &answer) {
            (Expect::Allow, Ok(response)) => {
                let arn = request.method_arn(&api);
                let other = arn.with_route("POST", "/items/7").to_string();
                policy::evaluate(response, kind.api(false), &arn.to_string()) == Ok(Decision::Allow)
                    && policy::evaluate(response, kind.api(false), &other) == Ok(Decision::Allow)
                    && (profile == Profile::Static
                        || response["principalId"] == minter.settings().subject)
            }
            (Expect::Reject(reason), Err(AuthorizerError::Unauthorized(got))) => reason == *got,
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "{k}: expected {:?}, got {answer:?}",
                minter.expect(k).unwrap()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{profile}/{token_use:?}/{kind:?}:\n{}",
        wrong.join("\n")
    );
    assert_eq!(idp.attacker_fetches(), 0);
}

#[tokio::test]
async fn the_jwks_authorizer_judges_every_kind_right() {
    walk(Profile::Jwks, TokenUse::Access, EventKind::Token).await;
}

#[tokio::test]
async fn the_jwks_authorizer_reads_request_and_http_api_events_too() {
    for kind in [EventKind::Request, EventKind::V1, EventKind::V2] {
        walk(Profile::Jwks, TokenUse::Access, kind).await;
    }
}

#[tokio::test]
async fn the_cognito_access_authorizer_judges_every_kind_right() {
    walk(Profile::Cognito, TokenUse::Access, EventKind::Token).await;
}

#[tokio::test]
async fn the_cognito_id_authorizer_judges_every_kind_right() {
    walk(Profile::Cognito, TokenUse::Id, EventKind::Token).await;
}

#[tokio::test]
async fn the_hs256_authorizer_judges_every_kind_right() {
    walk(Profile::Hs256, TokenUse::Access, EventKind::Token).await;
}

#[tokio::test]
async fn the_static_authorizer_judges_every_kind_right() {
    walk(Profile::Static, TokenUse::Access, EventKind::Token).await;
}
