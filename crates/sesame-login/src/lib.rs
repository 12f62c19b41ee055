#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
//! sesame-login: log in to single sign-on and keep the session in the OS keychain.
//!
//! The flows (the ConsoleMe challenge, OAuth 2.0 authorization code with PKCE on a loopback
//! redirect, device authorization, JSON login APIs), the session type and how it is presented,
//! the stores (OS keychain, owner-only files) and single-flight refresh. The `sesame` CLI and
//! the reference server (`sesame-server`) are built on this crate; it depends on neither.

pub mod browser;
pub mod clock;
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
pub mod session;
pub mod settings;
pub mod store;
pub mod text;
pub mod whoami;
