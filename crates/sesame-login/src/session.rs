//! A saved login: what every store keeps for a profile, and the questions asked of it
//! (is it still valid, when does it end).

use crate::json_api::JsonApi;
use crate::present::{Name, UseAs};
use crate::secret::{Secret, Token};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who a session belongs to, as a server or a JWT named them: at most [`UserName::MAX_CHARS`]
/// characters, none of them a control character or a bidi override, so it can be printed,
/// put in git's `username=` line or an HTML page without further checks. May be empty (a
/// pasted token that names nobody).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    /// The longest name taken, in characters.
    pub const MAX_CHARS: usize = 256;

    /// Checks `name`: too long or holding a control or bidi character is an error that says which.
    pub fn new(name: &str) -> Result<UserName, String> {
        if name.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "the user name is over {} characters long",
                Self::MAX_CHARS
            ));
        }
        if !crate::text::is_clean(name) {
            return Err(format!(
                "the user name {:?} contains control characters",
                crate::text::Shown::of(name).as_str()
            ));
        }
        Ok(UserName(name.to_string()))
    }

    /// The name as checked.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for UserName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserName {
    type Error = String;
    fn try_from(value: String) -> Result<UserName, String> {
        UserName::new(&value)
    }
}

impl From<UserName> for String {
    fn from(name: UserName) -> String {
        name.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for UserName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// How the session was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// The ConsoleMe/Weep challenge, approved in a browser.
    Challenge,
    /// A token pasted on stdin (`sesame login --with-token`).
    WithToken,
    /// OAuth authorization code with PKCE, through the browser and the loopback callback.
    Browser,
    /// OAuth device authorization (RFC 8628).
    Device,
    /// A user name and password (and maybe a one-time code): a JSON login API, or the OAuth
    /// password grant.
    Password,
    /// OAuth client credentials (RFC 6749 §4.4), for service accounts.
    ClientCredentials,
    /// A static API key.
    ApiKey,
    /// A user name and password kept for HTTP Basic.
    Basic,
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flow::Challenge => "challenge",
            Flow::WithToken => "with-token",
            Flow::Browser => "browser",
            Flow::Device => "device",
            Flow::Password => "password",
            Flow::ClientCredentials => "client-credentials",
            Flow::ApiKey => "api-key",
            Flow::Basic => "basic",
        })
    }
}

/// The session format this version writes, in [`Session::version`].
pub const FORMAT_VERSION: u32 = 1;

/// A saved login for one profile: the credential, who it belongs to, and what renewing it needs.
/// Stores keep it as JSON ([`Session::to_json`], [`Session::from_json`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The format it was written in ([`FORMAT_VERSION`]).
    pub version: u32,
    /// The profile it was saved under.
    pub profile: String,
    /// The challenge server or the OIDC issuer the session came from.
    pub server: String,
    /// Who the session belongs to: from the server, the token, or the login's user.
    pub user: UserName,
    /// How it was obtained; decides the default [`Session::use_as`] and how it is renewed.
    pub flow: Flow,
    /// The JWT (challenge flow), the access token (OAuth flows), the API key, or the Basic
    /// password.
    pub token: Token,
    /// The cookie a challenge server named for the token; `None` for the default
    /// (`consoleme_auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_name: Option<Name>,
    /// Unix seconds; `None` when the token does not say.
    pub expires_at: Option<i64>,
    /// When the login (or the last refresh) got the token, in Unix seconds.
    pub obtained_at: i64,
    /// The refresh token, when the login got one it can use (OAuth, or a JSON login API that
    /// can refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// The OpenID Connect ID token, if the provider sent one (`sesame token --id-token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Token>,
    /// The provider's endpoints and the client, for refreshing; `None` for sessions not from OAuth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthInfo>,
    /// From `sesame demo`: its server (and the key that signed the token) is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
    /// How the credential is presented; `None`: the flow's default ([`Session::use_as`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_as: Option<UseAs>,
    /// A JSON login API's refresh recipe (templates and pointers, no secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_api: Option<JsonApi>,
    /// The client secret of a client-credentials session, kept (in the store, with the
    /// token) so that `sesame token` can get a new token when this one expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// Where `status --remote` asks who the credential belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whoami_url: Option<String>,
}

/// What a refresh needs to know about the provider, kept with the session so that
/// `sesame token` does not have to run discovery on its hot path.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OAuthInfo {
    /// The issuer the tokens came from.
    pub issuer: String,
    /// The OAuth client ID that obtained them.
    pub client_id: String,
    /// Where the refresh token is traded for new tokens.
    pub token_endpoint: String,
    /// Where the keys that sign ID tokens are published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The scopes the login asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// What `status --remote` asks whom the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// Where `logout --revoke` revokes the tokens (RFC 7009).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// Extra token request parameters (`audience`, `resource`) a client-credentials grant
    /// repeats when it gets a new token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(String, String)>,
}

