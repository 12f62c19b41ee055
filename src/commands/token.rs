//! `sesame token`: the hot path that runs before every command that uses sesame. It prints the
//! token and nothing else, does no network I/O for a valid session and starts no async runtime.

use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::settings::{Common, Env};
use sesame_login::vars;

pub fn run(common: &Common, id_token: bool, env: Env, printer: &Printer) -> Result<(), Error> {
    if let Some(token) = env(vars::TOKEN).filter(|_| !id_token) {
        return print(&token);
    }
    let session = super::fresh_session(common, env, printer)?;
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
    sesame_login::output::stdout(&format!("{token}\n"))
}
