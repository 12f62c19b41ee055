//! One file per command, each a `run` function that returns what happened; `main` turns an
//! error into its message and exit code.

pub mod demo;
pub mod login;
pub mod logout;
pub mod refresh;
pub mod serve;
pub mod status;
pub mod token;

use crate::error::Error;
use crate::settings::Common;
use crate::store::Opened;

/// Opens the store the settings name, turning failures into advice.
pub fn open_store(common: &Common) -> Result<Opened, Error> {
    common.open_store()
}

/// Opens the store to read the profile's session, warning (on stderr) about a session file
/// that other users can read.
pub fn open_store_to_read(
    common: &Common,
    printer: &crate::output::Printer,
) -> Result<Opened, Error> {
    let opened = open_store(common)?;
    for w in opened.store.audit(&common.profile) {
        printer.warn(&w);
    }
    Ok(opened)
}
