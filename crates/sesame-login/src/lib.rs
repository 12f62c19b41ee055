#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod agent;
mod auth;
pub mod aws;
pub mod blocking;
pub mod browser;
pub mod clock;
pub mod config;
pub mod current;
pub mod error;
pub mod events;
pub mod flows;
pub mod hints;
pub mod http;
pub mod interrupt;
pub mod json_api;
pub mod jwt;
pub mod login;
pub mod login_error;
pub mod oidc;
pub mod output;
#[cfg(windows)]
pub mod owner_only;
pub mod pages;
pub mod pending;
pub mod present;
pub mod private_file;
pub mod protocol;
pub mod refresh;
pub mod secret;
pub mod session;
pub mod settings;
mod spinner;
pub mod store;
pub mod text;
pub mod vars;
pub mod whoami;

pub use auth::{Auth, AuthBuilder};
pub use error::{Error, ErrorKind};
