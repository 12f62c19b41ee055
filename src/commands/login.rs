//! `sesame login`: the challenge flow at the terminal. Opens the store first (so a missing
//! keychain is known before anyone approves anything), requests the challenge, shows the URL,
//! code and QR, opens the browser, waits with a spinner, and saves the session. The previous
//! session is replaced only by a new one: failure or Ctrl-C leaves it as it was.

use super::open_store_for_saving;
use crate::browser::{self, Opener};
use crate::cli::FlowChoice;
use crate::clock::{Clock, SystemClock, human_duration, unix_seconds};
use crate::error::Error;
use crate::flows::LoginError;
use crate::flows::callback::{Callback, Page};
use crate::flows::challenge::{self, CallbackParams, PollSettings};
use crate::http;
use crate::jwt;
use crate::output::{Printer, WaitDisplay, qr_code};
use crate::pending::{self, Claim, Joining};
use crate::secret::Secret;
use crate::session::{FORMAT_VERSION, Flow, Session};
use crate::settings::LoginSettings;
use crate::store::TokenStore;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use url::Url;

/// How long a finished login waits for a browser that was sent to the callback.
pub(super) const LINGER: Duration = Duration::from_secs(3);

pub async fn run(
    settings: &LoginSettings,
    opener: &dyn Opener,
    printer: &Printer,
) -> Result<(), Error> {
    if settings.with_token {
        return with_token(settings, printer);
    }
    let flow = choose_flow(settings, printer)?;
    let common = &settings.common;
    let mut owner = match pending::claim(&common.paths.data_dir, &common.profile)? {
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
    let result = if flow == FlowChoice::Challenge {
        challenge_login(settings, opener, printer, &mut owner).await
    } else {
        super::login_oauth::run(settings, flow, opener, printer, &mut owner).await
    };
    owner.finish(&result);
    result
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
        printer.info(url);
        printer.info("");
    }
    if let Some(code) = &info.code {
        printer.info(&format!(
            "Verification code: {}  (check that the page shows the same code)",
            printer.bold(code)
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
    let opened = super::open_store(&settings.common)?;
    let session = opened
        .store
        .load(profile)
        .map_err(|e| super::store_error(settings.common.store, e))?;
    printer.success(&format!(
        "Logged in as {} (profile {profile}, by the login this one joined); saved in {}.",
        session.user,
        opened.store.describe(profile)
    ));
    Ok(())
}

/// The challenge flow at the terminal.
async fn challenge_login(
    settings: &LoginSettings,
    opener: &dyn Opener,
    printer: &Printer,
    owner: &mut pending::Owner,
) -> Result<(), Error> {
    let server = settings.server.clone().ok_or_else(|| {
        Error::usage("The challenge flow needs a server.")
            .hint("Pass --server URL, set SESAME_SERVER, or set `server` in the profile's config.")
    })?;
    let user = settings.user.clone().ok_or_else(|| {
        Error::usage("Could not tell which user to log in as.")
            .hint("Pass --user NAME, or set `user` in the profile's config.")
    })?;
    let opened = open_store_for_saving(&settings.common, printer)?;
    let mut ctrl_c = crate::interrupt::CtrlC::install();
    let client = http::client_for(&server)?;
    let clock = SystemClock;

    // The loopback callback only helps a browser on this machine: a URL opened on a phone
    // cannot reach it, so then the server shows its own outcome page instead.
    let mut callback = if settings.open_browser && opener.can_open() {
        Some(Callback::bind(settings.port).await?)
    } else {
        None
    };
    let params = callback.as_ref().map(|cb| CallbackParams {
        redirect_uri: cb.redirect_uri().clone(),
        state: cb.state().to_string(),
    });
    let challenge = tokio::select! {
        r = challenge::request(&client, &server, &user, params.as_ref()) => r?,
        _ = ctrl_c.wait() => return Err(Error::interrupted()),
    };
    let browser_opened = present(
        settings,
        printer,
        opener,
        &challenge.challenge_url,
        challenge.user_code.as_deref(),
        true,
        owner,
    );

    let deadline = clock.now() + settings.timeout;
    let display = WaitDisplay::start(
        printer,
        format!("Waiting for {user} to approve in the browser"),
        deadline,
    );
    let poll = PollSettings {
        deadline,
        interval: settings.poll_interval,
    };
    let wake = Arc::new(Notify::new());
    // The callback only wakes the poller: whichever of the two sees the decision first wins,
    // and against a server that does not redirect (ConsoleMe) polling alone completes.
    let forward = async {
        if let Some(cb) = callback.as_mut() {
            while cb.next().await.is_some() {
                wake.notify_one();
            }
        }
        std::future::pending::<()>().await
    };
    let outcome = tokio::select! {
        r = challenge::wait(&client, &clock, &display, &challenge, poll, Some(&wake)) => r,
        _ = forward => unreachable!("forwarding never ends"),
        _ = ctrl_c.wait() => {
            display.interrupted();
            finish(&callback, Page::Failed { message: "The login was interrupted in the terminal.".into() }, false).await;
            return Err(Error::interrupted());
        }
    };
    display.finish();
    let outcome = outcome.map_err(|e| match e {
        LoginError::TimedOut(_) => LoginError::TimedOut(settings.timeout),
        other => other,
    });
    let browser_expected = browser_opened && challenge.callback;
    let approval = match outcome {
        Ok(a) => a,
        Err(e) => {
            let page = match &e {
                LoginError::Denied => Page::Denied,
                other => Page::Failed {
                    message: Error::from(other.clone()).message,
                },
            };
            finish(&callback, page, browser_expected).await;
            return Err(e.into());
        }
    };

    let now = unix_seconds(clock.now());
    let expires_at = approval
        .expiration
        .or_else(|| jwt::expiry(approval.jwt.expose()));
    let session = Session {
        version: FORMAT_VERSION,
        profile: settings.common.profile.clone(),
        server: server.to_string(),
        user: approval.user.clone().unwrap_or_else(|| user.clone()),
        flow: Flow::Challenge,
        token: approval.jwt,
        cookie_name: approval.cookie_name,
        expires_at,
        obtained_at: now,
        refresh_token: None,
        id_token: None,
        oauth: None,
        demo: settings.demo,
    };
    // The browser learns the outcome once the session is saved, so "Signed in" is true.
    let saved = save(&*opened.store, &session, settings, printer);
    let page = match &saved {
        Ok(()) => Page::SignedIn {
            user: session.user.clone(),
        },
        Err(e) => Page::Failed {
            message: e.message.clone(),
        },
    };
    finish(&callback, page, browser_expected).await;
    saved
}

/// Gives the browser its page, waiting a little for one that is on its way back.
async fn finish(callback: &Option<Callback>, page: Page, browser_expected: bool) {
    if let Some(cb) = callback {
        cb.finish(page);
        linger(cb, browser_expected).await;
    }
}

/// `auto`: challenge when the profile names a challenge server; for an issuer, the browser flow
/// when a browser can be opened, else the device flow, saying which and why.
fn choose_flow(settings: &LoginSettings, printer: &Printer) -> Result<FlowChoice, Error> {
    let has_oidc = settings.oidc.issuer.is_some();
    match settings.flow {
        FlowChoice::Auto if settings.server.is_some() => Ok(FlowChoice::Challenge),
        FlowChoice::Auto if has_oidc => {
            let reason = if settings.open_browser {
                browser::no_browser_reason(&crate::settings::process_env)
            } else {
                Some("--no-browser was given".into())
            };
            Ok(match reason {
                None => {
                    printer.info("Using the browser flow (a browser can be opened here; --flow device for a code to enter elsewhere).");
                    FlowChoice::Browser
                }
                Some(why) => {
                    printer.info(&format!(
                        "Using the device flow: {why}, so the browser flow's redirect to this machine could not complete."
                    ));
                    FlowChoice::Device
                }
            })
        }
        FlowChoice::Auto => Err(Error::usage("No server or issuer to log in to.").hint(
            "Pass --server URL (a ConsoleMe-style challenge server) or --issuer URL --client-id ID (OpenID Connect), or set them in the profile's config. To see sesame work locally, run `sesame demo`.",
        )),
        other => Ok(other),
    }
}

pub(super) async fn linger(callback: &Callback, browser_expected: bool) {
    if callback.received() || browser_expected {
        callback.linger(LINGER).await;
    }
}

/// Shows the URL (on a line of its own, so terminals can click it), the verification code and,
/// where useful, a QR code; then opens the browser.
pub fn present(
    settings: &LoginSettings,
    printer: &Printer,
    opener: &dyn Opener,
    url: &Url,
    code: Option<&str>,
    any_device: bool,
    owner: &mut pending::Owner,
) -> bool {
    owner.publish(
        url,
        code,
        unix_seconds(SystemTime::now()).saturating_add(settings.timeout.as_secs() as i64),
    );
    let opened = if settings.open_browser {
        opener.open(url)
    } else {
        Err("--no-browser was given".to_string())
    };
    let who = settings
        .user
        .as_ref()
        .filter(|_| any_device)
        .map(|u| format!(" as {u}"))
        .unwrap_or_default();
    // A loopback URL (a server on this machine) cannot be opened on a phone: no QR code, and
    // say where it works.
    let any_device = any_device && !http::is_loopback(url);
    let where_ = if any_device {
        "a browser on any device"
    } else {
        "a browser on this machine"
    };
    match &opened {
        Ok(()) => printer.info(&format!(
            "Opened your browser to approve the login{who}. If it did not open, visit:"
        )),
        Err(why) => printer.info(&format!(
            "No browser was opened ({why}). To log in{who}, open this URL in {where_}:"
        )),
    }
    printer.info("");
    printer.info(url.as_str());
    printer.info("");
    if let Some(code) = code {
        printer.info(&format!(
            "Verification code: {}  (check that the page shows the same code)",
            printer.bold(code)
        ));
        printer.info("");
    }
    let want_qr = any_device
        && settings
            .qr
            .unwrap_or(opened.is_err() && browser::stdout_is_terminal());
    if want_qr && let Some(qr) = qr_code(url.as_str()) {
        // On stdout: it is for the eyes of whoever looks at the terminal, and
        // --qr/--no-qr decides on it by whether stdout is one.
        let _ = crate::output::stdout(&format!("{qr}\n"));
    }
    if let Some(prompt) = opener.prompt() {
        printer.info(&prompt);
        printer.info("");
    }
    opened.is_ok()
}

pub(super) fn save(
    store: &dyn TokenStore,
    session: &Session,
    settings: &LoginSettings,
    printer: &Printer,
) -> Result<(), Error> {
    store.save(session).map_err(|e| {
        super::store_error(settings.common.store, e)
            .hint("The login succeeded but the session could not be saved; the previous session, if any, is unchanged. Fix the store (or pick another with --store) and log in again.")
    })?;
    let expiry = match session.expires_at {
        Some(e) => format!(
            "expires in {}",
            human_duration(Duration::from_secs(
                e.saturating_sub(unix_seconds(SystemTime::now())).max(0) as u64
            ))
        ),
        None => "expiry unknown".into(),
    };
    let server = if session.server.is_empty() {
        String::new()
    } else {
        format!(" on {}", session.server)
    };
    printer.success(&format!(
        "Logged in as {}{server} (profile {}, {expiry}); saved in {}.",
        session.user,
        session.profile,
        store.describe(&session.profile)
    ));
    Ok(())
}

/// `--with-token`: a token from stdin becomes the profile's session, for CI and for servers that
/// hand out tokens another way. Never from argv, where other users can read it.
fn with_token(settings: &LoginSettings, printer: &Printer) -> Result<(), Error> {
    let opened = open_store_for_saving(&settings.common, printer)?;
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        printer.info("Paste the token, then press Enter and Ctrl-D:");
    }
    let mut input = String::new();
    std::io::stdin()
        .take(1024 * 1024)
        .read_to_string(&mut input)
        .map_err(|e| Error::other(format!("Could not read the token from stdin: {e}")))?;
    let token = input.trim();
    if token.is_empty() {
        return Err(Error::usage("No token on stdin.")
            .hint("Pipe it in: `printf %s \"$TOKEN\" | sesame login --with-token`."));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::usage(
            "The token on stdin contains spaces or line breaks; expected a single token.",
        ));
    }
    let now = unix_seconds(SystemTime::now());
    let expires_at = jwt::expiry(token);
    if expires_at.is_some_and(|e| e <= now) {
        return Err(
            Error::usage("That token has already expired (its `exp` is in the past).")
                .hint("Get a fresh token, or run `sesame login`."),
        );
    }
    let session = Session {
        version: FORMAT_VERSION,
        profile: settings.common.profile.clone(),
        server: settings
            .server
            .as_ref()
            .map(Url::to_string)
            .unwrap_or_default(),
        user: jwt::subject(token)
            .or_else(|| settings.user.clone())
            .unwrap_or_default(),
        flow: Flow::WithToken,
        token: Secret::new(token),
        cookie_name: None,
        expires_at,
        obtained_at: now,
        refresh_token: None,
        id_token: None,
        oauth: None,
        demo: settings.demo,
    };
    save(&*opened.store, &session, settings, printer)
}
