//! The session cookie this server issued, read from a request: who it belongs to, or nothing
//! when it is missing, forged or expired.

use crate::app::App;
use crate::token;
use hyper::{HeaderMap, header};

/// What a valid session cookie says.
pub(crate) struct Claims {
    /// The `email` claim, else `sub`.
    pub(crate) user: String,
    /// The `groups` claim.
    pub(crate) groups: Vec<String>,
    /// All the claims, as issued.
    pub(crate) all: serde_json::Map<String, serde_json::Value>,
}

/// The claims of the request's session cookie, if it is one this server signed and it is
/// still valid.
pub(crate) fn session_claims(app: &App, headers: &HeaderMap) -> Option<Claims> {
    let name = &app.config.cookie_name;
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value_trimmed().to_string())?;
    let all = token::verify(app.config.jwt_secret.expose_bytes(), &cookie)?;
    let text = |k: &str| all.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let user = text("email").or_else(|| text("sub"))?;
    let groups = all
        .get("groups")
        .and_then(|g| g.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some(Claims { user, groups, all })
}
