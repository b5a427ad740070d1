//! Grouping findings by cause: one authorizer defect usually shows in many cases (a Deny where
//! Unauthorized belongs shows in every bad-token case; a crash on one line shows in every case
//! that reaches it). Reports print one block per cause, listing the cases it covers, ordered by
//! what to fix first; JSON and JUnit stay per case, each case naming its causes.

use serde::Serialize;

use super::verdict::Severity;
use super::{CaseResult, Status};

/// What a cause is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CauseKind {
    /// The good token as the profile sends it is refused, and calibration found the form the
    /// authorizer accepts: every other finding was judged on that form.
    RootCause,
    /// A token that must be rejected was allowed.
    Security,
    /// A good token was not allowed, or the authorizer failed.
    Availability,
    /// A policy document changed since its accepted snapshot.
    Regression,
    /// A bad token only the trusted issuer could make was allowed (a warning unless
    /// `--strict`).
    Hardening,
    /// API Gateway's contract (a warning unless `--strict`).
    Contract,
    /// The target could not be asked: no verdict.
    CouldNotAsk,
}

impl CauseKind {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            CauseKind::RootCause => "root-cause",
            CauseKind::Security => "security",
            CauseKind::Availability => "availability",
            CauseKind::Regression => "regression",
            CauseKind::Hardening => "hardening",
            CauseKind::Contract => "contract",
            CauseKind::CouldNotAsk => "could-not-run",
        }
    }

    fn of(severity: Severity) -> CauseKind {
        match severity {
            Severity::Security => CauseKind::Security,
            Severity::Availability => CauseKind::Availability,
            Severity::Regression => CauseKind::Regression,
            Severity::Hardening => CauseKind::Hardening,
            Severity::Contract => CauseKind::Contract,
        }
    }
}

/// One cause and the cases it covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// `C1`, `C2`, … in the order to fix them.
    pub id: String,
    /// What it is about.
    pub kind: CauseKind,
    /// Whether it fails the run (contract and hardening causes only warn, unless `--strict`).
    pub fails: bool,
    /// What is wrong, as every case it covers reports it.
    pub message: String,
    /// Why it matters (empty for cases that could not be asked).
    pub why: String,
    /// How to fix it.
    pub fix: String,
    /// The cases, in run order.
    pub cases: Vec<String>,
    /// True when every case that failed, warned or could not be asked shows it: it may hide
    /// everything else, so it is the one to fix first.
    pub covers_every_case: bool,
}

/// Groups the findings of `cases` (and the cases that could not be asked) into causes, in the
/// order to fix them, and writes each case's cause ids into [`CaseResult::causes`].
///
/// Two findings share a cause when they say the same thing, for the same reason, with the
/// same fix. The order: the root cause calibration found, a cause behind every case that went
/// wrong, then security,
/// availability, regression, hardening, contract, could-not-run; within a kind, the cause covering more
/// cases first.
pub fn group(cases: &mut [CaseResult], strict: bool) -> Vec<Cause> {
    let mut causes: Vec<Cause> = Vec::new();
    // One defect, one cause: a crash is its site (error type and user frame), whatever the
    // message said and whether the error reached API Gateway or was logged and swallowed;
    // anything else, its words, why and fix.
    let site = crate::target::crash::site;
    let mut find_or_add = |kind: CauseKind, message: &str, why: &str, fix: &str, case: &str| {
        let key = site(message);
        let at = causes
            .iter()
            .position(|c| {
                c.kind == kind
                    && match &key {
                        Some(key) => site(&c.message).as_ref() == Some(key),
                        None => c.message == message && c.why == why && c.fix == fix,
                    }
            })
            .unwrap_or_else(|| {
                causes.push(Cause {
                    id: String::new(),
                    kind,
                    fails: strict || !matches!(kind, CauseKind::Contract | CauseKind::Hardening),
                    message: message.to_string(),
                    why: why.to_string(),
                    fix: fix.to_string(),
                    cases: Vec::new(),
                    covers_every_case: false,
                });
                causes.len() - 1
            });
        if causes[at].cases.last().map(String::as_str) != Some(case) {
            causes[at].cases.push(case.to_string());
        }
    };
    for case in cases.iter() {
        let calibration = case.kind == "calibration";
        for f in &case.findings {
            find_or_add(
                if calibration {
                    CauseKind::RootCause
                } else {
                    CauseKind::of(f.severity)
                },
                &f.message,
                &f.why,
                &f.fix,
                &case.name,
            );
        }
        if case.status == Status::Errored {
            find_or_add(
                CauseKind::CouldNotAsk,
                &case.detail,
                "",
                "make the target reachable and startable, then run again",
                &case.name,
            );
        }
    }
    // Cases the gateway answered without asking the authorizer pass; what matters is whether
    // one cause is behind everything that went wrong.
    let wrong = cases
        .iter()
        .filter(|c| matches!(c.status, Status::Failed | Status::Warned | Status::Errored))
        .count();
    for cause in &mut causes {
        cause.covers_every_case = wrong > 1 && cause.cases.len() == wrong;
    }
    // Stable: causes of the same rank keep the order in which the run met them.
    causes.sort_by_key(|c| {
        (
            c.kind != CauseKind::RootCause,
            !c.covers_every_case,
            c.kind,
            std::cmp::Reverse(c.cases.len()),
        )
    });
    for (i, cause) in causes.iter_mut().enumerate() {
        cause.id = format!("C{}", i + 1);
    }
    for case in cases.iter_mut() {
        case.causes = causes
            .iter()
            .filter(|c| c.cases.contains(&case.name))
            .map(|c| c.id.clone())
            .collect();
    }
    causes
}

