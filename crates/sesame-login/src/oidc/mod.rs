//! OAuth 2.0 / OpenID Connect plumbing shared by the browser and device flows and by refresh:
//! provider endpoints (discovery or explicit), the `oauth2` client, the adapter that lets
//! `oauth2` use our reqwest client, and turning a token response into a [`Session`].

pub mod grants;
pub mod idtoken;
pub mod revoke;

use crate::error::Error;
use crate::http;
use crate::jwt;
use crate::login_error::LoginError;
use crate::secret::{Secret, Token};
use crate::session::{Flow, OAuthInfo, Session, UserName};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, DeviceAuthorizationUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, ExtraTokenFields, HttpRequest, HttpResponse,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use url::Url;

/// `id_token` next to the standard fields: `BasicClient` would drop it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenFields {
    /// The ID token, when the provider sent one (OpenID Connect, not plain OAuth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Secret>,
}

impl ExtraTokenFields for IdTokenFields {}

/// A token endpoint's reply, with its `id_token` kept.
pub type TokenResp = StandardTokenResponse<IdTokenFields, BasicTokenType>;

/// The `oauth2` client sesame builds: the token endpoint always set, the authorization and device
/// endpoints when the provider has them.
pub type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenResp,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointMaybeSet,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Where the provider's endpoints are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    /// The issuer identifier; a discovery document must name the issuer it was fetched for.
    pub issuer: String,
    /// Where the browser flow sends the person; `None` when the provider has none.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Where grants (a code, a device code, a password, a refresh token) are traded for tokens.
    pub token_endpoint: String,
    /// Where the device flow asks for a user code; `None` when the provider has none.
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    /// Where the keys that sign ID tokens are published.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// What `status --remote` asks whom a token belongs to.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// Where `logout --revoke` revokes tokens (RFC 7009).
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
}

impl Provider {
    /// The endpoints a session kept, for refreshing and renewing without discovery.
    pub fn from_saved(info: &OAuthInfo) -> Provider {
        Provider {
            issuer: info.issuer.clone(),
            authorization_endpoint: None,
            token_endpoint: info.token_endpoint.clone(),
            device_authorization_endpoint: None,
            jwks_uri: info.jwks_uri.clone(),
            userinfo_endpoint: info.userinfo_endpoint.clone(),
            revocation_endpoint: info.revocation_endpoint.clone(),
        }
    }
}

/// Explicit endpoints from the settings, each overriding what discovery says.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// The authorization endpoint.
    pub authorization: Option<Url>,
    /// The token endpoint.
    pub token: Option<Url>,
    /// The device authorization endpoint.
    pub device: Option<Url>,
    /// The JWKS URI, for verifying ID tokens.
    pub jwks: Option<Url>,
}

impl Endpoints {
    /// Whether discovery can be skipped: a token endpoint is given, and an authorization or a
    /// device endpoint.
    pub fn is_complete(&self) -> bool {
        self.token.is_some() && (self.authorization.is_some() || self.device.is_some())
    }
}

fn discovery_url(issuer: &Url) -> Url {
    let mut u = issuer.clone();
    // Settings only let http(s) URLs through, and those always have a path.
    if let Ok(mut segments) = u.path_segments_mut() {
        segments
            .pop_if_empty()
            .extend([".well-known", "openid-configuration"]);
    }
    u
}

/// Whether a provider's endpoints may be plain http to another machine (`--allow-http`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainHttp {
    /// https only, except to this machine.
    Refuse,
    /// Plain http to any host too.
    Allow,
}

/// Reads the provider's metadata (OpenID Connect Discovery 1.0 §4), unless the explicit
/// endpoints make it unnecessary.
pub async fn provider(
    client: &reqwest::Client,
    issuer: &Url,
    explicit: &Endpoints,
    plain_http: PlainHttp,
) -> Result<Provider, Error> {
    let issuer_str = issuer.as_str().trim_end_matches('/').to_string();
    let mut p = if explicit.is_complete() {
        Provider {
            issuer: issuer_str.clone(),
            authorization_endpoint: None,
            token_endpoint: String::new(),
            device_authorization_endpoint: None,
            jwks_uri: None,
            userinfo_endpoint: None,
            revocation_endpoint: None,
        }
    } else {
        let url = discovery_url(issuer);
        let body = http::get_limited(client, &url, Duration::from_secs(15))
            .await
            .map_err(|e| {
                Error::other(format!("Could not read the provider's OpenID configuration at {url}: {e}."))
                    .hint("Check --issuer (it is the URL before /.well-known/openid-configuration), or give the endpoints explicitly.")
            })?;
        let p: Provider = serde_json::from_slice(&body).map_err(|e| {
            Error::other(format!(
                "The OpenID configuration at {url} is not valid ({e})."
            ))
        })?;
        // Discovery §4.3: the issuer in the document must be the one we asked.
        if p.issuer.trim_end_matches('/') != issuer_str {
            return Err(Error::other(format!(
                "The provider at {issuer_str} says its issuer is {:?}; refusing a mismatched configuration.",
                p.issuer
            ))
            .hint("Use exactly the issuer URL the provider publishes as --issuer."));
        }
        p
    };
    if let Some(u) = &explicit.authorization {
        p.authorization_endpoint = Some(u.to_string());
    }
    if let Some(u) = &explicit.token {
        p.token_endpoint = u.to_string();
    }
    if let Some(u) = &explicit.device {
        p.device_authorization_endpoint = Some(u.to_string());
    }
    if let Some(u) = &explicit.jwks {
        p.jwks_uri = Some(u.to_string());
    }
    for u in [
        Some(&p.token_endpoint),
        p.authorization_endpoint.as_ref(),
        p.device_authorization_endpoint.as_ref(),
        p.jwks_uri.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        http::check_server_url(u, plain_http == PlainHttp::Allow)?;
    }
    Ok(p)
}

