//! `sesame token`: the hot path that runs before every command that uses sesame. It prints the
//! token and nothing else, does no network I/O for a valid session and starts no async runtime.

use super::{open_store_to_read, store_error};
use crate::clock::format_utc;
use crate::error::Error;
use crate::output::Printer;
use crate::refresh;
use crate::secret::Secret;
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
        Err(e) => return Err(store_error(common.store, e)),
    };
    let expired_at = session.expires_at.unwrap_or_default();
    let hint = session_hint(&session);
    let secret = client_secret(common, env);
    let Some(session) = refresh::ensure_fresh(
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

/// A confidential client's secret, for refreshing: from the environment or the config file,
/// never from the session store.
pub fn client_secret(common: &Common, env: Env) -> Option<Secret> {
    env("SESAME_CLIENT_SECRET")
        .map(Secret::new)
        .or_else(|| common.config.client_secret.clone())
}

pub fn login_hint(profile: &str) -> String {
    match profile {
        "default" => "Run `sesame login`.".into(),
        "demo" => "Run `sesame demo` (the demo's own profile).".into(),
        _ => format!("Run `sesame login --profile {profile}`."),
    }
}

/// What to run when this session is over: a demo session comes back only from the demo.
pub fn session_hint(session: &crate::session::Session) -> String {
    if session.demo {
        let flag = if session.profile == "demo" {
            String::new()
        } else {
            format!(" --profile {}", session.profile)
        };
        format!(
            "This session came from `sesame demo`, whose server has stopped: run `sesame demo{flag}` again."
        )
    } else {
        login_hint(&session.profile)
    }
}

fn print(token: &str) -> Result<(), Error> {
    crate::output::stdout(&format!("{token}\n"))
}
