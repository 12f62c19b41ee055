//! ID token verification (OpenID Connect Core §3.1.3.7): signature against the provider's JWKS,
//! `iss`, `aud`, `exp`, and the `nonce` we sent. Asymmetric algorithms only, so a token signed
//! with the public key as an HMAC secret (or `alg: none`) cannot pass.
//!
//! The JWKS is cached on disk per JWKS URL for as long as the provider's `Cache-Control` allows
//! (an hour when it does not say, never more than a day), so that a key the provider withdrew
//! stops being trusted; it is fetched again sooner when a token names a key the cache does not
//! hold (key rotation).

use crate::error::Error;
use crate::http;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What an ID token must say to be taken.
pub struct Expected<'a> {
    /// The issuer the token's `iss` must name (or the same with a `/` added).
    pub issuer: &'a str,
    /// Our client ID, which must be the audience (`aud`).
    pub client_id: &'a str,
    /// The `nonce` this login sent; `None` when none was sent (a refresh, a direct grant).
    pub nonce: Option<&'a str>,
}

/// How long a fetched JWKS is trusted when the provider sends no `Cache-Control: max-age`.
pub const DEFAULT_JWKS_TTL: u64 = 3600;
/// The longest a JWKS is trusted, whatever the provider says.
pub const MAX_JWKS_TTL: u64 = 86_400;

/// The cache file: the key set and when it stops being trusted.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedJwks {
    fetched_at: i64,
    max_age: u64,
    jwks: JwkSet,
}

impl CachedJwks {
    fn fresh_at(&self, now: i64) -> bool {
        let age = now.saturating_sub(self.fetched_at);
        age >= 0 && (age as u64) < self.max_age
    }
}

/// Seconds a reply may be reused, from its `Cache-Control` (RFC 9111 §5.2.2): `no-store`
/// and `no-cache` mean not at all, `max-age` is capped at [`MAX_JWKS_TTL`].
pub fn max_age(cache_control: Option<&str>) -> u64 {
    let Some(cc) = cache_control else {
        return DEFAULT_JWKS_TTL;
    };
    let mut age = None;
    for directive in cc.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return 0;
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            age = v.trim_matches('"').parse::<u64>().ok().or(Some(0));
        }
    }
    age.unwrap_or(DEFAULT_JWKS_TTL).min(MAX_JWKS_TTL)
}

fn cache_path(cache_dir: &Path, jwks_uri: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    jwks_uri.hash(&mut h);
    cache_dir.join(format!("jwks-{:016x}.json", h.finish()))
}

async fn fetch(client: &reqwest::Client, jwks_uri: &str, now: i64) -> Result<CachedJwks, Error> {
    let url = Url::parse(jwks_uri)
        .map_err(|e| Error::other(format!("The JWKS URL is invalid ({e}).")))?;
    let (body, headers) = http::get_with_headers(client, &url, Duration::from_secs(15))
        .await
        .map_err(|e| {
            Error::other(format!(
                "Could not fetch the provider's signing keys from {jwks_uri}: {e}."
            ))
        })?;
    let jwks = serde_json::from_slice(&body)
        .map_err(|e| Error::other(format!("The provider's JWKS is not valid ({e}).")))?;
    let cache_control = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok());
    Ok(CachedJwks {
        fetched_at: now,
        max_age: max_age(cache_control),
        jwks,
    })
}

/// Verifies `token` and returns its claims.
pub async fn verify(
    client: &reqwest::Client,
    jwks_uri: Option<&str>,
    cache_dir: &Path,
    token: &str,
    expected: &Expected<'_>,
) -> Result<serde_json::Map<String, Value>, Error> {
    let invalid = |why: String| {
        Error::other(format!("The ID token from the provider is not valid: {why}. Nothing was saved."))
            .hint("If this repeats, the provider or something between you and it is misbehaving; report it.")
    };
    let jwks_uri = jwks_uri
        .ok_or_else(|| invalid("the provider publishes no jwks_uri to check it against".into()))?;
    let header = decode_header(token).map_err(|e| invalid(format!("malformed ({e})")))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(invalid(format!(
            "algorithm {:?} is not accepted",
            header.alg
        )));
    }
    let now = crate::clock::unix_seconds(std::time::SystemTime::now());
    let path = cache_path(cache_dir, jwks_uri);
    // A cache from before TTLs (a bare key set) does not parse, and is fetched again.
    let cached: Option<JwkSet> = crate::private_file::read_own(&path, 1024 * 1024)
        .ok()
        .and_then(|b| serde_json::from_slice::<CachedJwks>(&b).ok())
        .filter(|c| c.fresh_at(now))
        .map(|c| c.jwks);
    let find = |set: &JwkSet| -> Option<jsonwebtoken::jwk::Jwk> {
        match &header.kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        }
    };
    let key = match cached.as_ref().and_then(find) {
        Some(k) => k,
        None => {
            let fetched = fetch(client, jwks_uri, now).await?;
            if fetched.max_age > 0 && crate::private_file::ensure_dir(cache_dir).is_ok() {
                if let Ok(bytes) = serde_json::to_vec(&fetched) {
                    let _ = crate::private_file::write_atomically(&path, &bytes);
                }
            } else {
                let _ = std::fs::remove_file(&path);
            }
            find(&fetched.jwks)
                .ok_or_else(|| invalid(format!(
                    "its signing key {} is not in the provider's JWKS (withdrawn or never published)",
                    header.kid.as_deref().map_or("(no kid)".to_string(), |k| format!("{k:?}"))
                )))?
        }
    };
    let decoding =
        DecodingKey::from_jwk(&key).map_err(|e| invalid(format!("unusable key ({e})")))?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[expected.client_id]);
    v.set_issuer(&[expected.issuer, &format!("{}/", expected.issuer)]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = 60;
    let data = decode::<serde_json::Map<String, Value>>(token, &decoding, &v)
        .map_err(|e| invalid(e.to_string()))?;
    if let Some(nonce) = expected.nonce {
        let got = data.claims.get("nonce").and_then(Value::as_str);
        let same = got.is_some_and(|g| {
            use subtle::ConstantTimeEq;
            bool::from(g.as_bytes().ct_eq(nonce.as_bytes()))
        });
        if !same {
            return Err(invalid(
                "its nonce is not the one this login sent (a replayed token?)".into(),
            ));
        }
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_sets_the_jwks_lifetime() {
        assert_eq!(max_age(None), DEFAULT_JWKS_TTL);
        assert_eq!(max_age(Some("public, max-age=600")), 600);
        assert_eq!(max_age(Some("max-age=600, no-cache")), 0);
        assert_eq!(max_age(Some("no-store")), 0);
        assert_eq!(max_age(Some("max-age=999999999")), MAX_JWKS_TTL);
        assert_eq!(max_age(Some("max-age=garbage")), 0);
        assert_eq!(max_age(Some("public")), DEFAULT_JWKS_TTL);
    }

    #[test]
    fn a_cached_set_is_trusted_only_within_its_max_age() {
        let c = CachedJwks {
            fetched_at: 1_000,
            max_age: 60,
            jwks: JwkSet { keys: vec![] },
        };
        assert!(c.fresh_at(1_000));
        assert!(c.fresh_at(1_059));
        assert!(!c.fresh_at(1_060));
        assert!(!c.fresh_at(999), "a cache from the future is not trusted");
        assert!(!c.fresh_at(i64::MIN));
    }
}
