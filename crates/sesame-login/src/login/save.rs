//! Saving the session a flow obtained (the one place a login saves), and `--with-token`,
//! which makes one from stdin.

use super::display::Tab;
use crate::clock::{human_duration, unix_seconds};
use crate::error::Error;
use crate::flows::callback::Page;
use crate::jwt;
use crate::output::Printer;
use crate::secret::Token;
use crate::session::{Flow, Session, UserName};
use crate::settings::{Common, LoginSettings};
use crate::store::{Opened, TokenStore};
use std::io::Read;
use std::time::{Duration, SystemTime};
use url::Url;

/// Opens the store a login will save into, before anyone approves anything (so a missing
/// keychain is known first), showing `auto`'s fallback warning once.
pub(super) fn open_for_saving(common: &Common, printer: &Printer) -> Result<Opened, Error> {
    let opened = common.open_store()?;
    if let Some(w) = &opened.warning {
        printer.warn(w);
    }
    Ok(opened)
}

/// What an approved flow obtained: the session, and the browser tab that learns the outcome
/// once the session is saved (so its "Signed in" is true).
pub(super) struct Obtained {
    pub(super) session: Session,
    pub(super) tab: Option<Tab>,
}

impl Obtained {
    /// Saves the session and tells the browser tab how that went.
    pub(super) async fn save(
        self,
        store: &dyn TokenStore,
        settings: &LoginSettings,
        printer: &Printer,
    ) -> Result<(), Error> {
        let saved = save(store, &self.session, settings, printer);
        if let Some(tab) = &self.tab {
            tab.show(match &saved {
                Ok(()) => Page::SignedIn {
                    user: self.session.user.to_string(),
                },
                Err(e) => Page::Failed {
                    message: e.message.clone(),
                },
            })
            .await;
        }
        saved
    }
}

/// Saves `session` and says where, or says why it could not be saved.
pub(super) fn save(
    store: &dyn TokenStore,
    session: &Session,
    settings: &LoginSettings,
    printer: &Printer,
) -> Result<(), Error> {
    store.save(session).map_err(|e| {
        e.into_error(settings.common.store)
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
    let message = match session.flow {
        Flow::ApiKey => format!(
            "Saved the API key for profile {} (sent as {}); saved in {}.",
            session.profile,
            session.use_as().describe(),
            store.describe(&session.profile)
        ),
        Flow::Basic => format!(
            "Saved the password of {}{server} for HTTP Basic (profile {}); saved in {}.",
            session.user,
            session.profile,
            store.describe(&session.profile)
        ),
        _ => format!(
            "Logged in as {}{server} (profile {}, {expiry}); saved in {}.",
            session.user,
            session.profile,
            store.describe(&session.profile)
        ),
    };
    printer.success(&message);
    Ok(())
}

/// `--with-token`: a token from stdin becomes the profile's session, for CI and for servers that
/// hand out tokens another way. Never from argv, where other users can read it.
pub(super) fn with_token(settings: &LoginSettings, printer: &Printer) -> Result<Session, Error> {
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
    let token = Token::issued(token).map_err(|e| {
        Error::usage(format!(
            "The token on stdin cannot be sent in a header or a cookie: {e}; expected a single token."
        ))
    })?;
    let user = match jwt::subject(token.expose()) {
        Some(sub) => UserName::new(&sub)
            .map_err(|e| Error::usage(format!("The token's subject cannot be shown: {e}.")))?,
        None => settings.user.clone().unwrap_or_default(),
    };
    let now = unix_seconds(SystemTime::now());
    let expires_at = jwt::expiry(token.expose());
    if expires_at.is_some_and(|e| e <= now) {
        return Err(
            Error::usage("That token has already expired (its `exp` is in the past).")
                .hint("Get a fresh token, or run `sesame login`."),
        );
    }
    let session = Session {
        expires_at,
        use_as: settings.direct.use_as.clone(),
        whoami_url: settings.direct.whoami_url.as_ref().map(Url::to_string),
        ..Session::new(
            &settings.common.profile,
            settings
                .server
                .as_ref()
                .map(Url::to_string)
                .unwrap_or_default(),
            user,
            Flow::WithToken,
            token,
            now,
        )
    };
    Ok(session)
}
