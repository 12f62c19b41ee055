//! [`Auth`]: log in, keep the session in the OS keychain, hand out a fresh token. The one entry
//! point for a program that embeds this crate; [`crate::blocking::Auth`] is the same for
//! programs without an async runtime.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sesame_login::Error> {
//! use sesame_login::Auth;
//!
//! let auth = Auth::builder("mytool")
//!     .oidc("https://id.example.com", "mytool-cli")
//!     .build()?;
//! // A fresh access token: from the keychain, refreshed if due; logs in (in the browser, or
//! // with a device code where none can be opened) only if there is no session to use.
//! let token = auth.token_or_login().await?;
//! println!("Authorization: Bearer {}", token.expose());
//! # Ok(())
//! # }
//! ```

use crate::browser::{Opener, SystemBrowser};
use crate::config::{FlowChoice, ProfileConfig};
use crate::error::{Error, ErrorKind};
use crate::login;
use crate::output::Printer;
use crate::secret::{Secret, Token};
use crate::session::{Session, UserName};
use crate::settings::{
    Common, DEFAULT_REFRESH_SKEW, DirectSettings, LoginSettings, OidcSettings, Paths, limits,
    validate_profile,
};
use crate::store::{Keychain, StoreError, StoreKind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// A login to one service, for one profile: what to log in to, where the session is kept.
/// Cheap to clone; every method may be called from any task.
#[derive(Clone)]
pub struct Auth {
    settings: Arc<LoginSettings>,
    opener: Arc<dyn Opener>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("profile", &self.settings.common.profile)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Auth`]: [`Auth::builder`], then what to log in to ([`AuthBuilder::oidc`] or
/// [`AuthBuilder::challenge`]), then [`AuthBuilder::build`], which checks every value.
#[derive(Debug, Clone)]
pub struct AuthBuilder {
    app: String,
    profile: String,
    store: StoreKind,
    data_dir: Option<PathBuf>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    server: Option<String>,
    user: Option<String>,
    scopes: Vec<String>,
    flow: FlowChoice,
    port: u16,
    timeout: Duration,
    no_browser: bool,
    allow_http: bool,
}

impl Auth {
    /// Starts an [`Auth`] for the program `app`: the keychain entries' service name and the
    /// name of the data directory (the platform's, e.g. `~/.local/share/APP`). Give
    /// `"sesame"` to share the `sesame` command's sessions.
    pub fn builder(app: &str) -> AuthBuilder {
        AuthBuilder {
            app: app.into(),
            profile: "default".into(),
            store: StoreKind::Auto,
            data_dir: None,
            issuer: None,
            client_id: None,
            client_secret: None,
            server: None,
            user: None,
            scopes: vec!["openid".into(), "offline_access".into()],
            flow: FlowChoice::Auto,
            port: 0,
            timeout: Duration::from_secs(120),
            no_browser: false,
            allow_http: false,
        }
    }

    /// The profile's session, refreshed first if it is due. Errors of kind
    /// [`ErrorKind::NotLoggedIn`] or [`ErrorKind::Expired`] mean [`Auth::login`] is needed.
    pub async fn session(&self) -> Result<Session, Error> {
        let common = &self.settings.common;
        let secret = self.settings.oidc.client_secret.as_ref();
        crate::current::fresh_session_with(common, secret, &Printer::stderr())
            .await
            .map_err(for_programs)
    }

    /// The access token of [`Auth::session`].
    pub async fn token(&self) -> Result<Token, Error> {
        Ok(self.session().await?.token)
    }

    /// [`Auth::token`], logging in first when there is no session or it is over.
    pub async fn token_or_login(&self) -> Result<Token, Error> {
        match self.token().await {
            Err(e) if e.needs_login() => Ok(self.login().await?.token),
            other => other,
        }
    }

    /// Logs in, showing the URL and code on stderr (and opening the browser where one can be
    /// opened), and saves the session in the store, replacing the previous one only on
    /// success. A second login of the same profile meanwhile, in this process or another,
    /// joins this one instead of starting its own.
    pub async fn login(&self) -> Result<Session, Error> {
        login::run(&self.settings, &*self.opener, &Printer::stderr())
            .await
            .map_err(for_programs)?;
        let opened = self.settings.common.open_store().map_err(for_programs)?;
        let profile = &self.settings.common.profile;
        opened
            .store
            .load(profile)
            .map_err(|e| for_programs(e.into_error(self.settings.common.store)))
    }

    /// Forgets the profile's session (this does not revoke it at the provider). Returns whether
    /// there was one.
    pub fn logout(&self) -> Result<bool, Error> {
        let opened = self.settings.common.open_store().map_err(for_programs)?;
        let profile = &self.settings.common.profile;
        match opened.store.delete(profile) {
            Ok(deleted) => Ok(deleted),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(for_programs(e.into_error(self.settings.common.store))),
        }
    }
}

/// An error for a program that embeds the library: a hint that tells the person to run a
/// `sesame` command or pass one of its flags means nothing to that program's users, so it is
/// replaced by what the program can do, by the error's kind. Other hints (check the network,
/// approve in time) are kept.
fn for_programs(mut e: Error) -> Error {
    let cli_only = e
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("sesame ") || h.contains("--"));
    if !cli_only {
        return e;
    }
    e.hint = match e.kind() {
        ErrorKind::NotLoggedIn | ErrorKind::Expired | ErrorKind::Denied | ErrorKind::TimedOut => {
            Some("Log in again (Auth::login, or Auth::token_or_login).".into())
        }
        ErrorKind::Store if damaged(&e) => {
            Some("Forget the session and log in again (Auth::logout, then Auth::login).".into())
        }
        ErrorKind::Store => Some(
            "Unlock or start the keychain, or choose the file store (AuthBuilder::store).".into(),
        ),
        ErrorKind::Config => Some("Check the settings given to Auth::builder.".into()),
        _ => None,
    };
    e
}

/// Whether `e` comes from a stored session that is not a whole one.
fn damaged(e: &Error) -> bool {
    let source = std::error::Error::source(e);
    source
        .and_then(|s| s.downcast_ref::<StoreError>())
        .is_some_and(|s| matches!(s, StoreError::Damaged { .. }))
}

impl AuthBuilder {
    /// Logs in at an OpenID Connect provider (discovery from
    /// `ISSUER/.well-known/openid-configuration`) as the public client `client_id`: the
    /// browser (authorization code with PKCE on a loopback redirect) where one can be
    /// opened, else the device flow.
    pub fn oidc(mut self, issuer: &str, client_id: &str) -> Self {
        self.issuer = Some(issuer.into());
        self.client_id = Some(client_id.into()).filter(|c: &String| !c.trim().is_empty());
        self
    }

    /// The client secret of a confidential OpenID Connect client, sent to the token endpoint
    /// (on login and on every refresh). It is kept in memory only, never in the store: the
    /// program supplies it each time it builds an [`Auth`].
    pub fn client_secret(mut self, secret: Secret) -> Self {
        self.client_secret = Some(secret).filter(|s| !s.expose().is_empty());
        self
    }

    /// Logs in at a ConsoleMe-compatible challenge server as `user` (by default the OS user).
    pub fn challenge(mut self, server: &str) -> Self {
        self.server = Some(server.into());
        self
    }

    /// The user to log in as, for a challenge server.
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The profile, for keeping several sessions apart (default `default`).
    pub fn profile(mut self, profile: &str) -> Self {
        self.profile = profile.into();
        self
    }

    /// Where sessions are kept (default: the OS keychain, or owner-only files where there is
    /// none).
    pub fn store(mut self, store: StoreKind) -> Self {
        self.store = store;
        self
    }

    /// The directory for session files, locks and pending logins, instead of the platform's
    /// data directory for the app.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The OAuth scopes to ask for (default `openid offline_access`).
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How to log in (default [`FlowChoice::Auto`]).
    pub fn flow(mut self, flow: FlowChoice) -> Self {
        self.flow = flow;
        self
    }

    /// The loopback callback's port (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// How long a login waits for approval (default 120 s; 1 s to a day).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Never open a browser: show the URL (and a device code) to open elsewhere.
    pub fn no_browser(mut self) -> Self {
        self.no_browser = true;
        self
    }

    /// Allow plain http to a server that is not on this machine (https otherwise).
    pub fn allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Checks every value; errors are of kind [`ErrorKind::Config`].
    pub fn build(self) -> Result<Auth, Error> {
        self.build_with(Arc::new(SystemBrowser))
    }

    /// [`AuthBuilder::build`] with another way to open a URL than the system's browser.
    pub fn build_with(self, opener: Arc<dyn Opener>) -> Result<Auth, Error> {
        self.check_names_and_timeout()?;
        let (server, issuer) = self.targets()?;
        let user = match self.user.or_else(crate::settings::os_user) {
            Some(u) => Some(UserName::new(&u).map_err(|e| {
                Error::usage(format!("Cannot log in as that user: {e}."))
                    .hint("Pass the user name with .user(NAME).")
            })?),
            None => None,
        };
        let data_dir = match self.data_dir {
            Some(d) => d,
            None => directories::ProjectDirs::from("", "", &self.app)
                .map(|d| d.data_dir().to_path_buf())
                .ok_or_else(|| {
                    Error::other("Could not find a home directory for the session files.")
                        .hint("Set HOME, or give the builder a .data_dir(DIR).")
                })?,
        };
        let common = Common {
            profile: self.profile,
            store: self.store,
            paths: Paths {
                config_file: PathBuf::new(),
                data_dir,
            },
            config: ProfileConfig::default(),
            keychain: Keychain {
                service: self.app,
                timeout: Duration::from_secs(10),
            },
            refresh_skew: DEFAULT_REFRESH_SKEW,
        };
        let settings = LoginSettings {
            common,
            server,
            user,
            no_browser: self
                .no_browser
                .then(|| "this program opens no browser".to_owned()),
            timeout: self.timeout,
            poll_interval: Duration::from_secs(2),
            allow_http: self.allow_http,
            port: self.port,
            qr: None,
            with_token: false,
            flow: self.flow,
            oidc: OidcSettings {
                issuer,
                client_id: self.client_id,
                client_secret: self.client_secret,
                remember_secret: false,
                scopes: self.scopes,
                extra: Vec::new(),
                endpoints: Default::default(),
            },
            direct: DirectSettings::default(),
            demo: false,
        };
        Ok(Auth {
            settings: Arc::new(settings),
            opener,
        })
    }

    /// Checks the app name, the profile name and the timeout.
    fn check_names_and_timeout(&self) -> Result<(), Error> {
        validate_profile(&self.app).map_err(|_| {
            Error::usage(format!(
                "Invalid app name {:?}: use letters, digits, '-', '_' and '.' (at most 64).",
                self.app
            ))
        })?;
        validate_profile(&self.profile)?;
        let (lo, hi) = limits::TIMEOUT_SECS;
        if !(lo..=hi).contains(&self.timeout.as_secs()) {
            return Err(Error::usage(format!(
                "A login timeout of {:?} is out of range: use {lo} to {hi} seconds.",
                self.timeout
            )));
        }
        Ok(())
    }

    /// What to log in to, each URL checked: the challenge server and the OIDC issuer, at least
    /// one of them.
    fn targets(&self) -> Result<(Option<Url>, Option<Url>), Error> {
        let config = |e: Error| e.kind_of(ErrorKind::Config);
        // An empty value (an unset variable passed through) is no value.
        let url = |u: &Option<String>| {
            u.as_deref()
                .filter(|u| !u.trim().is_empty())
                .map(|u| crate::http::check_server_url(u, self.allow_http))
                .transpose()
        };
        let server = url(&self.server).map_err(config)?;
        let issuer = url(&self.issuer).map_err(config)?;
        if server.is_none() && issuer.is_none() {
            return Err(Error::usage(
                "Nothing to log in to: give an OpenID Connect issuer or a challenge server.",
            )
            .hint("Call .oidc(issuer, client_id) or .challenge(server) before .build()."));
        }
        Ok((server, issuer))
    }
}
