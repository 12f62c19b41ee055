//! Asking a server who a credential belongs to (`sesame status --remote`): the profile's
//! `whoami-url`, the OpenID Connect userinfo endpoint, or a challenge server's user profile,
//! with the credential presented as the session says.

use crate::http;
use crate::login_error::LoginError;
use crate::session::{Flow, Session};
use serde_json::Value;
use std::time::Duration;
use url::Url;

/// What the server said.
#[derive(Debug)]
pub struct Answer {
    /// The URL asked.
    pub url: Url,
    /// The HTTP status code: 2xx accepted, 401 or 403 refused, anything else neither.
    pub status: u16,
    /// The reply: JSON when it is JSON, else its text (at most 2000 characters, one line).
    pub body: Value,
}

impl Answer {
    /// Whether the server took the credential: a 2xx status.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the server turned the credential down: 401 or 403.
    pub fn refused(&self) -> bool {
        matches!(self.status, 401 | 403)
    }
}

/// Where to ask, in order: the profile's `whoami-url` now, the one saved with the session,
/// the provider's userinfo endpoint, the challenge server's user profile endpoint.
pub fn url_for(session: &Session, configured: Option<&str>) -> Option<Url> {
    let challenge = (session.flow == Flow::Challenge && !session.server.is_empty())
        .then(|| {
            let base = Url::parse(&session.server).ok()?;
            base.join(crate::protocol::WHOAMI_PATH).ok()
        })
        .flatten();
    configured
        .or(session.whoami_url.as_deref())
        .or(session
            .oauth
            .as_ref()
            .and_then(|o| o.userinfo_endpoint.as_deref()))
        .and_then(|u| Url::parse(u).ok())
        .or(challenge)
}

/// GETs `url` with the session's credential presented as [`Session::use_as`] says, redirects not
/// followed; any HTTP status is an answer, only a failed request is an error.
pub async fn ask(url: &Url, session: &Session) -> Result<Answer, LoginError> {
    let client = http::client_for(url).map_err(|e| LoginError::Unreachable {
        url: http::redact(url),
        reason: e.message,
    })?;
    let request = session.use_as().apply(
        client.get(url.clone()).header("Accept", "application/json"),
        &session.user,
        &session.token,
    );
    let mut resp = http::send(request.timeout(Duration::from_secs(15)))
        .await
        .map_err(|e| LoginError::Unreachable {
            url: http::redact(url),
            reason: http::describe(&e),
        })?;
    let status = resp.status().as_u16();
    let bytes = match http::read_body(&mut resp).await {
        Ok(b) => b,
        Err(http::BodyError::TooLarge) => b"(a reply larger than 64 KiB)".to_vec(),
        Err(http::BodyError::Read(reason)) => {
            return Err(LoginError::Unreachable {
                url: http::redact(url),
                reason,
            });
        }
    };
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        let text: String = String::from_utf8_lossy(&bytes)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(2000)
            .collect();
        Value::String(text.trim().to_string())
    });
    Ok(Answer {
        url: url.clone(),
        status,
        body,
    })
}
