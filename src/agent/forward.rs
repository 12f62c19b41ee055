//! What a forwarded socket answers: the agent's restricted face, for SSH hosts. It answers only
//! `ping`, `session` and, where someone can be asked, `login` (run on the laptop); only for a
//! profile that the laptop's config marks `forward = true`;
//! only an access token (a password or API key session is refused), never a refresh token,
//! client secret or ID token. The profile's store is the laptop's own: the store and paths in a
//! request (the remote machine's) are ignored. The first use of a profile on a socket waits for
//! a yes at the laptop's terminal unless the profile says `forward-confirm = false`; where
//! nobody can be asked (the agent's own forwarded socket), such a profile is refused.

use super::Answerer;
use super::sessions::{Refused, Sessions, refusal};
use sesame_login::agent::protocol::{Answer, Op, Refusal, Request, Response, Where};
use sesame_login::output::Printer;
use sesame_login::session::{Flow, Session};
use sesame_login::settings::{Common, process_env};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// Where a forwarded socket gets sessions.
#[derive(Clone)]
pub enum Source {
    /// The agent's memory (its own forwarded socket).
    Agent(Arc<Sessions>),
    /// What `sesame token` would hand out here: the laptop's agent if `SESAME_AUTH_SOCK` names
    /// one, else the store, refreshed if due (`sesame ssh`).
    Store,
}

/// The person at the laptop, where one can be asked (`sesame ssh`'s terminal). Both calls
/// block.
pub trait Asker: Send + Sync {
    /// Whether `profile`'s access token may go to the host; `false` for no, no answer in
    /// time, or nobody to ask.
    fn allow(&self, profile: &str) -> bool;
    /// Logs in to `profile` on the laptop, after asking; why not, when it did not.
    fn log_in(&self, profile: &str) -> Result<(), String>;
}

/// How a first use is confirmed.
#[derive(Clone)]
pub enum Confirm {
    /// Nobody can be asked: a profile that wants confirmation is refused, and so is a login.
    Refuse,
    /// Ask this way.
    Ask(Arc<dyn Asker>),
}

/// The answers of a forwarded socket. Confirmations are remembered for the socket's life: for
/// `sesame ssh`, one SSH connection.
pub fn answers(source: Source, confirm: Confirm) -> Answerer {
    let confirmed = Arc::new(Mutex::new(HashSet::<String>::new()));
    Arc::new(move |request: Request| {
        let (source, confirm, confirmed) = (source.clone(), confirm.clone(), confirmed.clone());
        Box::pin(async move {
            let version = env!("CARGO_PKG_VERSION").to_string();
            match request.op {
                Op::Ping => Response::new(Answer::Pong {
                    pid: std::process::id(),
                    version,
                }),
                Op::Session { at } => {
                    answered(session(&at.profile, &source, &confirm, &confirmed).await)
                }
                Op::Login { at } => {
                    answered(log_in(&at.profile, &source, &confirm, &confirmed).await)
                }
                _ => Response::refused(
                    Refusal::Forbidden,
                    "a forwarded agent answers only ping and session",
                ),
            }
        })
    })
}

/// A session, or the refusal.
fn answered(session: Result<Session, Refused>) -> Response {
    match session {
        Ok(session) => Response::new(Answer::Session {
            session: Box::new(session),
        }),
        Err((why, message)) => Response::refused(why, message),
    }
}

/// A login asked for by the host: on the laptop, after a yes there, then the session as
/// [`session`] hands it out. The yes also stands for the first use on this socket.
async fn log_in(
    profile: &str,
    source: &Source,
    confirm: &Confirm,
    confirmed: &Mutex<HashSet<String>>,
) -> Result<Session, Refused> {
    forwardable(profile)?;
    let Confirm::Ask(asker) = confirm else {
        return Err((
            Refusal::Forbidden,
            "a login from an SSH host needs `sesame ssh` on the laptop, which can ask there".into(),
        ));
    };
    let (asker, name) = (asker.clone(), profile.to_string());
    tokio::task::spawn_blocking(move || asker.log_in(&name))
        .await
        .map_err(|e| (Refusal::Unavailable, e.to_string()))?
        .map_err(|why| (Refusal::Forbidden, why))?;
    confirmed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(profile.to_string());
    session(profile, source, confirm, confirmed).await
}

/// The laptop's settings for `profile`, if it may be forwarded, and whether its first use
/// must be confirmed.
pub fn forwardable(profile: &str) -> Result<(Common, bool), Refused> {
    if let Err(e) = sesame_login::settings::validate_profile(profile) {
        return Err((Refusal::BadRequest, e.message));
    }
    let common = Common::resolve(Some(profile.to_string()), None, &process_env)
        .map_err(|e| (Refusal::Unavailable, e.message))?;
    if common.config.forward != Some(true) {
        return Err((
            Refusal::Forbidden,
            format!(
                "profile {profile} is not forwarded to SSH hosts; on the laptop, set forward = true in its [profiles.{profile}] table"
            ),
        ));
    }
    let confirm = common.config.forward_confirm != Some(false);
    Ok((common, confirm))
}

async fn session(
    profile: &str,
    source: &Source,
    confirm: &Confirm,
    confirmed: &Mutex<HashSet<String>>,
) -> Result<Session, Refused> {
    let (common, needs_yes) = forwardable(profile)?;
    let known = confirmed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(profile);
    if needs_yes && !known {
        let Confirm::Ask(asker) = confirm else {
            return Err((
                Refusal::Forbidden,
                format!(
                    "profile {profile} wants each SSH connection confirmed, which only `sesame ssh` can ask for; connect with it, or set forward-confirm = false for the profile"
                ),
            ));
        };
        let (asker, name) = (asker.clone(), profile.to_string());
        let yes = tokio::task::spawn_blocking(move || asker.allow(&name))
            .await
            .unwrap_or(false);
        if !yes {
            return Err((
                Refusal::Forbidden,
                format!("the use of profile {profile} was not confirmed on the laptop"),
            ));
        }
        confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(profile.to_string());
    }
    let session = match source {
        Source::Agent(sessions) => sessions.get(&Where::of(&common)).await?,
        Source::Store => tokio::task::spawn_blocking(move || {
            sesame_login::current::fresh_session(&common, &process_env, &Printer::stderr())
                .map_err(refusal)
        })
        .await
        .map_err(|e| (Refusal::Unavailable, e.to_string()))??,
    };
    restricted(session)
}

/// What may cross to an SSH host: the access token and what presenting it needs, nothing that
/// renews it or proves more.
pub fn restricted(s: Session) -> Result<Session, Refused> {
    if matches!(s.flow, Flow::Basic | Flow::ApiKey) {
        return Err((
            Refusal::Forbidden,
            format!(
                "profile {} holds a {} credential, not an access token; only access tokens are forwarded",
                s.profile,
                if s.flow == Flow::Basic {
                    "password"
                } else {
                    "API key"
                }
            ),
        ));
    }
    Ok(Session {
        refresh_token: None,
        client_secret: None,
        id_token: None,
        oauth: None,
        json_api: None,
        whoami_url: None,
        ..s
    })
}
