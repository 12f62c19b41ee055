//! What a flow reports while it waits, for the spinner or the plain progress lines. A leaf: the
//! flows and the OAuth plumbing report here, the terminal display listens.

/// What a flow reports while it waits, for the spinner or the plain progress lines.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Waiting for the person; the display shows the time left from its own deadline.
    Waiting,
    /// A request failed in a way worth retrying.
    Retrying { reason: &'a str },
}

pub trait Events: Send + Sync {
    fn progress(&self, p: Progress<'_>);
}
