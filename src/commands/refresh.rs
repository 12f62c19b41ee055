//! `sesame refresh`: get a session's next token now: with its refresh token (OpenID Connect,
//! or a JSON login API's `refresh-url`), or a new client-credentials grant.

use super::open_store_to_read;
use sesame_login::clock::{format_utc, human_duration, unix_seconds};
use sesame_login::error::Error;
use sesame_login::hints::login_hint;
use sesame_login::output::Printer;
use sesame_login::refresh::{self, Refresh};
use sesame_login::settings::{Common, Env};
use std::time::{Duration, SystemTime};

pub fn run(common: &Common, env: Env, printer: &Printer) -> Result<(), Error> {
    let opened = open_store_to_read(common, printer)?;
    let session = match opened.store.load(&common.profile) {
        Ok(s) => s,
        Err(sesame_login::store::StoreError::NotFound) if forwarded(env) => {
            return Err(Error::usage(format!(
                "Profile {}'s session is on the laptop this SSH connection came from, and its refresh token stays there.",
                common.profile
            ))
            .hint("The laptop refreshes it (its agent ahead of time, or `sesame token` there when it is due); `sesame token` here gets the current token."));
        }
        Err(e @ sesame_login::store::StoreError::NotFound) => {
            return Err(e.into_error(common.store).hint(login_hint(&common.profile)));
        }
        Err(e) => return Err(e.into_error_for(common.store, &common.profile)),
    };
    let secret = common.client_secret(env);
    if !session.renewable_with(secret.is_some()) {
        let why = if session.flow == sesame_login::session::Flow::ClientCredentials {
            "no client secret is at hand (SESAME_CLIENT_SECRET, or one kept with --remember-secret)"
        } else {
            "it has no refresh token"
        };
        return Err(Error::usage(format!(
            "The session of profile {} ({} login) cannot be refreshed: {why}.",
            common.profile, session.flow
        ))
        .hint(login_hint(&common.profile)));
    }
    let new = refresh::ensure_fresh(
        &*opened.store,
        session,
        &common.paths.data_dir,
        secret.as_ref(),
        common.refresh_skew,
        Refresh::Now,
    )?
    .ok_or_else(|| {
        Error::no_session(format!(
            "The session of profile {} could not be refreshed.",
            common.profile
        ))
        .hint(login_hint(&common.profile))
    })?
    .session;
    sesame_login::current::tell_agent(common, env);
    let left = new
        .expires_at
        .map(|e| {
            format!(
                "until {} (in {})",
                format_utc(e),
                human_duration(Duration::from_secs(
                    e.saturating_sub(unix_seconds(SystemTime::now())).max(0) as u64
                ))
            )
        })
        .unwrap_or_else(|| "with no stated expiry".into());
    printer.success(&format!(
        "Refreshed the session of profile {}: the access token is valid {left}.",
        common.profile
    ));
    Ok(())
}

/// Whether this is an SSH host with the laptop's agent forwarded (`sesame ssh`).
#[cfg(unix)]
fn forwarded(env: Env) -> bool {
    sesame_login::agent::client::forwarded_agent(env)
}

#[cfg(not(unix))]
fn forwarded(_: Env) -> bool {
    false
}
