//! The authorization matrix as people read it: a grid of principals (rows) by routes
//! (columns), each cell what the principal got, marked right in every pass (`✓`), wrong with
//! TTL 0, the authorizer's own decision (`✗`), or wrong only with caching on, after another
//! route's policy was cached (`~`). Too wide for the terminal, the grid becomes a list of the
//! cells that went wrong.

use crate::conform::matrix::{MatrixReport, MatrixRow, Pass};

use super::printable_line;
use super::style::{Paint, wrap};

/// How a cell went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// As expected in every pass.
    Right,
    /// Wrong with TTL 0.
    Wrong,
    /// Right with TTL 0, wrong in a cached pass.
    CacheDependent,
    /// The authorizer failed or could not be asked in some pass.
    Failed,
}

impl Mark {
    fn symbol(self) -> &'static str {
        match self {
            Mark::Right => "✓",
            Mark::Wrong => "✗",
            Mark::CacheDependent => "~",
            Mark::Failed => "!",
        }
    }
}

/// A cell: its mark, and the answer shown (the wrong one, where one pass was wrong).
pub fn cell(row: &MatrixRow, route: usize) -> (Mark, &'static str) {
    let expected = row.expected[route];
    let answer = |pass: Pass| row.seen(pass).get(route);
    let uncached = answer(Pass::Uncached);
    let allowed = |seen: Option<&crate::conform::matrix::Seen>| match seen.and_then(|s| s.status) {
        Some(200..=299) => Some(true),
        Some(401 | 403) => Some(false),
        _ => None,
    };
    let passes = [
        answer(Pass::Uncached),
        answer(Pass::MostPrivilegedFirst),
        answer(Pass::LeastPrivilegedFirst),
    ];
    if passes.iter().any(|s| allowed(*s).is_none()) {
        return (Mark::Failed, "error");
    }
    let word = |allow: bool| if allow { "allow" } else { "deny" };
    if allowed(uncached) != Some(expected) {
        return (Mark::Wrong, word(!expected));
    }
    if passes.iter().any(|s| allowed(*s) != Some(expected)) {
        return (Mark::CacheDependent, word(!expected));
    }
    (Mark::Right, word(expected))
}

/// What the marks mean, in one line.
pub const LEGEND: &str = "✓ as expected in every pass; ✗ wrong with TTL 0 (the authorizer's own decision); ~ wrong only with caching on (another route's cached policy answered)";

/// The grid for a terminal `width` columns wide: with the routes as column heads; when that
/// is too wide, with numbered columns, one letter per answer and the routes listed under it;
/// when even that does not fit, the list of the cells that went wrong.
pub fn terminal(m: &MatrixReport, paint: &Paint, width: usize) -> String {
    let name_width = m
        .principals
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 20);
    let col = |r: &String| r.chars().count().max(7);
    let total = 2 + name_width + m.routes.iter().map(|r| col(r) + 2).sum::<usize>();
    // Numbered columns: `✓a`, `✗d` under 1, 2, 3, ... (at most two digits wide).
    let compact_total = 2 + name_width + m.routes.len() * 4;
    let head = format!(
        "{}: {} principal(s) by {} route(s), each in three passes (TTL 0, and TTL {} s in both orders)",
        paint.bold("matrix"),
        m.principals.len(),
        m.routes.len(),
        m.cache_ttl
    );
    let mut out = wrap(&head, width, "", "  ") + "\n";
    if total <= width {
        out.push_str(&format!("  {:<name_width$}", ""));
        for r in &m.routes {
            out.push_str(&format!("  {:<w$}", printable_line(r), w = col(r)));
        }
        out.push('\n');
        for row in &m.principals {
            let name: String = printable_line(&row.name).chars().take(name_width).collect();
            out.push_str(&format!("  {name:<name_width$}"));
            for (i, r) in m.routes.iter().enumerate() {
                let (mark, word) = cell(row, i);
                let text = format!("{} {word}", mark.symbol());
                let padded = format!("{text:<w$}", w = col(r));
                let shown = match mark {
                    Mark::Right => paint.green(&padded),
                    Mark::Wrong | Mark::Failed => paint.red(&padded),
                    Mark::CacheDependent => paint.yellow(&padded),
                };
                out.push_str(&format!("  {shown}"));
            }
            out.push('\n');
        }
    } else if compact_total <= width {
        out.push_str(&format!("  {:<name_width$}", ""));
        for i in 1..=m.routes.len() {
            out.push_str(&format!("  {i:<2}"));
        }
        out.push('\n');
        for row in &m.principals {
            let name: String = printable_line(&row.name).chars().take(name_width).collect();
            out.push_str(&format!("  {name:<name_width$}"));
            for i in 0..m.routes.len() {
                let (mark, word) = cell(row, i);
                let text = format!("{}{}", mark.symbol(), &word[..1]);
                let shown = match mark {
                    Mark::Right => paint.green(&text),
                    Mark::Wrong | Mark::Failed => paint.red(&text),
                    Mark::CacheDependent => paint.yellow(&text),
                };
                out.push_str(&format!("  {shown}"));
            }
            out.push('\n');
        }
        let key: Vec<String> = m
            .routes
            .iter()
            .enumerate()
            // No-break spaces: a route's name is never split over two lines.
            .map(|(i, r)| {
                format!(
                    "{}\u{a0}{}",
                    i + 1,
                    printable_line(r).replace(' ', "\u{a0}")
                )
            })
            .collect();
        out.push_str(&wrap(
            &format!("routes: {}; a allow, d deny, e error", key.join(", ")),
            width,
            "   = ",
            "     ",
        ));
        out.push('\n');
    } else {
        let mut wrong = 0;
        for row in &m.principals {
            for (i, r) in m.routes.iter().enumerate() {
                let (mark, word) = cell(row, i);
                if mark != Mark::Right {
                    wrong += 1;
                    out.push_str(&format!(
                        "  {} {} {}: {word}\n",
                        mark.symbol(),
                        printable_line(&row.name),
                        printable_line(r)
                    ));
                }
            }
        }
        if wrong == 0 {
            out.push_str("  ✓ every cell as expected in every pass\n");
        }
    }
    out.push_str(&paint.dim(&wrap(LEGEND, width, "   = ", "     ")));
    out.push('\n');
    out
}

