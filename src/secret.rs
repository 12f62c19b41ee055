//! A string that must not leak: no `Display`, a redacted `Debug`, and `.expose()` at every place
//! the value leaves the type (cargo's `Secret<T>`, xh's `Redacted`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Text by default (tokens, passwords, client secrets); `Secret<Vec<u8>>` for keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T = String>(T);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The plain value. Every caller is a place where the secret leaves the type.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Secret<Vec<u8>> {
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
    fn serializes_as_plain_string_for_storage() {
        let s = Secret::new("abc");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"abc\"");
    }
}
