//! The tutorial this project grew from, level by level (../shared/DESIGN.md): a static token,
//! HS256 on PyJWT, RS256 against a JWKS, a Cognito user pool. Each level is an authorizer
//! written the way step-by-step tutorials write it, with the mistakes such code has
//! (examples/python/tutorial-static, tutorial-hs256, tutorial-jwks, masked), run under the
//! real runtime interface client with the built-in profile of its level and no profile
//! edits. Every planted mistake must be reported, with the severity it deserves; none may
//! hide behind another.

mod support;

use std::time::Duration;

use authprobe::conform::profile;
use authprobe::conform::verdict::Severity;
use authprobe::conform::{self, ConformOptions, RunReport};

async fn run_level(profile: &str, example: &str, env: &[(&str, &str)]) -> RunReport {
    let options = ConformOptions {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        workdir: Some(support::python::example_dir(example)),
        // None of them refetches: no need to wait the full window.
        rotation_window: Duration::from_secs(3),
        ..ConformOptions::new(
            profile::builtin(profile).unwrap(),
            support::python::example_target(),
        )
    };
    conform::run(&options, &mut |_| {})
        .await
        .expect("the run starts")
}

/// A planted mistake: the case that shows it, the severity it deserves and words of the
/// finding that name it.
struct Mistake {
    what: &'static str,
    case: &'static str,
    severity: Severity,
    says: &'static str,
}

/// The planted mistakes `report` reports, each on its case with its severity; panics listing
/// every one that is missing, with every finding of the run.
fn assert_reported(report: &RunReport, mistakes: &[Mistake]) {
    let missing: Vec<&str> = mistakes
        .iter()
        .filter(|m| {
            !report.cases.iter().any(|c| {
                c.name == m.case
                    && c.findings
                        .iter()
                        .any(|f| f.severity == m.severity && f.message.contains(m.says))
            })
        })
        .map(|m| m.what)
        .collect();
    let all: Vec<String> = report
        .cases
        .iter()
        .flat_map(|c| {
            c.findings
                .iter()
                .map(move |f| format!("{} [{:?}] {}", c.name, f.severity, f.message))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "not reported: {missing:?}\nfindings:\n{}",
        all.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_static_level_reports_its_three_mistakes() {
    let report = run_level("static", "tutorial-static", &[]).await;
    assert_reported(
        &report,
        &[
            Mistake {
                what: "the token in the logs",
                case: "allow-token",
                severity: Severity::Security,
                says: "logs",
            },
            Mistake {
                what: "a Deny where a refusal is 401",
                case: "wrong-static-token",
                severity: Severity::Contract,
                says: "",
            },
            Mistake {
                what: "the exact method ARN under a cached policy",
                case: "allow-token",
                severity: Severity::Contract,
                says: "does not cover",
            },
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hs256_level_is_calibrated_past_its_guessable_secret_and_reports_its_five_mistakes() {
    // The profile's own secret is never the handler's: the run finds `mysecretkey` itself.
    let report = run_level("hs256", "tutorial-hs256", &[]).await;
    let calibration = report.calibration.as_ref().expect("calibration ran");
    assert_eq!(
        calibration.baseline.as_deref(),
        Some("aud-absent + weak-secret"),
        "{calibration:?}"
    );
    assert_eq!(calibration.secret, Some("mysecretkey"));
    assert_reported(
        &report,
        &[
            Mistake {
                what: "a guessable secret",
                case: "calibration",
                severity: Severity::Security,
                says: "`mysecretkey`, a secret from public lists",
            },
            Mistake {
                what: "no audience=",
                case: "calibration",
                severity: Severity::Security,
                says: "without `aud`",
            },
            Mistake {
                what: "split(\" \")[1] outside the try",
                case: "bare-token",
                severity: Severity::Availability,
                says: "IndexError",
            },
            Mistake {
                what: "a Deny where a refusal is 401",
                case: "expired",
                severity: Severity::Contract,
                says: "instead of Unauthorized (401)",
            },
            // A token without exp is one only the secret's holder can sign: hardening on
            // its own (the guessable secret is the security finding).
            Mistake {
                what: "exp not required",
                case: "exp-missing",
                severity: Severity::Hardening,
                says: "",
            },
        ],
    );
    // One search found it; the case says so rather than report it twice.
    let case = report
        .cases
        .iter()
        .find(|c| c.name == "hs256-weak-secret")
        .unwrap();
    assert!(case.findings.is_empty() && case.detail.contains("calibration found it"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_level_reports_its_six_mistakes() {
    let report = run_level(
        "jwks",
        "tutorial-jwks",
        &[("JWKS_URL", "{jwks_url}"), ("AUDIENCE", "{audience}")],
    )
    .await;
    assert!(report.calibration.is_none(), "the good token works as sent");
    assert_reported(
        &report,
        &[
            Mistake {
                what: "the token in the logs",
                case: "valid",
                severity: Severity::Security,
                says: "logs",
            },
            Mistake {
                what: "the JWKS fetched at import, outside any try",
                case: "jwks-unreachable",
                severity: Severity::Availability,
                says: "could not start while the JWKS was down",
            },
            Mistake {
                what: "no issuer=",
                case: "iss-wrong",
                severity: Severity::Hardening,
                says: "",
            },
            Mistake {
                what: "split(\" \")[1] outside the try",
                case: "bare-token",
                severity: Severity::Availability,
                says: "IndexError",
            },
            Mistake {
                what: "the key lookup outside the try",
                case: "kid-unknown",
                severity: Severity::Availability,
                says: "StopIteration",
            },
            Mistake {
                what: "the exact method ARN under a cached policy",
                case: "valid",
                severity: Severity::Contract,
                says: "does not cover",
            },
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cognito_level_reports_its_six_mistakes_behind_the_bearer_one() {
    let report = run_level(
        "cognito",
        "masked",
        &[
            ("JWKS_URL", "{jwks_url}"),
            ("ISSUER", "{issuer}"),
            ("CLIENT_ID", "{client_id}"),
        ],
    )
    .await;
    assert_reported(
        &report,
        &[
            Mistake {
                what: "`Bearer ` not stripped",
                case: "calibration",
                severity: Severity::Availability,
                says: "",
            },
            Mistake {
                what: "a Deny where a refusal is 401",
                case: "expired",
                severity: Severity::Contract,
                says: "instead of Unauthorized (401)",
            },
            Mistake {
                what: "a header without kid crashes",
                case: "kid-missing",
                severity: Severity::Availability,
                says: "KeyError",
            },
            Mistake {
                what: "iss never checked",
                case: "iss-wrong",
                severity: Severity::Hardening,
                says: "",
            },
            Mistake {
                what: "an ID token taken for an access token",
                case: "token-use-swapped",
                severity: Severity::Security,
                says: "",
            },
            Mistake {
                what: "the JWKS fetched once",
                case: "key-rotation",
                severity: Severity::Availability,
                says: "",
            },
        ],
    );
}
