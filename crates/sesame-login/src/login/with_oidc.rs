//! `sesame login` for OpenID Connect providers: the browser flow (authorization code + PKCE on
//! the loopback callback) and the device flow, ending in the same keychain session as the
//! challenge flow.

use super::display::{LINGER, Shown, Tab, linger, show};
use super::save::Obtained;
use crate::browser::Opener;
use crate::clock::{Clock, SystemClock, unix_seconds};
use crate::error::Error;
use crate::flows::callback::{Callback, Page};
use crate::flows::{device, pkce};
use crate::http;
use crate::login_error::LoginError;
use crate::oidc::{self, PlainHttp, TokenResp, idtoken};
use crate::output::{Printer, WaitDisplay};
use crate::session::Flow;
use crate::settings::LoginSettings;
use oauth2::TokenResponse;
use url::Url;

/// Runs `flow`, [`Flow::Browser`] or [`Flow::Device`] (the driver passes no other), and
/// records it in the session.
pub(super) async fn run(
    settings: &LoginSettings,
    flow: Flow,
    opener: &dyn Opener,
    printer: &Printer,
    owner: &mut crate::pending::Owner,
) -> Result<Obtained, Error> {
    let o = &settings.oidc;
    let issuer = o.issuer.clone().ok_or_else(|| {
        Error::usage(format!("The {flow} flow needs an issuer.")).hint(
            "Pass --issuer URL (and --client-id ID), or set `issuer` in the profile's config.",
        )
    })?;
    let client_id = o.client_id.clone().ok_or_else(|| {
        Error::usage("An OpenID Connect login needs a client ID.")
            .hint("Pass --client-id ID, set SESAME_CLIENT_ID, or set `client-id` in the profile's config.")
    })?;
    let mut ctrl_c = crate::interrupt::CtrlC::install();
    let client = http::client_for(&issuer)?;
    let plain_http = if settings.allow_http {
        PlainHttp::Allow
    } else {
        PlainHttp::Refuse
    };
    let provider = oidc::provider(&client, &issuer, &o.endpoints, plain_http).await?;
    let cache_dir = settings.common.paths.data_dir.join("cache");
    let clock = SystemClock;
    let ctx = Ctx {
        settings,
        printer,
        opener,
        provider: &provider,
        client: &client,
        client_id: &client_id,
        clock: &clock,
        deadline: clock.now() + settings.timeout,
    };
    let (resp, nonce, callback) = match flow {
        Flow::Device => (device_flow(&ctx, owner, &mut ctrl_c).await?, None, None),
        _ => browser_flow(&ctx, owner, &mut ctrl_c).await?,
    };

    let session = match finish(
        settings,
        &provider,
        &client_id,
        &resp,
        nonce.as_deref(),
        &client,
        &cache_dir,
        flow,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            if let Some(cb) = &callback {
                cb.finish(Page::Failed {
                    message: e.message.clone(),
                });
                cb.linger(LINGER).await;
            }
            return Err(e);
        }
    };
    let tab = callback.map(|callback| Tab {
        callback,
        browser_expected: true,
    });
    Ok(Obtained { session, tab })
}

/// What both flows need from the login.
struct Ctx<'a> {
    settings: &'a LoginSettings,
    printer: &'a Printer,
    opener: &'a dyn Opener,
    provider: &'a oidc::Provider,
    client: &'a reqwest::Client,
    client_id: &'a str,
    clock: &'a SystemClock,
    deadline: std::time::SystemTime,
}

/// The browser never came back to the loopback callback. The usual cause is a provider that
/// refused the redirect URI because it compares the port exactly (RFC 8252 §7.3 says it must
/// not): its error page is all the person saw. Say so, and how to fix it.
fn browser_timed_out(settings: &LoginSettings, callback: &Callback) -> Error {
    let base = Error::from(LoginError::TimedOut(settings.timeout));
    let redirect = callback.redirect_uri();
    Error {
        message: format!(
            "{} The browser never came back to {redirect}.",
            base.message
        ),
        hint: Some(format!(
            "If the provider showed an error about the redirect_uri, it accepts only a redirect URI registered with an exact port: register http://127.0.0.1:PORT/callback for this client and log in with --port PORT (or set `port` in the profile).{}",
            if settings.port == 0 {
                " sesame picked a random port this time."
            } else {
                ""
            }
        )),
        ..base
    }
}

