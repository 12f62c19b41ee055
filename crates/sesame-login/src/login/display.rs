//! Showing a login to the person: the URL on a line of its own, the verification code, a QR
//! code where a phone can use it, the browser opened (or why not), and, once the login is
//! decided, a moment for a browser that is on its way back to the loopback callback.

use crate::browser::{self, Opener};
use crate::clock::unix_seconds;
use crate::flows::callback::Callback;
use crate::http;
use crate::output::{Printer, qr_code};
use crate::pending;
use crate::settings::LoginSettings;
use std::time::{Duration, SystemTime};
use url::Url;

/// How long a finished login waits for a browser that was sent to the callback.
pub(super) const LINGER: Duration = Duration::from_secs(3);

pub(super) async fn linger(callback: &Callback, browser_expected: bool) {
    if callback.received() || browser_expected {
        callback.linger(LINGER).await;
    }
}

/// The browser tab of a login, waiting on the loopback callback for the outcome page.
pub(super) struct Tab {
    pub(super) callback: Callback,
    /// Whether the browser was sent back to the callback (then the page waits for it).
    pub(super) browser_expected: bool,
}

impl Tab {
    /// Gives the browser its page, waiting a little for one that is on its way back.
    pub(super) async fn show(&self, page: crate::flows::callback::Page) {
        self.callback.finish(page);
        linger(&self.callback, self.browser_expected).await;
    }
}

/// What the person is shown besides the URL.
pub struct Shown<'a> {
    /// The verification code to compare or enter (already display-safe).
    pub code: Option<&'a str>,
    /// The user the server will log in: the challenge flow names one; an OAuth provider
    /// decides for itself, so there the OS user would mean nothing.
    pub user: Option<&'a str>,
    /// Whether the URL may be opened on another device (a phone): then a QR code helps.
    pub any_device: bool,
}

/// Shows the URL (on a line of its own, so terminals can click it), the verification code and,
/// where useful, a QR code; then opens the browser.
pub fn show(
    settings: &LoginSettings,
    printer: &Printer,
    opener: &dyn Opener,
    url: &Url,
    shown: Shown<'_>,
    owner: &mut pending::Owner,
) -> bool {
    let Shown {
        code,
        user,
        any_device,
    } = shown;
    owner.publish(
        url,
        code,
        unix_seconds(SystemTime::now()).saturating_add(settings.timeout.as_secs() as i64),
    );
    let opened = match &settings.no_browser {
        None => opener.open(url),
        Some(why) => Err(why.clone()),
    };
    let who = user.map(|u| format!(" as {u}")).unwrap_or_default();
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
