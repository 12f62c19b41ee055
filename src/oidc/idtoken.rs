//! ID token verification (OpenID Connect Core §3.1.3.7): signature against the provider's JWKS,
//! `iss`, `aud`, `exp`, and the `nonce` we sent. Asymmetric algorithms only, so a token signed
//! with the public key as an HMAC secret (or `alg: none`) cannot pass.
//!
//! The JWKS is cached on disk per JWKS URL and fetched again when a token names a key the cache
//! does not hold (key rotation).

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

pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: Option<&'a str>,
}

fn cache_path(cache_dir: &Path, jwks_uri: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    jwks_uri.hash(&mut h);
    cache_dir.join(format!("jwks-{:016x}.json", h.finish()))
}

async fn fetch(client: &reqwest::Client, jwks_uri: &str) -> Result<JwkSet, Error> {
    let url = Url::parse(jwks_uri)
        .map_err(|e| Error::other(format!("The JWKS URL is invalid ({e}).")))?;
    let body = http::get_limited(client, &url, Duration::from_secs(15))
        .await
        .map_err(|e| {
            Error::other(format!(
                "Could not fetch the provider's signing keys from {jwks_uri}: {e}."
            ))
        })?;
    serde_json::from_slice(&body)
        .map_err(|e| Error::other(format!("The provider's JWKS is not valid ({e}).")))
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
    let path = cache_path(cache_dir, jwks_uri);
    let cached: Option<JwkSet> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
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
            let set = fetch(client, jwks_uri).await?;
            if std::fs::create_dir_all(cache_dir).is_ok() {
                let _ = std::fs::write(&path, serde_json::to_vec(&set).unwrap_or_default());
            }
            find(&set)
                .ok_or_else(|| invalid(format!("no key {:?} in the provider's JWKS", header.kid)))?
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
