#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
//! The `sesame` command line: arguments ([`cli`]), `sesame login`'s arguments resolved into
//! settings ([`login_args`]) and one module per command ([`commands`]). The login driver,
//! settings, flows, sessions and stores are the `sesame-login` library; the reference server
//! behind `sesame serve` and `sesame demo` is `sesame-server`, linked with the `server` feature
//! (on by default).

#[cfg(unix)]
pub mod agent;
pub mod cli;
pub mod commands;
pub mod login_args;
pub mod proxy;
#[cfg(feature = "server")]
pub mod serve_log;
pub mod token_argv;
