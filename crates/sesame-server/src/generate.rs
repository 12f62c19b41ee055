//! `GET /noauth/v1/challenge_generator/{user}`: a new challenge, with the extensions asked
//! for (loopback callback, user code, long-poll, deny).

use crate::app::{App, MAX_STATE_LEN, MAX_USER_LEN};
use crate::request::{loopback_redirect, query_param};
use crate::respond::{Resp, json, message, unavailable};
use crate::state;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode, header};
use sesame_login::protocol::{
    EXT_CALLBACK, EXT_DENY, EXT_LONG_POLL, EXT_USER_CODE, GeneratorResponse, POLLER_PATH,
    VALIDATOR_PAGE_PATH,
};
use state::{Created, Limits, NewChallenge};
use std::net::IpAddr;
use std::time::SystemTime;

pub(crate) async fn generator(
    app: &App,
    ip: IpAddr,
    user: &str,
    method: &Method,
    uri: &hyper::Uri,
) -> Resp {
    if method != Method::GET {
        return message(StatusCode::METHOD_NOT_ALLOWED, "use GET");
    }
    let user = user.to_string();
    if user.trim().is_empty()
        || user.len() > MAX_USER_LEN
        || user.contains('/')
        || user.chars().any(char::is_control)
    {
        return message(StatusCode::BAD_REQUEST, "invalid user name");
    }
    let redirect_uri = query_param(uri, "redirect_uri").and_then(|r| loopback_redirect(&r));
    let state = query_param(uri, "state").filter(|s| !s.is_empty() && s.len() <= MAX_STATE_LEN);
    let (redirect_uri, state) = match (redirect_uri, state) {
        (Some(r), Some(s)) => (Some(r), Some(s)),
        _ => (None, None),
    };
    let created = app
        .challenges
        .create(
            NewChallenge {
                user,
                ip,
                now: SystemTime::now(),
                ttl: app.config.challenge_ttl,
                redirect_uri,
                state,
            },
            Limits {
                max_pending: app.config.max_pending,
                max_per_ip: app.config.max_pending_per_ip,
            },
        )
        .await;
    let (token, code) = match created {
        Ok(Created::New { token, code }) => {
            app.metrics.event("generated");
            (token, code)
        }
        Ok(Created::Full) => {
            app.metrics.event("refused_full");
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many login requests are pending; try again in a minute",
            );
        }
        Ok(Created::IpFull) => {
            app.metrics.event("refused_address_limit");
            let mut r = message(
                StatusCode::TOO_MANY_REQUESTS,
                "too many login requests are pending from your address; finish or wait out one of them",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            return r;
        }
        Err(e) => return unavailable(&e),
    };
    issued(app, &token, code)
}

/// The generator's answer for a new challenge: where to approve it, where to poll, its code and
/// the extensions this server speaks.
fn issued(app: &App, token: &str, code: String) -> Resp {
    // Tokens are URL-safe base64, so joining cannot fail; the base is the fallback.
    let join = |p: &str| {
        app.base
            .join(&format!("{}{token}", p.trim_start_matches('/')))
            .unwrap_or_else(|_| app.base.clone())
            .to_string()
    };
    json(
        StatusCode::OK,
        &GeneratorResponse {
            challenge_url: join(VALIDATOR_PAGE_PATH),
            polling_url: join(POLLER_PATH),
            user_code: Some(code),
            extensions: [EXT_CALLBACK, EXT_LONG_POLL, EXT_USER_CODE, EXT_DENY]
                .map(String::from)
                .to_vec(),
        },
    )
}
