//! The profile reader against good and bad profiles.
use super::*;

#[test]
fn every_builtin_profile_parses_and_covers_its_catalogue() {
    for (name, _) in BUILTIN {
        let p = builtin(name).unwrap();
        for kind in Kind::ALL {
            if kind.expect(p.profile, p.token_use).is_some() {
                assert!(
                    p.cases.iter().any(|c| c.kind == CaseKind::Token(*kind)),
                    "{name} lacks {kind}"
                );
            }
        }
        for case in &p.cases {
            if let CaseKind::Token(k) = case.kind {
                let expected = k
                    .expect(p.profile, p.token_use)
                    .map(|e| e.word() == "allow");
                assert_eq!(expected, Some(case.expect_allow), "{name}: {}", case.name);
            }
        }
    }
}

#[test]
fn the_rotation_window_is_a_profile_setting_within_bounds() {
    let with = |w: &str| {
        format!(
            "profile = \"jwks\"\n[authorizer]\nrotation_window_seconds = {w}\n[run]\ncases = [{{ kind = \"valid\", expect = \"allow\" }}]\n"
        )
    };
    assert_eq!(
        parse(&with("45"), "p.toml").unwrap().rotation_window,
        Some(std::time::Duration::from_secs(45))
    );
    let err = parse(&with("3600"), "p.toml").unwrap_err().to_string();
    assert!(
        err.starts_with("p.toml:3:27: rotation_window_seconds = 3600"),
        "{err}"
    );
}

#[test]
fn the_jwks_fetch_timeout_is_a_profile_duration_within_bounds() {
    let with = |t: &str| {
        format!(
            "profile = \"jwks\"\n[authorizer]\njwks_timeout = \"{t}\"\n[run]\ncases = [{{ kind = \"valid\", expect = \"allow\" }}]\n"
        )
    };
    assert_eq!(
        parse(&with("1.5s"), "p.toml").unwrap().jwks_timeout,
        std::time::Duration::from_millis(1500)
    );
    assert_eq!(
        builtin("jwks").unwrap().jwks_timeout,
        crate::authorizer::DEFAULT_JWKS_TIMEOUT
    );
    for bad in ["2m", "0s", "soon"] {
        let err = parse(&with(bad), "p.toml").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("p.toml:3:16: jwks_timeout = \"{bad}\"")),
            "{err}"
        );
    }
}

#[test]
fn a_kind_that_does_not_apply_to_id_tokens_points_at_the_id_token_list() {
    let text = "profile = \"cognito\"\n[authorizer]\ntoken_use = \"id\"\n[run]\ncases = [\n  { kind = \"client-id-wrong\", expect = \"reject\" },\n]\n";
    let err = parse(text, "id.toml").unwrap_err().to_string();
    assert!(
        err.contains("does not apply to the cognito profile with token_use = \"id\"")
            && err.contains("`authprobe token list --profile cognito --token-use id`"),
        "{err}"
    );
    // And that list indeed leaves it out.
    assert_eq!(
        Kind::ClientIdWrong.expect(Profile::Cognito, TokenUse::Id),
        None
    );
}

#[test]
fn a_malformed_profile_names_line_column_and_what_was_expected() {
    let text =
        "profile = \"jwks\"\n[run]\ncases = [\n  { kind = \"expird\", expect = \"reject\" },\n]\n";
    let err = parse(text, "my.toml").unwrap_err().to_string();
    assert!(
        err.starts_with("my.toml:4:12: unknown token kind `expird`; did you mean `expired`?"),
        "{err}"
    );
    let err = parse(
        "profile = \"jwks\"\nevent = \"tokn\"\n[run]\ncases = []\n",
        "p.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("p.toml:2:9: unknown variant `tokn`, expected one of"),
        "{err}"
    );
    let err = parse(
        "profile = \"jwks\"\n[run]\ncases = [{ kind = \"valid\", expect = \"yes\" }]\n",
        "p.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("p.toml:3:") && err.contains("expected \"allow\" or \"reject\""),
        "{err}"
    );
}
