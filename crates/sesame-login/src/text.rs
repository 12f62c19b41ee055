//! Text from outside (a server's reply, a JWT claim, a URL it sent) made fit for a person's
//! terminal: [`Shown`] cannot hold a control character (so no ESC sequence can clear the
//! screen, move the cursor, retitle the window or write the clipboard with OSC 52, and no CR or
//! LF can fake a line of sesame's own), nor a bidirectional override that reorders what is
//! read, and it is bounded in length. Every server-supplied string printed for a person goes
//! through it.

use std::fmt;

/// Display-safe text: control characters become `�`, bidi controls are dropped, and text over
/// the limit ends in `…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown(String);

/// How long a server-supplied string may be when shown, unless the caller says otherwise.
pub const DEFAULT_MAX_CHARS: usize = 200;

impl Shown {
    /// `text` cleaned, at most `max_chars` characters (plus the ellipsis).
    pub fn new(text: &str, max_chars: usize) -> Shown {
        let mut out = String::with_capacity(text.len().min(max_chars * 4));
        let mut kept = 0;
        for c in text.chars() {
            if is_bidi_control(c) {
                continue;
            }
            if kept == max_chars {
                out.push('…');
                break;
            }
            out.push(if c.is_control() { '\u{FFFD}' } else { c });
            kept += 1;
        }
        Shown(out)
    }

    /// With the default limit.
    pub fn of(text: &str) -> Shown {
        Shown::new(text, DEFAULT_MAX_CHARS)
    }

    /// The cleaned text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cleaned text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Unicode's explicit directional formatting characters (the "Trojan Source" set, CVE-2021-42574),
/// and the invisible marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A message of sesame's own that may quote a server (an error, a warning): line breaks are
/// kept, every other control character (ESC above all) becomes `�` and bidi controls are
/// dropped. The last line of defence: values are checked where they enter, this is for what a
/// message quotes.
pub fn message(text: &str) -> String {
    text.chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| {
            if c.is_control() && c != '\n' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// Whether `text` would be shown unchanged: no control or bidi characters. For values that are
/// refused rather than cleaned (a user name, say).
pub fn is_clean(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() || is_bidi_control(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_line_breaks_cannot_reach_the_terminal() {
        let s = Shown::of("ok\x1b[2J\x1b]52;c;ZXZpbA==\x07\r\nfake line\u{202E}txt.exe\u{9b}");
        assert!(!s.as_str().chars().any(char::is_control), "{s:?}");
        assert!(!s.as_str().contains('\u{202E}'));
        assert_eq!(s.as_str(), "ok�[2J�]52;c;ZXZpbA==���fake linetxt.exe�");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(Shown::new("abcdef", 3).as_str(), "abc…");
        assert_eq!(Shown::new("abc", 3).as_str(), "abc");
        assert_eq!(
            Shown::of(&"x".repeat(1_000_000)).as_str().chars().count(),
            201
        );
    }

    #[test]
    fn messages_keep_their_lines_but_lose_escapes() {
        assert_eq!(message("a\nb\x1b[2J\r"), "a\nb�[2J�");
    }

    #[test]
    fn clean_text_is_kept_as_is() {
        assert_eq!(Shown::of("Zoë 🚀 Ålesund").as_str(), "Zoë 🚀 Ålesund");
        assert!(is_clean("Zoë"));
        assert!(!is_clean("a\nb"));
        assert!(!is_clean("a\u{2066}b"));
    }
}
