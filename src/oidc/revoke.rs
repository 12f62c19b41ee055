//! Token revocation (RFC 7009): `sesame logout --revoke` tells the provider to forget the
//! refresh token and the access token before the session is deleted here.

use crate::http;
use crate::login_error::LoginError;
use crate::secret::Secret;
use url::Url;

/// What the provider did with a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
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
    let answer = http::send_for_json(request.form(&form), endpoint, "revocation").await?;
    if answer.status == 200 {
        return Ok(Revoked::Yes);
    }
    if answer.json.get("error").and_then(|e| e.as_str()) == Some("unsupported_token_type") {
        return Ok(Revoked::NotRevocable);
    }
    let said = ["error", "error_description"]
        .iter()
        .filter_map(|k| answer.json.get(*k)?.as_str())
        .collect::<Vec<_>>()
        .join(": ");
    Err(LoginError::Server(format!(
        "the provider did not revoke the {} (HTTP {}{})",
        hint.replace('_', " "),
        answer.status,
        if said.is_empty() {
            String::new()
        } else {
            format!(", {said}")
        }
    )))
}
