//! The request paths the emulator takes, and the one it refuses before routing.
//!
//! AWS does not document what API Gateway does with dot segments (`/a/../b`), encoded dots
//! (`%2e%2e`) or encoded slashes (`%2F`) before it matches a route, builds the method ARN and
//! calls the integration; what users report differs between REST and HTTP APIs (HTTP APIs
//! decode the path before routing, REST keeps it encoded). A proxy integration's HTTP client,
//! on the other hand, resolves dot segments (the WHATWG URL rules reqwest follows turn
//! `/public/%2e%2e/admin` into `/admin`), so a policy evaluated on one path would let the
//! backend serve another. The emulator takes the conservative answer: such a path is refused
//! with 400 before routing and before the authorizer, and every path it does take reaches the
//! policy and the backend unchanged (README, "Fidelity").

/// Why a path is refused, in one line. A path without `%` or `\\` (nearly every one) is
/// checked without allocating.
pub fn check(path: &str) -> Result<(), &'static str> {
    const DOT: &str = "a `.` or `..` segment, which would reach another path than the one the policy was evaluated on";
    if path.contains('\\') {
        return Err("a backslash, which URL parsers read as `/`");
    }
    let dot_segment = |p: &str| p.split('/').any(|s| s == "." || s == "..");
    if !path.contains('%') {
        return if dot_segment(path) { Err(DOT) } else { Ok(()) };
    }
    let mut current = std::borrow::Cow::Borrowed(path);
    // Decoded until nothing changes (bounded: each round only shortens the path), so `%252e`
    // is caught as well as `%2e`.
    for _ in 0..4 {
        let encoded_slash = current.as_bytes().windows(3).any(|w| {
            w[0] == b'%'
                && (w[1..].eq_ignore_ascii_case(b"2f") || w[1..].eq_ignore_ascii_case(b"5c"))
        });
        if encoded_slash || current.contains('\\') {
            return Err("an encoded `/` or `\\`");
        }
        if dot_segment(&current) {
            return Err(DOT);
        }
        let decoded = percent_decode(&current);
        if decoded == current.as_ref() {
            return Ok(());
        }
        current = std::borrow::Cow::Owned(decoded);
    }
    Err("a path encoded more than three times over")
}

/// `%XX` sequences decoded (invalid ones kept as they are), bytes read as UTF-8 lossily.
pub fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_walk_past_the_policy_are_refused_and_the_rest_taken() {
        for refused in [
            "/public/../admin",
            "/public/./admin",
            "/public/%2e%2e/admin",
            "/public/%2E%2E/admin",
            "/public/.%2e/admin",
            "/public/%252e%252e/admin",
            "/public/..",
            "/public%2fadmin",
            "/public%5Cadmin",
            "/public\\..\\admin",
        ] {
            assert!(check(refused).is_err(), "{refused}");
        }
        for taken in [
            "/",
            "/hello",
            "/public/a.b/c",
            "/public/...",
            "/public/..x",
            "/files/%20name",
            "/hello/",
            "/a//b",
        ] {
            assert_eq!(check(taken), Ok(()), "{taken}");
        }
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("%2e%2E%zz%"), "..%zz%");
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("x%2"), "x%2");
    }
}
