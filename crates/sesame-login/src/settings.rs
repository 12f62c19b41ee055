//! Settings, resolved and validated before any login or command runs: where sesame keeps its
//! files ([`Paths`]), what every command that touches a session needs ([`Common`]), and what a
//! login needs ([`LoginSettings`]). The CLI fills them from flags, `SESAME_*` variables and the
//! config file, with the precedence flags > environment > config file > defaults; a program
//! embedding this crate fills them itself.

use crate::config::{ConfigFile, FlowChoice, ProfileConfig};
use crate::error::Error;
use crate::json_api::JsonApi;
use crate::oidc::Endpoints;
use crate::present::UseAs;
use crate::secret::Secret;
use crate::store::{Keychain, StoreKind};
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Looks up an environment variable; injected so that tests need not touch the process env.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment as an [`Env`]; a variable set to the empty string counts as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where sesame keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The config file: `SESAME_CONFIG`, else `config.toml` in the config directory.
    pub config_file: PathBuf,
    /// Where sessions, locks and caches live: `SESAME_DATA_DIR`, else `$XDG_DATA_HOME/sesame`,
    /// else the platform's data directory.
    pub data_dir: PathBuf,
}

impl Paths {
    /// `SESAME_CONFIG`, `SESAME_DATA_DIR`, `XDG_CONFIG_HOME` and `XDG_DATA_HOME` win on every
    /// platform, in that order; the
    /// platform's conventional directories (the `directories` crate) fill in the rest.
    pub fn resolve(env: Env) -> Result<Paths, Error> {
        let dirs = directories::ProjectDirs::from("", "", "sesame");
        let config_file = match env(crate::vars::CONFIG) {
            Some(p) => PathBuf::from(p),
            None => match env("XDG_CONFIG_HOME") {
                Some(x) => PathBuf::from(x).join("sesame"),
                None => dirs
                    .as_ref()
                    .map(|d| d.config_dir().to_path_buf())
                    .ok_or_else(no_home)?,
            }
            .join("config.toml"),
        };
        let data_dir = match (env(crate::vars::DATA_DIR), env("XDG_DATA_HOME")) {
            (Some(d), _) => PathBuf::from(d),
            (None, Some(x)) => PathBuf::from(x).join("sesame"),
            (None, None) => dirs
                .as_ref()
                .map(|d| d.data_dir().to_path_buf())
                .ok_or_else(no_home)?,
        };
        Ok(Paths {
            config_file,
            data_dir,
        })
    }
}

fn no_home() -> Error {
    Error::other("Could not find a home directory for sesame's files.")
        .hint("Set HOME, or XDG_CONFIG_HOME and XDG_DATA_HOME.")
}

/// What every command that touches a session needs.
#[derive(Debug, Clone)]
pub struct Common {
    /// The profile: `--profile`, `SESAME_PROFILE`, the config's `default-profile`, else `default`;
    /// checked by [`validate_profile`].
    pub profile: String,
    /// Where sessions are kept: `--store`, `SESAME_STORE`, the profile's `store`, else `auto`.
    pub store: StoreKind,
    /// Where sesame's files are.
    pub paths: Paths,
    /// The profile's table in the config file; empty when it has none.
    pub config: ProfileConfig,
    /// The keychain entries' service name, and how long a keychain call may take
    /// (`SESAME_KEYCHAIN_TIMEOUT`, seconds, default 10).
    pub keychain: Keychain,
    /// Refresh a token when at most this many seconds are left (`SESAME_REFRESH_SKEW`), or
    /// half its lifetime if that is shorter.
    pub refresh_skew: i64,
}

/// The allowed range of each number a person can set, and the message when one is outside it.
pub mod limits {
    /// `--timeout`: a day is longer than anyone waits for a browser.
    pub const TIMEOUT_SECS: (u64, u64) = (1, 86_400);
    /// `--poll-interval`: at most five minutes between polls.
    pub const POLL_INTERVAL_SECS: (u64, u64) = (1, 300);
    /// `SESAME_KEYCHAIN_TIMEOUT`, which may be a fraction of a second.
    pub const KEYCHAIN_TIMEOUT_SECS: (f64, f64) = (0.001, 600.0);
    /// `SESAME_REFRESH_SKEW`: from 0 (refresh once expired) to a day.
    pub const REFRESH_SKEW_SECS: (i64, i64) = (0, 86_400);
    /// `serve --challenge-ttl`.
    pub const CHALLENGE_TTL_SECS: (u64, u64) = (1, 86_400);
    /// `serve --jwt-ttl`: at most a year.
    pub const JWT_TTL_SECS: (u64, u64) = (1, 31_536_000);
}

