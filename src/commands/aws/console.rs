//! `sesame aws console ROLE`: the role's page on the ConsoleMe the session came from
//! (`{server}/role/{ARN}`, as weep's `console` opens it), which signs the browser in to the AWS
//! console as that role. Opened in the browser (`$BROWSER` honoured), or printed with
//! `--no-open` or where no browser can open.

use sesame_login::aws::{Role, Source};
use sesame_login::browser::Opener;
use sesame_login::error::Error;
use sesame_login::output::{Printer, stdout};
use sesame_login::session::Session;
use url::Url;

/// The role's ConsoleMe page.
pub fn url(session: &Session, role: &Role) -> Result<Url, Error> {
    let mut base = Url::parse(&session.server)
        .map_err(|e| Error::other(format!("The session's server is not a URL ({e}).")))?;
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(&format!("role/{}", role.arn()))
        .map_err(|e| Error::other(format!("Could not build the role's URL: {e}.")))
}

/// Opens (or prints) the console page of `role`, one of `available`, or the one ARN given.
pub fn run(
    session: &Session,
    asked: &str,
    available: &[Role],
    (no_open, opener): (bool, &dyn Opener),
    printer: &Printer,
) -> Result<(), Error> {
    if sesame_login::aws::source::source(session)? != Source::ConsoleMe {
        return Err(Error::usage(
            "`sesame aws console` opens a ConsoleMe's role page; this session is not from a ConsoleMe.",
        )
        .hint("Use the AWS access portal of your identity provider, or `sesame aws export ROLE` for the CLI."));
    }
    let role = super::configure::chosen(std::slice::from_ref(&asked.to_string()), available)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::usage("No role given."))?;
    let url = url(session, &role)?;
    if no_open {
        return stdout(&format!("{url}\n"));
    }
    match opener.open(&url) {
        Ok(()) => {
            printer.success(&format!(
                "Opened the AWS console for {} in the browser.",
                role.arn()
            ));
            Ok(())
        }
        Err(why) => {
            printer.info(&format!("No browser was opened ({why}); open this URL:"));
            stdout(&format!("{url}\n"))
        }
    }
}
