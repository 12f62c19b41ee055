//! A string that must not leak: no `Display`, a redacted `Debug`, and `.expose()` at every place
//! the value leaves the type (cargo's `Secret<T>`, xh's `Redacted`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Text by default (tokens, passwords, client secrets); `Secret<Vec<u8>>` for keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T = String>(T);

impl Secret {
    /// Wraps a text secret: a token, a password, a client secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The plain value. Every caller is a place where the secret leaves the type.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Secret<Vec<u8>> {
    /// Wraps a binary secret, such as a signing key.
    pub fn from_bytes(value: impl Into<Vec<u8>>) -> Self {
        Secret(value.into())
    }

    /// The plain bytes. Every caller is a place where the secret leaves the type.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// Longest credential sesame keeps. JWTs carrying many group claims reach 8-16 KB; nothing a
/// server legitimately issues comes near this, and a megabyte "token" is a hostile reply.
pub const MAX_TOKEN_LEN: usize = 32 * 1024;

/// A credential that is presented to servers and handed to other programs: the session's
/// token, its ID token. Built only through a checking constructor, so wherever it is used (an
/// HTTP header, a `Cookie:` pair, git's `key=value` lines, kubectl's JSON, a child's
/// environment) it cannot carry a line break, a NUL, an escape sequence or megabytes.
///
/// - [`Token::issued`]: what a server (or a person, for `--with-token`) hands over as a
///   token: visible ASCII without `;` `,` `"` `\` (RFC 6265 `cookie-octet`, a superset of RFC
///   6750's `b64token`), so it is a valid bearer token, header value and cookie value alike.
/// - [`Token::password`]: an HTTP Basic password a person typed: any text without control
///   characters (it only ever travels base64-encoded, or as git's `password=` line).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Token(Secret);

/// Why a value is not a token, naming every kind of character that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(String);

impl Token {
    /// A credential issued by a server (or pasted by a person as one).
    pub fn issued(value: &str) -> Result<Token, TokenError> {
        check_issued(value)?;
        Ok(Token(Secret::new(value)))
    }

    /// A password for HTTP Basic: any text without control characters.
    pub fn password(value: &str) -> Result<Token, TokenError> {
        check_length(value)?;
        if value.chars().any(char::is_control) {
            return Err(TokenError(
                "it contains control characters (line breaks, NUL or escape sequences)".into(),
            ));
        }
        Ok(Token(Secret::new(value)))
    }

    /// Whether [`Token::issued`] would accept it (a password may not be).
    pub fn is_issued_form(&self) -> bool {
        check_issued(self.expose()).is_ok()
    }

    /// The plain value. Every caller is a place where the token leaves the type.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// As a plain secret, for the protocol code that takes one.
    pub fn secret(&self) -> &Secret {
        &self.0
    }
}

/// [`Token::issued`]'s rule, naming every kind of character it refuses.
fn check_issued(value: &str) -> Result<(), TokenError> {
    check_length(value)?;
    let mut refused: Vec<&str> = Vec::new();
    let mut note = |what: &'static str| {
        if !refused.contains(&what) {
            refused.push(what);
        }
    };
    for c in value.chars() {
        match c {
            '\r' | '\n' => note("line breaks"),
            ' ' | '\t' => note("spaces"),
            c if c.is_control() => note("control characters"),
            c if !c.is_ascii() => note("non-ASCII characters"),
            ';' | ',' | '"' | '\\' => note("the characters ; , \" \\"),
            _ => {}
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(TokenError(format!("it contains {}", join_and(&refused))))
    }
}

fn check_length(value: &str) -> Result<(), TokenError> {
    if value.is_empty() {
        return Err(TokenError("it is empty".into()));
    }
    if value.len() > MAX_TOKEN_LEN {
        return Err(TokenError(format!(
            "it is {} bytes long; sesame keeps tokens up to {MAX_TOKEN_LEN} bytes",
            value.len()
        )));
    }
    Ok(())
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Read back from a store: the weaker of the two rules (a saved Basic password is a token
/// too); [`crate::session::Session`] applies the stricter one to every other flow.
impl TryFrom<String> for Token {
    type Error = TokenError;
    fn try_from(value: String) -> Result<Token, TokenError> {
        Token::password(&value)
    }
}

impl From<Token> for String {
    fn from(token: Token) -> String {
        token.0.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn byte_secrets_are_redacted_too() {
        let s = Secret::from_bytes(b"signing-key".to_vec());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose_bytes(), b"signing-key");
    }

    #[test]
    fn issued_tokens_refuse_what_could_break_a_header_a_cookie_or_a_line() {
        assert!(Token::issued("eyJ.a-b_c~d+e/f=").is_ok());
        for bad in [
            "a\r\nX-Evil: 1",
            "a b",
            "a;b",
            "a\0b",
            "a\u{1b}[2J",
            "ä",
            "",
        ] {
            assert!(Token::issued(bad).is_err(), "{bad:?}");
        }
        let all = Token::issued("a b\nc;d\u{1b}é").unwrap_err().to_string();
        assert_eq!(
            all,
            "it contains spaces, line breaks, the characters ; , \" \\, control characters and non-ASCII characters"
        );
        assert!(Token::issued(&"a".repeat(MAX_TOKEN_LEN + 1)).is_err());
    }

    #[test]
    fn passwords_may_hold_spaces_but_no_control_characters() {
        assert!(Token::password("correct horse; battery é").is_ok());
        assert!(Token::password("pw\nhost=evil").is_err());
        assert!(!Token::password("a b").unwrap().is_issued_form());
    }

    #[test]
    fn a_token_read_back_with_a_line_break_is_refused() {
        assert!(serde_json::from_str::<Token>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<Token>("\"a\\r\\nb\"").is_err());
        let t = Token::issued("abc").unwrap();
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"abc\"");
    }

    #[test]
    fn serializes_as_plain_string_for_storage() {
        let s = Secret::new("abc");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"abc\"");
    }
}
