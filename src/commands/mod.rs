//! One file per command, each a `run` function that returns what happened; `main` turns an
//! error into its message and exit code.

#[cfg(unix)]
pub mod agent;
pub mod aws;
pub mod credential;
#[cfg(feature = "server")]
pub mod demo;
pub mod doctor;
pub mod exec;
pub mod header;
pub mod import;
pub mod lifetime;
pub mod login;
pub mod logout;
pub mod proxy;
pub mod refresh;
#[cfg(feature = "server")]
pub mod serve;
#[cfg(unix)]
pub mod ssh;
pub mod status;
pub mod token;

pub use sesame_login::current::{fresh_session, fresh_session_async};
use sesame_login::error::Error;
use sesame_login::settings::Common;
use sesame_login::store::Opened;

pub use sesame_login::current::open_store_to_read;

/// Opens the store the settings name, turning failures into advice.
pub fn open_store(common: &Common) -> Result<Opened, Error> {
    common.open_store()
}

/// `sesame serve` and `sesame demo` in a build without the `server` feature.
#[cfg(not(feature = "server"))]
pub fn without_server() -> Error {
    Error::usage("This sesame was built without the reference server (the `server` feature).").hint(
        "Install a build with it (`cargo install sesame` turns it on by default), or point \
             --server at a running challenge server.",
    )
}
