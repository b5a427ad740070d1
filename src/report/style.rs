//! How reports look on a terminal: whether to colour (the NO_COLOR / CLICOLOR /
//! CLICOLOR_FORCE conventions, through anstream), the styles (anstyle), the width lines wrap
//! to and the hanging indent they wrap with, and the coloured diff with the changed words
//! marked. Escape codes are added after widths are counted, never counted as width.

use anstyle::{AnsiColor, Effects, Style};

use super::printable_line;

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal, unless NO_COLOR is set or CLICOLOR=0; CLICOLOR_FORCE
    /// colours anywhere.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Decides colour once for the run: `--color always|never`, else the environment's
/// conventions (NO_COLOR, CLICOLOR, CLICOLOR_FORCE, TERM=dumb) and whether stdout is a
/// terminal.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
        }
    }
}

/// The width reports wrap to when it cannot be known.
pub const DEFAULT_WIDTH: usize = 100;
/// The narrowest width wrapped to: below it, hanging indents would leave no room for words.
const MIN_WIDTH: usize = 40;

/// The width to wrap to: `COLUMNS` when set to a number, else the terminal's (stdout), else
/// [`DEFAULT_WIDTH`].
pub fn width() -> usize {
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0);
    columns
        .or_else(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
        .unwrap_or(DEFAULT_WIDTH)
        .max(MIN_WIDTH)
}

/// `text` wrapped to `width` after `first` on its first line and `rest` on the others (a
/// hanging indent), at spaces only: an ARN, a URL or a path stays whole (and can be copied),
/// longer than the line if it must be.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let options = textwrap::Options::new(width)
        .initial_indent(first)
        .subsequent_indent(rest)
        .wrap_algorithm(textwrap::WrapAlgorithm::FirstFit)
        .word_splitter(textwrap::WordSplitter::NoHyphenation)
        .break_words(false);
    textwrap::wrap(text, options).join("\n")
}

/// Styles text when colour is on.
#[derive(Clone, Copy, Debug)]
pub struct Paint(pub bool);

const RED: Style = AnsiColor::Red.on_default().effects(Effects::BOLD);
const YELLOW: Style = AnsiColor::Yellow.on_default().effects(Effects::BOLD);
const GREEN: Style = AnsiColor::Green.on_default();
const DIM: Style = Style::new().effects(Effects::DIMMED);
const BOLD: Style = Style::new().effects(Effects::BOLD);
const ADDED: Style = AnsiColor::Green.on_default();
const REMOVED: Style = AnsiColor::Red.on_default();
const ADDED_WORDS: Style = AnsiColor::Green
    .on_default()
    .effects(Effects::BOLD.insert(Effects::UNDERLINE));
const REMOVED_WORDS: Style = AnsiColor::Red
    .on_default()
    .effects(Effects::BOLD.insert(Effects::UNDERLINE));

impl Paint {
    /// Colour is on.
    pub fn on(&self) -> bool {
        self.0
    }
    fn style(&self, style: Style, text: &str) -> String {
        if self.0 && !text.is_empty() {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }
    /// Errors and failures.
    pub fn red(&self, t: &str) -> String {
        self.style(RED, t)
    }
    /// Warnings.
    pub fn yellow(&self, t: &str) -> String {
        self.style(YELLOW, t)
    }
    /// Passes.
    pub fn green(&self, t: &str) -> String {
        self.style(GREEN, t)
    }
    /// What is secondary.
    pub fn dim(&self, t: &str) -> String {
        self.style(DIM, t)
    }
    /// Names and labels.
    pub fn bold(&self, t: &str) -> String {
        self.style(BOLD, t)
    }
}

/// A unified diff as lines to print: printable, removed lines red and added ones green, hunk
/// heads dim (with colour on). Where a run of removed lines is followed by as many added ones,
/// each pair's changed words are marked (bold and underlined), so a one-word change in a long
/// line shows where it is.
pub fn diff_lines(diff: &str, paint: Paint) -> Vec<String> {
    let lines: Vec<&str> = diff.lines().collect();
    let removed = |l: &str| l.starts_with('-') && !l.starts_with("---");
    let added = |l: &str| l.starts_with('+') && !l.starts_with("+++");
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let minus = lines[i..].iter().take_while(|l| removed(l)).count();
        let plus = lines[i + minus..].iter().take_while(|l| added(l)).count();
        if minus > 0 && minus == plus && paint.on() {
            for k in 0..minus {
                let (old, new) = (lines[i + k], lines[i + minus + k]);
                let (old_line, new_line) = marked_pair(&old[1..], &new[1..]);
                out.push(format!("{}{old_line}", paint.style(REMOVED, "-")));
                out.push(format!("{}{new_line}", paint.style(ADDED, "+")));
            }
            // Paired lines print in pairs: each removed line above the line that replaced it.
            i += minus + plus;
            continue;
        }
        let line = lines[i];
        let text = printable_line(line);
        out.push(match line.as_bytes().first() {
            _ if added(line) => paint.style(ADDED, &text),
            _ if removed(line) => paint.style(REMOVED, &text),
            Some(b'@') => paint.dim(&text),
            _ => text,
        });
        i += 1;
    }
    out
}

