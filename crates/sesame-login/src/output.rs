//! Talking to the person: messages on stderr (data goes to stdout, from the commands), colour
//! only on a terminal and never with `NO_COLOR`, a spinner only on a terminal and plain progress
//! lines at most every 10 s otherwise.

use crate::clock::human_duration;
use crate::error::Error;
use crate::events::{Events, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Messages for the person, on stderr: coloured only when stderr is a terminal and `NO_COLOR` is
/// unset.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
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

    fn paint(&self, style: console::Style, text: &str) -> String {
        style.force_styling(self.color).apply_to(text).to_string()
    }

    // Talk goes to stderr and is best effort: a closed stderr must not end the command (or
    // panic, as `eprintln!` would).
    /// One line, as given: no prefix, and no cleaning of control characters.
    pub fn info(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "{text}");
    }

    /// `text` in bold when colour is on, unchanged otherwise.
    pub fn bold(&self, text: &str) -> String {
        self.paint(console::Style::new().bold(), text)
    }

    // Outcomes, warnings and errors may quote what a server said: no escape sequence of its
    // own reaches the terminal through them (crate::text::message).
    /// A `✓` line; escape sequences in `text` are neutralized ([`crate::text::message`]).
    pub fn success(&self, text: &str) {
        self.info(&format!(
            "{} {}",
            self.paint(console::Style::new().green(), "✓"),
            crate::text::message(text)
        ));
    }

    /// A `warning:` line, neutralized like [`Printer::success`].
    pub fn warn(&self, text: &str) {
        self.info(&format!(
            "{} {}",
            self.paint(console::Style::new().yellow(), "warning:"),
            crate::text::message(text)
        ));
    }

    /// The error's message after `error:`, then its hint, if any, after `hint:`; both neutralized.
    pub fn error(&self, e: &Error) {
        self.info(&format!(
            "{} {}",
            self.paint(console::Style::new().red(), "error:"),
            crate::text::message(&e.message)
        ));
        if let Some(h) = &e.hint {
            self.info(&format!(
                "\n{} {}",
                self.paint(console::Style::new().cyan(), "hint:"),
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

/// The wait display: an indicatif spinner with the time left on a terminal, plain lines
/// otherwise. It is the [`Events`] sink of a flow.
pub struct WaitDisplay {
    inner: Arc<Mutex<State>>,
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
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
        if !printer.terminal {
            return WaitDisplay {
                inner,
                bar: None,
                ticker: None,
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar.set_message(
            inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .message(),
        );
        let ticker = {
            let bar = bar.clone();
            let inner = inner.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    bar.set_message(
                        inner
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .message(),
                    );
                }
            })
        };
        WaitDisplay {
            inner,
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }

    /// Removes the spinner, leaving the terminal clean for the final message.
    pub fn finish(&self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl WaitDisplay {
    /// As [`finish`](Self::finish), after Ctrl-C. The terminal echoed `^C` after the spinner,
    /// which indicatif pads to the full width, so the echo wrapped to a new line and clearing
    /// "the spinner's line" cleared that one: go up and clear the spinner's too.
    pub fn interrupted(&self) {
        self.finish();
        if self.bar.is_some() {
            let term = console::Term::stderr();
            let _ = term.move_cursor_up(1);
            let _ = term.clear_line();
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
        let mut s = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.retrying = match p {
            Progress::Retrying { reason } => Some(reason.to_string()),
            Progress::Waiting => None,
        };
        if self.bar.is_none() {
            let due = s.last_line.is_none_or(|t| t.elapsed() >= PLAIN_EVERY);
            if due {
                s.last_line = Some(Instant::now());
                let _ = writeln!(std::io::stderr(), "{}", s.message());
            }
        }
    }
}

/// A QR code of `text` drawn with Unicode half blocks (two rows a line), quiet zone included.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_is_drawn_with_half_blocks() {
        let q = qr_code("http://127.0.0.1:1/challenge_validator/abc").unwrap();
        assert!(q.lines().count() > 10);
        assert!(q.contains('▀') || q.contains('▄') || q.contains('█'));
    }
}
