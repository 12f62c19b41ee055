//! What a flow reports while it waits, for the spinner or the plain progress lines. A leaf: the
//! flows and the OAuth plumbing report here, the terminal display listens.

/// What a flow reports while it waits, for the spinner or the plain progress lines.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Waiting for the person; the display shows the time left from its own deadline.
    Waiting,
    /// A request failed in a way worth retrying.
    Retrying {
        /// Why, in words fit to show (`the provider answered HTTP 503`).
        reason: &'a str,
    },
}

/// Where a flow sends its [`Progress`] while it waits; the terminal display implements it.
pub trait Events: Send + Sync {
    /// Takes one report from the waiting flow.
    fn progress(&self, p: Progress<'_>);
}