impl Session {
    /// A session with what every login knows; the flow sets the rest.
    pub fn new(
        profile: &str,
        server: String,
        user: UserName,
        flow: Flow,
        token: Token,
        obtained_at: i64,
    ) -> Session {
        Session {
            version: FORMAT_VERSION,
            profile: profile.to_string(),
            server,
            user,
            flow,
            token,
            cookie_name: None,
            expires_at: None,
            obtained_at,
            refresh_token: None,
            id_token: None,
            oauth: None,
            demo: false,
            use_as: None,
            json_api: None,
            client_secret: None,
            whoami_url: None,
        }
    }

    /// How the credential is presented: as saved, else the flow's default (a cookie for
    /// challenge sessions, a header for API keys, Basic for basic, else a bearer token).
    pub fn use_as(&self) -> UseAs {
        if let Some(u) = &self.use_as {
            return u.clone();
        }
        match self.flow {
            Flow::Challenge => UseAs::Cookie(
                self.cookie_name
                    .clone()
                    .unwrap_or_else(crate::present::default_cookie_name),
            ),
            Flow::ApiKey => UseAs::Header(crate::present::default_api_key_header()),
            Flow::Basic => UseAs::Basic,
            _ => UseAs::Bearer,
        }
    }

    /// Whether `sesame token` can get a new token when this one runs out.
    pub fn renewable(&self) -> bool {
        self.renewable_with(false)
    }

    /// As [`Session::renewable`], when the caller has a client secret of its own
    /// (SESAME_CLIENT_SECRET) if `outside_secret`.
    pub fn renewable_with(&self, outside_secret: bool) -> bool {
        match self.flow {
            Flow::ClientCredentials => {
                self.oauth.is_some() && (self.client_secret.is_some() || outside_secret)
            }
            _ => self.refresh_token.is_some() && (self.oauth.is_some() || self.json_api.is_some()),
        }
    }

    /// True while the token has more than `skew_secs` to live (or no known expiry).
    pub fn is_valid_at(&self, now: i64, skew_secs: i64) -> bool {
        self.expires_at
            .is_none_or(|exp| exp.saturating_sub(skew_secs) > now)
    }

    /// The session as one line of JSON, secrets included: for a store, never for a person.
    #[allow(
        clippy::expect_used,
        reason = "strings, numbers and options always serialize to JSON"
    )]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a session always serializes")
    }

    /// A session read back from a store: every field is checked as it was when the login
    /// saved it, so a file edited by hand (or by someone else) cannot smuggle in a token with
    /// a line break. Only an HTTP Basic session's token (a password) may hold spaces.
    pub fn from_json(text: &str) -> Result<Session, String> {
        let session: Session = serde_json::from_str(text).map_err(|e| e.to_string())?;
        session.checked()
    }

    /// The checks of [`Session::from_json`], for a session that arrived in another message
    /// (the agent's answer).
    pub fn checked(self) -> Result<Session, String> {
        if self.flow != Flow::Basic && !self.token.is_issued_form() {
            return Err("its token contains characters no server issues".into());
        }
        Ok(self)
    }
}

#[cfg(test)]
pub(crate) fn sample(profile: &str, token: &str, expires_at: Option<i64>) -> Session {
    let user = UserName::new("alice").unwrap_or_default();
    let token = Token::issued(token).unwrap_or_else(|e| panic!("sample token: {e}"));
    let server = "http://127.0.0.1:1".to_string();
    Session {
        cookie_name: Name::new("consoleme_auth").ok(),
        expires_at,
        ..Session::new(profile, server, user, Flow::Challenge, token, 1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_honours_skew_and_unknown_expiry() {
        let s = sample("p", "t", Some(1_000));
        assert!(s.is_valid_at(999, 0));
        assert!(!s.is_valid_at(1_000, 0));
        assert!(!s.is_valid_at(950, 60));
        assert!(sample("p", "t", None).is_valid_at(i64::MAX - 1, 60));
    }

    #[test]
    fn a_stored_session_with_a_hostile_value_is_refused() {
        let good = sample("p", "tok", Some(5)).to_json();
        for (from, to) in [
            ("\"tok\"", "\"tok\\r\\nX-Evil: 1\""),
            ("\"tok\"", "\"to;k\""),
            ("\"alice\"", "\"alice\\nhost=evil\""),
            ("\"consoleme_auth\"", "\"a=b; c\""),
        ] {
            let bad = good.replacen(from, to, 1);
            assert_ne!(bad, good);
            assert!(Session::from_json(&bad).is_err(), "{bad}");
        }
        let basic = good
            .replacen("\"challenge\"", "\"basic\"", 1)
            .replacen("\"tok\"", "\"p w;\"", 1);
        assert!(
            Session::from_json(&basic).is_ok(),
            "a Basic password may hold spaces"
        );
    }

    #[test]
    fn round_trips_through_json() {
        let s = sample("p", "tok", Some(5));
        let back = Session::from_json(&s.to_json()).unwrap();
        assert_eq!(back.token.expose(), "tok");
        assert_eq!(back.flow, Flow::Challenge);
        assert_eq!(back.expires_at, Some(5));
    }
}
