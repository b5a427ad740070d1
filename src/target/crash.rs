//! Crash anatomy: what a function error says about where it happened. Runtime interface
//! clients send a `stackTrace` with an error (awslambdaric: Python traceback entries; the Node
//! client: `at fn (file:line:col)` lines; lambda_runtime: none); the deepest frame in the
//! user's own code is what a reader needs to fix it.

use serde_json::Value;

/// Path fragments of frames that belong to a runtime or a library, not to the user's code.
const NOT_USER_CODE: &[&str] = &[
    "site-packages/",
    "dist-packages/",
    "/var/runtime/",
    "awslambdaric",
    "aws-lambda-ric",
    "node_modules/",
    "node:internal",
    "node:",
    "/lib/python3",
    "<frozen ",
    "<string>",
];

/// The `stackTrace` of an error document, as lines: a list of strings, or one string.
pub fn stack_of(error: &Value) -> Vec<String> {
    match error.get("stackTrace") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => s.lines().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// `path:line` of one frame, in either the Python or the Node form.
fn location(frame: &str) -> Option<(String, u32)> {
    let frame = frame.trim();
    if let Some(rest) = frame.strip_prefix("File \"") {
        // Python: File "/var/task/app.py", line 38, in handler
        let (path, rest) = rest.split_once("\", line ")?;
        let line: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return Some((path.to_string(), line.parse().ok()?));
    }
    // Node: at handler (/var/task/index.js:12:5), or at /var/task/index.js:12:5
    let rest = frame.strip_prefix("at ")?;
    let inner = match (rest.rfind('('), rest.rfind(')')) {
        (Some(open), Some(close)) if open < close => &rest[open + 1..close],
        _ => rest,
    };
    let inner = inner.strip_prefix("file://").unwrap_or(inner);
    let mut parts = inner.rsplitn(3, ':');
    let (_column, line, path) = (parts.next()?, parts.next()?, parts.next()?);
    Some((path.to_string(), line.parse().ok()?))
}

/// The deepest frame in the user's own code, as `path:line` (relative to the current
/// directory when it lies under it): Python lists the innermost frame last, Node first.
pub fn user_frame(stack: &[String]) -> Option<String> {
    let frames: Vec<(String, u32)> = stack.iter().filter_map(|f| location(f)).collect();
    let python = stack.iter().any(|f| f.trim_start().starts_with("File \""));
    let mut user = frames
        .into_iter()
        .filter(|(path, _)| !NOT_USER_CODE.iter().any(|n| path.contains(n)));
    let (path, line) = if python {
        user.next_back()
    } else {
        user.next()
    }?;
    let cwd = std::env::current_dir().ok();
    let shown = cwd
        .as_deref()
        .and_then(|cwd| std::path::Path::new(&path).strip_prefix(cwd).ok())
        .map(|p| p.display().to_string())
        .or_else(|| path.strip_prefix("/var/task/").map(str::to_string))
        .unwrap_or(path);
    Some(format!("{shown}:{line}"))
}

/// How a function error reads in a case's detail: `raised NameError: name 'x' is not defined
/// at app.py:38`. The same words for every case that crashed the same way, so cases group.
/// The type and the message are cut (to 100 and 500 characters): they come from the handler,
/// which may raise an error of any size.
pub fn describe(error_type: &str, message: &str, stack: &[String]) -> String {
    let at = user_frame(stack)
        .map(|f| format!(" at {f}"))
        .unwrap_or_default();
    let (error_type, message) = (
        crate::bounded::clip(error_type, 100),
        crate::bounded::clip(message, 500),
    );
    format!("raised {error_type}: {message}{at}")
}

/// The crash site of the last [`describe`]d error in `text`: `TypeError at app.js:12`, the
/// error type and the user frame, without the message (which may name the token, the key or
/// the claim that tripped it). `None` without a user frame.
pub fn site(text: &str) -> Option<String> {
    let raised = text.rfind("raised ")? + "raised ".len();
    let rest = &text[raised..];
    let error_type = rest.split(':').next()?.trim();
    let (_, frame) = rest.rsplit_once(" at ")?;
    let frame = frame.trim_end_matches(')');
    (!error_type.is_empty() && frame.contains(':')).then(|| format!("{error_type} at {frame}"))
}

/// The last exception a handler wrote to its output (a Python traceback, or a Node error with
/// its `at` lines), [`describe`]d: an exception caught and logged by the handler or a library
/// is the cause of a refusal that the answer alone does not show. `None` without one.
pub fn logged(lines: &[&str]) -> Option<String> {
    let mut found = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line
            .trim_end()
            .ends_with("Traceback (most recent call last):")
        {
            // Python: frames (`  File …` and their source lines), then `Type: message`.
            let mut stack = Vec::new();
            let mut j = i + 1;
            // awslambdaric indents its own tracebacks with no-break spaces.
            while j < lines.len() && lines[j].starts_with([' ', '\u{a0}']) {
                if lines[j].trim_start().starts_with("File \"") {
                    stack.push(lines[j].to_string());
                }
                j += 1;
            }
            if let Some(last) = lines.get(j)
                && let Some((error_type, message)) = error_line(last)
                && !refusal(message)
            {
                found = Some(describe(error_type, message, &stack));
            }
            i = j.max(i + 1);
            continue;
        }
        // Node: `TypeError: message` (after the runtime's tab-separated prefix), then frames.
        let text = line.rsplit('\t').next().unwrap_or(line);
        if let Some((error_type, message)) = error_line(text)
            && !refusal(message)
        {
            let stack: Vec<String> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim_start().starts_with("at "))
                .map(|l| l.to_string())
                .collect();
            if !stack.is_empty() {
                found = Some(describe(error_type, message, &stack));
                i += 1 + stack.len();
                continue;
            }
        }
        i += 1;
    }
    found
}

