#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
//! The `sesame` command line: arguments ([`cli`]), settings resolved from flags, environment
//! and the config file ([`settings`], [`config`]), the login driver ([`login`]) and one module
//! per command ([`commands`]). Flows, sessions and stores are the `sesame-login` library; the
//! reference server behind `sesame serve` and `sesame demo` is `sesame-server`.

pub mod cli;
pub mod commands;
pub mod config;
pub mod login;
pub mod settings;
