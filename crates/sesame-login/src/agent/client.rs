//! Asking the agent at `SESAME_AUTH_SOCK`. Every failure (no agent, a dead one, a slow one, a
//! refusal) is `None` or an error the caller ignores: the command then reads the store
//! itself, as it would with no agent. An agent's answer gets the same checks as a stored
//! session's.

use super::protocol::{Answer, Op, Request, Response, Where, read_frame, write_frame};
use crate::error::Error;
use crate::session::Session;
use crate::settings::{Common, Env};
use crate::vars;
use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a command waits for the agent before reading the store itself.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);

/// `SESAME_AGENT_TIMEOUT`'s range, in seconds.
const TIMEOUT_SECS: (f64, f64) = (0.001, 60.0);

/// The agent at a socket path.
#[derive(Debug, Clone)]
pub struct Agent {
    path: PathBuf,
    timeout: Duration,
}

impl Agent {
    /// The agent `SESAME_AUTH_SOCK` names, waited for `SESAME_AGENT_TIMEOUT` seconds (default
    /// [`DEFAULT_TIMEOUT`]); `None` without the variable. A timeout out of range is an error.
    pub fn from_env(env: Env) -> Result<Option<Agent>, Error> {
        let Some(path) = env(vars::AUTH_SOCK) else {
            return Ok(None);
        };
        let timeout = match crate::settings::env_num::<f64>(env, vars::AGENT_TIMEOUT)? {
            None => DEFAULT_TIMEOUT,
            Some(s) if (TIMEOUT_SECS.0..=TIMEOUT_SECS.1).contains(&s) => Duration::from_secs_f64(s),
            Some(s) => {
                return Err(crate::settings::out_of_range(
                    vars::AGENT_TIMEOUT,
                    &s,
                    &TIMEOUT_SECS.0,
                    &TIMEOUT_SECS.1,
                    "seconds",
                ));
            }
        };
        Ok(Some(Agent::at(PathBuf::from(path), timeout)))
    }

    /// The agent at `path`, waited for at most `timeout` per request.
    pub fn at(path: PathBuf, timeout: Duration) -> Agent {
        Agent { path, timeout }
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends `op` and reads the answer, all within the timeout.
    pub fn ask(&self, op: Op) -> io::Result<Answer> {
        let deadline = Instant::now() + self.timeout;
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::TimedOut, "the agent did not answer in time")
                })
        };
        let mut stream = UnixStream::connect(&self.path)?;
        stream.set_write_timeout(Some(left()?))?;
        write_frame(&mut stream, &Request::new(op))?;
        stream.set_read_timeout(Some(left()?))?;
        let response: Response = read_frame(&mut stream)?;
        Ok(response.answer)
    }
}

/// The session `common` names, from the agent, if one answers with a session that is fit to
/// use now (more than the refresh skew left); `None` sends the caller to the store. A bad
/// `SESAME_AGENT_TIMEOUT` is the only error.
pub fn session(common: &Common, env: Env) -> Result<Option<Session>, Error> {
    let Some(agent) = Agent::from_env(env)? else {
        return Ok(None);
    };
    let answer = agent.ask(Op::Session {
        at: Where::of(common),
    });
    let session = match answer {
        Ok(Answer::Session { session }) => session,
        Ok(other) => {
            tracing::debug!("agent: {other:?}; reading the store");
            return Ok(None);
        }
        Err(e) => {
            tracing::debug!("agent at {}: {e}; reading the store", agent.path.display());
            return Ok(None);
        }
    };
    let Ok(session) = session.checked() else {
        tracing::debug!("agent: its session has a malformed token; reading the store");
        return Ok(None);
    };
    let now = crate::clock::unix_seconds(std::time::SystemTime::now());
    let skew = crate::refresh::effective_skew(&session, common.refresh_skew);
    if session.profile != common.profile || !session.is_valid_at(now, skew) {
        return Ok(None);
    }
    tracing::debug!("agent: answered for profile {}", common.profile);
    Ok(Some(session))
}

/// Tells the agent, if there is one, that the store changed for `common`'s profile (a login,
/// logout or refresh), so that it reads the store again. Best effort: an agent that does not
/// hear it still reads the store when its copy runs out.
pub fn forget(common: &Common, env: Env) {
    if let Ok(Some(agent)) = Agent::from_env(env)
        && let Err(e) = agent.ask(Op::Forget {
            at: Where::of(common),
        })
    {
        tracing::debug!("agent at {}: {e}", agent.path.display());
    }
}

/// Where `sesame agent` listens unless told otherwise: `$XDG_RUNTIME_DIR/sesame/agent.sock`,
/// else `sesame-UID/agent.sock` in `$TMPDIR` (per user on macOS) or `/tmp`.
pub fn default_socket(env: Env) -> PathBuf {
    match env("XDG_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir).join("sesame").join("agent.sock"),
        None => PathBuf::from(env("TMPDIR").unwrap_or_else(|| "/tmp".into()))
            .join(format!("sesame-{}", crate::private_file::effective_uid()))
            .join("agent.sock"),
    }
}
