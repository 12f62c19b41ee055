//! Asking the agent at `SESAME_AUTH_SOCK`. Every failure (no agent, a dead one, a slow one, a
//! refusal) is `None` or an error the caller ignores: the command then reads the store
//! itself, as it would with no agent. An agent's answer gets the same checks as a stored
//! session's.

use super::protocol::{Answer, Op, Refusal, Request, Response, Where, read_frame, write_frame};
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

/// What asking the agent came to.
#[derive(Debug)]
pub enum Asked {
    /// A session fit to use now.
    Session(Box<Session>),
    /// The agent refused, saying why; the caller reads the store.
    Refused(Refusal, String),
    /// No agent answered (or its session is not fit to use); the caller reads the store.
    Nothing,
}

/// The prefix of the sockets `sesame ssh` forwards to an SSH host, in `/tmp`:
/// `sesame-fwd-RANDOM.sock`, made by sshd, mode 0600, owned by the remote user.
pub const FORWARDED_PREFIX: &str = "sesame-fwd-";

/// The agents to ask: `SESAME_AUTH_SOCK`'s; else, in an SSH session (`SSH_CONNECTION`), the
/// sockets forwarded to this host that belong to this user, newest first.
fn candidates(env: Env) -> Result<Vec<(Agent, bool)>, Error> {
    if let Some(agent) = Agent::from_env(env)? {
        let forwarded = is_forwarded(&agent.path);
        let agent = if forwarded {
            Agent::at(agent.path, FORWARDED_TIMEOUT)
        } else {
            agent
        };
        return Ok(vec![(agent, forwarded)]);
    }
    if env("SSH_CONNECTION").is_none() {
        return Ok(Vec::new());
    }
    // `sesame ssh` names its socket in LC_SESAME_AUTH_SOCK, which sshd passes on by default
    // (`AcceptEnv LANG LC_*`): this connection's own, taken only if it looks like one.
    if let Some(path) = env(vars::FORWARDED_AUTH_SOCK).map(PathBuf::from)
        && is_forwarded(&path)
        && path.parent() == Some(Path::new("/tmp"))
        && own_socket(&path).is_some()
    {
        return Ok(vec![(Agent::at(path, FORWARDED_TIMEOUT), true)]);
    }
    Ok(forwarded_sockets(Path::new("/tmp"))
        .into_iter()
        .map(|p| (Agent::at(p, FORWARDED_TIMEOUT), true))
        .collect())
}

/// Whether a forwarded agent (from `sesame ssh` on the laptop) is reachable here.
pub fn forwarded_agent(env: Env) -> bool {
    candidates(env).is_ok_and(|c| {
        c.into_iter()
            .any(|(agent, forwarded)| forwarded && agent.ask(Op::Ping).is_ok())
    })
}

/// How long a command waits for a forwarded agent: the person at the laptop may be asked to
/// confirm (30 s), and the answer crosses the SSH connection.
pub const FORWARDED_TIMEOUT: Duration = Duration::from_secs(40);

/// Whether `path` is a socket `sesame ssh` forwarded.
fn is_forwarded(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(FORWARDED_PREFIX))
}

/// When `path` was made, if it is a socket of this user's (not a link to one).
fn own_socket(path: &Path) -> Option<std::time::SystemTime> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::symlink_metadata(path).ok()?;
    (meta.file_type().is_socket() && meta.uid() == crate::private_file::effective_uid())
        .then(|| meta.modified().unwrap_or(std::time::UNIX_EPOCH))
}

/// This user's forwarded sockets in `dir`, newest first (at most 8).
fn forwarded_sockets(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(FORWARDED_PREFIX) && name.ends_with(".sock")
        })
        .filter_map(|e| Some((own_socket(&e.path())?, e.path())))
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().take(8).map(|(_, p)| p).collect()
}

/// The session `common` names, from an agent (`SESAME_AUTH_SOCK`, or one forwarded over SSH),
/// if one answers with a session that is fit to use now (more than the refresh skew left). A
/// forwarded socket nobody listens on any more (its SSH connection ended) is removed. A bad
/// `SESAME_AGENT_TIMEOUT` is the only error.
pub fn session(common: &Common, env: Env) -> Result<Asked, Error> {
    ask_first_answering(common, candidates(env)?, |at| Op::Session { at })
}

/// How long a `sesame login` on an SSH host waits for the login on the laptop.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(600);

/// A `sesame login` on an SSH host with a forwarded agent: the login runs on the laptop
/// (`sesame ssh` asks there first) and the answer is the session as the host may have it.
/// [`Asked::Nothing`] when no forwarded agent answers: the caller logs in here.
pub fn log_in_forwarded(common: &Common, env: Env) -> Result<Asked, Error> {
    let forwarded = candidates(env)?
        .into_iter()
        .filter(|(_, forwarded)| *forwarded)
        .map(|(agent, forwarded)| (Agent::at(agent.path, LOGIN_TIMEOUT), forwarded))
        .collect();
    ask_first_answering(common, forwarded, |at| Op::Login { at })
}

/// Asks each candidate in turn until one answers: a session fit to use, or a refusal. A
/// forwarded socket nobody listens on any more (its SSH connection ended) is removed.
fn ask_first_answering(
    common: &Common,
    candidates: Vec<(Agent, bool)>,
    op: impl Fn(Where) -> Op,
) -> Result<Asked, Error> {
    for (agent, forwarded) in candidates {
        let session = match agent.ask(op(Where::of(common))) {
            Ok(Answer::Session { session }) => session,
            Ok(Answer::Refused { why, message }) => {
                // Shown to a person: one line, no control characters, 200 characters at most,
                // whatever the agent (or whoever listens at its socket) sent.
                let message = crate::text::Shown::of(&message).into_string();
                tracing::debug!("agent at {}: refused ({message})", agent.path.display());
                return Ok(Asked::Refused(why, message));
            }
            Ok(other) => {
                tracing::debug!("agent: {other:?}; reading the store");
                return Ok(Asked::Nothing);
            }
            Err(e) => {
                tracing::debug!("agent at {}: {e}", agent.path.display());
                if forwarded && e.kind() == io::ErrorKind::ConnectionRefused {
                    let _ = std::fs::remove_file(&agent.path);
                }
                continue;
            }
        };
        let Ok(session) = session.checked() else {
            tracing::debug!("agent: its session has a malformed token; reading the store");
            return Ok(Asked::Nothing);
        };
        let now = crate::clock::unix_seconds(std::time::SystemTime::now());
        let skew = crate::refresh::effective_skew(&session, common.refresh_skew);
        if session.profile != common.profile || !session.is_valid_at(now, skew) {
            return Ok(Asked::Nothing);
        }
        tracing::debug!("agent: answered for profile {}", common.profile);
        return Ok(Asked::Session(Box::new(session)));
    }
    Ok(Asked::Nothing)
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
