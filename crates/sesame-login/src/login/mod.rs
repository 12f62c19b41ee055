//! The login driver: what every flow shares. It makes this login the profile's one pending
//! login (or joins the one under way), chooses the flow, and hands it the terminal; each flow
//! at the terminal (`with_challenge`, `with_oidc`, `with_credentials`) returns the session it
//! obtained, showing the URL and code through `display`, and the driver saves it (`save`).
//! The protocols themselves are in `crate::flows` and `crate::oidc`.
//!
//! Dependencies run one way: `commands` → `login` → `flows` → `oidc`/`protocol`/`http`/`store`.

mod display;
mod prompt;
mod save;
mod with_challenge;
mod with_credentials;
mod with_oidc;

use crate::browser::{self, Opener};
use crate::config::FlowChoice;
use crate::error::Error;
use crate::login_error::LoginError;
use crate::output::{Printer, WaitDisplay};
use crate::pending::{self, Claim, Joining};
use crate::session::{self, Session};
use crate::settings::LoginSettings;
use crate::store::TokenStore;
use std::time::SystemTime;

/// Logs in as `settings` say and saves the session: `--with-token` and `--api-key` first, then the
/// chosen flow. A login that waits for approval joins one already under way for the profile instead
/// of starting a second. Every flow returns the session it obtained; this is the one place that
/// opens the store (before anyone types a password or approves anything, so a missing keychain
/// is known first) and saves.
pub async fn run(
    settings: &LoginSettings,
    opener: &dyn Opener,
    printer: &Printer,
) -> Result<(), Error> {
    let flow = choose_flow(settings, printer)?;
    tracing::debug!(
        "flow: {} (--flow {:?}; server {}, issuer {}, login-url {})",
        flow.name(),
        settings.flow,
        settings.server.is_some(),
        settings.oidc.issuer.is_some(),
        settings.direct.json_api.is_some()
    );
    if settings.direct.password_stdin && flow.waits_for_approval() {
        return Err(Error::usage(
            "--password-stdin is for password and basic logins; this profile logs in through a browser approval.",
        )
        .hint("Drop --password-stdin, or choose --flow password / --flow basic."));
    }
    let opened = save::open_for_saving(&settings.common, printer)?;
    let store = &*opened.store;
    if flow.waits_for_approval() {
        return approved(settings, flow, opener, printer, store).await;
    }
    // Direct credentials wait for no one's approval: no pending login to claim or join.
    let session = direct(settings, flow, store, printer).await?;
    save::save(store, &session, settings, printer)
}

/// A flow that waits for an approval, as the profile's one pending login (or joining the one
/// under way).
async fn approved(
    settings: &LoginSettings,
    flow: Flow<'_>,
    opener: &dyn Opener,
    printer: &Printer,
    store: &dyn TokenStore,
) -> Result<(), Error> {
    let common = &settings.common;
    let purpose = purpose(settings, &flow);
    let mut owner = match pending::claim(&common.paths.data_dir, &common.profile, &purpose)? {
        Claim::Owner(owner) => owner,
        Claim::Busy(busy) => {
            let mut ctrl_c = crate::interrupt::CtrlC::install();
            let joining = tokio::select! {
                j = busy.join() => j?,
                _ = ctrl_c.wait() => return Err(Error::interrupted()),
            };
            match joining {
                Joining::Owner(owner) => owner,
                Joining::Joined(joined) => return join(settings, &joined, printer).await,
            }
        }
    };
    let obtained = match flow {
        Flow::Challenge => with_challenge::run(settings, opener, printer, &mut owner).await,
        _ => with_oidc::run(settings, flow.recorded(), opener, printer, &mut owner).await,
    };
    let result = match obtained {
        Ok(obtained) => obtained.save(store, settings, printer).await,
        Err(e) => Err(e),
    };
    owner.finish(&result);
    result
}

