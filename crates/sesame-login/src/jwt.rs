//! Reading a JWT's claims for display and expiry. This does not verify anything: the token came
//! from the server we asked, and verification (where a flow needs it) lives with that flow.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// The claims of a compact JWS, or `None` if the token is not one.
pub fn claims(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The `exp` claim, when present and numeric.
pub fn expiry(token: &str) -> Option<i64> {
    claims(token)?.get("exp")?.as_i64()
}

/// The best name for the token's subject: email, then preferred_username, then sub.
pub fn subject(token: &str) -> Option<String> {
    let c = claims(token)?;
    ["email", "preferred_username", "user", "sub"]
        .iter()
        .find_map(|k| c.get(*k)?.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: &str) -> String {
        format!(
            "eyJhbGciOiJIUzI1NiJ9.{}.sig",
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn reads_claims() {
        let t = token(r#"{"email":"alice@example.com","exp":1700000000}"#);
        assert_eq!(expiry(&t), Some(1_700_000_000));
        assert_eq!(subject(&t).as_deref(), Some("alice@example.com"));
    }

    #[test]
    fn opaque_tokens_have_no_claims() {
        assert!(claims("not-a-jwt").is_none());
        assert!(claims("a.b.c.d").is_none());
        assert!(claims("a.%%%.c").is_none());
        assert!(claims(&token("[1,2]")).is_none());
    }
}
