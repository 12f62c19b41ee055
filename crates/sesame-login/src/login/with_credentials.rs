//! Logins with direct credentials, where no browser takes part: a JSON login API (password,
//! then maybe a one-time code), the OAuth password and client-credentials grants, an API key,
//! and a user name and password kept for HTTP Basic.
//!
//! Secrets are read before anything is sent and only after the store is known to work, and no
//! Ctrl-C handler is installed: an interrupted prompt or request ends the process with nothing
//! saved, and the terminal's echo is restored by the prompt's own guard or the shell.

use super::prompt;
use crate::clock::unix_seconds;
use crate::error::Error;
use crate::http;
use crate::json_api::{self, JsonApi, Step};
use crate::oidc::grants::{PasswordOutcome, TokenClient};
use crate::oidc::{self, PlainHttp, Provider, TokenResp, idtoken};
use crate::output::Printer;
use crate::present::UseAs;
use crate::secret::Token;
use crate::session::{Flow, Session, UserName};
use crate::settings::LoginSettings;
use crate::store::TokenStore;
use std::time::SystemTime;
use url::Url;

fn now() -> i64 {
    unix_seconds(SystemTime::now())
}

/// The user a password login is for: `--user`, `SESAME_USER`, `user` in the profile, or the
/// OS user.
fn user(settings: &LoginSettings) -> Result<UserName, Error> {
    settings.user.clone().ok_or_else(|| {
        Error::usage("A password login needs a user name.")
            .hint("Pass --user NAME, set SESAME_USER, or set `user` in the profile's config.")
    })
}

/// `--flow password` against a JSON login API.
pub(super) async fn json_login(
    settings: &LoginSettings,
    api: &JsonApi,
    printer: &Printer,
) -> Result<Session, Error> {
    let user = user(settings)?;
    let password = prompt::password(&user, settings.direct.password_stdin)?;
    let login_url = Url::parse(&api.login_url)
        .map_err(|e| Error::usage(format!("`login-url` is not a URL ({e}).")))?;
    let client = http::client_for(&login_url)?;
    printer.info(&format!(
        "Logging in to {} as {user}…",
        login_url.host_str().unwrap_or_default()
    ));
    let tokens = match json_api::login(&client, api, &user, &password, now()).await? {
        Step::Done(tokens) => tokens,
        Step::SecondFactor(mfa) => {
            printer.info("The server asks for a one-time code (second factor).");
            let otp = prompt::one_time_code()?;
            json_api::second_factor(&client, api, &user, &password, &mfa, &otp, now()).await?
        }
    };
    let use_as = settings.direct.use_as.clone();
    let session = Session {
        expires_at: tokens.expires_at,
        // Without a refresh URL the refresh token cannot be used: not kept, not advertised.
        refresh_token: tokens.refresh_token.clone().filter(|_| api.can_refresh()),
        json_api: (api.can_refresh() && tokens.refresh_token.is_some()).then(|| api.clone()),
        use_as,
        whoami_url: settings.direct.whoami_url.as_ref().map(Url::to_string),
        ..Session::new(
            &settings.common.profile,
            format!("{}/", login_url.origin().ascii_serialization()),
            user,
            Flow::Password,
            tokens.token,
            now(),
        )
    };
    Ok(session)
}

/// The provider's token endpoint for a direct grant: an explicit `token-endpoint` needs no
/// discovery; else the issuer's OpenID configuration says where it is.
async fn provider(settings: &LoginSettings) -> Result<(Provider, reqwest::Client), Error> {
    let o = &settings.oidc;
    let no_provider = || {
        Error::usage("This login needs an OAuth provider: an issuer or a token endpoint.").hint(
            "Pass --issuer URL (or --token-endpoint URL) and --client-id ID, or set them in the profile. For a JSON login API, set `login-url` instead (docs/direct-login.md).",
        )
    };
    match (&o.issuer, &o.endpoints.token) {
        (issuer, Some(token)) => {
            let client = http::client_for(token)?;
            let issuer = issuer
                .as_ref()
                .map(|i| i.as_str().trim_end_matches('/').to_string())
                .unwrap_or_else(|| token.origin().ascii_serialization());
            Ok((
                Provider {
                    issuer,
                    authorization_endpoint: None,
                    token_endpoint: token.to_string(),
                    device_authorization_endpoint: None,
                    jwks_uri: o.endpoints.jwks.as_ref().map(Url::to_string),
                    userinfo_endpoint: None,
                    revocation_endpoint: None,
                },
                client,
            ))
        }
        (Some(issuer), None) => {
            let client = http::client_for(issuer)?;
            let plain_http = if settings.allow_http {
                PlainHttp::Allow
            } else {
                PlainHttp::Refuse
            };
            let p = oidc::provider(&client, issuer, &o.endpoints, plain_http).await?;
            Ok((p, client))
        }
        (None, None) => Err(no_provider()),
    }
}

