//! `sesame status`: who is logged in, where, how, and until when. Shows the token's claims,
//! never the token.

use super::open_store_to_read;
use crate::cli::OutputFormat;
use serde_json::{Map, Value, json};
use sesame_login::clock::{format_utc, human_duration, unix_seconds};
use sesame_login::error::Error;
use sesame_login::hints::{login_hint, session_hint};
use sesame_login::http;
use sesame_login::jwt;
use sesame_login::login_error::LoginError;
use sesame_login::output::stdout;
use sesame_login::refresh::{self, Refresh};
use sesame_login::session::{Flow, Session};
use sesame_login::settings::{Common, Env};
use sesame_login::store::{StoreError, TokenStore};
use sesame_login::text::Shown;
use sesame_login::vars;
use sesame_login::whoami::{self, Answer};
use std::time::{Duration, SystemTime};

/// Whether `status` asks the server about the session too (`--remote`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    /// Ask the server's whoami URL whether it accepts the session.
    Ask,
    /// Report what is saved, without asking.
    Skip,
}

pub fn run(
    common: &Common,
    format: OutputFormat,
    remote: Remote,
    env: Env,
    printer: &sesame_login::output::Printer,
) -> Result<(), Error> {
    let now = unix_seconds(SystemTime::now());
    if let Some(token) = env(vars::TOKEN) {
        return token_status(common, format, remote, &token, now);
    }
    let opened = open_store_to_read(common, printer)?;
    let session = match opened.store.load(&common.profile) {
        Ok(s) => s,
        Err(StoreError::NotFound) => {
            if format == OutputFormat::Json {
                stdout(&format!(
                    "{}\n",
                    json!({ "profile": common.profile, "logged_in": false })
                ))?;
            }
            return Err(
                Error::no_session(format!("Not logged in (profile {}).", common.profile))
                    .hint(login_hint(&common.profile)),
            );
        }
        Err(e) => return Err(e.into_error_for(common.store, &common.profile)),
    };
    let session = if remote == Remote::Ask {
        refreshed(common, &*opened.store, session, env, printer)
    } else {
        session
    };
    // An expired session is reported as `status` reports it (exit 3): asking a server about
    // it, perhaps a dead one, would only turn that into a network error (exit 1).
    let answer = if remote == Remote::Ask && session.is_valid_at(now, 0) {
        Some(ask_remote(common, &session)?)
    } else {
        if remote == Remote::Ask {
            printer.warn("The session has expired: the server was not asked about it.");
        }
        None
    };
    let claims = jwt::claims(session.token.expose()).unwrap_or_default();
    let report = Report {
        profile: &common.profile,
        source: opened.store.describe(&common.profile),
        expires_at: session.expires_at,
        session: Some(&session),
        claims,
        now,
        remote: answer.as_ref(),
    };
    report.print(format)
}

/// The status of the token in `SESAME_TOKEN`, which is in use instead of any saved session.
fn token_status(
    common: &Common,
    format: OutputFormat,
    remote: Remote,
    token: &str,
    now: i64,
) -> Result<(), Error> {
    if remote == Remote::Ask {
        return Err(Error::usage(
            "status --remote checks a saved session; SESAME_TOKEN is set, so there is none in use.",
        )
        .hint("Unset SESAME_TOKEN to check the profile's saved session."));
    }
    let claims = jwt::claims(token).unwrap_or_default();
    let exp = claims.get("exp").and_then(Value::as_i64);
    let report = Report {
        profile: &common.profile,
        source: "the SESAME_TOKEN environment variable".into(),
        session: None,
        claims,
        expires_at: exp,
        now,
        remote: None,
    };
    report.print(format)
}

/// The session to ask the server about: refreshed if it is due; a failed refresh is a warning,
/// and the session as it was is asked about.
fn refreshed(
    common: &Common,
    store: &dyn TokenStore,
    session: Session,
    env: Env,
    printer: &sesame_login::output::Printer,
) -> Session {
    // Ask with the token `sesame token` would hand out, refreshed if it is due.
    let secret = common.client_secret(env);
    match refresh::ensure_fresh(
        store,
        session.clone(),
        &common.paths.data_dir,
        secret.as_ref(),
        common.refresh_skew,
        Refresh::IfDue,
    ) {
        Ok(Some(fresh)) => {
            if let Some(w) = &fresh.warning {
                printer.warn(w);
            }
            fresh.session
        }
        Ok(None) => session,
        Err(e) => {
            printer.warn(&format!("Could not refresh the session: {}", e.message));
            session
        }
    }
}

