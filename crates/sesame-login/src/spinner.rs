//! The terminal's spinner, drawn with indicatif when the `terminal` feature is on (the
//! default). Without the feature there is no spinner: [`Spinner`] has no values, and the wait
//! display falls back to its plain progress lines.

#[cfg(feature = "terminal")]
pub(crate) use drawn::Spinner;

#[cfg(not(feature = "terminal"))]
pub(crate) use absent::Spinner;

#[cfg(feature = "terminal")]
mod drawn {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use std::time::Duration;

    /// An indicatif spinner on stderr whose message is refreshed every 250 ms.
    pub(crate) struct Spinner {
        bar: ProgressBar,
        ticker: tokio::task::JoinHandle<()>,
    }

    impl Spinner {
        /// Starts a spinner showing `message()`, asked again four times a second.
        pub(crate) fn start(message: impl Fn() -> String + Send + 'static) -> Option<Spinner> {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner())
                    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar.set_message(message());
            let ticker = {
                let bar = bar.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        bar.set_message(message());
                    }
                })
            };
            Some(Spinner { bar, ticker })
        }

        /// Stops the spinner and clears its line.
        pub(crate) fn finish(&self) {
            self.ticker.abort();
            self.bar.finish_and_clear();
        }

        /// As [`finish`](Self::finish), after Ctrl-C. The terminal echoed `^C` after the
        /// spinner, which indicatif pads to the full width, so the echo wrapped to a new line
        /// and clearing "the spinner's line" cleared that one: go up and clear the spinner's too.
        pub(crate) fn interrupted(&self) {
            self.finish();
            let term = console::Term::stderr();
            let _ = term.move_cursor_up(1);
            let _ = term.clear_line();
        }
    }
}

#[cfg(not(feature = "terminal"))]
mod absent {
    /// No spinner in a build without the `terminal` feature: this type has no values.
    pub(crate) enum Spinner {}

    impl Spinner {
        /// Never a spinner.
        pub(crate) fn start(_message: impl Fn() -> String + Send + 'static) -> Option<Spinner> {
            None
        }

        pub(crate) fn finish(&self) {
            match *self {}
        }

        pub(crate) fn interrupted(&self) {
            match *self {}
        }
    }
}
