//! The JWT the reference server issues: HS256 with the server's secret, claims as ConsoleMe
//! puts them (email, groups, iat, nbf, exp) plus `sub` and `iss`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::Serialize;
use sesame_login::secret::Secret;

#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    email: &'a str,
    groups: &'a [String],
    iss: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
}

pub fn mint(
    secret: &[u8],
    user: &str,
    groups: &[String],
    issuer: &str,
    now: i64,
    exp: i64,
) -> Secret {
    let claims = Claims {
        sub: user,
        email: user,
        groups,
        iss: issuer,
        iat: now,
        nbf: now,
        exp,
    };
    #[allow(
        clippy::expect_used,
        reason = "HS256 over plain serializable claims has no failure path"
    )]
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing of plain claims cannot fail");
    Secret::new(token)
}

/// The claims of a JWT this server issued, if its signature checks and it has not expired.
pub fn verify(secret: &[u8], token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_required_spec_claims(&["exp"]);
    // A token that says it is not valid yet is not (RFC 7519 §4.1.5); jsonwebtoken checks
    // `nbf` only when asked.
    v.validate_nbf = true;
    v.leeway = 0;
    decode::<serde_json::Map<String, serde_json::Value>>(
        token,
        &DecodingKey::from_secret(secret),
        &v,
    )
    .ok()
    .map(|d| d.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};

    #[test]
    fn verifies_with_the_same_secret_only() {
        let t = mint(
            b"0123456789abcdef0123456789abcdef",
            "alice",
            &["eng".into()],
            "http://s",
            1,
            4_000_000_000,
        );
        let mut v = Validation::new(Algorithm::HS256);
        v.set_required_spec_claims(&["exp"]);
        let data = decode::<serde_json::Value>(
            t.expose(),
            &DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
            &v,
        )
        .unwrap();
        assert_eq!(data.claims["email"], "alice");
        assert_eq!(data.claims["groups"][0], "eng");
        assert!(
            decode::<serde_json::Value>(t.expose(), &DecodingKey::from_secret(b"other"), &v)
                .is_err()
        );
        let key = b"0123456789abcdef0123456789abcdef";
        assert_eq!(verify(key, t.expose()).unwrap()["sub"], "alice");
        assert!(verify(b"other", t.expose()).is_none());
        let old = mint(key, "alice", &[], "http://s", 1, 2);
        assert!(verify(key, old.expose()).is_none(), "expired");
    }

    /// Regression (issue 17, item 20): `nbf` was not checked.
    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let key = b"0123456789abcdef0123456789abcdef";
        let claims =
            serde_json::json!({"sub": "alice", "exp": 4_000_000_000u64, "nbf": 3_999_999_999u64});
        let early = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .unwrap();
        assert!(verify(key, &early).is_none());
        let claims = serde_json::json!({"sub": "alice", "exp": 4_000_000_000u64, "nbf": 1});
        let ok = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .unwrap();
        assert!(verify(key, &ok).is_some());
    }
}
