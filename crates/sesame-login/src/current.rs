//! The profile's current session, refreshed if it is due: what `sesame token`, `exec`,
//! `header`, the credential helpers and [`crate::Auth`] hand out. No valid session is an error
//! of kind [`ErrorKind::NotLoggedIn`] or [`ErrorKind::Expired`] saying what to run.

use crate::clock::format_utc;
use crate::error::{Error, ErrorKind};
use crate::hints::{login_hint, session_hint};
use crate::output::Printer;
use crate::session::Session;
use crate::settings::{Common, Env};
use crate::store::{Opened, StoreError};

/// Opens the store to read the profile's session, warning (on stderr) about a session file
/// that other users can read.
pub fn open_store_to_read(common: &Common, printer: &Printer) -> Result<Opened, Error> {
    let opened = common.open_store()?;
    for w in opened.store.audit(&common.profile) {
        printer.warn(&w);
    }
    Ok(opened)
}

/// The profile's session, refreshed if it is due, for the commands that hand it to another
/// program (`token`, `exec`, `header`, the credential helpers). No valid session: exit 3 with
/// what to run.
pub fn fresh_session(common: &Common, env: Env, printer: &Printer) -> Result<Session, Error> {
    if let Some(s) = from_agent(common, env, printer)? {
        return Ok(s);
    }
    let (opened, session) = load_session(common, printer)?;
    let expired = expired_error(common, &session);
    let secret = common.client_secret(env);
    let fresh = crate::refresh::ensure_fresh(
        &*opened.store,
        session,
        &common.paths.data_dir,
        secret.as_ref(),
        common.refresh_skew,
        crate::refresh::Refresh::IfDue,
    )?;
    handed_out(fresh, expired, printer)
}

/// [`fresh_session`] for a caller inside the async runtime (`credential kubectl`): the
/// refresh runs on that runtime rather than on one of its own, which tokio forbids.
pub async fn fresh_session_async(
    common: &Common,
    env: Env<'_>,
    printer: &Printer,
) -> Result<Session, Error> {
    if let Some(s) = from_agent(common, env, printer)? {
        return Ok(s);
    }
    fresh_session_with(common, common.client_secret(env).as_ref(), printer).await
}

/// Tells the agent, if one is in use, that the profile's session changed in the store (a
/// login, logout or refresh), so that it drops its copy. Nothing where there is no agent.
pub fn tell_agent(common: &Common, env: Env) {
    #[cfg(unix)]
    crate::agent::client::forget(common, env);
    #[cfg(not(unix))]
    let _ = (common, env);
}

/// The session from the agent at `SESAME_AUTH_SOCK` (or one forwarded over SSH), if one
/// answers with a usable one (more than the refresh skew left); `None` sends the caller to the
/// store. An agent that refuses because of a rule (a profile not forwarded, a use not
/// confirmed) is reported on stderr, since the store's "not logged in" would not say why. Only
/// a bad `SESAME_AGENT_TIMEOUT` is an error.
#[cfg(unix)]
pub fn from_agent(common: &Common, env: Env, printer: &Printer) -> Result<Option<Session>, Error> {
    use crate::agent::client::{self, Asked};
    use crate::agent::protocol::Refusal;
    Ok(match client::session(common, env)? {
        Asked::Session(s) => Some(*s),
        Asked::Refused(Refusal::Forbidden, message) => {
            printer.warn(&format!("The agent refused: {message}."));
            None
        }
        Asked::Refused(..) | Asked::Nothing => None,
    })
}

/// No agent on this platform yet.
#[cfg(not(unix))]
pub fn from_agent(
    _common: &Common,
    _env: Env,
    _printer: &Printer,
) -> Result<Option<Session>, Error> {
    Ok(None)
}

