//! One file per command, each a `run` function that returns what happened; `main` turns an
//! error into its message and exit code.

pub mod credential;
pub mod demo;
pub mod doctor;
pub mod exec;
pub mod header;
pub mod login;
pub mod logout;
pub mod refresh;
pub mod serve;
pub mod status;
pub mod token;

use crate::clock::format_utc;
use crate::error::Error;
use crate::hints::{login_hint, session_hint};
use crate::session::Session;
use crate::settings::{Common, Env};
use crate::store::{Opened, StoreError};

/// Opens the store the settings name, turning failures into advice.
pub fn open_store(common: &Common) -> Result<Opened, Error> {
    common.open_store()
}

/// Opens the store to read the profile's session, warning (on stderr) about a session file
/// that other users can read.
pub fn open_store_to_read(
    common: &Common,
    printer: &crate::output::Printer,
) -> Result<Opened, Error> {
    let opened = open_store(common)?;
    for w in opened.store.audit(&common.profile) {
        printer.warn(&w);
    }
    Ok(opened)
}

/// The profile's session, refreshed if it is due, for the commands that hand it to another
/// program (`token`, `exec`, `header`, the credential helpers). No valid session: exit 3 with
/// what to run.
pub fn fresh_session(
    common: &Common,
    env: Env,
    printer: &crate::output::Printer,
) -> Result<Session, Error> {
    let opened = open_store_to_read(common, printer)?;
    let session = match opened.store.load(&common.profile) {
        Ok(s) => s,
        Err(StoreError::NotFound) => {
            return Err(
                Error::no_session(format!("Not logged in (profile {}).", common.profile))
                    .hint(login_hint(&common.profile)),
            );
        }
        Err(e) => return Err(e.into_error(common.store)),
    };
    let expired_at = session.expires_at.unwrap_or_default();
    let hint = session_hint(&session);
    let secret = common.client_secret(env);
    let Some(fresh) = crate::refresh::ensure_fresh(
        &*opened.store,
        session,
        &common.paths.data_dir,
        secret.as_ref(),
        common.refresh_skew,
        false,
    )?
    else {
        return Err(Error::no_session(format!(
            "The session for profile {} expired at {}.",
            common.profile,
            format_utc(expired_at)
        ))
        .hint(hint));
    };
    if let Some(w) = &fresh.warning {
        printer.warn(w);
    }
    Ok(fresh.session)
}
