//! `sesame token`: the hot path that runs before every command that uses sesame. It prints the
//! token and nothing else, does no network I/O for a valid session and starts no async runtime.

use super::{open_store, store_error};
use crate::clock::{format_utc, unix_seconds};
use crate::error::Error;
use crate::settings::{Common, Env};
use crate::store::StoreError;
use std::io::Write;
use std::time::SystemTime;

pub fn run(common: &Common, env: Env) -> Result<(), Error> {
    if let Some(token) = env("SESAME_TOKEN") {
        return print(&token);
    }
    let opened = open_store(common)?;
    let session = match opened.store.load(&common.profile) {
        Ok(s) => s,
        Err(StoreError::NotFound) => {
            return Err(Error::no_session(format!(
                "Not logged in (profile {}).",
                common.profile
            ))
            .hint(login_hint(&common.profile)));
        }
        Err(e) => return Err(store_error(common.store, e)),
    };
    let now = unix_seconds(SystemTime::now());
    if !session.is_valid_at(now, 0) {
        return Err(Error::no_session(format!(
            "The session for profile {} expired at {}.",
            common.profile,
            format_utc(session.expires_at.unwrap_or_default())
        ))
        .hint(login_hint(&common.profile)));
    }
    print(session.token.expose())
}

pub fn login_hint(profile: &str) -> String {
    if profile == "default" {
        "Run `sesame login`.".into()
    } else {
        format!("Run `sesame login --profile {profile}`.")
    }
}

fn print(token: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{token}")
        .and_then(|_| out.flush())
        .map_err(|e| Error::other(format!("Could not write the token to stdout: {e}")))
}