fn client_id(settings: &LoginSettings) -> Result<String, Error> {
    settings.oidc.client_id.clone().ok_or_else(|| {
        Error::usage("An OAuth login needs a client ID.").hint(
            "Pass --client-id ID, set SESAME_CLIENT_ID, or set `client-id` in the profile's config.",
        )
    })
}

fn token_url(provider: &Provider) -> Result<Url, Error> {
    Url::parse(&provider.token_endpoint)
        .map_err(|e| Error::other(format!("The provider's token endpoint is not a URL ({e}).")))
}

/// `--flow password` against an OAuth provider: the resource-owner password grant, finished
/// with Auth0's `mfa-otp` grant when the provider asks for a second factor.
pub(super) async fn oauth_password(
    settings: &LoginSettings,
    printer: &Printer,
) -> Result<Session, Error> {
    let client_id = client_id(settings)?;
    let user = user(settings)?;
    let (provider, client) = provider(settings).await?;
    let password = prompt::password(&user, settings.direct.password_stdin)?;
    let endpoint = token_url(&provider)?;
    let o = &settings.oidc;
    let tc = TokenClient {
        http: &client,
        endpoint: &endpoint,
        client_id: &client_id,
        client_secret: o.client_secret.as_ref(),
    };
    let resp = match tc.password(&user, &password, &o.scopes, &o.extra).await? {
        PasswordOutcome::Tokens(t) => *t,
        PasswordOutcome::MfaRequired { mfa_token } => {
            printer.info("The provider asks for a one-time code (second factor).");
            let otp = prompt::one_time_code()?;
            tc.mfa_otp(&mfa_token, &otp).await?
        }
    };
    let session = oauth_session(
        settings,
        &provider,
        &client,
        &client_id,
        &resp,
        &user,
        Flow::Password,
    )
    .await?;
    Ok(session)
}

/// `--flow client-credentials`: the client's own token, for CI and service accounts. `sesame
/// token` gets the next token with the secret it is given then (SESAME_CLIENT_SECRET, the
/// config); with `--remember-secret` the secret is kept with the session, in a keychain only: a
/// secret a CI job passed in its environment must not end up on its disk.
pub(super) async fn client_credentials(
    settings: &LoginSettings,
    store: &dyn TokenStore,
) -> Result<Session, Error> {
    let client_id = client_id(settings)?;
    let o = &settings.oidc;
    if o.remember_secret && !store.encrypted() {
        return Err(Error::usage(format!(
            "--remember-secret keeps the client secret only in the OS keychain, and this login saves to {}.",
            store.describe(&settings.common.profile)
        ))
        .hint("Use --store keychain, or leave out --remember-secret and give `sesame token` the secret in SESAME_CLIENT_SECRET."));
    }
    // The secret given now, else the one kept (in the keychain) with this client's session.
    let kept = || {
        let s = store.load(&settings.common.profile).ok()?;
        let same_client = s.oauth.as_ref().is_some_and(|i| i.client_id == client_id);
        (s.flow == Flow::ClientCredentials && same_client).then_some(s.client_secret)?
    };
    let secret = o.client_secret.clone().or_else(kept).ok_or_else(|| {
        Error::usage("The client-credentials flow needs the client secret.").hint(
            "Set SESAME_CLIENT_SECRET, pipe it with --client-secret-stdin, or set `client-secret` in the profile's config (never as an argument).",
        )
    })?;
    let (provider, client) = provider(settings).await?;
    let endpoint = token_url(&provider)?;
    let scopes = client_scopes(&o.scopes);
    let tc = TokenClient {
        http: &client,
        endpoint: &endpoint,
        client_id: &client_id,
        client_secret: Some(&secret),
    };
    let resp = tc.client_credentials(&scopes, &o.extra).await?;
    let grant = oidc::Grant {
        profile: &settings.common.profile,
        provider: &provider,
        client_id: &client_id,
        scopes: &scopes,
        flow: Flow::ClientCredentials,
    };
    // A client-credentials token is about the client, whatever claims it carries.
    let client = UserName::new(&client_id)
        .map_err(|e| Error::usage(format!("The client ID cannot name the session: {e}.")))?;
    let mut session = oidc::session_from(&grant, &resp, None, &client, now())?;
    session.user = client;
    session.id_token = None;
    session.client_secret = o.remember_secret.then_some(secret);
    session.use_as = settings.direct.use_as.clone();
    session.whoami_url = settings.direct.whoami_url.as_ref().map(Url::to_string);
    if let Some(info) = &mut session.oauth {
        info.extra = o.extra.clone();
    }
    Ok(session)
}