/// The `oauth2` client for a provider. Public clients send `client_id` in the body; with a
/// secret, HTTP Basic (RFC 6749 §2.3.1).
pub fn oauth_client(
    provider: &Provider,
    client_id: &str,
    client_secret: Option<&Secret>,
    redirect: Option<&Url>,
) -> Result<OAuthClient, Error> {
    let bad = |what: &str, e: url::ParseError| {
        Error::other(format!("The provider's {what} is not a URL ({e})."))
    };
    let mut c = oauth2::Client::new(ClientId::new(client_id.to_string()))
        .set_token_uri(
            TokenUrl::new(provider.token_endpoint.clone()).map_err(|e| bad("token endpoint", e))?,
        )
        .set_auth_uri_option(
            provider
                .authorization_endpoint
                .clone()
                .map(AuthUrl::new)
                .transpose()
                .map_err(|e| bad("authorization endpoint", e))?,
        )
        .set_device_authorization_url_option(
            provider
                .device_authorization_endpoint
                .clone()
                .map(DeviceAuthorizationUrl::new)
                .transpose()
                .map_err(|e| bad("device authorization endpoint", e))?,
        );
    c = match client_secret {
        Some(s) => c
            .set_client_secret(ClientSecret::new(s.expose().to_string()))
            .set_auth_type(AuthType::BasicAuth),
        None => c.set_auth_type(AuthType::RequestBody),
    };
    if let Some(r) = redirect {
        c = c.set_redirect_uri(oauth2::RedirectUrl::from_url(r.clone()));
    }
    Ok(c)
}

/// A transport failure, as `oauth2` sees it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Lets `oauth2` send its requests through our reqwest client (it is built for reqwest 0.12).
/// With `retry_server_errors`, HTTP 5xx and 429 become transport errors, which `oauth2`'s device
/// polling retries with backoff (RFC 8628 §3.5) instead of giving up.
pub struct HttpAdapter<'a> {
    /// The client that sends the requests, under sesame's transport rules.
    pub client: &'a reqwest::Client,
    /// Turn HTTP 5xx and 429 into transport errors, for polling that retries them.
    pub retry_server_errors: bool,
    /// Told about retried failures, for the spinner.
    pub events: Option<&'a dyn crate::events::Events>,
    /// The HTTP status of the last reply: `oauth2` reports a refusal with an empty body
    /// without it, and a refresh answered 400 or 401 means the session is over.
    pub last_status: std::sync::atomic::AtomicU16,
}

impl<'c> oauth2::AsyncHttpClient<'c> for HttpAdapter<'_> {
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut resp = http::send(
                self.client
                    .request(parts.method, parts.uri.to_string())
                    .headers(parts.headers)
                    .body(body)
                    .timeout(Duration::from_secs(30)),
            )
            .await
            .map_err(|e| {
                let reason = http::describe(&e);
                if let Some(ev) = self.events {
                    ev.progress(crate::events::Progress::Retrying { reason: &reason });
                }
                TransportError(reason)
            })?;
            let status = resp.status();
            self.last_status
                .store(status.as_u16(), std::sync::atomic::Ordering::Relaxed);
            if self.retry_server_errors && (status.is_server_error() || status.as_u16() == 429) {
                let reason = format!("the provider answered HTTP {}", status.as_u16());
                if let Some(ev) = self.events {
                    ev.progress(crate::events::Progress::Retrying { reason: &reason });
                }
                return Err(TransportError(reason));
            }
            let headers = resp.headers().clone();
            let body = http::read_body(&mut resp).await.map_err(|e| match e {
                http::BodyError::TooLarge => TransportError("the reply is too large".into()),
                http::BodyError::Read(reason) => TransportError(reason),
            })?;
            if !status.is_success() {
                // What a failed exchange said, for `-v`: without it a refusal cannot be
                // diagnosed. Token-like values are elided.
                tracing::debug!(
                    target: "sesame::http",
                    "HTTP {} reply body: {}",
                    status.as_u16(),
                    http::body_for_log(&body)
                );
            }
            let mut out = HttpResponse::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// What an `oauth2` request error means to the person at the terminal.
