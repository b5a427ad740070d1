//! The handler's output as evidence ([`crate::target::output`]): a good token written to the
//! logs, an environment that failed after it answered, and the exception behind a refused
//! good token that the handler (or a library) caught and logged.

use super::runner::Sent;
use super::*;
use crate::target::crash;
use crate::target::output::{self, Output};

/// What every case that shows a token in the logs reports: one defect, one cause.
pub const TOKEN_IN_LOGS: &str = "the handler writes bearer tokens to its logs";

/// The findings and notes the output of one call supports, and the output as the report keeps
/// it (redacted with `secrets`).
pub(super) fn judge(
    case: &CaseSpec,
    sent: &Sent,
    findings: &mut Vec<Finding>,
    notes: &mut Vec<String>,
    secrets: &[(&str, &str)],
) -> Output {
    if case.expect_allow
        && let Some(credential) = &sent.credential
        && let Some((line, at, what)) = output::find_token(&sent.output, credential)
    {
        notes.push(format!(
            "{what} is in the handler's {}, line {line} of this case's output",
            at.stream.name()
        ));
        findings.push(Finding {
            threat: None,
            severity: Severity::Security,
            message: TOKEN_IN_LOGS.into(),
            why: "anyone who can read the logs (CloudWatch, a log shipper, whoever gets an export) can replay a caller's live token until it expires".into(),
            fix: "never log the event, its headers or the token; log the claims you need (sub, jti) after verifying, or mask the Authorization header first".into(),
        });
    }
    if let Some(after) = &sent.after_answer {
        findings.push(Finding {
            threat: None,
            severity: Severity::Availability,
            message: after.clone(),
            why: "the answer was right, but the execution environment died after it: the next request pays a cold start, and anyone can make that happen at will".into(),
            fix: "do no work after answering: `return callback(...)` (or return the promise) so nothing runs on, and catch errors in whatever does".into(),
        });
    }
    if case.expect_allow {
        let lines: Vec<&str> = sent.output.lines.iter().map(|l| l.text.as_str()).collect();
        if let Some(exception) = crash::logged(&lines) {
            explain_refusal(findings, &redact(&exception, secrets));
        }
    }
    sent.output.redacted(secrets)
}

/// A good token refused after the handler logged an exception: the exception is the cause,
/// not the configuration the generic fix suggests.
fn explain_refusal(findings: &mut [Finding], exception: &str) {
    let Some(refused) = findings.iter_mut().find(|f| {
        f.severity == Severity::Availability
            && f.message.starts_with("a good token was not allowed")
    }) else {
        return;
    };
    let at = crash::site(&format!(
        "raised {}",
        exception.trim_start_matches("raised ")
    ))
    .unwrap_or_else(|| exception.to_string());
    refused.message = format!("{}; the handler logged {exception}", refused.message);
    refused.fix = format!(
        "the handler caught an exception and refused the token: fix what raises it ({at}), not the issuer or audience settings"
    );
}

fn redact(text: &str, secrets: &[(&str, &str)]) -> String {
    secrets
        .iter()
        .filter(|(s, _)| s.len() >= 8)
        .fold(text.to_string(), |t, (s, label)| t.replace(s, label))
}
