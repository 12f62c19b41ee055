//! Every `SESAME_*` environment variable, in one table: the code names them through these
//! constants (a test fails on a `"SESAME_…"` literal anywhere else, and on a variable the
//! README does not document). Precedence is the same for each setting: a flag, then the
//! variable, then the profile's entry in the config file, then the default.

/// A variable sesame reads, and what for.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    /// The variable's name.
    pub name: &'static str,
    /// What it sets, for `sesame doctor` and the docs.
    pub meaning: &'static str,
}

macro_rules! vars {
    ($(#[doc = $doc:literal] $konst:ident = $name:literal;)*) => {
        $(#[doc = $doc] pub const $konst: &str = $name;)*

        /// Every variable, in the order of docs/configuration.md's table.
        pub const ALL: &[Var] = &[$(Var { name: $name, meaning: $doc.trim_ascii() }),*];
    };
}

vars! {
    /// The profile to use (`--profile`; default `default`, or the config's `default-profile`).
    PROFILE = "SESAME_PROFILE";
    /// Where sessions are kept: `auto`, `keychain` or `file` (`--store`).
    STORE = "SESAME_STORE";
    /// The config file (default `$XDG_CONFIG_HOME/sesame/config.toml` or the platform's).
    CONFIG = "SESAME_CONFIG";
    /// The directory of session files, locks and pending logins (default `$XDG_DATA_HOME/sesame`).
    DATA_DIR = "SESAME_DATA_DIR";
    /// A PEM file of CA certificates to trust besides the system's (`--ca-cert`).
    CA_CERT = "SESAME_CA_CERT";
    /// sesame's log filter on stderr, e.g. `debug` (`--verbose`).
    LOG = "SESAME_LOG";
    /// Seconds a keychain call may take before the store is called unavailable (default 10).
    KEYCHAIN_TIMEOUT = "SESAME_KEYCHAIN_TIMEOUT";
    /// Refresh a token when at most this many seconds are left (default 60).
    REFRESH_SKEW = "SESAME_REFRESH_SKEW";
    /// A token `sesame token` prints as is, with no session (for CI).
    TOKEN = "SESAME_TOKEN";
    /// The challenge server's URL (`--server`).
    SERVER = "SESAME_SERVER";
    /// The user to log in as (`--user`; default the OS user).
    USER = "SESAME_USER";
    /// `1` to print the URL instead of opening a browser (`--no-browser`).
    NO_BROWSER = "SESAME_NO_BROWSER";
    /// Seconds to wait for approval (`--timeout`; default 120).
    TIMEOUT = "SESAME_TIMEOUT";
    /// Seconds between polls (`--poll-interval`; default 2).
    POLL_INTERVAL = "SESAME_POLL_INTERVAL";
    /// `1` to allow plain http to a server not on this machine (`--allow-http`).
    ALLOW_HTTP = "SESAME_ALLOW_HTTP";
    /// The loopback callback's port, 0 for any (`--port`).
    PORT = "SESAME_PORT";
    /// `1` or `0`: draw a QR code of the URL, or never (`--qr`, `--no-qr`).
    QR = "SESAME_QR";
    /// How to log in: auto, challenge, browser, device, password, client-credentials, basic (`--flow`).
    FLOW = "SESAME_FLOW";
    /// How the credential is presented: bearer, basic, cookie:NAME, query:NAME, header:NAME (`--use-as`).
    USE_AS = "SESAME_USE_AS";
    /// The OpenID Connect issuer (`--issuer`).
    ISSUER = "SESAME_ISSUER";
    /// The OAuth client ID (`--client-id`).
    CLIENT_ID = "SESAME_CLIENT_ID";
    /// A confidential client's secret; never a flag, so never on a command line.
    CLIENT_SECRET = "SESAME_CLIENT_SECRET";
    /// The OAuth scopes, space-separated (`--scope`; default `openid offline_access`).
    SCOPE = "SESAME_SCOPE";
    /// The `audience` authorization parameter (`--audience`).
    AUDIENCE = "SESAME_AUDIENCE";
    /// The `resource` authorization parameter, RFC 8707 (`--resource`).
    RESOURCE = "SESAME_RESOURCE";
    /// The agent's socket (`sesame agent` prints it): commands ask the agent first.
    AUTH_SOCK = "SESAME_AUTH_SOCK";
    /// Seconds a command waits for the agent before reading the store itself (default 0.1).
    AGENT_TIMEOUT = "SESAME_AGENT_TIMEOUT";
    /// Set by `sesame ssh` on the SSH host (sshd passes `LC_*` by default): the forwarded agent's socket.
    FORWARDED_AUTH_SOCK = "LC_SESAME_AUTH_SOCK";
    /// `sesame serve`: the secret that signs its JWTs (instead of `--jwt-secret-file`).
    JWT_SECRET = "SESAME_JWT_SECRET";
    /// `sesame serve`: the Redis URL shared by replicas (`--redis-url`).
    REDIS_URL = "SESAME_REDIS_URL";
    /// `sesame serve`: the Redis password, kept out of the URL and the command line.
    REDIS_PASSWORD = "SESAME_REDIS_PASSWORD";
}
