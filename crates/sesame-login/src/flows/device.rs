//! OAuth 2.0 device authorization (RFC 8628): ask for a user code, then poll the token endpoint
//! at `interval` (5 s when absent), `slow_down` adding 5 s, `authorization_pending` waiting,
//! `access_denied` and `expired_token` ending it. The deadline is the code's `expires_in`, or the
//! caller's timeout if shorter. Time is injected: polling sleeps through the [`Clock`].

use crate::clock::Clock;
use crate::events::Events;
use crate::login_error::LoginError;
use crate::oidc::{HttpAdapter, OAuthClient, TokenResp, request_error};
use oauth2::{Scope, StandardDeviceAuthorizationResponse};
use std::time::{Duration, UNIX_EPOCH};

/// The device authorization reply: user code, verification URL, polling interval and lifetime.
pub type Details = StandardDeviceAuthorizationResponse;

/// Asks the device authorization endpoint for a user code, with `scopes` and the `extra`
/// parameters; a 5xx answer is not retried.
pub async fn start(
    oauth: &OAuthClient,
    client: &reqwest::Client,
    scopes: &[String],
    extra: &[(String, String)],
) -> Result<Details, LoginError> {
    let http = HttpAdapter {
        client,
        retry_server_errors: false,
        events: None,
        last_status: Default::default(),
    };
    let mut req = oauth
        .exchange_device_code()
        .map_err(|_| LoginError::NoEndpoint {
            endpoint: "device authorization",
            flow: "device",
            instead: "browser",
        })?
        .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())));
    for (k, v) in extra {
        req = req.add_extra_param(k.clone(), v.clone());
    }
    req.request_async(&http)
        .await
        .map_err(|e| request_error(e, "device authorization request"))
}

/// The longest polling interval a provider may ask for.
const MAX_INTERVAL: Duration = Duration::from_secs(300);

/// Polls the token endpoint until the person approves or denies, or until `timeout` or the code's
/// `expires_in` (whichever is sooner) runs out. Failed requests and 5xx or 429 answers are
/// reported to `events` and retried with backoff, at most 30 s apart.
pub async fn wait(
    oauth: &OAuthClient,
    client: &reqwest::Client,
    clock: &dyn Clock,
    events: &dyn Events,
    details: &Details,
    timeout: Duration,
) -> Result<TokenResp, LoginError> {
    // The provider's `interval` is input: oauth2 adds 5 s to it on `slow_down`, which an absurd
    // value would overflow.
    if details.interval() > MAX_INTERVAL {
        return Err(LoginError::Protocol(format!(
            "the provider asked sesame to poll every {}s (more than {}s)",
            details.interval().as_secs(),
            MAX_INTERVAL.as_secs()
        )));
    }
    let limit = timeout.min(details.expires_in());
    let started = clock.now();
    let http = HttpAdapter {
        client,
        retry_server_errors: true,
        events: Some(events),
        last_status: Default::default(),
    };
    let now = move || {
        let d = clock.now().duration_since(UNIX_EPOCH).unwrap_or_default();
        chrono::DateTime::from_timestamp(d.as_secs() as i64, d.subsec_nanos()).unwrap_or_default()
    };
    let result = oauth
        .exchange_device_access_token(details)
        .set_time_fn(now)
        .set_max_backoff_interval(Duration::from_secs(30))
        .request_async(&http, |d| clock.sleep(d), Some(limit))
        .await;
    result.map_err(|e| match request_error(e, "device token request") {
        // oauth2 reports its own deadline as expired_token too: only our --timeout having run
        // out makes it a time-out; the provider's expired_token stays "expired".
        LoginError::Expired
            if timeout < details.expires_in()
                && clock.now().duration_since(started).unwrap_or_default() >= timeout =>
        {
            LoginError::TimedOut(timeout)
        }
        other => other,
    })
}
