//! `sesame login`: the login driver ([`crate::login`]) with the user's browser.

use crate::browser::Opener;
use crate::error::Error;
use crate::output::Printer;
use crate::settings::LoginSettings;

pub async fn run(
    settings: &LoginSettings,
    opener: &dyn Opener,
    printer: &Printer,
) -> Result<(), Error> {
    crate::login::run(settings, opener, printer).await
}