/// Authorization code with PKCE: open the authorization URL, wait for the loopback callback,
/// exchange the code. Returns the tokens, the nonce sent, and the callback (its page is shown
/// once the session is saved).
async fn browser_flow(
    ctx: &Ctx<'_>,
    owner: &mut crate::pending::Owner,
    ctrl_c: &mut crate::interrupt::CtrlC,
) -> Result<(TokenResp, Option<String>, Option<Callback>), Error> {
    let (settings, o) = (ctx.settings, &ctx.settings.oidc);
    let mut callback = Callback::bind(settings.port).await?;
    let oauth = oidc::oauth_client(
        ctx.provider,
        ctx.client_id,
        o.client_secret.as_ref(),
        Some(callback.redirect_uri()),
    )?;
    let req = pkce::authorization_url(&oauth, callback.state(), &o.scopes, &o.extra)?;
    let browser_opened = show(
        settings,
        ctx.printer,
        ctx.opener,
        &req.url,
        Shown {
            code: None,
            user: None,
            any_device: false,
        },
        owner,
    );
    let display = WaitDisplay::start(
        ctx.printer,
        "Waiting for you to sign in in the browser".into(),
        ctx.deadline,
    );
    let remaining = ctx
        .deadline
        .duration_since(ctx.clock.now())
        .unwrap_or_default();
    let params = tokio::select! {
        p = callback.next() => p,
        _ = ctx.clock.sleep(remaining) => None,
        _ = ctrl_c.wait() => {
            display.interrupted();
            return Err(Error::interrupted());
        }
    };
    display.finish();
    let Some(params) = params else {
        return Err(browser_timed_out(settings, &callback));
    };
    let result = match pkce::code_from(&params, &ctx.provider.issuer) {
        Ok(code) => pkce::exchange(&oauth, ctx.client, code, req.verifier).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(resp) => Ok((resp, Some(req.nonce), Some(callback))),
        Err(e) => {
            callback.finish(match &e {
                LoginError::Denied => Page::Denied,
                other => Page::Failed {
                    message: Error::from(other.clone()).message,
                },
            });
            linger(&callback, browser_opened).await;
            Err(e.into())
        }
    }
}

/// The device flow (RFC 8628): show the code and URL, poll the token endpoint.
async fn device_flow(
    ctx: &Ctx<'_>,
    owner: &mut crate::pending::Owner,
    ctrl_c: &mut crate::interrupt::CtrlC,
) -> Result<TokenResp, Error> {
    let o = &ctx.settings.oidc;
    let oauth = oidc::oauth_client(ctx.provider, ctx.client_id, o.client_secret.as_ref(), None)?;
    let details = device::start(&oauth, ctx.client, &o.scopes, &o.extra).await?;
    // The provider's text, shown on the terminal: never an escape sequence.
    let code = crate::text::Shown::new(details.user_code().secret(), 64).into_string();
    let plain = details.verification_uri().to_string();
    let url = details
        .verification_uri_complete()
        .map(|c| c.secret().clone())
        .unwrap_or_else(|| plain.clone());
    let url = Url::parse(&url)
        .map_err(|e| LoginError::Protocol(format!("the verification URL is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(LoginError::Refused("the verification URL is not http(s)".into()).into());
    }
    show(
        ctx.settings,
        ctx.printer,
        ctx.opener,
        &url,
        Shown {
            code: Some(&code),
            user: None,
            any_device: true,
        },
        owner,
    );
    if url.as_str() != plain {
        ctx.printer
            .info(&format!("(Or open {plain} and enter the code.)"));
    }
    let timeout = ctx
        .deadline
        .duration_since(ctx.clock.now())
        .unwrap_or_default();
    let display = WaitDisplay::start(
        ctx.printer,
        format!("Waiting for code {code} to be entered"),
        ctx.clock.now() + timeout.min(details.expires_in()),
    );
    let result = tokio::select! {
        r = device::wait(&oauth, ctx.client, ctx.clock, &display, &details, timeout) => r,
        _ = ctrl_c.wait() => {
            display.interrupted();
            return Err(Error::interrupted());
        }
    };
    display.finish();
    Ok(result?)
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    settings: &LoginSettings,
    provider: &oidc::Provider,
    client_id: &str,
    resp: &TokenResp,
    nonce: Option<&str>,
    client: &reqwest::Client,
    cache_dir: &std::path::Path,
    flow: Flow,
) -> Result<crate::session::Session, Error> {
    match &resp.extra_fields().id_token {
        Some(id) => {
            idtoken::verify(
                client,
                provider.jwks_uri.as_deref(),
                cache_dir,
                id.expose(),
                &idtoken::Expected {
                    issuer: &provider.issuer,
                    client_id,
                    nonce,
                },
            )
            .await?;
        }
        None if settings.oidc.scopes.iter().any(|s| s == "openid") => {
            return Err(Error::other(
                "The provider sent no ID token although the `openid` scope was requested.",
            )
            .hint("Check the client's configuration at the provider."));
        }
        None => {}
    }
    if resp.access_token().secret().is_empty() {
        return Err(Error::other("The provider sent an empty access token."));
    }
    let grant = oidc::Grant {
        profile: &settings.common.profile,
        provider,
        client_id,
        scopes: &settings.oidc.scopes,
        flow,
    };
    Ok(oidc::session_from(
        &grant,
        resp,
        None,
        &settings.user.clone().unwrap_or_default(),
        unix_seconds(SystemClock.now()),
    )?)
}
