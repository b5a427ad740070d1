//! What a handler printed while it answered one call: its stdout and stderr for `lambda:`
//! targets, the log tail Lambda returns for `aws-lambda:`. The lines are evidence (a token
//! written to the logs, an exception a library swallowed) and what a reader needs beside a
//! failure, so every call keeps its own, bounded.
//!
//! Runtime interface clients write one log record as one line with its inner line breaks
//! turned into carriage returns (so that a traceback is one CloudWatch event); the lines are
//! split back here.

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Most lines kept of one call's output; later ones are counted, not kept.
pub const MAX_LINES: usize = 200;
/// Most bytes kept of one line.
pub const MAX_LINE: usize = 8 * 1024;

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// Lambda's log tail (`LogType: Tail`), which mixes both.
    Log,
}

impl Stream {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Log => "log",
        }
    }
}

/// One line of output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Where it was written.
    pub stream: Stream,
    /// The text, without its line end.
    pub text: String,
}

/// One call's output, at most [`MAX_LINES`] lines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Output {
    /// The lines, oldest first.
    pub lines: Vec<Line>,
    /// Lines past the bound, not kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Output {
    /// True when nothing was printed.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.dropped == 0
    }

    /// Adds what a stream gave as one line: split at carriage returns and before a record
    /// that starts mid-line, each part cut to [`MAX_LINE`] bytes.
    pub fn push(&mut self, stream: Stream, text: &str) {
        for part in text.split('\r').flat_map(records) {
            if part.is_empty() {
                continue;
            }
            if self.lines.len() >= MAX_LINES {
                self.dropped += 1;
                continue;
            }
            self.lines.push(Line {
                stream,
                text: crate::bounded::clip(part, MAX_LINE).into_owned(),
            });
        }
    }

    /// The output of a whole text (a log tail), split into lines.
    pub fn from_text(stream: Stream, text: &str) -> Output {
        let mut out = Output::default();
        for line in text.lines() {
            out.push(stream, line);
        }
        out
    }

    /// The lines with every secret in `secrets` replaced by its label. Secrets shorter than
    /// 8 bytes are left alone: they would match ordinary words.
    pub fn redacted(&self, secrets: &[(&str, &str)]) -> Output {
        let mut out = self.clone();
        for line in &mut out.lines {
            for (secret, label) in secrets {
                if secret.len() >= 8 && line.text.contains(secret) {
                    line.text = line.text.replace(secret, label);
                }
            }
        }
        out
    }

    /// The last `n` lines, as `stream | text`.
    pub fn last(&self, n: usize) -> impl Iterator<Item = &Line> {
        self.lines.iter().skip(self.lines.len().saturating_sub(n))
    }
}

/// Level markers awslambdaric starts each record with (`[ERROR]\t…`, and `[ERROR] Type: …` for an
/// invocation's error).
const RECORD_STARTS: &[&str] = &["[ERROR]", "[WARNING]", "[INFO]", "[DEBUG]", "[CRITICAL]"];

/// `part` split before each record marker that is not at its start: awslambdaric ends a
/// logging record without a line break when another record follows, so the last line of a
/// traceback and the next record arrive as one line.
fn records(part: &str) -> Vec<&str> {
    let mut cuts: Vec<usize> = RECORD_STARTS
        .iter()
        .flat_map(|m| part.match_indices(m).map(|(i, _)| i))
        .filter(|&i| {
            i > 0
                && part[i..]
                    .split_once(']')
                    .is_some_and(|(_, rest)| rest.starts_with(['\t', ' ']))
        })
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts {
        out.push(&part[from..cut]);
        from = cut;
    }
    out.push(&part[from..]);
    out
}

/// Where an environment's readers put the lines of the call in flight: a new one for every
/// call, so a line a reader delivers late lands in the next call, never in a finished one.
#[derive(Clone, Default)]
pub struct Sink(Arc<Mutex<Option<Arc<Mutex<Output>>>>>);

impl Sink {
    /// Lines from now on go to `capture`.
    pub fn direct(&self, capture: Arc<Mutex<Output>>) {
        *self.0.lock().expect("lock") = Some(capture);
    }

    /// Adds a line to the current call's output, if a call is being captured.
    pub fn push(&self, stream: Stream, text: &str) {
        if let Some(capture) = self.0.lock().expect("lock").as_ref() {
            capture.lock().expect("lock").push(stream, text);
        }
    }
}

