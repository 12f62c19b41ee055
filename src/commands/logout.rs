//! `sesame logout`: forget the session locally. Nothing is revoked on the server.

use super::open_store;
use crate::clock::format_utc;
use crate::error::Error;
use crate::output::Printer;
use crate::settings::Common;

pub fn run(common: &Common, printer: &Printer) -> Result<(), Error> {
    let opened = open_store(common)?;
    let existing = opened.store.load(&common.profile).ok();
    let place = opened.store.describe(&common.profile);
    let removed = opened
        .store
        .delete(&common.profile)
        .map_err(|e| e.into_error(common.store))?;
    if !removed {
        printer.info(&format!(
            "No session for profile {}: nothing to remove.",
            common.profile
        ));
        return Ok(());
    }
    printer.success(&format!(
        "Removed the session for profile {} from {place}.",
        common.profile
    ));
    if existing.as_ref().is_some_and(|s| s.demo) {
        printer.info(
            "It came from `sesame demo`, whose server has stopped and took its signing key with it: no server accepts that token any more.",
        );
        return Ok(());
    }
    let until = existing
        .and_then(|s| s.expires_at)
        .map(|e| format!(" until {}", format_utc(e)))
        .unwrap_or_default();
    printer.info(&format!(
        "The token was not revoked on the server: a copy of it stays valid{until}."
    ));
    Ok(())
}
