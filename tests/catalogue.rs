//! Every kind of the catalogue, minted and checked by an independent verifier that fetches
//! the JWKS from the mock IdP over HTTP: good kinds verify, bad kinds fail for their own reason.

mod support;

use authprobe::tokens::{Expect, Kind, MintSettings, Minter, Profile, TokenUse};
use support::verifier::{Expected, Verifier};

async fn check_profile(profile: Profile, token_use: TokenUse) {
    let ring = support::keyring();
    let idp = support::idp().await;
    let (issuer, jwks_url) = idp.layout(profile);
    let settings = MintSettings {
        issuer: issuer.clone(),
        token_use,
        jku_url: idp.jku_url(),
        x5u_url: idp.x5u_url(),
        ..MintSettings::default()
    };
    let expected = Expected {
        profile,
        issuer,
        audience: settings.audience.clone(),
        client_id: settings.client_id.clone(),
        token_use,
        secret: settings.secret.clone(),
        leeway: settings.leeway.as_secs() as i64,
    };
    let verifier = Verifier::fetch(expected, jwks_url.as_deref()).await;
    let minter = Minter::new(profile, ring, settings);

    let kinds = minter.kinds();
    assert!(kinds.len() >= 3, "{profile} has only {} kinds", kinds.len());
    let mut wrong = Vec::new();
    for kind in kinds {
        let minted = minter.mint(kind).unwrap_or_else(|e| panic!("{kind}: {e}"));
        let observed = verifier.verify(&minted.header_value());
        let expected = minter.expect(kind).unwrap();
        let ok = match (expected, &observed) {
            (Expect::Allow, Ok(_)) => true,
            (Expect::Reject(reason), Err(got)) => reason == *got,
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "{kind}: expected {expected:?}, verifier said {observed:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{profile}/{token_use:?}:\n{}",
        wrong.join("\n")
    );
    if jwks_url.is_some() {
        assert!(
            idp.jwks_fetches() >= 1,
            "the verifier fetched the JWKS over HTTP"
        );
    }
    assert_eq!(
        idp.attacker_fetches(),
        0,
        "nothing followed a jku/x5u header"
    );
}

#[tokio::test]
async fn every_jwks_kind_verifies_or_fails_for_its_own_reason() {
    check_profile(Profile::Jwks, TokenUse::Access).await;
}

#[tokio::test]
async fn every_cognito_access_kind_verifies_or_fails_for_its_own_reason() {
    check_profile(Profile::Cognito, TokenUse::Access).await;
}

#[tokio::test]
async fn every_cognito_id_kind_verifies_or_fails_for_its_own_reason() {
    check_profile(Profile::Cognito, TokenUse::Id).await;
}

#[tokio::test]
async fn every_hs256_kind_verifies_or_fails_for_its_own_reason() {
    check_profile(Profile::Hs256, TokenUse::Access).await;
}

#[tokio::test]
async fn every_static_kind_verifies_or_fails_for_its_own_reason() {
    check_profile(Profile::Static, TokenUse::Access).await;
}

#[test]
fn every_kind_is_exercised_by_some_profile() {
    let covered: Vec<Kind> = [
        (Profile::Jwks, TokenUse::Access),
        (Profile::Cognito, TokenUse::Access),
        (Profile::Cognito, TokenUse::Id),
        (Profile::Hs256, TokenUse::Access),
        (Profile::Static, TokenUse::Access),
    ]
    .iter()
    .flat_map(|(p, u)| {
        Kind::ALL
            .iter()
            .copied()
            .filter(move |k| k.expect(*p, *u).is_some())
    })
    .collect();
    for kind in Kind::ALL {
        assert!(covered.contains(kind), "{kind} is tested by no profile");
    }
}

#[test]
fn a_bad_token_differs_from_the_good_one_only_where_its_kind_says() {
    use base64::Engine as _;
    let decode = |part: &str| -> serde_json::Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let minter = Minter::new(Profile::Jwks, support::keyring(), MintSettings::default());
    let claims = |kind| {
        let token = minter.mint(kind).unwrap().credential;
        let mut c = decode(token.split('.').nth(1).unwrap());
        c.as_object_mut().unwrap().remove("jti");
        c
    };
    let good = claims(Kind::Valid);
    let mut expired = claims(Kind::Expired);
    // Only exp (and the iat that goes with it) move.
    for key in ["exp", "iat"] {
        expired.as_object_mut().unwrap().remove(key);
    }
    let mut good_rest = good.clone();
    for key in ["exp", "iat"] {
        good_rest.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(expired, good_rest);
    let mut wrong_aud = claims(Kind::AudWrong);
    assert_ne!(wrong_aud["aud"], good["aud"]);
    wrong_aud["aud"] = good["aud"].clone();
    for key in ["exp", "iat"] {
        wrong_aud.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(wrong_aud, good_rest);
}

/// Header and claims of a compact token, when it still decodes as one.
fn parts(token: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    use base64::Engine as _;
    let decode = |part: &str| -> Option<serde_json::Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let mut it = token.split('.');
    Some((decode(it.next()?)?, decode(it.next()?)?))
}

/// The keys whose values differ between two JSON objects.
fn changed(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (a, b) = (a.as_object().unwrap(), b.as_object().unwrap());
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[test]
fn every_bad_kind_changes_only_what_its_name_says() {
    use Kind::*;
    let minter = Minter::new(Profile::Jwks, support::keyring(), MintSettings::default());
    let (good_header, good_claims) = parts(&minter.mint(Kind::Valid).unwrap().credential).unwrap();
    // (header keys, claim keys) each kind may change; jti is fresh in every token.
    let allowed = |kind: Kind| -> Option<(&[&str], &[&str])> {
        Some(match kind {
            Expired | ExpiredBeyondLeeway | ValidWithinLeeway => (&[], &["exp", "iat"]),
            NotYetValid => (&[], &["nbf"]),
            IatFuture => (&[], &["iat"]),
            ExpMissing | ExpString => (&[], &["exp"]),
            Kind::KidMissing
            | Kind::KidUnknown
            | KidPathTraversal
            | KidSqlInjection
            | KidWrong
            | Kind::WeakKey => (&["kid"], &[]),
            JwkEmbedded => (&["jwk", "kid"], &[]),
            JkuHeader => (&["jku", "kid"], &[]),
            X5uHeader => (&["kid", "x5u"], &[]),
            AlgNone | AlgNoneCapitalized | AlgNoneUpper | AlgNoneMixed | KeyConfusion
            | Hs256EmptySecret | Rs384 | Rs512 | Ps256 => (&["alg"], &[]),
            PayloadTampered | SubMissing => (&[], &["sub"]),
            AudWrong | AudMissing | AudEmptyArray | ValidAudArray => (&[], &["aud"]),
            IssWrong | IssMissing | IssTrailingSlash | IssPrefix => (&[], &["iss"]),
            CritUnknown => (&["crit", "urn:authprobe:unknown"], &[]),
            Kind::Oversized => (&[], &["pad"]),
            KeyNotInJwks | SigStripped | SigTruncated | SigBitFlipped | BearerLowercase
            | BearerDoubleSpace | Valid => (&[], &[]),
            _ => return None, // no longer decodes as a token, or not a jwks kind
        })
    };
    let mut checked = 0;
    for kind in minter.kinds() {
        let Some((header_keys, claim_keys)) = allowed(kind) else {
            continue;
        };
        let (header, mut claims) = parts(&minter.mint(kind).unwrap().credential)
            .unwrap_or_else(|| panic!("{kind} does not decode"));
        claims["jti"] = good_claims["jti"].clone();
        // A token minted a second later differs in iat/exp only because of the clock.
        if !claim_keys.contains(&"exp") && claims.get("exp").is_some_and(|v| v.is_i64()) {
            claims["exp"] = good_claims["exp"].clone();
        }
        if !claim_keys.contains(&"iat") && claims.get("iat").is_some() {
            claims["iat"] = good_claims["iat"].clone();
        }
        assert_eq!(
            changed(&good_header, &header),
            header_keys,
            "{kind}: header"
        );
        assert_eq!(changed(&good_claims, &claims), claim_keys, "{kind}: claims");
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} kinds checked");
}

#[test]
fn a_claim_edit_changes_one_claim_of_the_good_token_and_every_kind_is_minted_on_it() {
    use authprobe::tokens::ClaimEdit::{self, *};
    let plain = Minter::new(Profile::Jwks, support::keyring(), MintSettings::default());
    let claims = |minter: &Minter, kind: Kind, like: &serde_json::Value| {
        let mut c = parts(&minter.mint(kind).unwrap().credential).unwrap().1;
        // Tokens minted a second apart differ in time claims only because of the clock.
        for key in ["jti", "exp", "iat", "nbf"] {
            if let (Some(v), Some(_)) = (like.get(key), c.get(key)) {
                c[key] = v.clone();
            }
        }
        c
    };
    let good = parts(&plain.mint(Kind::Valid).unwrap().credential)
        .unwrap()
        .1;
    let edits: [(ClaimEdit, &str); 5] = [
        (Remove("aud"), "aud"),
        (AudAsArray, "aud"),
        (Add("scope"), "scope"),
        (Add("nbf"), "nbf"),
        (Remove("iat"), "iat"),
    ];
    for (edit, claim) in edits {
        assert!(plain.edit_changes_good_token(edit), "{edit:?}");
        let edited = plain.with_edit(edit);
        let on = claims(&edited, Kind::Valid, &good);
        assert_eq!(changed(&good, &on), [claim], "{edit:?}");
        // A bad kind is minted on the edited token: it keeps the edit and changes its own claim.
        let expired = parts(&edited.mint(Kind::Expired).unwrap().credential)
            .unwrap()
            .1;
        assert_eq!(
            expired.get(claim).is_some(),
            on.get(claim).is_some(),
            "{edit:?}"
        );
        assert!(expired["exp"].as_i64() < good["exp"].as_i64(), "{edit:?}");
    }
    // An edit that would change nothing is not one.
    assert!(!plain.edit_changes_good_token(Add("aud")));
    assert!(!plain.edit_changes_good_token(Remove("scope")));
    assert!(!plain.edit_changes_good_token(OtherTokenUse));
    let stat = Minter::new(Profile::Static, support::keyring(), MintSettings::default());
    assert!(!stat.edit_changes_good_token(Remove("iat")));

    // The other Cognito token: an ID token in place of the access token, its own shape.
    let cognito = Minter::new(
        Profile::Cognito,
        support::keyring(),
        MintSettings::default(),
    );
    let id = parts(
        &cognito
            .with_edit(OtherTokenUse)
            .mint(Kind::CognitoAccess)
            .unwrap()
            .credential,
    )
    .unwrap()
    .1;
    assert_eq!(id["token_use"], "id");
    assert_eq!(id["aud"], cognito.settings().client_id.as_str());
    assert!(id.get("client_id").is_none() && id.get("scope").is_none());
    // Access tokens have no aud: adding one gives the app client id.
    let with_aud = parts(
        &cognito
            .with_edit(Add("aud"))
            .mint(Kind::CognitoAccess)
            .unwrap()
            .credential,
    )
    .unwrap()
    .1;
    assert_eq!(with_aud["aud"], cognito.settings().client_id.as_str());
    assert_eq!(with_aud["token_use"], "access");
}
