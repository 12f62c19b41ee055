//! `sesame login`: the login driver ([`sesame_login::login`]) with the user's browser.

use sesame_login::browser::Opener;
use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::settings::LoginSettings;

pub async fn run(
    settings: &LoginSettings,
    opener: &dyn Opener,
    printer: &Printer,
) -> Result<(), Error> {
    sesame_login::login::run(settings, opener, printer).await?;
    super::tell_agent(&settings.common, &sesame_login::settings::process_env);
    Ok(())
}
