//! Why a login did not complete, as the flows and the OAuth plumbing report it, and what the
//! person is told: the message, the next step and the exit code.

use crate::error::{Error, ErrorKind};
use std::time::Duration;

/// What a certificate error's reason adds when no CA file is trusted; the hint that names the
/// ways to give one looks for it.
pub const OWN_CA: &str =
    " (if your network uses its own certificate authority, its CA certificate must be given)";

/// Why a login step failed (or a refresh or revocation); `Error::from` turns it into the
/// message, hint and exit code the person sees.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoginError {
    /// The login request expired before it was approved (a challenge poll, or the provider's
    /// `expired_token`).
    #[error("the login request expired before it was approved")]
    Expired,
    /// The challenge server does not know the request: never issued there, or already collected.
    #[error("the server does not know this login request")]
    Unknown,
    /// The challenge server refused the poll: it came from another address than the request.
    #[error("the server saw the poll come from another address than the request")]
    Unauthorized,
    /// The person denied the login in the browser (`access_denied`).
    #[error("the login request was denied in the browser")]
    Denied,
    /// Nobody approved the login within the given time (`--timeout`).
    #[error("timed out")]
    TimedOut(Duration),
    /// The request did not get an answer: no connection, a TLS failure, a timeout, a reply cut
    /// short.
    #[error("could not reach {url}: {reason}")]
    Unreachable {
        /// Where the request went, as the message shows it: a URL with its secret-looking parts
        /// elided, or the request's name.
        url: String,
        /// What went wrong, in words (`could not connect: ...`).
        reason: String,
    },
    /// The server answered HTTP 5xx or 429 and kept doing so: it is there, but cannot serve now.
    #[error("{url} is unavailable: {reason}")]
    Unavailable {
        /// The server, as the message shows it.
        url: String,
        /// The server's last answer, and why sesame stopped asking (attempts used up, a
        /// `Retry-After` too long, or no time left).
        reason: String,
    },
    /// The server answered with a failure of its own: an unexpected HTTP status or an OAuth
    /// error code that is not the person's to fix.
    #[error("{0}")]
    Server(String),
    /// The server's reply did not follow its protocol: not JSON, too large, a field missing or
    /// malformed.
    #[error("{0}")]
    Protocol(String),
    /// The login cannot go on as configured: the provider lacks the endpoint or will not let
    /// this client do it, or the server's reply points where sesame does not go.
    #[error("{0}")]
    Refused(String),
    /// The server turned down the credentials themselves: a wrong password or one-time code.
    #[error("{0}")]
    Credentials(String),
    /// The provider publishes no endpoint for the flow asked for.
    #[error("the provider has no {endpoint} endpoint, so the {flow} flow cannot run")]
    NoEndpoint {
        /// The endpoint missing from the provider's metadata (`authorization`, `device
        /// authorization`).
        endpoint: &'static str,
        /// The flow that needs it (`browser`, `device`).
        flow: &'static str,
        /// The flow to use instead.
        instead: &'static str,
    },
}

impl LoginError {
    /// What kind of failure this is, for a program embedding the library.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LoginError::Expired | LoginError::Unknown | LoginError::TimedOut(_) => {
                ErrorKind::TimedOut
            }
            LoginError::Denied | LoginError::Unauthorized | LoginError::Credentials(_) => {
                ErrorKind::Denied
            }
            LoginError::Unreachable { .. } | LoginError::Unavailable { .. } => {
                ErrorKind::Unavailable
            }
            LoginError::Server(_) | LoginError::Protocol(_) | LoginError::Refused(_) => {
                ErrorKind::Protocol
            }
            LoginError::NoEndpoint { .. } => ErrorKind::Config,
        }
    }
}

impl From<LoginError> for Error {
    fn from(e: LoginError) -> Error {
        let kind = e.kind();
        let cause = e.clone();
        described(e).kind_of(kind).caused_by(cause)
    }
}

/// The message, next step and exit code a person sees for `e`.
fn described(e: LoginError) -> Error {
    let again = "Run `sesame login` again.";
    match e {
            LoginError::Expired => Error::incomplete(
                "The login request expired before it was approved (the server keeps it for a few minutes).",
            )
            .hint(format!("{again} Approve it in the browser within the time shown.")),
            LoginError::Unknown => Error::incomplete(
                "The server no longer knows this login request: it was never issued there, or its token was already collected.",
            )
            .hint(format!("{again} If this repeats, check that nothing else polls the same URL.")),
            LoginError::Unauthorized => Error::incomplete(
                "The server refused the poll: it came from a different network address than the login request (a VPN, proxy or network change?).",
            )
            .hint(format!("{again} Stay on one network until it completes.")),
            LoginError::Denied => Error::incomplete("The login request was denied in the browser.")
                .hint("If that was not you, tell your security team; otherwise run `sesame login` again."),
            LoginError::TimedOut(after) => Error::incomplete(format!(
                "Timed out after {} waiting for approval.",
                crate::clock::human_duration(after)
            ))
            .hint(format!("{again} Allow more time with --timeout SECS.")),
            LoginError::Unreachable { url, reason } => {
                let hint = if reason.contains(OWN_CA) {
                    "Give your organisation's CA certificate with --ca-cert FILE, SESAME_CA_CERT or `ca-cert` in the profile, then run `sesame login` again."
                } else {
                    "Check the URL (--server, --issuer, or the profile's) and your network, then run `sesame login` again."
                };
                Error::other(format!("Could not reach the login server at {url}: {reason}."))
                    .hint(hint)
            }
            LoginError::Unavailable { url, reason } => Error::other(format!(
                "The login server at {url} is unavailable for now: {reason}."
            ))
            .hint("Nothing was saved. Run `sesame login` again in a moment; if this persists, tell the server's operators."),
            LoginError::Server(m) => Error::other(sentence(&m))
                .hint("Nothing was saved. Check that the URL points at the right kind of server (a ConsoleMe-compatible --server, the provider's --issuer, the API's login-url), or try again later."),
            LoginError::Protocol(m) => Error::other(sentence(&m))
                .hint("Nothing was saved. If the profile's settings are right, the server's reply did not follow its protocol: report it to the server's operators."),
            LoginError::Credentials(m) => Error::incomplete(sentence(&m))
                .hint("Nothing was saved; the previous session, if any, is unchanged. Check the user name, password and code, then run `sesame login` again."),
            LoginError::Refused(m) => Error::other(sentence(&m))
                .hint("Nothing was saved. Check the server URL, or report this to the server's operators."),
            e @ LoginError::NoEndpoint { instead, .. } => Error::other(sentence(&e.to_string()))
                .hint(format!("Use the {instead} flow (--flow {instead}).")),
        }
}

/// The message as a sentence: capitalized, ending in one full stop (or its own ? or !).
fn sentence(s: &str) -> String {
    let s = capitalize(s.trim_end());
    if s.ends_with(['.', '?', '!']) {
        s
    } else {
        format!("{s}.")
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