/// [`fresh_session_async`] with the client secret (for a confidential client's refresh) given.
pub async fn fresh_session_with(
    common: &Common,
    secret: Option<&crate::secret::Secret>,
    printer: &Printer,
) -> Result<Session, Error> {
    use crate::refresh::{self, Due, Refresh};
    let (opened, session) = load_session(common, printer)?;
    let expired = expired_error(common, &session);
    let fresh = match refresh::due(session, secret, common.refresh_skew, Refresh::IfDue) {
        Due::Fresh(s) => Some(s.into()),
        Due::Stale => None,
        Due::Refresh(s) => {
            let data_dir = &common.paths.data_dir;
            let skew = common.refresh_skew;
            let store = &*opened.store;
            let wait = refresh::LOCK_WAIT;
            let fresh =
                refresh::refresh_locked(store, s, data_dir, secret, (skew, Refresh::IfDue), wait);
            Some(fresh.await?)
        }
    };
    handed_out(fresh, expired, printer)
}

/// The profile's stored session; none is exit 3 with what to run.
fn load_session(common: &Common, printer: &Printer) -> Result<(Opened, Session), Error> {
    let opened = open_store_to_read(common, printer)?;
    match opened.store.load(&common.profile) {
        Ok(s) => Ok((opened, s)),
        Err(StoreError::NotFound) => Err(Error::no_session(format!(
            "Not logged in (profile {}).",
            common.profile
        ))
        .hint(login_hint(&common.profile))),
        Err(e) => Err(e.into_error_for(common.store, &common.profile)),
    }
}

/// What is said when `session` turns out to be over.
fn expired_error(common: &Common, session: &Session) -> Error {
    Error::no_session(format!(
        "The session for profile {} expired at {}.",
        common.profile,
        format_utc(session.expires_at.unwrap_or_default())
    ))
    .hint(session_hint(session))
    .kind_of(ErrorKind::Expired)
}

fn handed_out(
    fresh: Option<crate::refresh::Fresh>,
    expired: Error,
    printer: &Printer,
) -> Result<Session, Error> {
    let fresh = fresh.ok_or(expired)?;
    if let Some(w) = &fresh.warning {
        printer.warn(w);
    }
    Ok(fresh.session)
}

/// Whether a caller that needs a session may log in when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfNone {
    /// A person is at the terminal: log in, as `sesame login` would.
    LogIn,
    /// Nobody can approve a login here: exit 3 with what to run.
    Fail,
}

/// The profile's session, refreshed if it is due; when there is none (or it is over) and
/// `if_none` allows, a login first, through the login driver, so that concurrent callers join
/// one pending login. `caller` names who needs it in messages ("kubectl", "the AWS CLI").
/// A bad login setting is reported only when a login turns out to be needed.
pub async fn session_or_login(
    common: &Common,
    login: Result<crate::settings::LoginSettings, Error>,
    secret: Option<&crate::secret::Secret>,
    (if_none, caller): (IfNone, &str),
    printer: &Printer,
) -> Result<Session, Error> {
    match usable(common, secret, printer).await? {
        Some(s) => return Ok(s),
        None if if_none == IfNone::LogIn => {}
        None => {
            return Err(Error::no_session(format!(
                "sesame has no valid session for profile {}, and {caller} is not running interactively, so it cannot log in here.",
                common.profile
            ))
            .hint(format!(
                "{} in a terminal, then retry.",
                login_hint(&common.profile).trim_end_matches('.')
            )));
        }
    }
    let settings = login?;
    printer.info(&format!(
        "{caller} needs a session for profile {}; logging in.",
        common.profile
    ));
    crate::login::run(&settings, &crate::browser::SystemBrowser, printer).await?;
    usable(common, secret, printer)
        .await?
        .ok_or_else(|| Error::no_session("The login finished but left no usable session."))
}

/// The session if it is usable now (refreshed if due), `None` if the person must log in.
async fn usable(
    common: &Common,
    secret: Option<&crate::secret::Secret>,
    printer: &Printer,
) -> Result<Option<Session>, Error> {
    match fresh_session_with(common, secret, printer).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.needs_login() => Ok(None),
        Err(e) => Err(e),
    }
}
