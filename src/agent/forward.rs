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
use std::collections::HashMap;
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
    let confirmed = Arc::new(Decisions::default());
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

/// The first use of `profile` on this socket: asked once (a yes or a no stands for the
/// socket's life), one question at a time.
async fn confirm_use(profile: &str, confirm: &Confirm, decided: &Decisions) -> Result<(), Refused> {
    let not_confirmed = || {
        Err((
            Refusal::Forbidden,
            format!("the use of profile {profile} was not confirmed on the laptop"),
        ))
    };
    let Confirm::Ask(asker) = confirm else {
        return Err((
            Refusal::Forbidden,
            format!(
                "profile {profile} wants each SSH connection confirmed, which only `sesame ssh` can ask for; connect with it, or set forward-confirm = false for the profile"
            ),
        ));
    };
    match decided.get(profile) {
        Some(true) => return Ok(()),
        Some(false) => return not_confirmed(),
        None => {}
    }
    let _one_question = decided.asking.lock().await;
    if let Some(yes) = decided.get(profile) {
        return if yes { Ok(()) } else { not_confirmed() };
    }
    let (asker, name) = (asker.clone(), profile.to_string());
    let yes = tokio::task::spawn_blocking(move || asker.allow(&name))
        .await
        .unwrap_or(false);
    decided.set(profile, yes);
    if yes { Ok(()) } else { not_confirmed() }
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
    confirmed: &Decisions,
) -> Result<Session, Refused> {
    forwardable(profile)?;
    let Confirm::Ask(asker) = confirm else {
        return Err((
            Refusal::Forbidden,
            "a login from an SSH host needs `sesame ssh` on the laptop, which can ask there".into(),
        ));
    };
    let (asker, name) = (asker.clone(), profile.to_string());
    let logged_in = {
        let _one_question = confirmed.asking.lock().await;
        tokio::task::spawn_blocking(move || asker.log_in(&name))
            .await
            .map_err(|e| (Refusal::Unavailable, e.to_string()))?
    };
    confirmed.set(profile, logged_in.is_ok());
    logged_in.map_err(|why| (Refusal::Forbidden, why))?;
    session(profile, source, confirm, confirmed).await
}

/// What the person at the laptop answered, per profile, for one socket's life; and one question
/// at a time, so that a host asking again and again (or many times at once) gets each answer
/// once instead of a flood of questions.
#[derive(Default)]
pub struct Decisions {
    answers: Mutex<HashMap<String, bool>>,
    asking: tokio::sync::Mutex<()>,
}

impl Decisions {
    fn get(&self, profile: &str) -> Option<bool> {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(profile)
            .copied()
    }

    fn set(&self, profile: &str, yes: bool) {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(profile.to_string(), yes);
    }
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
    confirmed: &Decisions,
) -> Result<Session, Refused> {
    let (common, needs_yes) = forwardable(profile)?;
    if needs_yes {
        confirm_use(profile, confirm, confirmed).await?;
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
    if s.expires_at.is_none() && !matches!(s.flow, Flow::Basic | Flow::ApiKey) {
        return Err((
            Refusal::Forbidden,
            format!(
                "profile {}'s token does not say when it expires (a pasted token?); a copy on an SSH host could work forever, so it is not forwarded",
                s.profile
            ),
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_login::secret::{Secret, Token};
    use sesame_login::session::UserName;

    fn session(flow: Flow, expires_at: Option<i64>) -> Session {
        let mut s = Session::new(
            "work",
            "https://idp.example.com".into(),
            UserName::new("alice").unwrap(),
            flow,
            Token::issued("access").unwrap(),
            1,
        );
        s.expires_at = expires_at;
        s.refresh_token = Some(Secret::new("refresh"));
        s.client_secret = Some(Secret::new("client-secret"));
        s.id_token = Some(Token::issued("id.token.x").unwrap());
        s
    }

    #[test]
    fn only_an_access_token_with_an_expiry_crosses() {
        let crossed = restricted(session(Flow::Browser, Some(100))).unwrap();
        assert_eq!(crossed.token.expose(), "access");
        assert!(crossed.refresh_token.is_none() && crossed.client_secret.is_none());
        assert!(crossed.id_token.is_none() && crossed.oauth.is_none());
        let json = crossed.to_json();
        assert!(
            !json.contains("refresh")
                && !json.contains("client-secret")
                && !json.contains("id.token"),
            "{json}"
        );
        for flow in [Flow::Basic, Flow::ApiKey] {
            let (why, message) = restricted(session(flow, Some(100))).unwrap_err();
            assert_eq!(why, Refusal::Forbidden);
            assert!(message.contains("not an access token"), "{message}");
        }
        let (_, message) = restricted(session(Flow::WithToken, None)).unwrap_err();
        assert!(
            message.contains("does not say when it expires"),
            "{message}"
        );
    }
}
