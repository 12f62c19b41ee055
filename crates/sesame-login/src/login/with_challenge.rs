//! The ConsoleMe/Weep challenge flow at the terminal: request the challenge, show the URL, code
//! and QR, open the browser, wait with a spinner (the loopback callback cutting the wait short),
//! and save the session. The previous session is replaced only by a new one: failure or Ctrl-C
//! leaves it as it was.

use super::display::{Shown, Tab, show};
use super::save::Obtained;
use crate::browser::Opener;
use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::error::Error;
use crate::flows::callback::{Callback, Page};
use crate::flows::challenge::{self, CallbackParams, PollSettings};
use crate::http;
use crate::jwt;
use crate::login_error::LoginError;
use crate::output::{Printer, WaitDisplay};
use crate::pending;
use crate::protocol::Approval;
use crate::session::{Flow, Session, UserName};
use crate::settings::LoginSettings;
use std::sync::Arc;
use tokio::sync::Notify;
use url::Url;

/// The challenge flow at the terminal.
pub(super) async fn run(
    settings: &LoginSettings,
    opener: &dyn Opener,
    printer: &Printer,
    owner: &mut pending::Owner,
) -> Result<Obtained, Error> {
    let (server, user) = target(settings)?;
    let mut ctrl_c = crate::interrupt::CtrlC::install();
    let client = http::client_for(&server)?;
    let clock = SystemClock;

    // The loopback callback only helps a browser on this machine: a URL opened on a phone
    // cannot reach it, so then the server shows its own outcome page instead.
    let mut callback = if settings.no_browser.is_none() && opener.can_open() {
        Some(Callback::bind(settings.port).await?)
    } else {
        None
    };
    let params = callback.as_ref().map(|cb| CallbackParams {
        redirect_uri: cb.redirect_uri().clone(),
        state: cb.state().to_string(),
    });
    let challenge = tokio::select! {
        r = challenge::request(&client, &clock, &server, &user, params.as_ref(), settings.timeout) => r?,
        _ = ctrl_c.wait() => return Err(Error::interrupted()),
    };
    let url = &challenge.challenge_url;
    let code = challenge.user_code.as_ref().map(crate::text::Shown::as_str);
    let shown = Shown {
        code,
        user: Some(&user),
        any_device: true,
    };
    let browser_opened = show(settings, printer, opener, url, shown, owner);
    let browser_expected = browser_opened && challenge.callback;

    let waiting = Waiting {
        client: &client,
        clock: &clock,
        challenge: &challenge,
        settings,
        printer,
    };
    let approval = match waiting.wait(&mut callback, &mut ctrl_c, &user).await {
        Ok(a) => a,
        Err(Ended::Interrupted) => return Err(Error::interrupted()),
        Err(Ended::Failed(e)) => {
            let page = match &e {
                LoginError::Denied => Page::Denied,
                other => Page::Failed {
                    message: Error::from(other.clone()).message,
                },
            };
            finish(callback, page, browser_expected).await;
            return Err(e.into());
        }
    };

    let session = session_from(
        approval,
        settings,
        &server,
        &user,
        unix_seconds(clock.now()),
    );
    // The browser learns the outcome once the session is saved, so "Signed in" is true.
    let tab = callback.map(|callback| Tab {
        callback,
        browser_expected,
    });
    Ok(Obtained { session, tab })
}

/// The server and the user to log in as.
fn target(settings: &LoginSettings) -> Result<(Url, UserName), Error> {
    let server = settings.server.clone().ok_or_else(|| {
        Error::usage("The challenge flow needs a server.")
            .hint("Pass --server URL, set SESAME_SERVER, or set `server` in the profile's config.")
    })?;
    let user = settings.user.clone().ok_or_else(|| {
        Error::usage("Could not tell which user to log in as.")
            .hint("Pass --user NAME, or set `user` in the profile's config.")
    })?;
    Ok((server, user))
}

/// How the wait for a decision ended, when not with an approval.
enum Ended {
    Interrupted,
    Failed(LoginError),
}

/// What the wait for a decision needs.
struct Waiting<'a> {
    client: &'a reqwest::Client,
    clock: &'a SystemClock,
    challenge: &'a challenge::Challenge,
    settings: &'a LoginSettings,
    printer: &'a Printer,
}

impl Waiting<'_> {
    /// Polls (long-polling where the server offers it) with a spinner until a decision, the
    /// deadline or Ctrl-C. The callback only wakes the poller: whichever of the two sees the
    /// decision first wins, and against a server that does not redirect (ConsoleMe) polling
    /// alone completes.
    async fn wait(
        &self,
        callback: &mut Option<Callback>,
        ctrl_c: &mut crate::interrupt::CtrlC,
        user: &str,
    ) -> Result<Approval, Ended> {
        let timeout = self.settings.timeout;
        let deadline = self.clock.now() + timeout;
        let display = WaitDisplay::start(
            self.printer,
            format!("Waiting for {user} to approve in the browser"),
            deadline,
        );
        let poll = PollSettings {
            deadline,
            interval: self.settings.poll_interval,
        };
        let wake = Arc::new(Notify::new());
        let forward = async {
            if let Some(cb) = callback.as_mut() {
                while cb.next().await.is_some() {
                    wake.notify_one();
                }
            }
            std::future::pending::<()>().await
        };
        let (client, clock, challenge) = (self.client, self.clock, self.challenge);
        let outcome = tokio::select! {
            r = challenge::wait(client, clock, &display, challenge, poll, Some(&wake)) => r,
            () = forward => Err(LoginError::Protocol("the callback stopped".into())),
            _ = ctrl_c.wait() => {
                display.interrupted();
                return Err(Ended::Interrupted);
            }
        };
        display.finish();
        outcome.map_err(|e| {
            Ended::Failed(match e {
                LoginError::TimedOut(_) => LoginError::TimedOut(timeout),
                other => other,
            })
        })
    }
}

fn session_from(
    approval: Approval,
    settings: &LoginSettings,
    server: &Url,
    user: &UserName,
    now: i64,
) -> Session {
    let expires_at = approval
        .expiration
        .or_else(|| jwt::expiry(approval.jwt.expose()));
    Session {
        cookie_name: approval.cookie_name,
        expires_at,
        demo: settings.demo,
        ..Session::new(
            &settings.common.profile,
            server.to_string(),
            approval.user.unwrap_or_else(|| user.clone()),
            Flow::Challenge,
            approval.jwt,
            now,
        )
    }
}

/// Gives the browser its page, waiting a little for one that is on its way back.
async fn finish(callback: Option<Callback>, page: Page, browser_expected: bool) {
    if let Some(callback) = callback {
        let tab = Tab {
            callback,
            browser_expected,
        };
        tab.show(page).await;
    }
}
