//! How a session's credential is presented to the server that takes it (`use-as`): as a bearer
//! token, a cookie, a query parameter, a header of its own, or HTTP Basic. Stored with the
//! session, so that every consumer (`status --remote` now, the integrations later) presents it
//! the same way.

use crate::secret::Token;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// How the credential is presented; written `bearer`, `basic`, `cookie:NAME`, `query:NAME` or
/// `header:NAME` in settings and in the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseAs {
    /// `Authorization: Bearer TOKEN`.
    Bearer,
    /// `Cookie: NAME=TOKEN`.
    Cookie(Name),
    /// `?NAME=TOKEN` on the URL.
    Query(Name),
    /// `NAME: TOKEN`.
    Header(Name),
    /// `Authorization: Basic base64(user:TOKEN)`.
    Basic,
}

/// The header a bare API key goes in when nothing else is said.
pub const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";

/// [`DEFAULT_API_KEY_HEADER`] as a [`Name`].
pub fn default_api_key_header() -> Name {
    Name(DEFAULT_API_KEY_HEADER.into())
}

/// The cookie ConsoleMe sends its JWT in, when the poll reply names none.
pub const DEFAULT_COOKIE_NAME: &str = "consoleme_auth";

/// [`DEFAULT_COOKIE_NAME`] as a [`Name`].
pub fn default_cookie_name() -> Name {
    Name(DEFAULT_COOKIE_NAME.into())
}

/// A header, cookie or query parameter name: RFC 9110 `token` characters (which RFC 6265
/// also requires of a cookie name), at most 128 of them. A name a server sends (the challenge
/// reply's `cookie_name`) becomes one where it enters, so no later `Name: value` line or
/// `name=value` pair can be split by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    /// Checks `name`; the error quotes it (made display-safe) and says what a name may hold.
    pub fn new(name: &str) -> Result<Name, String> {
        if is_token(name) {
            Ok(Name(name.to_string()))
        } else {
            Err(format!(
                "{:?} is not a valid name (1 to 128 letters, digits and !#$%&'*+-.^_`|~)",
                crate::text::Shown::new(name, 60).as_str()
            ))
        }
    }

    /// The name as checked.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(value: String) -> Result<Name, String> {
        Name::new(&value)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 9110 `token` characters: what a header or cookie name may be made of.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl FromStr for UseAs {
    type Err = String;

    fn from_str(text: &str) -> Result<UseAs, String> {
        let text = text.trim();
        let (kind, name) = match text.split_once(':') {
            Some((k, n)) => (k, Some(n)),
            None => (text, None),
        };
        let named = |make: fn(Name) -> UseAs, what: &str| match name {
            Some(n) if is_token(n) => Ok(make(Name(n.to_string()))),
            Some(n) => Err(format!(
                "{n:?} is not a valid {what} name (letters, digits and !#$%&'*+-.^_`|~)"
            )),
            None => Err(format!("{kind} needs a name: {kind}:NAME")),
        };
        match (kind.to_ascii_lowercase().as_str(), name) {
            ("bearer", None) => Ok(UseAs::Bearer),
            ("basic", None) => Ok(UseAs::Basic),
            ("cookie", _) => named(UseAs::Cookie, "cookie"),
            ("query", _) => named(UseAs::Query, "query parameter"),
            ("header", _) => named(UseAs::Header, "header"),
            _ => Err(format!(
                "{text:?} is not a way to present a credential: use bearer, basic, cookie:NAME, query:NAME or header:NAME"
            )),
        }
    }
}

impl fmt::Display for UseAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UseAs::Bearer => f.write_str("bearer"),
            UseAs::Basic => f.write_str("basic"),
            UseAs::Cookie(n) => write!(f, "cookie:{n}"),
            UseAs::Query(n) => write!(f, "query:{n}"),
            UseAs::Header(n) => write!(f, "header:{n}"),
        }
    }
}

