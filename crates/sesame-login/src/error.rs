//! The error every command returns: what happened, what to run next, and the exit code, chosen
//! once here from the kind of failure (documented in the README).

use std::fmt;

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Only for [`Error::closed_pipe`]: the reader went away, which is no failure of ours.
    Success = 0,
    Error = 1,
    Usage = 2,
    NoSession = 3,
    LoginIncomplete = 4,
    /// `sesame exec`: the command exists but cannot be run (the shell's convention).
    CannotExecute = 126,
    /// `sesame exec`: no such command (the shell's convention).
    CommandNotFound = 127,
    Interrupted = 130,
}

#[derive(Debug)]
pub struct Error {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl Error {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Error {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    pub fn other(message: impl Into<String>) -> Self {
        Error::new(Exit::Error, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(Exit::Usage, message)
    }

    pub fn no_session(message: impl Into<String>) -> Self {
        Error::new(Exit::NoSession, message)
    }

    pub fn incomplete(message: impl Into<String>) -> Self {
        Error::new(Exit::LoginIncomplete, message)
    }

    pub fn interrupted() -> Self {
        Error::new(Exit::Interrupted, "Interrupted.")
            .hint("Nothing was changed: the previous session, if any, is intact.")
    }

    /// Whoever read our stdout closed it (`sesame status | head -1`): stop quietly, as
    /// ripgrep does, with nothing more to say.
    pub fn closed_pipe() -> Self {
        Error::new(Exit::Success, "")
    }

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

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