/// What a pending login is for, in words: a second login joins the first only if they match.
fn purpose(settings: &LoginSettings, flow: &Flow<'_>) -> String {
    let shown = |u: Option<&url::Url>| u.map(url::Url::to_string).unwrap_or_default();
    match flow {
        Flow::Challenge => format!(
            "challenge login as {} on {}",
            settings.user.as_deref().unwrap_or_default(),
            shown(settings.server.as_ref())
        ),
        _ => format!(
            "{} login at {} (client {})",
            flow.name(),
            shown(settings.oidc.issuer.as_ref()),
            settings.oidc.client_id.as_deref().unwrap_or_default()
        ),
    }
}

/// The session a direct flow obtains, for [`run`] to save.
async fn direct(
    settings: &LoginSettings,
    flow: Flow<'_>,
    store: &dyn TokenStore,
    printer: &Printer,
) -> Result<Session, Error> {
    match flow {
        Flow::WithToken => save::with_token(settings, printer),
        Flow::ApiKey => with_credentials::api_key(settings),
        Flow::Json(api) => with_credentials::json_login(settings, api, printer).await,
        Flow::OAuthPassword => with_credentials::oauth_password(settings, printer).await,
        Flow::ClientCredentials => with_credentials::client_credentials(settings, store).await,
        Flow::Basic => with_credentials::basic(settings),
        Flow::Challenge | Flow::Browser | Flow::Device => Err(Error::other(format!(
            "the {} flow waits for an approval",
            flow.name()
        ))),
    }
}

/// Another login for this profile is waiting for approval: show what it shows, open no
/// browser (one tab is enough), and end as it ends.
async fn join(
    settings: &LoginSettings,
    joined: &pending::Joined,
    printer: &Printer,
) -> Result<(), Error> {
    let mut ctrl_c = crate::interrupt::CtrlC::install();
    let info = &joined.info;
    let profile = &settings.common.profile;
    printer.info(&format!(
        "Another sesame login for profile {profile} is already waiting for approval (process {}); joining it instead of starting a second one.",
        info.pid
    ));
    if let Some(url) = &info.url {
        printer.info("To approve, open this URL (unless you already have):");
        printer.info("");
        printer.info(crate::text::Shown::new(url, 2048).as_str());
        printer.info("");
    }
    if let Some(code) = &info.code {
        printer.info(&format!(
            "Verification code: {}  (check that the page shows the same code)",
            printer.bold(crate::text::Shown::new(code, 64).as_str())
        ));
        printer.info("");
    }
    let deadline = SystemTime::now() + settings.timeout;
    let display = WaitDisplay::start(
        printer,
        "Waiting for the login it joined".to_string(),
        deadline,
    );
    let outcome = tokio::select! {
        r = joined.outcome() => r,
        _ = tokio::time::sleep(settings.timeout) => Err(LoginError::TimedOut(settings.timeout).into()),
        _ = ctrl_c.wait() => {
            display.interrupted();
            return Err(Error::interrupted());
        }
    };
    display.finish();
    outcome?;
    let opened = settings.common.open_store()?;
    let session = opened
        .store
        .load(profile)
        .map_err(|e| e.into_error(settings.common.store))?;
    printer.success(&format!(
        "Logged in as {} (profile {profile}, by the login this one joined); saved in {}.",
        session.user,
        opened.store.describe(profile)
    ));
    Ok(())
}