/// Calls the whoami URL; a server that cannot be reached is an error (exit 1).
fn ask_remote(common: &Common, session: &Session) -> Result<Answer, Error> {
    let configured = common
        .config
        .whoami_url
        .as_deref()
        .map(|u| {
            http::check_server_url(u, common.config.allow_http.unwrap_or(false)).map_err(|e| {
                Error::usage(format!("`whoami-url` in the profile: {}", e.message))
                    .hint(e.hint.unwrap_or_default())
            })
        })
        .transpose()?;
    let url = whoami::url_for(session, configured.as_ref().map(|u| u.as_str())).ok_or_else(|| {
        Error::usage(format!(
            "There is nowhere to ask who the session of profile {} belongs to.",
            common.profile
        ))
        .hint("Set `whoami-url` in the profile's config (an endpoint that answers with the user for this credential).")
    })?;
    sesame_login::blocking::block_on(async {
        whoami::ask(&url, session).await.map_err(|e| match e {
            LoginError::Unreachable { url, reason } => Error::other(format!(
                "Could not reach {url} to check the session: {reason}."
            ))
            .hint("Check the network and the profile's `whoami-url`."),
            other => Error::from(other),
        })
    })
}

struct Report<'a> {
    profile: &'a str,
    source: String,
    session: Option<&'a Session>,
    claims: Map<String, Value>,
    expires_at: Option<i64>,
    now: i64,
    remote: Option<&'a Answer>,
}

impl Report<'_> {
    fn valid(&self) -> bool {
        self.expires_at.is_none_or(|e| e > self.now)
    }

    fn id_token_claims(&self) -> Option<Map<String, Value>> {
        self.session?
            .id_token
            .as_ref()
            .and_then(|t| jwt::claims(t.expose()))
    }

    fn print(&self, format: OutputFormat) -> Result<(), Error> {
        match format {
            OutputFormat::Json => stdout(&format!("{}\n", self.json()))?,
            OutputFormat::Text => stdout(&self.text())?,
        }
        if let Some(r) = self.remote
            && !r.accepted()
        {
            let said = match &r.body {
                Value::Object(o) => o
                    .get("code")
                    .or(o.get("error"))
                    .or(o.get("message"))
                    .map(|v| {
                        format!(
                            ": {}",
                            v.as_str().map(str::to_owned).unwrap_or(v.to_string())
                        )
                    })
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let message = format!("{} answered HTTP {}{said}", http::redact(&r.url), r.status);
            return Err(if r.refused() {
                Error::no_session(format!(
                    "The server refused the session of profile {} ({message}).",
                    self.profile
                ))
                .hint(login_hint(self.profile))
            } else {
                Error::other(format!("Could not check the session remotely: {message}."))
                    .hint("Check the profile's `whoami-url`.")
            });
        }
        if self.valid() {
            Ok(())
        } else {
            Err(Error::no_session(format!(
                "The session for profile {} has expired.",
                self.profile
            ))
            .hint(match self.session {
                Some(s) => session_hint(s),
                None => login_hint(self.profile),
            }))
        }
    }

    fn json(&self) -> Value {
        let s = self.session;
        json!({
            "profile": self.profile,
            "logged_in": true,
            "valid": self.valid(),
            "user": s.map(|s| s.user.to_string()).or_else(|| jwt_subject(&self.claims)),
            "server": s.map(|s| s.server.clone()),
            "flow": s.map(|s| s.flow.to_string()),
            "store": self.source,
            "obtained_at": s.map(|s| s.obtained_at),
            "expires_at": self.expires_at,
            "expires_in": self.expires_at.map(|e| e.saturating_sub(self.now)),
            "cookie_name": s.and_then(|s| s.cookie_name.clone()),
            "has_refresh_token": s.map(|s| s.refresh_token.is_some()),
            "use_as": s.map(|s| s.use_as().to_string()),
            "claims": self.claims,
            "id_token_claims": self.id_token_claims(),
            "remote": self.remote.map(|r| json!({
                "url": http::redact(&r.url),
                "status": r.status,
                "accepted": r.accepted(),
                "response": r.body,
            })),
        })
    }

    fn text(&self) -> String {
        let mut out = String::new();
        line(&mut out, "Profile:", self.profile.to_string());
        if let Some(s) = self.session {
            session_lines(&mut out, s);
        } else if let Some(sub) = jwt_subject(&self.claims) {
            line(&mut out, "User:", sub);
        }
        line(&mut out, "Store:", self.source.clone());
        if let Some(s) = self.session {
            line(
                &mut out,
                "Obtained:",
                format!(
                    "{} ({} ago)",
                    format_utc(s.obtained_at),
                    ago(self.now.saturating_sub(s.obtained_at))
                ),
            );
        }
        line(&mut out, "Expires:", self.expiry_text());
        if let Some(s) = self.session.filter(|s| s.refresh_token.is_some()) {
            let _ = s;
            line(
                &mut out,
                "Refresh:",
                "yes (sesame token refreshes it when needed)".into(),
            );
        }
        if let Some(id) = self.id_token_claims()
            && let Some(sub) = id.get("sub").and_then(Value::as_str)
        {
            line(&mut out, "Subject:", sub.to_string());
        }
        if let Some(r) = self.remote {
            remote_lines(&mut out, r);
        }
        if !self.claims.is_empty() {
            out.push_str("Claims:\n");
            for (k, v) in &self.claims {
                out.push_str(&shown_pair(k, v));
            }
        }
        out
    }

    /// When the credential expires, in words: never, unknown, in how long, or how long ago.
    fn expiry_text(&self) -> String {
        let static_credential = self
            .session
            .is_some_and(|s| matches!(s.flow, Flow::ApiKey | Flow::Basic));
        match self.expires_at {
            None if static_credential => {
                "never (a static credential; the server may still revoke it)".into()
            }
            None => "unknown (the token does not say)".into(),
            Some(e) if e > self.now => {
                format!("{} (in {})", format_utc(e), ago(e.saturating_sub(self.now)))
            }
            Some(e) => format!(
                "{} (EXPIRED {} ago)",
                format_utc(e),
                ago(self.now.saturating_sub(e))
            ),
        }
    }
}

