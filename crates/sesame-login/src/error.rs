//! The error every operation returns: what happened, what to run next, the [`ErrorKind`] a
//! caller can match on, the underlying cause ([`std::error::Error::source`]), and the exit code
//! the `sesame` command ends with (documented in its README).

use std::fmt;

/// What went wrong, for a program to decide what to do next. New kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No session is saved for the profile: log in.
    NotLoggedIn,
    /// The session is over (expired and not refreshable, or its refresh was refused): log in
    /// again.
    Expired,
    /// The login was refused: denied in the browser, or wrong credentials.
    Denied,
    /// Nobody approved the login in time, or the server forgot the request.
    TimedOut,
    /// The login server could not be reached, or answered that it cannot serve now (5xx, 429).
    Unavailable,
    /// The server's reply did not follow its protocol.
    Protocol,
    /// The settings are invalid: a flag, variable, config entry or builder value.
    Config,
    /// The session store (the OS keychain or the session files) failed.
    Store,
    /// Ctrl-C: nothing was changed.
    Interrupted,
    /// Anything else; the message says what.
    Other,
}

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Only for [`Error::closed_pipe`]: the reader went away, which is no failure of ours.
    Success = 0,
    /// Any other failure: the server is unreachable, a reply is malformed, the store failed.
    Error = 1,
    /// A bad flag, variable or config entry, a missing server, a number out of its range.
    Usage = 2,
    /// No valid session: not logged in, expired, or its refresh refused.
    NoSession = 3,
    /// The login did not complete: it expired, was denied or timed out, or a password or one-time
    /// code was refused.
    LoginIncomplete = 4,
    /// `sesame exec`: the command exists but cannot be run (the shell's convention).
    CannotExecute = 126,
    /// `sesame exec`: no such command (the shell's convention).
    CommandNotFound = 127,
    /// Ctrl-C; nothing was changed.
    Interrupted = 130,
}

/// What happened (`message`, a sentence), what to do next (`hint`), the [`ErrorKind`] and the
/// cause, if any.
#[derive(Debug)]
pub struct Error {
    /// The exit code of the `sesame` command that fails with this error.
    pub exit: Exit,
    /// What happened, as a sentence for a person.
    pub message: String,
    /// What to do next, if there is something to say.
    pub hint: Option<String>,
    pub(crate) kind: Option<ErrorKind>,
    pub(crate) source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error ending the command with `exit`; its kind follows from the exit code until
    /// [`Error::kind_of`] says otherwise.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Error {
            exit,
            message: message.into(),
            hint: None,
            kind: None,
            source: None,
        }
    }

    /// What went wrong, to match on.
    pub fn kind(&self) -> ErrorKind {
        self.kind.unwrap_or(match self.exit {
            Exit::Usage => ErrorKind::Config,
            Exit::NoSession => ErrorKind::NotLoggedIn,
            Exit::Interrupted => ErrorKind::Interrupted,
            _ => ErrorKind::Other,
        })
    }

    /// Whether a login is what this error calls for: no session, or the session is over
    /// ([`ErrorKind::NotLoggedIn`], [`ErrorKind::Expired`]).
    pub fn needs_login(&self) -> bool {
        matches!(self.kind(), ErrorKind::NotLoggedIn | ErrorKind::Expired)
    }

    /// The same error, of kind `kind`.
    pub fn kind_of(mut self, kind: ErrorKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// The same error, caused by `source` (returned by [`std::error::Error::source`]).
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// An error ending the command with exit 1 ([`Exit::Error`]); its kind is
    /// [`ErrorKind::Other`] until [`Error::kind_of`] says otherwise.
    pub fn other(message: impl Into<String>) -> Self {
        Error::new(Exit::Error, message)
    }

    /// A usage error (exit 2); its kind is [`ErrorKind::Config`] until [`Error::kind_of`] says
    /// otherwise.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(Exit::Usage, message)
    }

    /// A "no valid session" error (exit 3); its kind is [`ErrorKind::NotLoggedIn`] until
    /// [`Error::kind_of`] says otherwise.
    pub fn no_session(message: impl Into<String>) -> Self {
        Error::new(Exit::NoSession, message)
    }

    /// A "login did not complete" error (exit 4); its kind is [`ErrorKind::Other`] until
    /// [`Error::kind_of`] says otherwise.
    pub fn incomplete(message: impl Into<String>) -> Self {
        Error::new(Exit::LoginIncomplete, message)
    }

    /// The Ctrl-C error (exit 130), whose hint says the previous session is intact.
    pub fn interrupted() -> Self {
        Error::new(Exit::Interrupted, "Interrupted.")
            .hint("Nothing was changed: the previous session, if any, is intact.")
    }

    /// Whoever read our stdout closed it (`sesame status | head -1`): stop quietly, as
    /// ripgrep does, with nothing more to say.
    pub fn closed_pipe() -> Self {
        Error::new(Exit::Success, "")
    }

    /// The same error, with `hint` as what to do next (replacing any earlier hint).
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `std::result::Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
