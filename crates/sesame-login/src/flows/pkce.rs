//! Authorization code with PKCE (RFC 7636, S256) over a loopback redirect (RFC 8252): the
//! protocol half. The caller runs the [`callback`](super::callback) server, opens the URL and
//! hands back what the browser brought.

use super::callback::Params;
use crate::login_error::LoginError;
use crate::oidc::{HttpAdapter, OAuthClient, TokenResp, request_error};
use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope};
use url::Url;

/// An authorization request ready to open, with what the rest of the login needs from it.
pub struct AuthRequest {
    /// The provider's authorization URL: scopes, PKCE challenge, `state`, `nonce` and the extra
    /// parameters.
    pub url: Url,
    /// The random `nonce` sent; the ID token must carry it back.
    pub nonce: String,
    /// The PKCE verifier, kept for [`exchange`].
    pub verifier: PkceCodeVerifier,
}

/// The authorization URL. `state` is the callback server's; `extra` carries `audience`,
/// `resource` and the like.
pub fn authorization_url(
    oauth: &OAuthClient,
    state: &str,
    scopes: &[String],
    extra: &[(String, String)],
) -> Result<AuthRequest, LoginError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = super::callback::random_state();
    let state = state.to_string();
    let mut req = oauth
        .authorize_url(move || CsrfToken::new(state))
        .map_err(|_| LoginError::NoEndpoint {
            endpoint: "authorization",
            flow: "browser",
            instead: "device",
        })?
        .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())))
        .set_pkce_challenge(challenge)
        .add_extra_param("nonce", nonce.clone());
    // OIDC Core §11: offline_access is only honoured with prompt=consent.
    if scopes.iter().any(|s| s == "offline_access") {
        req = req.add_extra_param("prompt", "consent");
    }
    for (k, v) in extra {
        req = req.add_extra_param(k.clone(), v.clone());
    }
    let (url, _) = req.url();
    Ok(AuthRequest {
        url,
        nonce,
        verifier,
    })
}

/// Reads the callback: the code, or the provider's refusal. `iss`, when present, must be our
/// issuer (RFC 9207, against mix-up attacks).
pub fn code_from(params: &Params, issuer: &str) -> Result<String, LoginError> {
    if let Some(iss) = &params.iss
        && iss.trim_end_matches('/') != issuer.trim_end_matches('/')
    {
        return Err(LoginError::Refused(format!(
            "the authorization response names issuer {iss:?}, not {issuer:?}"
        )));
    }
    if let Some(error) = &params.error {
        let desc = params
            .error_description
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        return Err(match error.as_str() {
            "access_denied" => LoginError::Denied,
            _ => LoginError::Server(format!("the provider refused the login: {error}{desc}")),
        });
    }
    params
        .code
        .clone()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            LoginError::Protocol("the browser came back without a code or an error".into())
        })
}

/// Trades the authorization `code` for tokens at the token endpoint, with the PKCE verifier; a 5xx
/// answer is not retried.
pub async fn exchange(
    oauth: &OAuthClient,
    client: &reqwest::Client,
    code: String,
    verifier: PkceCodeVerifier,
) -> Result<TokenResp, LoginError> {
    let http = HttpAdapter {
        client,
        retry_server_errors: false,
        events: None,
        last_status: Default::default(),
    };
    oauth
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .map_err(|e| request_error(e, "code exchange"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        let mut out = Params::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "code" => out.code = v,
                "error" => out.error = v,
                "error_description" => out.error_description = v,
                "iss" => out.iss = v,
                _ => {}
            }
        }
        out
    }

    #[test]
    fn callback_parameters() {
        assert_eq!(code_from(&p(&[("code", "c")]), "https://i").unwrap(), "c");
        assert!(matches!(
            code_from(&p(&[("error", "access_denied")]), "https://i"),
            Err(LoginError::Denied)
        ));
        let e = code_from(
            &p(&[("error", "invalid_scope"), ("error_description", "nope")]),
            "https://i",
        )
        .unwrap_err();
        assert!(e.to_string().contains("invalid_scope") && e.to_string().contains("nope"));
        assert!(matches!(
            code_from(&p(&[("code", "c"), ("iss", "https://evil")]), "https://i"),
            Err(LoginError::Refused(_))
        ));
        assert!(code_from(&p(&[("code", "c"), ("iss", "https://i/")]), "https://i").is_ok());
        assert!(matches!(
            code_from(&p(&[]), "https://i"),
            Err(LoginError::Protocol(_))
        ));
    }
}
