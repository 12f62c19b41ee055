//! Talking to the person: messages on stderr (data goes to stdout, from the commands), colour
//! only on a terminal and never with `NO_COLOR`, a spinner only on a terminal and plain progress
//! lines at most every 10 s otherwise.

use crate::clock::human_duration;
use crate::error::Error;
use crate::events::{Events, Progress};
use crate::spinner::Spinner;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How a word of a message is painted when colour is on.
#[derive(Clone, Copy)]
enum Style {
    Bold,
    Green,
    Yellow,
    Red,
    Cyan,
}

/// Messages for the person, on stderr: coloured only when stderr is a terminal and `NO_COLOR` is
/// unset.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    #[cfg_attr(not(feature = "terminal"), allow(dead_code))]
    color: bool,
    /// Whether stderr is a terminal: the wait display is a spinner there, plain lines otherwise.
    pub terminal: bool,
}

impl Printer {
    /// A printer for this process's stderr, deciding colour and terminal once.
    pub fn stderr() -> Printer {
        let terminal = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer {
            color: terminal && !no_color,
            terminal,
        }
    }

    #[cfg(feature = "terminal")]
    fn paint(&self, style: Style, text: &str) -> String {
        let style = match style {
            Style::Bold => console::Style::new().bold(),
            Style::Green => console::Style::new().green(),
            Style::Yellow => console::Style::new().yellow(),
            Style::Red => console::Style::new().red(),
            Style::Cyan => console::Style::new().cyan(),
        };
        style.force_styling(self.color).apply_to(text).to_string()
    }

    /// Plain text in a build without the `terminal` feature.
    #[cfg(not(feature = "terminal"))]
    fn paint(&self, _style: Style, text: &str) -> String {
        text.to_string()
    }

    // Talk goes to stderr and is best effort: a closed stderr must not end the command (or
    // panic, as `eprintln!` would).
    /// One line, as given: no prefix, and no cleaning of control characters.
    pub fn info(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "{text}");
    }

    /// `text` in bold when colour is on, unchanged otherwise.
    pub fn bold(&self, text: &str) -> String {
        self.paint(Style::Bold, text)
    }

    // Outcomes, warnings and errors may quote what a server said: no escape sequence of its
    // own reaches the terminal through them (crate::text::message).
    /// A `✓` line; escape sequences in `text` are neutralized ([`crate::text::message`]).
    pub fn success(&self, text: &str) {
        self.info(&format!(
            "{} {}",
            self.paint(Style::Green, "✓"),
            crate::text::message(text)
        ));
    }

    /// A `warning:` line, neutralized like [`Printer::success`].
    pub fn warn(&self, text: &str) {
        self.info(&format!(
            "{} {}",
            self.paint(Style::Yellow, "warning:"),
            crate::text::message(text)
        ));
    }

    /// The error's message after `error:`, then its hint, if any, after `hint:`; both neutralized.
    pub fn error(&self, e: &Error) {
        self.info(&format!(
            "{} {}",
            self.paint(Style::Red, "error:"),
            crate::text::message(&e.message)
        ));
        if let Some(h) = &e.hint {
            self.info(&format!(
                "\n{} {}",
                self.paint(Style::Cyan, "hint:"),
                crate::text::message(h)
            ));
        }
    }
}

/// Writes data to stdout. A reader that went away (`sesame status | head -c1`) ends the command
/// quietly; any other failure is an error that says where the output was going.
pub fn stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Error::closed_pipe()),
        Err(e) => Err(Error::other(format!("Could not write to stdout: {e}."))),
    }
}

/// The wait display: a spinner with the time left on a terminal (with the `terminal` feature),
/// plain lines otherwise. It is the [`Events`] sink of a flow.
pub struct WaitDisplay {
    inner: Arc<Mutex<State>>,
    spinner: Option<Spinner>,
}

struct State {
    label: String,
    deadline: SystemTime,
    retrying: Option<String>,
    last_line: Option<Instant>,
}

impl State {
    fn message(&self) -> String {
        let left = self
            .deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let left = human_duration(Duration::from_secs(left.as_secs()));
        match &self.retrying {
            Some(reason) => format!(
                "{} — server trouble ({reason}), retrying… {left} left",
                self.label
            ),
            None => format!("{}… {left} left", self.label),
        }
    }
}

fn locked(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const PLAIN_EVERY: Duration = Duration::from_secs(10);

impl WaitDisplay {
    /// `label` is e.g. "Waiting for alice to approve in the browser".
    pub fn start(printer: &Printer, label: String, deadline: SystemTime) -> WaitDisplay {
        let inner = Arc::new(Mutex::new(State {
            label,
            deadline,
            retrying: None,
            last_line: None,
        }));
        let spinner = if printer.terminal {
            let state = inner.clone();
            Spinner::start(move || locked(&state).message())
        } else {
            None
        };
        WaitDisplay { inner, spinner }
    }

    /// Removes the spinner, leaving the terminal clean for the final message.
    pub fn finish(&self) {
        if let Some(s) = &self.spinner {
            s.finish();
        }
    }

    /// As [`finish`](Self::finish), after Ctrl-C (the spinner's line and the echoed `^C`).
    pub fn interrupted(&self) {
        if let Some(s) = &self.spinner {
            s.interrupted();
        }
    }
}

impl Drop for WaitDisplay {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Events for WaitDisplay {
    fn progress(&self, p: Progress<'_>) {
        let mut s = locked(&self.inner);
        s.retrying = match p {
            Progress::Retrying { reason } => Some(reason.to_string()),
            Progress::Waiting => None,
        };
        if self.spinner.is_none() {
            let due = s.last_line.is_none_or(|t| t.elapsed() >= PLAIN_EVERY);
            if due {
                s.last_line = Some(Instant::now());
                let _ = writeln!(std::io::stderr(), "{}", s.message());
            }
        }
    }
}

/// A QR code of `text` drawn with Unicode half blocks (two rows a line), quiet zone included;
/// `None` when `text` does not fit in one, or in a build without the `terminal` feature.
#[cfg(not(feature = "terminal"))]
pub fn qr_code(_text: &str) -> Option<String> {
    None
}

/// A QR code of `text` drawn with Unicode half blocks (two rows a line), quiet zone included;
/// `None` when `text` does not fit in one, or in a build without the `terminal` feature.
#[cfg(feature = "terminal")]
pub fn qr_code(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(all(test, feature = "terminal"))]
mod tests {
    use super::*;

    #[test]
    fn qr_is_drawn_with_half_blocks() {
        let q = qr_code("http://127.0.0.1:1/challenge_validator/abc").unwrap();
        assert!(q.lines().count() > 10);
        assert!(q.contains('▀') || q.contains('▄') || q.contains('█'));
    }
}