/// Two changed lines with the words that differ marked, the rest in the line's colour.
fn marked_pair(old: &str, new: &str) -> (String, String) {
    let diff = similar::TextDiff::configure()
        .timeout(std::time::Duration::from_millis(50))
        .diff_words(old, new);
    // Runs of one kind are styled as one span.
    let mut runs: Vec<(similar::ChangeTag, String)> = Vec::new();
    for change in diff.iter_all_changes() {
        match runs.last_mut() {
            Some((tag, text)) if *tag == change.tag() => text.push_str(change.value()),
            _ => runs.push((change.tag(), change.value().to_string())),
        }
    }
    let (mut o, mut n) = (String::new(), String::new());
    let paint = Paint(true);
    for (tag, text) in runs {
        let text = printable_line(&text);
        match tag {
            similar::ChangeTag::Equal => {
                o.push_str(&paint.style(REMOVED, &text));
                n.push_str(&paint.style(ADDED, &text));
            }
            similar::ChangeTag::Delete => o.push_str(&paint.style(REMOVED_WORDS, &text)),
            similar::ChangeTag::Insert => n.push_str(&paint.style(ADDED_WORDS, &text)),
        }
    }
    (o, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_hangs_its_lines_under_the_first_lines_text() {
        let text = "refuse tokens whose alg is not the one your keys are for";
        let wrapped = wrap(text, 30, "   = fix:      ", "               ");
        assert_eq!(
            wrapped,
            "   = fix:      refuse tokens\n               whose alg is\n               not the one\n               your keys are\n               for"
        );
    }

    #[test]
    fn an_arn_longer_than_the_line_stays_whole_on_a_line_of_its_own() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/hello";
        let wrapped = wrap(&format!("Allow {arn} now"), 40, "   = ", "     ");
        assert_eq!(wrapped, format!("   = Allow\n     {arn}\n     now"));
    }

    #[test]
    fn escape_codes_are_not_counted_as_width() {
        let red = Paint(true).red("FAIL");
        let wrapped = wrap(&format!("{red} a b"), 8, "", "");
        assert_eq!(wrapped, format!("{red} a b"));
    }

    #[test]
    fn a_diff_without_colour_is_the_diff() {
        let diff = "@@ -1 +1 @@\n-  \"Effect\": \"Allow\"\n+  \"Effect\": \"Deny\"\n";
        assert_eq!(
            diff_lines(diff, Paint(false)),
            vec![
                "@@ -1 +1 @@",
                "-  \"Effect\": \"Allow\"",
                "+  \"Effect\": \"Deny\""
            ]
        );
    }

    #[test]
    fn a_changed_word_is_marked_in_both_lines_of_its_pair() {
        let diff = "-  \"Effect\": \"Allow\"\n+  \"Effect\": \"Deny\"\n";
        let lines = diff_lines(diff, Paint(true));
        assert_eq!(lines.len(), 2);
        let marked = |s: Style, t: &str| format!("{s}{t}{s:#}");
        assert!(
            lines[0].contains(&marked(REMOVED_WORDS, "\"Allow\"")),
            "{lines:?}"
        );
        assert!(
            lines[1].contains(&marked(ADDED_WORDS, "\"Deny\"")),
            "{lines:?}"
        );
        assert!(
            !lines[1].contains(&marked(ADDED_WORDS, "Effect")),
            "{lines:?}"
        );
    }
}