pub fn request_error<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    e: oauth2::RequestTokenError<RE, T>,
    what: &str,
) -> LoginError {
    use oauth2::RequestTokenError as R;
    match e {
        R::ServerResponse(r) => {
            let v = serde_json::to_value(&r).unwrap_or_default();
            let code = v
                .get("error")
                .and_then(|c| c.as_str())
                .unwrap_or("error")
                .to_string();
            let desc = v
                .get("error_description")
                .and_then(|c| c.as_str())
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            match code.as_str() {
                "access_denied" => LoginError::Denied,
                "expired_token" => LoginError::Expired,
                _ => LoginError::Server(format!("the provider refused the {what}: {code}{desc}")),
            }
        }
        R::Request(e) => LoginError::Unreachable {
            url: what.to_string(),
            reason: e.to_string(),
        },
        R::Parse(e, _) => LoginError::Protocol(format!(
            "the provider's reply to the {what} is not valid JSON ({e})"
        )),
        R::Other(m) => LoginError::Protocol(format!("the {what} failed: {m}")),
    }
}

/// The `error` code of a token-endpoint refusal, if that is what `e` is.
pub fn error_code<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    e: &oauth2::RequestTokenError<RE, T>,
) -> Option<String> {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => serde_json::to_value(r)
            .ok()?
            .get("error")?
            .as_str()
            .map(str::to_owned),
        _ => None,
    }
}

/// Who asked whom for the tokens: what a session records besides the tokens.
pub struct Grant<'a> {
    /// The profile the session is saved under.
    pub profile: &'a str,
    /// The provider that granted the tokens.
    pub provider: &'a Provider,
    /// The OAuth client that asked for them.
    pub client_id: &'a str,
    /// The scopes asked for, kept with the session for refreshing.
    pub scopes: &'a [String],
    /// The login flow that got the tokens.
    pub flow: Flow,
}

/// Builds the session from a token response (after the ID token, if any, was verified),
/// checking each value the provider sent where it enters: the tokens must be tokens, the user
/// printable, and the lifetime within ten years.
pub fn session_from(
    grant: &Grant,
    resp: &TokenResp,
    previous_refresh: Option<&Secret>,
    fallback_user: &UserName,
    now: i64,
) -> Result<Session, LoginError> {
    let Grant {
        profile,
        provider,
        client_id,
        scopes,
        flow,
    } = *grant;
    let unusable = |what: &str, e: String| {
        LoginError::Protocol(format!("the provider's {what} is unusable: {e}"))
    };
    let access = Token::issued(resp.access_token().secret())
        .map_err(|e| unusable("access token", e.to_string()))?;
    let id_token = resp
        .extra_fields()
        .id_token
        .as_ref()
        .map(|t| Token::issued(t.expose()))
        .transpose()
        .map_err(|e| unusable("ID token", e.to_string()))?;
    let expires_at = match resp.expires_in() {
        Some(d) if d.as_secs() > crate::protocol::MAX_LIFETIME_SECS as u64 => {
            return Err(unusable(
                "expires_in",
                format!("{} seconds is over ten years", d.as_secs()),
            ));
        }
        Some(d) => Some(now.saturating_add(d.as_secs() as i64)),
        None => jwt::expiry(access.expose()),
    };
    let user = match id_token
        .as_ref()
        .and_then(|t| jwt::subject(t.expose()))
        .or_else(|| jwt::subject(access.expose()))
    {
        Some(sub) => UserName::new(&sub).map_err(|e| unusable("user (sub claim)", e))?,
        None => fallback_user.clone(),
    };
    Ok(Session {
        expires_at,
        // Without rotation the provider sends no new refresh token: keep the old one.
        refresh_token: resp
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone()))
            .or_else(|| previous_refresh.cloned()),
        id_token,
        oauth: Some(OAuthInfo {
            issuer: provider.issuer.clone(),
            client_id: client_id.to_string(),
            token_endpoint: provider.token_endpoint.clone(),
            jwks_uri: provider.jwks_uri.clone(),
            scopes: scopes.to_vec(),
            userinfo_endpoint: provider.userinfo_endpoint.clone(),
            revocation_endpoint: provider.revocation_endpoint.clone(),
            extra: Vec::new(),
        }),
        ..Session::new(profile, provider.issuer.clone(), user, flow, access, now)
    })
}