/// The error for a number outside its range, naming where it came from: `--timeout`,
/// `SESAME_TIMEOUT`, or `timeout` in the config file.
pub fn out_of_range(
    what: &str,
    value: &dyn std::fmt::Display,
    lo: &dyn std::fmt::Display,
    hi: &dyn std::fmt::Display,
    unit: &str,
) -> Error {
    Error::usage(format!(
        "{what} = {value} is out of range: use {lo} to {hi} {unit}."
    ))
}

fn keychain_timeout(env: Env) -> Result<Duration, Error> {
    let (lo, hi) = limits::KEYCHAIN_TIMEOUT_SECS;
    let Some(text) = env(crate::vars::KEYCHAIN_TIMEOUT) else {
        return Ok(Duration::from_secs(10));
    };
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (lo..=hi).contains(&v) => Ok(Duration::from_secs_f64(v)),
        _ => Err(out_of_range(
            crate::vars::KEYCHAIN_TIMEOUT,
            &format!("{text:?}"),
            &lo,
            &hi,
            "seconds",
        )),
    }
}

/// Refresh when less than this is left (seconds); `SESAME_REFRESH_SKEW` overrides.
pub const DEFAULT_REFRESH_SKEW: i64 = 60;

fn refresh_skew(env: Env) -> Result<i64, Error> {
    let (lo, hi) = limits::REFRESH_SKEW_SECS;
    match env(crate::vars::REFRESH_SKEW) {
        None => Ok(DEFAULT_REFRESH_SKEW),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(v) if (lo..=hi).contains(&v) => Ok(v),
            _ => Err(out_of_range(
                crate::vars::REFRESH_SKEW,
                &format!("{text:?}"),
                &lo,
                &hi,
                "seconds",
            )),
        },
    }
}

impl Common {
    /// Resolves the profile, its config and the store from the flags (`None` when not given), the
    /// environment and the config file; a bad config file, profile name or variable is a usage
    /// error.
    pub fn resolve(
        profile_flag: Option<String>,
        store_flag: Option<StoreKind>,
        env: Env,
    ) -> Result<Common, Error> {
        let paths = Paths::resolve(env)?;
        let mut file = ConfigFile::load(&paths.config_file)?;
        let profile = profile_flag
            .or_else(|| env(crate::vars::PROFILE))
            .or(file.default_profile.take())
            .unwrap_or_else(|| "default".into());
        validate_profile(&profile)?;
        let config = file.profiles.remove(&profile).unwrap_or_default();
        let store = match store_flag {
            Some(s) => s,
            None => match env(crate::vars::STORE) {
                Some(v) => v
                    .parse()
                    .map_err(|e| Error::usage(format!("SESAME_STORE: {e}")))?,
                None => config.store.unwrap_or_default(),
            },
        };
        Ok(Common {
            profile,
            store,
            paths,
            config,
            keychain: Keychain {
                service: crate::store::SERVICE.into(),
                timeout: keychain_timeout(env)?,
            },
            refresh_skew: refresh_skew(env)?,
        })
    }
}

impl Common {
    /// Opens the store these settings name, turning failures into advice.
    pub fn open_store(&self) -> Result<crate::store::Opened, Error> {
        crate::store::open(self.store, &self.paths.data_dir, &self.keychain)
            .map_err(|e| e.into_error(self.store))
    }

    /// A confidential client's secret, for refreshing: from the environment or the config
    /// file, never from the session store.
    pub fn client_secret(&self, env: Env) -> Option<Secret> {
        env(crate::vars::CLIENT_SECRET)
            .map(Secret::new)
            .or_else(|| self.config.client_secret.clone())
    }
}

/// Checks a profile name, which becomes part of file names: 1 to 64 ASCII letters, digits, `-`, `_`
/// and `.`, not starting with `.`.
pub fn validate_profile(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        return Ok(());
    }
    // Quoted with its control characters escaped, and cut short: a flag or variable can hold
    // megabytes.
    let shown: String = name.chars().take(80).collect();
    let cut = if shown.len() < name.len() { "…" } else { "" };
    Err(Error::usage(format!(
        "Invalid profile name {shown:?}{cut}: use letters, digits, '-', '_' and '.' (at most 64)."
    )))
}

