//! `sesame login`: the login driver ([`sesame_login::login`]) with the user's browser.

use crate::cli::LoginArgs;
use sesame_login::browser::Opener;
use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::settings::{Common, Env, LoginSettings};

/// `sesame login` as typed: on an SSH host reached with `sesame ssh`, on the laptop; else here,
/// with the settings the flags, environment and config file give.
pub fn from_cli(
    common: Common,
    args: &LoginArgs,
    env: Env,
    printer: &Printer,
) -> Result<(), Error> {
    // A login with flags of its own (--server, --with-token, ...) is meant for here.
    #[cfg(unix)]
    if format!("{args:?}") == format!("{:?}", LoginArgs::default())
        && on_the_laptop(&common, printer)?
    {
        return Ok(());
    }
    let settings = crate::login_args::resolve(common, args, env)?;
    super::lifetime::runtime()?.block_on(run(
        &settings,
        &sesame_login::browser::SystemBrowser,
        printer,
    ))
}

pub async fn run(
    settings: &LoginSettings,
    opener: &dyn Opener,
    printer: &Printer,
) -> Result<(), Error> {
    sesame_login::login::run(settings, opener, printer).await?;
    sesame_login::current::tell_agent(&settings.common, &sesame_login::settings::process_env);
    Ok(())
}

/// On an SSH host reached with `sesame ssh`: the login runs on the laptop, and nothing is saved
/// here. False when there is no forwarded agent, or it refused (which is said): log in here.
#[cfg(unix)]
fn on_the_laptop(common: &Common, printer: &Printer) -> Result<bool, Error> {
    use sesame_login::agent::client::{Asked, log_in_forwarded};
    match log_in_forwarded(common, &sesame_login::settings::process_env)? {
        Asked::Session(s) => {
            let until = s
                .expires_at
                .map(|e| format!(" until {}", sesame_login::clock::format_utc(e)))
                .unwrap_or_default();
            printer.success(&format!(
                "Logged in on the laptop as {} (profile {}{until}). Here, `sesame token --profile {}` gets its access token from the laptop while this SSH connection lasts; nothing was saved on this machine.",
                s.user, common.profile, common.profile
            ));
            Ok(true)
        }
        // Not forwarded, or not allowed: a login here is what is left.
        Asked::Refused(sesame_login::agent::protocol::Refusal::Forbidden, message) => {
            printer.warn(&format!(
                "The laptop did not log in ({message}); logging in here instead."
            ));
            Ok(false)
        }
        // The login on the laptop failed or took too long: say so rather than start another.
        Asked::Refused(_, message) => Err(Error::other(format!(
            "The login on the laptop did not finish: {message}."
        ))
        .hint("Try again, or log in on the laptop (`sesame login` there) and run `sesame token` here.")),
        Asked::Nothing => Ok(false),
    }
}