/// One `Key:      value` line of the text. Every value may come from a server (a claim, the
/// user it named, its reply): shown without control characters, so none can move the cursor or
/// fake a line.
fn line(out: &mut String, k: &str, v: String) {
    out.push_str(&format!("{k:<10} {}\n", Shown::new(&v, 500)));
}

/// The text's lines about a saved session: its user, server, flow and how it is sent.
fn session_lines(out: &mut String, s: &Session) {
    line(
        out,
        "User:",
        if s.user.is_empty() {
            "(none given)".into()
        } else {
            s.user.to_string()
        },
    );
    line(
        out,
        "Server:",
        if s.server.is_empty() {
            match s.flow {
                Flow::WithToken => "(none: saved with --with-token)".into(),
                _ => "(none given: set `whoami-url` or --server to name it)".into(),
            }
        } else if s.demo {
            format!("{} (sesame demo's throwaway server, now stopped)", s.server)
        } else {
            s.server.clone()
        },
    );
    line(out, "Flow:", s.flow.to_string());
    line(out, "Sent as:", s.use_as().describe());
}

/// The text's lines about the server's answer: its verdict, then what it said.
fn remote_lines(out: &mut String, r: &Answer) {
    let verdict = if r.accepted() {
        "accepted"
    } else if r.refused() {
        "REFUSED"
    } else {
        "unclear"
    };
    line(
        out,
        "Remote:",
        format!("{verdict} by {} (HTTP {})", http::redact(&r.url), r.status),
    );
    match &r.body {
        Value::Object(o) => {
            for (k, v) in o {
                out.push_str(&shown_pair(k, v));
            }
        }
        Value::String(s) if s.is_empty() => {}
        other => out.push_str(&format!("  {}\n", Shown::new(&plain(other), 500))),
    }
}

/// A JSON value as a person reads it: a string without its quotes, anything else as JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `  key: value`, both from a server, cleaned for the terminal.
fn shown_pair(k: &str, v: &Value) -> String {
    format!("  {}: {}\n", Shown::new(k, 100), Shown::new(&plain(v), 500))
}

fn jwt_subject(claims: &Map<String, Value>) -> Option<String> {
    ["email", "preferred_username", "sub"]
        .iter()
        .find_map(|k| claims.get(*k)?.as_str().map(str::to_owned))
}

fn ago(secs: i64) -> String {
    human_duration(Duration::from_secs(secs.max(0) as u64))
}
