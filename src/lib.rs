#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
//! sesame: log in to single sign-on from the command line and keep the session in the OS
//! keychain.
//!
//! The binary (`src/main.rs`) parses arguments and calls one of [`commands`]; everything else —
//! flows, protocol types, stores, the reference server — lives here so that it can be tested
//! without a terminal.

pub mod browser;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
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
pub mod server;
pub mod session;
pub mod settings;
pub mod store;
pub mod text;
pub mod whoami;
