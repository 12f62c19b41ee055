//! `sesame header`: the one header line that presents the session as its server wants it
//! (`use-as`), for `curl -H @<(sesame header) URL`: curl reads the header from a file, so the
//! token never lands on a command line.

use sesame_login::error::Error;
use sesame_login::output::{Printer, stdout};
use sesame_login::settings::{Common, Env};

pub fn run(common: &Common, env: Env, printer: &Printer) -> Result<(), Error> {
    let session = super::fresh_session(common, env, printer)?;
    let line = session
        .use_as()
        .header_line(&session.user, &session.token)
        .map_err(|why| {
            Error::usage(format!("No header for profile {}: {why}.", common.profile)).hint(
                "Use `sesame exec` to hand the token to a program, or add it to the URL yourself from `sesame token`.",
            )
        })?;
    stdout(&format!("{line}\n"))
}
