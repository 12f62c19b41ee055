//! The direct OAuth 2.0 grants, where no browser is involved: the resource-owner password
//! grant (RFC 6749 §4.3), with Auth0's MFA extension (`mfa_required` answered with an
//! `mfa_token`, finished with the `mfa-otp` grant), and client credentials (§4.4).
//!
//! These are plain form posts to the token endpoint. They do not go through the `oauth2` crate
//! because its error type keeps only `error`, `error_description` and `error_uri`, and the
//! MFA exchange needs the `mfa_token` that comes with the error.

use super::TokenResp;
use crate::http;
use crate::login_error::LoginError;
use crate::secret::Secret;
use oauth2::TokenResponse;
use serde::Deserialize;
use url::Url;

/// Auth0's grant type for finishing a password login with a one-time code.
pub const MFA_OTP_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-otp";

/// Who is asking: the token endpoint and the client's credentials.
pub struct TokenClient<'a> {
    /// The client that sends the form, under sesame's transport rules.
    pub http: &'a reqwest::Client,
    /// The provider's token endpoint.
    pub endpoint: &'a Url,
    /// The OAuth client ID.
    pub client_id: &'a str,
    /// With a secret, HTTP Basic (RFC 6749 §2.3.1); without, `client_id` in the body.
    pub client_secret: Option<&'a Secret>,
}

/// A password grant's answer.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// The provider issued tokens.
    Tokens(Box<TokenResp>),
    /// The provider wants a one-time code, to be sent with this token.
    MfaRequired {
        /// Auth0's `mfa_token`, for [`TokenClient::mfa_otp`].
        mfa_token: Secret,
    },
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    mfa_token: Option<Secret>,
}

impl TokenClient<'_> {
    /// The password grant for `user`, with `scopes` and the `extra` parameters. A wrong password
    /// (`invalid_grant` and the like) is [`LoginError::Credentials`].
    pub async fn password(
        &self,
        user: &str,
        password: &Secret,
        scopes: &[String],
        extra: &[(String, String)],
    ) -> Result<PasswordOutcome, LoginError> {
        let scope = scopes.join(" ");
        let mut form = vec![
            ("grant_type", "password"),
            ("username", user),
            ("password", password.expose()),
        ];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        form.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        match self.request(&form, "password login").await? {
            Ok(tokens) => Ok(PasswordOutcome::Tokens(Box::new(tokens))),
            Err(e) if e.error.as_deref() == Some("mfa_required") => match e.mfa_token {
                Some(mfa_token) if !mfa_token.expose().is_empty() => {
                    Ok(PasswordOutcome::MfaRequired { mfa_token })
                }
                _ => Err(LoginError::Protocol(
                    "the provider requires a second factor (mfa_required) but sent no mfa_token to answer it with".into(),
                )),
            },
            Err(e) => Err(refusal(e, "password login")),
        }
    }

    /// Finishes an `mfa_required` password login with the one-time code.
    pub async fn mfa_otp(&self, mfa_token: &Secret, otp: &Secret) -> Result<TokenResp, LoginError> {
        let form = [
            ("grant_type", MFA_OTP_GRANT),
            ("mfa_token", mfa_token.expose()),
            ("otp", otp.expose()),
        ];
        self.request(&form, "one-time code")
            .await?
            .map_err(|e| refusal(e, "one-time code"))
    }

    /// The client credentials grant, with `scopes` and the `extra` parameters: tokens for the
    /// client itself, which authenticates with its secret if it has one.
    pub async fn client_credentials(
        &self,
        scopes: &[String],
        extra: &[(String, String)],
    ) -> Result<TokenResp, LoginError> {
        let scope = scopes.join(" ");
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        form.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.request(&form, "client credentials grant")
            .await?
            .map_err(|e| refusal(e, "client credentials grant"))
    }

    /// One token request: the tokens, or the provider's error body.
    async fn request(
        &self,
        form: &[(&str, &str)],
        what: &str,
    ) -> Result<Result<TokenResp, ErrorBody>, LoginError> {
        let mut body: Vec<(&str, &str)> = form.to_vec();
        let mut request = self.http.post(self.endpoint.clone());
        match self.client_secret {
            Some(s) => request = request.basic_auth(self.client_id, Some(s.expose())),
            None => body.push(("client_id", self.client_id)),
        }
        let answer = http::send_for_json(request.form(&body), self.endpoint, what).await?;
        if (200..300).contains(&answer.status) {
            let tokens: TokenResp = serde_json::from_value(answer.json).map_err(|e| {
                LoginError::Protocol(format!(
                    "the provider's reply to the {what} is not a token response ({e})"
                ))
            })?;
            if tokens.access_token().secret().is_empty() {
                return Err(LoginError::Protocol(format!(
                    "the provider's reply to the {what} has an empty access token"
                )));
            }
            return Ok(Ok(tokens));
        }
        match serde_json::from_value::<ErrorBody>(answer.json) {
            Ok(e) if e.error.is_some() && answer.status < 500 => Ok(Err(e)),
            _ => Err(LoginError::Server(format!(
                "the provider failed the {what} (HTTP {})",
                answer.status
            ))),
        }
    }
}

/// A token endpoint's refusal, as the person needs to hear it. A wrong password or code is
/// the person's to fix (exit 4); a client the provider does not allow this grant is the
/// configuration's.
fn refusal(e: ErrorBody, what: &str) -> LoginError {
    let code = e.error.unwrap_or_default();
    let desc = e
        .error_description
        .map(|d| {
            format!(
                ": {}",
                d.chars()
                    .filter(|c| !c.is_control())
                    .take(300)
                    .collect::<String>()
            )
        })
        .unwrap_or_default();
    match code.as_str() {
        "invalid_grant" | "access_denied" | "invalid_request" | "expired_token" | "invalid_otp" => {
            LoginError::Credentials(format!("the provider refused the {what} ({code}){desc}"))
        }
        _ => LoginError::Refused(format!(
            "the provider refused the {what} ({code}){desc}; check that the client may use this grant"
        )),
    }
}