/// Everything a login needs, resolved: the CLI builds it from `sesame login`'s flags, a program
/// embedding this crate from its own settings.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// What every command needs: the profile, its store, paths and config.
    pub common: Common,
    /// The challenge server (`--server`), checked against the transport rule.
    pub server: Option<Url>,
    /// Needed by the challenge flow; OIDC logins take the user from the tokens.
    pub user: Option<crate::session::UserName>,
    /// Why no browser is opened, in the words of whoever turned it off (the CLI says
    /// "--no-browser was given", [`Auth`](crate::Auth) that the program opens none); `None`
    /// opens one where a browser can be opened.
    pub no_browser: Option<String>,
    /// How long the login waits for approval (`--timeout`; 1 s to a day, default 120 s).
    pub timeout: Duration,
    /// The pause between challenge polls without long-polling (`--poll-interval`; default 2 s).
    pub poll_interval: Duration,
    /// Allow plain http to a server that is not on this machine (`--allow-http`).
    pub allow_http: bool,
    /// The loopback callback's port; 0 for any free port.
    pub port: u16,
    /// `None`: decide by whether a browser opened and stdout is a terminal.
    pub qr: Option<bool>,
    /// `--with-token`: save a token read from stdin as the session instead of logging in.
    pub with_token: bool,
    /// The flow asked for; `Auto` picks one from the server, issuer or login URL given.
    pub flow: FlowChoice,
    /// The OpenID Connect and OAuth settings.
    pub oidc: OidcSettings,
    /// The direct-credential settings.
    pub direct: DirectSettings,
    /// A `sesame demo` login: the session is marked so that later hints fit it.
    pub demo: bool,
}

/// OpenID Connect and OAuth settings: the provider, the client, and what to ask for.
#[derive(Debug, Clone, Default)]
pub struct OidcSettings {
    /// The issuer (`--issuer`), where discovery starts.
    pub issuer: Option<Url>,
    /// The OAuth client ID (`--client-id`).
    pub client_id: Option<String>,
    /// A confidential client's secret (`--client-secret-stdin`, `SESAME_CLIENT_SECRET`,
    /// `client-secret`); `None` for a public client.
    pub client_secret: Option<Secret>,
    /// `--remember-secret`: keep the client secret with the session, in a keychain only.
    pub remember_secret: bool,
    /// The scopes to ask for: `--scope` (default `openid offline_access`) and the profile's
    /// `scopes`.
    pub scopes: Vec<String>,
    /// Extra authorization parameters: `audience`, `resource`.
    pub extra: Vec<(String, String)>,
    /// Endpoints given explicitly, each overriding discovery.
    pub endpoints: Endpoints,
}

/// Direct credentials: a JSON login API, API keys, Basic, and how a credential is presented.
#[derive(Debug, Clone, Default)]
pub struct DirectSettings {
    /// Set when the profile has a `login-url`.
    pub json_api: Option<JsonApi>,
    /// `--password-stdin`: the password, and a one-time code if asked, from stdin instead of
    /// prompts.
    pub password_stdin: bool,
    /// `--api-key`: save an API key as the session.
    pub api_key: bool,
    /// How the credential is presented (`--use-as`); `None` for the flow's default.
    pub use_as: Option<UseAs>,
    /// Where `status --remote` asks who the credential belongs to (the profile's `whoami-url`).
    pub whoami_url: Option<Url>,
    /// The user as given (--user, SESAME_USER, `user`), without the OS user fallback: an API
    /// key belongs to no one in particular unless said.
    pub explicit_user: Option<String>,
}

/// A number from the environment variable `name`, if set; a usage error if it does not parse.
pub fn env_num<T: std::str::FromStr>(env: Env, name: &str) -> Result<Option<T>, Error> {
    match env(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| Error::usage(format!("{name}={v:?} is not a valid number."))),
    }
}

/// The loopback callback's port: `--port`, else `SESAME_PORT`, else the profile's `port`, else 0
/// (any free port). The one place this order is written: `login` and `doctor` both ask here.
pub fn callback_port(flag: Option<u16>, profile: &ProfileConfig, env: Env) -> Result<u16, Error> {
    Ok(flag
        .or(env_num(env, crate::vars::PORT)?)
        .or(profile.port)
        .unwrap_or(0))
}

/// The OS account name (getpwuid on Unix, GetUserNameW on Windows), as `whoami` prints it: for
/// a container's root or a service account, where USER is unset.
pub fn os_user() -> Option<String> {
    whoami::username().ok().filter(|u| !u.trim().is_empty())
}
