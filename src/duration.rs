//! Durations as people write them on the command line and in profiles: `1m30s`, `1.5s`,
//! `250ms`, `5m`; a bare number is seconds.

use std::time::Duration;

/// The longest duration anything here takes: a year.
const LONGEST: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses `300`, `300s`, `1.5s`, `1m30s`, `5m`, `1h`, `250ms` (humantime's grammar, plus a
/// bare number of seconds).
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        s.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .and_then(|n| Duration::try_from_secs_f64(n).ok())
            .ok_or_else(|| format!("`{s}` is not a duration: write e.g. 90s, 1m30s or 1.5s"))?
    } else {
        humantime::parse_duration(s)
            .map_err(|e| format!("`{s}` is not a duration ({e}): write e.g. 90s, 1m30s or 1.5s"))?
    };
    if d > LONGEST {
        return Err(format!("`{s}` is longer than a year"));
    }
    Ok(d)
}

/// Writes `d` back in the same grammar (`1m 30s`, `250ms`).
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let cases = [
            ("5m", Duration::from_secs(300)),
            ("90", Duration::from_secs(90)),
            ("1.5", Duration::from_millis(1500)),
            ("250ms", Duration::from_millis(250)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5s", Duration::from_millis(1500)),
            ("2h 5m", Duration::from_secs(7500)),
        ];
        for (written, meant) in cases {
            assert_eq!(parse(written), Ok(meant), "{written}");
        }
        for bad in ["5 minutes ago", "", "s", "1.2.3", "10y"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_formatted_duration_parses_back() {
        for d in [Duration::from_millis(250), Duration::from_secs(90)] {
            assert_eq!(parse(&format(d)), Ok(d));
        }
    }
}
