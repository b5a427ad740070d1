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

/// The crash site of a [`describe`]d error anywhere in `text`: `TypeError at app.js:12`, the
/// error type and the user frame, without the message (which may name the token, the key or
/// the claim that tripped it). `None` without a user frame.
pub fn site(text: &str) -> Option<String> {
    let raised = text.find("raised ")? + "raised ".len();
    let rest = &text[raised..];
    let error_type = rest.split(':').next()?.trim();
    let (_, frame) = rest.rsplit_once(" at ")?;
    let frame = frame.trim_end_matches(')');
    (!error_type.is_empty() && frame.contains(':')).then(|| format!("{error_type} at {frame}"))
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
    fn no_stack_means_no_frame() {
        assert_eq!(user_frame(&[]), None);
        assert_eq!(describe("Unhandled", "boom", &[]), "raised Unhandled: boom");
    }
}
