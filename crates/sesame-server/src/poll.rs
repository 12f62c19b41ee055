//! `GET /noauth/v1/challenge_poller/{token}`: the poll, long-polled until the challenge is
//! decided or the wait ends; typed statuses ([`WireStatus`]) shared with the client.

use crate::app::App;
use crate::respond::{Resp, json, respond, unavailable};
use crate::{metrics, state, token};
use axum::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{StatusCode, header};
use sesame_login::clock::unix_seconds;
use sesame_login::protocol::{PollResponse, WireStatus};
use state::Poll;
use std::net::IpAddr;
use std::time::SystemTime;

/// A status-only poll answer: the bytes serde would write for a [`PollResponse`] with only
/// `status`, without serialising (a poll is the hottest request; a test keeps them equal).
pub(crate) fn status_only(code: StatusCode, status: WireStatus) -> Resp {
    let body: &'static str = match status {
        WireStatus::Pending => r#"{"status":"pending"}"#,
        WireStatus::Success => r#"{"status":"success"}"#,
        WireStatus::Unknown => r#"{"status":"unknown"}"#,
        WireStatus::Expired => r#"{"status":"expired"}"#,
        WireStatus::Unauthorized => r#"{"status":"unauthorized"}"#,
        WireStatus::Denied => r#"{"status":"denied"}"#,
        WireStatus::SlowDown => r#"{"status":"slow_down"}"#,
    };
    respond(
        code,
        "application/json",
        Bytes::from_static(body.as_bytes()),
    )
}

/// What a poll comes to.
pub(crate) enum Reply {
    Status(WireStatus),
    Success(PollResponse),
}

/// `wait_until`: until when to hold a pending poll open (the long-poll extension). The answer,
/// and whether it is `pending`.
pub(crate) async fn poller(
    app: &App,
    ip: IpAddr,
    token: &str,
    wait_until: tokio::time::Instant,
) -> (Resp, bool) {
    let check_ip = app.config.ip_check.then_some(ip);
    let mut rewatched = false;
    loop {
        let now = SystemTime::now();
        let polled = match app.challenges.poll(token, check_ip, now).await {
            Ok(p) => p,
            Err(e) => return (unavailable(&e), false),
        };
        let reply = match polled {
            Poll::Unknown => {
                // RFC 8628 §5.2: slow down whoever guesses tokens.
                if let Some(wait) = app.guesses.unknown(ip) {
                    app.metrics.poll(WireStatus::SlowDown);
                    let mut r = status_only(StatusCode::TOO_MANY_REQUESTS, WireStatus::SlowDown);
                    if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                        r.headers_mut().insert(header::RETRY_AFTER, v);
                    }
                    return (r, false);
                }
                Reply::Status(WireStatus::Unknown)
            }
            Poll::Expired => Reply::Status(WireStatus::Expired),
            Poll::Unauthorized => Reply::Status(WireStatus::Unauthorized),
            Poll::Denied => Reply::Status(WireStatus::Denied),
            Poll::Collected { user, groups } => Reply::Success(collected(app, user, &groups, now)),
            Poll::Pending { expires } => {
                let expires_in = expires.duration_since(now).unwrap_or_default();
                let until = wait_until.min(tokio::time::Instant::now() + expires_in);
                if tokio::time::Instant::now() >= until {
                    Reply::Status(WireStatus::Pending)
                } else {
                    let watch = match app.challenges.watch(token, check_ip, now).await {
                        Ok(w) => w,
                        Err(e) => return (unavailable(&e), false),
                    };
                    match watch {
                        Some(mut watch) => {
                            let _waiting = metrics::Waiting::start(&app.metrics.waiting);
                            tokio::select! {
                                _ = watch.changed.changed() => {}
                                _ = tokio::time::sleep_until(until) => {}
                            }
                            continue;
                        }
                        // Decided in between: poll again. A store that keeps saying "pending"
                        // to the poll but not to `watch` gets a pending answer, not a busy loop.
                        None if !rewatched => {
                            rewatched = true;
                            continue;
                        }
                        None => Reply::Status(WireStatus::Pending),
                    }
                }
            }
        };
        return answer(app, reply);
    }
}

/// The success answer to a poll of an approved challenge: a session JWT for `user` with the
/// `groups` the approval gave, minted now.
pub(crate) fn collected(
    app: &App,
    user: String,
    groups: &[String],
    now: SystemTime,
) -> PollResponse {
    let now = unix_seconds(now);
    let exp = now + app.config.jwt_ttl.as_secs() as i64;
    let jwt = token::mint(
        app.config.jwt_secret.expose_bytes(),
        &user,
        groups,
        app.base.as_str(),
        now,
        exp,
    );
    PollResponse {
        status: WireStatus::Success.as_str().into(),
        cookie_name: Some(app.config.cookie_name.clone()),
        expiration: Some(exp.into()),
        encoded_jwt: Some(jwt),
        user: Some(user),
    }
}

/// A poll's reply as the response, counted in the metrics; and whether it is `pending`.
pub(crate) fn answer(app: &App, reply: Reply) -> (Resp, bool) {
    match reply {
        Reply::Status(status) => {
            app.metrics.poll(status);
            (
                status_only(StatusCode::OK, status),
                status == WireStatus::Pending,
            )
        }
        Reply::Success(r) => {
            app.metrics.poll(WireStatus::Success);
            app.metrics.event("collected");
            (json(StatusCode::OK, &r), false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn status_only_answers_are_what_serde_writes() {
        for status in WireStatus::ALL {
            let resp = status_only(StatusCode::OK, status);
            let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
            let expected = serde_json::to_vec(&PollResponse {
                status: status.as_str().into(),
                ..Default::default()
            })
            .unwrap();
            assert_eq!(body, expected, "{status:?}");
        }
    }
}
