//! One file per command, each a `run` function that returns what happened; `main` turns an
//! error into its message and exit code.

pub mod demo;
pub mod login;
pub mod login_oauth;
pub mod logout;
pub mod refresh;
pub mod serve;
pub mod status;
pub mod token;

use crate::error::Error;
use crate::settings::Common;
use crate::store::{self, Opened, StoreError, StoreKind};

/// Opens the store the settings name, turning failures into advice.
pub fn open_store(common: &Common) -> Result<Opened, Error> {
    store::open(
        common.store,
        &common.paths.data_dir,
        common.keychain_timeout,
    )
    .map_err(|e| store_error(common.store, e))
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

/// Opens the store a login will save into, showing `auto`'s fallback warning once.
pub fn open_store_for_saving(
    common: &Common,
    printer: &crate::output::Printer,
) -> Result<Opened, Error> {
    let opened = open_store(common)?;
    if let Some(w) = &opened.warning {
        printer.warn(w);
    }
    Ok(opened)
}

pub fn store_error(kind: StoreKind, e: StoreError) -> Error {
    match e {
        StoreError::Unavailable(why) if kind == StoreKind::Keychain => {
            Error::other(format!("The OS keychain is not available: {why}."))
                .hint("Unlock or start your keychain (on Linux, a Secret Service such as gnome-keyring), or use --store file.")
        }
        StoreError::Unavailable(why) => Error::other(format!("The session store is not available: {why}."))
            .hint("Unlock the keychain and try again, or use --store file."),
        StoreError::NotFound => Error::no_session("No session is stored for this profile.")
            .hint("Run `sesame login`."),
        StoreError::Other(m) => Error::other(format!("Session store error: {m}.")),
    }
}
