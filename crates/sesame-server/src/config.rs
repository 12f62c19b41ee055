//! The server's settings ([`Config`]), who approves ([`Auth`]) and the targets of its log
//! events.

use crate::limits;
use hyper::header::HeaderName;
use sesame_login::secret::Secret;
use std::net::SocketAddr;
use std::time::Duration;
use url::Url;

/// How the person approving in the browser is identified.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Nobody is authenticated: the approver is taken to be the requested user.
    Dev,
    /// An SSO reverse proxy (oauth2-proxy and the like) puts the user in this header.
    Header(HeaderName),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: Option<Url>,
    pub auth: Auth,
    pub ip_check: bool,
    pub trusted_proxy_header: Option<HeaderName>,
    pub jwt_secret: Secret<Vec<u8>>,
    pub challenge_ttl: Duration,
    pub jwt_ttl: Duration,
    pub cookie_name: String,
    /// Groups every JWT's `groups` claim holds.
    pub groups: Vec<String>,
    /// The header in which the SSO proxy names the approver's groups (comma-separated), read
    /// at approval into that session's `groups` claim; only with [`Auth::Header`].
    pub groups_header: Option<HeaderName>,
    pub max_pending: usize,
    /// Most pending challenges one client address may have; 0: no limit.
    pub max_pending_per_ip: usize,
    /// Polls of unknown tokens one address may make per minute.
    pub max_unknown_polls: u32,
    /// Keep challenges in this Redis (`redis://` or `rediss://`), shared by replicas;
    /// `None`: in this process's memory.
    pub redis_url: Option<String>,
    /// Who may have which AWS role (`--aws-roles FILE`): `None` answers every credentials
    /// request as ConsoleMe does when no role matches.
    pub aws_roles: Option<std::sync::Arc<crate::aws_roles::RoleMap>>,
    /// Emit a `tracing` event per request ([`ACCESS_LOG`]) and per decision ([`DECISION_LOG`]);
    /// the subscriber decides where they go and how they look.
    pub log: bool,
}

/// The target of the one `tracing` event per request: fields `ip`, `method`, `route` (the
/// route's template, never the path: paths carry tokens), `status` and `ms`.
pub const ACCESS_LOG: &str = "sesame_server::access";

/// The target of the `tracing` event for each decision on a challenge: fields `event`
/// (`approved` or `denied`), `user` and `requested_from`.
pub const DECISION_LOG: &str = "sesame_server::decision";

impl Config {
    /// Development defaults on an ephemeral loopback port, as `sesame demo` and the tests use.
    pub fn dev(secret: Vec<u8>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            auth: Auth::Dev,
            ip_check: false,
            trusted_proxy_header: None,
            jwt_secret: Secret::from_bytes(secret),
            challenge_ttl: Duration::from_secs(120),
            jwt_ttl: Duration::from_secs(3600),
            cookie_name: "consoleme_auth".into(),
            groups: Vec::new(),
            groups_header: None,
            max_pending: 10_000,
            max_pending_per_ip: 20,
            max_unknown_polls: limits::ALLOWANCE,
            redis_url: None,
            aws_roles: None,
            log: false,
        }
    }
}

/// 32 random bytes, for a server started without a configured secret.
pub fn random_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut s = vec![0u8; 32];
    rand::rng().fill_bytes(&mut s);
    s
}
