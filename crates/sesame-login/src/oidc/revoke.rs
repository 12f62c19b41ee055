//! Token revocation (RFC 7009): `sesame logout --revoke` tells the provider to forget the
//! refresh token and the access token before the session is deleted here.

use crate::http;
use crate::login_error::LoginError;
use crate::secret::Secret;
use url::Url;

/// What the provider did with a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    /// HTTP 200: the token is revoked, or the provider did not know it.
    Yes,
    /// `unsupported_token_type` (§2.2.1): the provider cannot revoke this kind of token, e.g. a
    /// self-contained JWT access token, which stays valid until it expires.
    NotRevocable,
}

/// Revokes one token. The provider answers 200 whether or not it knew the token (§2.2), so
/// 200 is success; `unsupported_token_type` says it cannot; anything else is an error with the
/// provider's words.
pub async fn revoke(
    client: &reqwest::Client,
    endpoint: &Url,
    client_id: &str,
    client_secret: Option<&Secret>,
    token: &Secret,
    hint: &str,
) -> Result<Revoked, LoginError> {
    let mut form = vec![("token", token.expose()), ("token_type_hint", hint)];
    let mut request = client.post(endpoint.clone());
    match client_secret {
        Some(s) => request = request.basic_auth(client_id, Some(s.expose())),
        None => form.push(("client_id", client_id)),
    }
    // §2.2: only the status matters on success; the body of an error may say why.
    let resp = http::send(
        request
            .form(&form)
            .timeout(std::time::Duration::from_secs(30)),
    )
    .await
    .map_err(|e| LoginError::Unreachable {
        url: http::redact(endpoint),
        reason: http::describe(&e),
    })?;
    let status = resp.status().as_u16();
    if status == 200 {
        return Ok(Revoked::Yes);
    }
    let body: serde_json::Value = resp
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b[..b.len().min(http::MAX_BODY)]).ok())
        .unwrap_or_default();
    if body.get("error").and_then(|e| e.as_str()) == Some("unsupported_token_type") {
        return Ok(Revoked::NotRevocable);
    }
    let said = ["error", "error_description"]
        .iter()
        .filter_map(|k| body.get(*k)?.as_str())
        .collect::<Vec<_>>()
        .join(": ");
    if client_secret.is_none() && matches!(status, 401 | 403) {
        // Providers whose discovery lists only `client_secret_*` under
        // `revocation_endpoint_auth_methods_supported` revoke for confidential clients only.
        return Err(LoginError::Refused(format!(
            "the provider refused to revoke the {} (HTTP {status}{}): it revokes tokens only for clients that authenticate with a secret, and {client_id} is a public client here",
            hint.replace('_', " "),
            if said.is_empty() {
                String::new()
            } else {
                format!(", {said}")
            }
        )));
    }
    Err(LoginError::Server(format!(
        "the provider did not revoke the {} (HTTP {status}{})",
        hint.replace('_', " "),
        if said.is_empty() {
            String::new()
        } else {
            format!(", {said}")
        }
    )))
}
