//! `sesame login`: the login driver ([`crate::login`]) with the user's browser.

use crate::settings::LoginSettings;
use sesame_login::browser::Opener;
use sesame_login::error::Error;
use sesame_login::output::Printer;

pub async fn run(
    settings: &LoginSettings,
    opener: &dyn Opener,
    printer: &Printer,
) -> Result<(), Error> {
    crate::login::run(settings, opener, printer).await
}
