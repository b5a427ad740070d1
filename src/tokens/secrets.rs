//! HMAC secrets anyone can guess. An HS256 authorizer whose secret is in a public list (a
//! tutorial's `mysecretkey`, jwt.io's `your-256-bit-secret`, a README's `changeme`) accepts
//! tokens anyone can sign: every claim of them is the attacker's. The list is data
//! (`weak-secrets.txt`, with the source of each group); the rule for a secret's length is
//! RFC 7518's.

const LIST: &str = include_str!("weak-secrets.txt");

/// The least key material of an HS256 secret: "A key of the same size as the hash output
/// (for instance, 256 bits for "HS256") or larger MUST be used with this algorithm"
/// (RFC 7518 §3.2).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Every listed secret, most common first.
pub fn weak_secrets() -> impl Iterator<Item = &'static str> {
    LIST.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// The line of `weak-secrets.txt` that holds `secret`, counted from 1.
pub fn line_of(secret: &[u8]) -> Option<usize> {
    LIST.lines()
        .position(|line| !line.starts_with('#') && line.as_bytes() == secret)
        .map(|i| i + 1)
}

/// What is wrong with a secret as an HS256 key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weakness {
    /// It is in the list: anyone can guess it.
    Listed,
    /// It holds fewer than [`MIN_HS256_SECRET_BYTES`] bytes (this many).
    Short(usize),
}

/// What is wrong with `secret` as an HS256 key, if anything; a listed secret is `Listed`
/// whatever its length.
pub fn weakness(secret: &[u8]) -> Option<Weakness> {
    if weak_secrets().any(|s| s.as_bytes() == secret) {
        Some(Weakness::Listed)
    } else if secret.len() < MIN_HS256_SECRET_BYTES {
        Some(Weakness::Short(secret.len()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_a_few_hundred_distinct_secrets_without_stray_whitespace() {
        let all: Vec<&str> = weak_secrets().collect();
        assert!(all.len() >= 200, "{}", all.len());
        let mut seen = std::collections::HashSet::new();
        for s in &all {
            assert!(seen.insert(*s), "`{s}` is listed twice");
            assert_eq!(s.trim(), *s, "`{s}` has whitespace around it");
        }
        for known in ["mysecretkey", "your-256-bit-secret", "changeme", "secret"] {
            assert!(all.contains(&known), "{known}");
        }
    }

    #[test]
    fn a_listed_or_short_secret_is_weak_and_a_long_random_one_is_not() {
        assert_eq!(weakness(b"mysecretkey"), Some(Weakness::Listed));
        assert_eq!(
            weakness(b"a-string-secret-at-least-256-bits-long"),
            Some(Weakness::Listed)
        );
        assert_eq!(weakness(b"Zq8#long-but-short"), Some(Weakness::Short(18)));
        assert_eq!(weakness(&[7u8; 32]), None);
    }
}