/// The error a handler raises on purpose to refuse a token (API Gateway's 401): no defect.
fn refusal(message: &str) -> bool {
    message.trim() == "Unauthorized"
}

/// `KeyError: 'kid'` or `jwt.exceptions.DecodeError: …` as type and message: the type is one
/// dotted identifier that names an error or exception.
fn error_line(line: &str) -> Option<(&str, &str)> {
    let (error_type, message) = match line.split_once(": ") {
        Some((t, m)) => (t, m),
        None => (line.trim_end(), ""),
    };
    let name = error_type.rsplit('.').next().unwrap_or(error_type);
    let identifier = !error_type.is_empty()
        && error_type
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    let named = ["Error", "Exception", "Interrupt", "Exit"]
        .iter()
        .any(|s| name.ends_with(s))
        || name == "Warning";
    (identifier && named).then_some((error_type, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &[&str]) -> Vec<String> {
        s.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn the_deepest_python_frame_in_user_code_is_found() {
        let stack = lines(&[
            "  File \"/var/runtime/bootstrap.py\", line 60, in handle\n    x()\n",
            "  File \"/var/task/app.py\", line 12, in handler\n    return check(t)\n",
            "  File \"/var/task/app.py\", line 38, in check\n    return X\n",
            "  File \"/opt/venv/lib/python3.11/site-packages/jwt/api.py\", line 9, in decode\n",
        ]);
        assert_eq!(user_frame(&stack).as_deref(), Some("app.py:38"));
    }

    #[test]
    fn the_first_node_frame_in_user_code_is_found() {
        let stack = lines(&[
            "TypeError: x is not a function",
            "    at Object.decode (/var/task/node_modules/jose/index.js:3:9)",
            "    at verify (/var/task/index.js:21:14)",
            "    at Runtime.handler (file:///var/task/index.mjs:40:3)",
            "    at node:internal/process/task_queues:95:5",
        ]);
        assert_eq!(user_frame(&stack).as_deref(), Some("index.js:21"));
    }

    #[test]
    fn a_crash_site_is_the_type_and_the_frame_whatever_the_message() {
        let a = "the authorizer failed: raised KeyError: 'kid' at app.py:9";
        let b = "the authorizer failed: raised KeyError: 'sub' at app.py:9";
        assert_eq!(site(a), site(b));
        assert_eq!(site(a).as_deref(), Some("KeyError at app.py:9"));
        assert_eq!(
            site("the authorizer failed: timeout: no answer within 3s"),
            None
        );
    }

    #[test]
    fn an_exception_logged_by_python_is_read_from_its_traceback() {
        let output = [
            "[ERROR] 2026-12-07T10:00:00Z token check failed",
            "Traceback (most recent call last):",
            "  File \"/var/task/app.py\", line 12, in handler",
            "    claims = verify(token)",
            "  File \"/var/task/app.py\", line 30, in verify",
            "    kid = header[\"kid\"]",
            "KeyError: 'kid'",
            // The runtime client's report of the deliberate refusal that followed.
            "[ERROR] Exception: Unauthorized",
            "Traceback (most recent call last):",
            "\u{a0}\u{a0}File \"/var/task/app.py\", line 14, in handler",
            "\u{a0}\u{a0}\u{a0}\u{a0}raise Exception(\"Unauthorized\")",
        ];
        assert_eq!(
            logged(&output).as_deref(),
            Some("raised KeyError: 'kid' at app.py:30")
        );
    }

    #[test]
    fn an_error_logged_by_node_is_read_from_its_frames() {
        let output = [
            "2026-12-07T10:00:00.000Z\tc0ffee\tERROR\tTypeError: Cannot read properties of undefined (reading 'kid')",
            "    at verify (/var/task/index.js:21:14)",
            "    at Runtime.handler (/var/task/index.js:40:3)",
        ];
        assert_eq!(
            logged(&output).as_deref(),
            Some(
                "raised TypeError: Cannot read properties of undefined (reading 'kid') at index.js:21"
            )
        );
    }

    #[test]
    fn ordinary_log_lines_are_no_exception() {
        let output = ["Error: none", "decoded claims for user-1", "ValueError"];
        assert_eq!(logged(&output), None);
    }

    #[test]
    fn no_stack_means_no_frame() {
        assert_eq!(user_frame(&[]), None);
        assert_eq!(describe("Unhandled", "boom", &[]), "raised Unhandled: boom");
    }
}
