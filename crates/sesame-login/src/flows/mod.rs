//! Login flows. Each takes an HTTP client, a [`Clock`](crate::clock::Clock) and an
//! [`Events`](crate::events::Events) sink and returns what the server granted; the terminal, the
//! browser and the store are the caller's business.

pub mod callback;
pub mod challenge;
pub mod device;
pub mod pkce;