/// Where in `output` a credential or a part of it appears: the first line that holds the
/// whole token, else its signature or its payload segment (a handler that prints the
/// decoded parts, or splits the token to log it). Segments under 16 bytes are not looked
/// for: they would match by chance.
pub fn find_token<'a>(output: &'a Output, token: &str) -> Option<(usize, &'a Line, &'static str)> {
    let token = token.trim();
    let token = token.split_once(' ').map_or(token, |(scheme, rest)| {
        if scheme.eq_ignore_ascii_case("bearer") {
            rest.trim()
        } else {
            token
        }
    });
    // A whole token as short as a static API token (`allow-token`) counts, standing alone:
    // a static token is the same for every caller, so it in the logs is always a leak. A
    // JWT's segments must be long enough not to turn up by chance.
    if token.len() < MIN_WHOLE_TOKEN {
        return None;
    }
    let segments: Vec<&str> = token.split('.').collect();
    let mut needles: Vec<(&str, &'static str)> = vec![(token, "the token")];
    if segments.len() == 3 {
        needles.push((segments[2], "the token's signature"));
        needles.push((segments[1], "the token's payload segment"));
    }
    for (needle, what) in needles {
        if needle.len() < MIN_SEGMENT && needle != token {
            continue;
        }
        if let Some((i, line)) = output
            .lines
            .iter()
            .enumerate()
            .find(|(_, l)| stands_alone(&l.text, needle))
        {
            return Some((i + 1, line, what));
        }
    }
    None
}

/// The shortest whole token looked for in the output.
const MIN_WHOLE_TOKEN: usize = 8;

/// The shortest part of a JWT (signature, payload segment) looked for on its own.
const MIN_SEGMENT: usize = 16;

/// Whether `needle` occurs in `text` not run into other token characters (`allow-token` is
/// not found in `allow-tokens`).
fn stands_alone(text: &str, needle: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carriage_returns_split_a_record_back_into_lines() {
        let mut out = Output::default();
        out.push(
            Stream::Stdout,
            "[ERROR] boom\rTraceback (most recent call last):\r  File \"app.py\", line 3\r",
        );
        let texts: Vec<&str> = out.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "[ERROR] boom",
                "Traceback (most recent call last):",
                "  File \"app.py\", line 3"
            ]
        );
    }

    #[test]
    fn a_record_that_follows_without_a_line_break_starts_a_line_of_its_own() {
        let mut out = Output::default();
        out.push(
            Stream::Stdout,
            "KeyError: 'groups'[ERROR] Exception: Unauthorized\rTraceback (most recent call last):",
        );
        let texts: Vec<&str> = out.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "KeyError: 'groups'",
                "[ERROR] Exception: Unauthorized",
                "Traceback (most recent call last):"
            ]
        );
        out.push(Stream::Stdout, "a list [ERROR]s and [INFO]");
        assert_eq!(out.lines.last().unwrap().text, "a list [ERROR]s and [INFO]");
    }

    #[test]
    fn lines_past_the_bound_are_counted_not_kept() {
        let mut out = Output::default();
        for i in 0..MAX_LINES + 5 {
            out.push(Stream::Stderr, &format!("line {i}"));
        }
        assert_eq!(out.lines.len(), MAX_LINES);
        assert_eq!(out.dropped, 5);
    }

    #[test]
    fn a_token_is_found_whole_or_by_its_signature_or_payload() {
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMzQ1Njc4OTAifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU";
        let whole = Output::from_text(
            Stream::Stdout,
            &format!("start\n{{'authorizationToken': 'Bearer {token}'}}"),
        );
        let (line, _, what) = find_token(&whole, &format!("Bearer {token}")).unwrap();
        assert_eq!((line, what), (2, "the token"));
        let payload =
            Output::from_text(Stream::Stdout, "claims eyJzdWIiOiJ1c2VyLTEyMzQ1Njc4OTAifQ");
        assert_eq!(
            find_token(&payload, token).unwrap().2,
            "the token's payload segment"
        );
        let clean = Output::from_text(Stream::Stdout, "user-1234567890 allowed");
        assert!(find_token(&clean, token).is_none());
    }

    #[test]
    fn a_static_token_is_found_only_standing_alone() {
        let logged = Output::from_text(Stream::Stdout, r#"{"authorizationToken": "allow-token"}"#);
        assert_eq!(find_token(&logged, "allow-token").unwrap().2, "the token");
        let longer = Output::from_text(Stream::Stdout, "allow-tokens: 3, xallow-token");
        assert!(find_token(&longer, "allow-token").is_none());
        let short = Output::from_text(Stream::Stdout, "token abc123");
        assert!(find_token(&short, "abc123").is_none(), "under 8 characters");
    }

    #[test]
    fn redaction_replaces_the_secret_everywhere() {
        let out = Output::from_text(Stream::Stdout, "a SECRET-VALUE b SECRET-VALUE");
        let r = out.redacted(&[("SECRET-VALUE", "[token]"), ("ab", "[short]")]);
        assert_eq!(r.lines[0].text, "a [token] b [token]");
    }
}
