//! The sesame agent's protocol and client. `sesame agent` keeps sessions in memory and
//! refreshes them ahead of expiry; commands ask it first when `SESAME_AUTH_SOCK` is set
//! ([`client::session`]) and read the store themselves when it does not answer. The protocol
//! is in [`protocol`] and docs/agent.md; the agent itself is the `sesame` command's.

#[cfg(unix)]
pub mod client;
pub mod protocol;