impl Serialize for UseAs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UseAs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<UseAs, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl UseAs {
    /// Adds the credential to a request. `user` is only used by [`UseAs::Basic`].
    pub fn apply(
        &self,
        request: reqwest::RequestBuilder,
        user: &str,
        credential: &Token,
    ) -> reqwest::RequestBuilder {
        let credential = credential.expose();
        match self {
            UseAs::Bearer => request.bearer_auth(credential),
            UseAs::Basic => request.basic_auth(user, Some(credential)),
            UseAs::Cookie(name) => {
                request.header(reqwest::header::COOKIE, format!("{name}={credential}"))
            }
            UseAs::Query(name) => request.query(&[(name.as_str(), credential)]),
            UseAs::Header(name) => request.header(name.as_str(), credential),
        }
    }

    /// The one header line that presents the credential (`sesame header`), or why a header
    /// cannot carry it.
    pub fn header_line(&self, user: &str, credential: &Token) -> Result<String, String> {
        use base64::Engine;
        let credential = credential.expose();
        match self {
            UseAs::Bearer => Ok(format!("Authorization: Bearer {credential}")),
            UseAs::Basic => Ok(format!(
                "Authorization: Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{credential}"))
            )),
            UseAs::Cookie(n) => Ok(format!("Cookie: {n}={credential}")),
            UseAs::Header(n) => Ok(format!("{n}: {credential}")),
            UseAs::Query(n) => Err(format!(
                "this session is presented as the query parameter {n}, which a header cannot carry"
            )),
        }
    }

    /// How `status` describes it, e.g. "the cookie consoleme_auth".
    pub fn describe(&self) -> String {
        match self {
            UseAs::Bearer => "a bearer token (Authorization: Bearer)".into(),
            UseAs::Basic => "HTTP Basic (user name and password)".into(),
            UseAs::Cookie(n) => format!("the cookie {n}"),
            UseAs::Query(n) => format!("the query parameter {n}"),
            UseAs::Header(n) => format!("the header {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(t: &str) -> Token {
        Token::issued(t).unwrap()
    }

    #[test]
    fn parses_and_prints_every_form() {
        for text in [
            "bearer",
            "basic",
            "cookie:consoleme_auth",
            "query:sesskey",
            "header:X-API-Key",
        ] {
            let u: UseAs = text.parse().unwrap();
            assert_eq!(u.to_string(), text);
        }
        assert_eq!("Bearer".parse::<UseAs>().unwrap(), UseAs::Bearer);
    }

    #[test]
    fn refuses_bad_names_and_kinds() {
        assert!(
            "cookie"
                .parse::<UseAs>()
                .unwrap_err()
                .contains("cookie:NAME")
        );
        assert!("header:X Y".parse::<UseAs>().is_err());
        assert!("header:".parse::<UseAs>().is_err());
        assert!("header:a\r\nb".parse::<UseAs>().is_err());
        assert_eq!(
            Name::new("c=x; evil").unwrap_err(),
            "\"c=x; evil\" is not a valid name (1 to 128 letters, digits and !#$%&'*+-.^_`|~)"
        );
        assert!("bearer:x".parse::<UseAs>().is_err());
        assert!(
            "token"
                .parse::<UseAs>()
                .unwrap_err()
                .contains("bearer, basic")
        );
    }

    #[test]
    fn header_lines() {
        assert_eq!(
            UseAs::Bearer.header_line("u", &tok("t")).unwrap(),
            "Authorization: Bearer t"
        );
        assert_eq!(
            UseAs::Basic.header_line("dana", &tok("pw")).unwrap(),
            "Authorization: Basic ZGFuYTpwdw=="
        );
        assert_eq!(
            UseAs::Cookie(Name::new("consoleme_auth").unwrap())
                .header_line("u", &tok("j.w.t"))
                .unwrap(),
            "Cookie: consoleme_auth=j.w.t"
        );
        assert_eq!(
            UseAs::Header(Name::new("X-API-Key").unwrap())
                .header_line("u", &tok("k"))
                .unwrap(),
            "X-API-Key: k"
        );
        assert!(
            UseAs::Query(Name::new("sesskey").unwrap())
                .header_line("u", &tok("k"))
                .unwrap_err()
                .contains("query parameter sesskey")
        );
    }

    #[test]
    fn round_trips_through_json() {
        let u = UseAs::Query(Name::new("sesskey").unwrap());
        let text = serde_json::to_string(&u).unwrap();
        assert_eq!(text, "\"query:sesskey\"");
        assert_eq!(serde_json::from_str::<UseAs>(&text).unwrap(), u);
    }
}