/// `auto`: challenge when the profile names a challenge server; for an issuer, the browser flow
/// when a browser can be opened, else the device flow, saying which and why.
fn choose_flow<'s>(settings: &'s LoginSettings, printer: &Printer) -> Result<Flow<'s>, Error> {
    if settings.with_token {
        return Ok(Flow::WithToken);
    }
    if settings.direct.api_key {
        return Ok(Flow::ApiKey);
    }
    let has_oidc = settings.oidc.issuer.is_some();
    match settings.flow {
        FlowChoice::Challenge => Ok(Flow::Challenge),
        FlowChoice::Browser => Ok(Flow::Browser),
        FlowChoice::Device => Ok(Flow::Device),
        FlowChoice::Password if let Some(api) = &settings.direct.json_api => {
            Ok(Flow::Json(api))
        }
        FlowChoice::Password
            if settings.oidc.issuer.is_some() || settings.oidc.endpoints.token.is_some() =>
        {
            Ok(Flow::OAuthPassword)
        }
        FlowChoice::Password => Err(Error::usage(
            "--flow password needs a JSON login API (`login-url` in the profile) or an OAuth provider (--issuer or --token-endpoint).",
        )
        .hint("See docs/direct-login.md for worked profiles.")),
        FlowChoice::ClientCredentials => Ok(Flow::ClientCredentials),
        FlowChoice::Basic => Ok(Flow::Basic),
        FlowChoice::Auto if settings.server.is_some() => Ok(Flow::Challenge),
        FlowChoice::Auto if let Some(api) = &settings.direct.json_api => {
            Ok(Flow::Json(api))
        }
        FlowChoice::Auto if has_oidc => {
            let reason = settings.no_browser.clone().or_else(|| {
                browser::no_browser_reason(&crate::settings::process_env)
            });
            Ok(match reason {
                None => {
                    printer.info("Using the browser flow (a browser can be opened here; the device flow gives a code to enter elsewhere).");
                    Flow::Browser
                }
                Some(why) => {
                    printer.info(&format!(
                        "Using the device flow: {why}, so the browser flow's redirect to this machine could not complete."
                    ));
                    Flow::Device
                }
            })
        }
        FlowChoice::Auto => Err(Error::usage("No server or issuer to log in to.").hint(
            "Pass --server URL (a ConsoleMe-style challenge server) or --issuer URL --client-id ID (OpenID Connect), or set them in the profile's config. To see sesame work locally, run `sesame demo`.",
        )),
    }
}

/// The flow a login runs: `--flow` with `auto` resolved. What it records in the session is
/// [`session::Flow`](crate::session::Flow) ([`Flow::recorded`]).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Flow<'s> {
    /// The ConsoleMe/Weep challenge, approved in a browser.
    Challenge,
    /// Authorization code with PKCE on the loopback redirect.
    Browser,
    /// Device authorization (RFC 8628).
    Device,
    /// `--with-token`: a token from stdin.
    WithToken,
    /// `--api-key`: an API key from stdin or a prompt.
    ApiKey,
    /// A JSON login API (`login-url`).
    Json(&'s crate::json_api::JsonApi),
    /// The OAuth resource-owner password grant.
    OAuthPassword,
    /// OAuth client credentials.
    ClientCredentials,
    /// A user name and password kept for HTTP Basic.
    Basic,
}

impl Flow<'_> {
    fn name(&self) -> &'static str {
        match self {
            Flow::Json(_) => "password (JSON login API)",
            Flow::OAuthPassword => "password (OAuth password grant)",
            other => match other.recorded() {
                session::Flow::Challenge => "challenge",
                session::Flow::Browser => "browser",
                session::Flow::Device => "device",
                session::Flow::WithToken => "with-token",
                session::Flow::ApiKey => "api-key",
                session::Flow::Password => "password",
                session::Flow::ClientCredentials => "client-credentials",
                session::Flow::Basic => "basic",
            },
        }
    }

    /// What the session records about how it was obtained.
    fn recorded(&self) -> session::Flow {
        match self {
            Flow::Challenge => session::Flow::Challenge,
            Flow::Browser => session::Flow::Browser,
            Flow::Device => session::Flow::Device,
            Flow::WithToken => session::Flow::WithToken,
            Flow::ApiKey => session::Flow::ApiKey,
            Flow::Json(_) | Flow::OAuthPassword => session::Flow::Password,
            Flow::ClientCredentials => session::Flow::ClientCredentials,
            Flow::Basic => session::Flow::Basic,
        }
    }

    /// Whether someone approves in a browser while sesame waits: one pending login per
    /// profile. The other flows take credentials typed or piped in; nobody else takes part.
    fn waits_for_approval(&self) -> bool {
        matches!(self, Flow::Challenge | Flow::Browser | Flow::Device)
    }
}