/// The grid as a Markdown table.
pub fn markdown(m: &MatrixReport) -> String {
    let mut md = String::from("## Authorization matrix\n\n");
    md.push_str(&format!(
        "Each cell is what the principal got, in three passes: TTL 0, and TTL {} s with the routes in both orders. {LEGEND}.\n\n",
        m.cache_ttl
    ));
    md.push_str("| principal | claims |");
    for r in &m.routes {
        md.push_str(&format!(" {} |", printable_line(r).replace('|', "\\|")));
    }
    md.push_str("\n|---|---|");
    md.push_str(&"---|".repeat(m.routes.len()));
    md.push('\n');
    for row in &m.principals {
        md.push_str(&format!(
            "| {} | `{}` |",
            printable_line(&row.name).replace('|', "\\|"),
            printable_line(&row.claims)
                .replace('|', "\\|")
                .replace('`', "'")
        ));
        for i in 0..m.routes.len() {
            let (mark, word) = cell(row, i);
            md.push_str(&format!(" {} {word} |", mark.symbol()));
        }
        md.push('\n');
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::matrix::Seen;

    fn seen(status: u16) -> Seen {
        Seen {
            status: Some(status),
            cached: false,
            cached_from: None,
        }
    }

    /// A reader allowed GET /items, denied DELETE /items with TTL 0 but allowed it from the
    /// cache, and refused GET /admin.
    fn report() -> MatrixReport {
        let pass = |statuses: [u16; 3]| statuses.map(seen).to_vec();
        MatrixReport {
            routes: vec![
                "GET /items".into(),
                "DELETE /items".into(),
                "GET /admin".into(),
            ],
            cache_ttl: 300,
            principals: vec![MatrixRow {
                name: "reader".into(),
                claims: "cognito:groups=[\"readers\"]".into(),
                expected: vec![true, false, false],
                observed: vec![
                    (Pass::MostPrivilegedFirst, pass([200, 403, 403])),
                    (Pass::LeastPrivilegedFirst, pass([200, 200, 403])),
                    (Pass::Uncached, pass([200, 403, 500])),
                ],
            }],
        }
    }

    #[test]
    fn each_cell_says_whether_the_authorizer_or_the_cache_got_it_wrong() {
        let m = report();
        let row = &m.principals[0];
        assert_eq!(cell(row, 0), (Mark::Right, "allow"));
        assert_eq!(cell(row, 1), (Mark::CacheDependent, "allow"));
        assert_eq!(cell(row, 2), (Mark::Failed, "error"));
    }

    #[test]
    fn a_grid_too_wide_for_the_terminal_becomes_a_list_of_the_wrong_cells() {
        let m = report();
        let wide = terminal(&m, &Paint(false), 100);
        assert!(wide.contains("  reader  ✓ allow     ~ allow"), "{wide}");
        let compact = terminal(&m, &Paint(false), 40);
        assert!(compact.contains("  reader  ✓a  ~a  !e\n"), "{compact}");
        let key = compact.replace('\u{a0}', " ");
        for route in ["1 GET /items", "2 DELETE /items", "3 GET /admin"] {
            assert!(key.contains(route), "{compact}");
        }
        let narrow = terminal(&m, &Paint(false), 16);
        assert!(
            narrow.contains("  ~ reader DELETE /items: allow\n"),
            "{narrow}"
        );
        assert!(
            narrow.contains("  ! reader GET /admin: error\n"),
            "{narrow}"
        );
        assert!(!narrow.contains("GET /items: "), "{narrow}");
        assert!(
            compact.lines().all(|l| l.chars().count() <= 40),
            "{compact}"
        );
    }
}