/// Scopes for a client acting for itself: `openid` and `offline_access` are about a user and
/// a refresh token, neither of which a client-credentials grant has.
pub fn client_scopes(scopes: &[String]) -> Vec<String> {
    scopes
        .iter()
        .filter(|s| !matches!(s.as_str(), "openid" | "offline_access"))
        .cloned()
        .collect()
}

/// The session from a password grant's tokens; an ID token is kept only once verified.
async fn oauth_session(
    settings: &LoginSettings,
    provider: &Provider,
    client: &reqwest::Client,
    client_id: &str,
    resp: &TokenResp,
    user: &UserName,
    flow: Flow,
) -> Result<Session, Error> {
    let mut resp = resp.clone();
    if let Some(id) = &resp.extra_fields().id_token {
        if provider.jwks_uri.is_some() {
            idtoken::verify(
                client,
                provider.jwks_uri.as_deref(),
                &settings.common.paths.data_dir.join("cache"),
                id.expose(),
                &idtoken::Expected {
                    issuer: &provider.issuer,
                    client_id,
                    nonce: None,
                },
            )
            .await?;
        } else {
            // Nothing to check it against: an unverified ID token is not kept.
            resp.set_extra_fields(oidc::IdTokenFields { id_token: None });
        }
    }
    let grant = oidc::Grant {
        profile: &settings.common.profile,
        provider,
        client_id,
        scopes: &settings.oidc.scopes,
        flow,
    };
    let mut session = oidc::session_from(&grant, &resp, None, user, now())?;
    session.user = user.clone();
    session.use_as = settings.direct.use_as.clone();
    session.whoami_url = settings.direct.whoami_url.as_ref().map(Url::to_string);
    Ok(session)
}

/// Where a static credential is for, for `status`: the profile's server or whoami URL.
fn static_server(settings: &LoginSettings) -> String {
    settings
        .server
        .as_ref()
        .or(settings.direct.whoami_url.as_ref())
        .map(|u| format!("{}/", u.origin().ascii_serialization()))
        .unwrap_or_default()
}

/// `login --api-key`: a key from stdin or a hidden prompt becomes the profile's session.
pub(super) fn api_key(settings: &LoginSettings) -> Result<Session, Error> {
    let key = prompt::api_key()?;
    let session = Session {
        use_as: Some(
            settings
                .direct
                .use_as
                .clone()
                .unwrap_or_else(|| UseAs::Header(crate::present::default_api_key_header())),
        ),
        whoami_url: settings.direct.whoami_url.as_ref().map(Url::to_string),
        ..Session::new(
            &settings.common.profile,
            static_server(settings),
            settings.user.clone().unwrap_or_default(),
            Flow::ApiKey,
            key,
            now(),
        )
    };
    Ok(session)
}

/// `--flow basic`: a user name and password kept for APIs that take HTTP Basic.
pub(super) fn basic(settings: &LoginSettings) -> Result<Session, Error> {
    let user = user(settings)?;
    if user.contains(':') {
        return Err(Error::usage(format!(
            "The user name {user:?} contains ':', which HTTP Basic cannot carry."
        )));
    }
    let password = prompt::password(&user, settings.direct.password_stdin)?;
    let password = Token::password(password.expose())
        .map_err(|e| Error::usage(format!("That password cannot be kept: {e}.")))?;
    let session = Session {
        use_as: Some(settings.direct.use_as.clone().unwrap_or(UseAs::Basic)),
        whoami_url: settings.direct.whoami_url.as_ref().map(Url::to_string),
        ..Session::new(
            &settings.common.profile,
            static_server(settings),
            user,
            Flow::Basic,
            password,
            now(),
        )
    };
    Ok(session)
}
