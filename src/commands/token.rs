//! `sesame token`: the hot path that runs before every command that uses sesame. It prints the
//! token and nothing else, does no network I/O for a valid session and starts no async runtime.

use super::open_store_to_read;
use crate::clock::format_utc;
use crate::error::Error;
use crate::hints::{login_hint, session_hint};
use crate::output::Printer;
use crate::refresh;
use crate::settings::{Common, Env};
use crate::store::StoreError;

pub fn run(common: &Common, id_token: bool, env: Env, printer: &Printer) -> Result<(), Error> {
    if let Some(token) = env("SESAME_TOKEN").filter(|_| !id_token) {
        return print(&token);
    }
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
    let Some(fresh) = refresh::ensure_fresh(
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
    let session = fresh.session;
    if id_token {
        return match &session.id_token {
            Some(t) => print(t.expose()),
            None => Err(Error::no_session(format!(
                "The session for profile {} has no ID token (it did not come from an OpenID Connect login).",
                common.profile
            ))),
        };
    }
    print(session.token.expose())
}

fn print(token: &str) -> Result<(), Error> {
    crate::output::stdout(&format!("{token}\n"))
}