/// The cause to fix first: the first one that fails the run, else the first one.
pub fn first_fix(causes: &[Cause]) -> Option<&Cause> {
    causes.iter().find(|c| c.fails).or(causes.first())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::verdict::Finding;

    fn case(name: &str, findings: &[(Severity, &str, &str)]) -> CaseResult {
        CaseResult {
            name: name.into(),
            kind: name.into(),
            stateful: false,
            what: String::new(),
            route: "GET /hello".into(),
            expected: "reject".into(),
            reason: None,
            observed: None,
            http_status: None,
            detail: String::new(),
            status: if findings.is_empty() {
                Status::Passed
            } else {
                Status::Failed
            },
            findings: findings
                .iter()
                .map(|(severity, message, fix)| Finding {
                    threat: None,
                    severity: *severity,
                    message: message.to_string(),
                    why: "why".into(),
                    fix: fix.to_string(),
                })
                .collect(),
            response: None,
            snapshot: None,
            elapsed_ms: 0.0,
            wall_ms: 0.0,
            cold: false,
            notes: Vec::new(),
            causes: Vec::new(),
            output: Default::default(),
        }
    }

    #[test]
    fn one_defect_in_many_cases_is_one_cause_listing_them_and_security_comes_first() {
        let deny = (
            Severity::Contract,
            "rejected with Deny",
            "raise Unauthorized",
        );
        let mut cases = vec![
            case("expired", &[deny]),
            case("alg-none", &[(Severity::Security, "allowed", "pin alg")]),
            case("kid-unknown", &[deny]),
            case("valid", &[]),
            case("iss-wrong", &[deny]),
        ];
        let causes = group(&mut cases, false);
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0].kind, CauseKind::Security);
        assert_eq!(causes[0].cases, vec!["alg-none"]);
        assert_eq!(causes[1].cases, vec!["expired", "kid-unknown", "iss-wrong"]);
        assert!(!causes[1].fails, "contract causes warn unless --strict");
        assert_eq!(cases[2].causes, vec!["C2"]);
        assert!(cases[3].causes.is_empty());
        assert_eq!(first_fix(&causes).unwrap().fix, "pin alg");
    }

    #[test]
    fn a_cause_in_every_case_is_named_first() {
        let crash = (
            Severity::Availability,
            "raised NameError at app.py:38",
            "fix",
        );
        let mut cases = vec![
            case("valid", &[crash]),
            case("expired", &[crash, (Severity::Security, "allowed", "x")]),
        ];
        let causes = group(&mut cases, false);
        assert!(causes[0].covers_every_case);
        assert_eq!(causes[0].message, "raised NameError at app.py:38");
    }
}
