//! The ConsoleMe/Weep challenge flow, client side: request a challenge, then poll until the
//! user approves it in the browser, denies it, or time runs out.
//!
//! Unlike Weep, which treats every status but `success` as "keep waiting", a final status ends
//! the wait at once; transient failures (connection refused or reset, timeouts, HTTP 5xx or
//! 429) are retried with backoff until the deadline.

use crate::clock::{Clock, unix_seconds};
use crate::events::{Events, Progress};
use crate::http::{self, FetchError};
use crate::login_error::LoginError;
use crate::protocol::{
    Approval, EXT_CALLBACK, EXT_LONG_POLL, GeneratorResponse, MAX_LONG_POLL_SECS, PollResponse,
    PollStatus,
};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;
use url::Url;

/// Where the browser should be sent after approval (extension; see the callback module).
#[derive(Debug, Clone)]
pub struct CallbackParams {
    /// The loopback callback's URL, sent as `redirect_uri`.
    pub redirect_uri: Url,
    /// The callback's `state`, sent along for the server to hand back.
    pub state: String,
}

/// A challenge the server issued, its URLs checked by [`parse_challenge`].
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Where the person approves the login: http(s), resolved against the server.
    pub challenge_url: Url,
    /// Where the token is collected: on the server's own origin.
    pub polling_url: Url,
    /// A code to compare with the approval page (extension): at most 32 characters, display-safe.
    pub user_code: Option<crate::text::Shown>,
    /// The server honours `?wait=` on the polling URL (extension `long_poll`).
    pub long_poll: bool,
    /// The server redirects the browser to our loopback callback after the decision.
    pub callback: bool,
}

/// The generator URL for `user` under `server` (which may carry a path prefix).
pub fn generator_url(server: &Url, user: &str, callback: Option<&CallbackParams>) -> Url {
    let mut url = server.clone();
    url.set_query(None);
    // Settings only let http(s) URLs through, and those always have a path.
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .extend(["noauth", "v1", "challenge_generator", user]);
    }
    if let Some(cb) = callback {
        url.query_pairs_mut()
            .append_pair("redirect_uri", cb.redirect_uri.as_str())
            .append_pair("state", &cb.state);
    }
    url
}

/// How many times a challenge is asked for while the server answers 5xx or 429.
const GENERATOR_ATTEMPTS: u32 = 3;
/// The longest wait between those attempts, whatever `Retry-After` says.
const GENERATOR_MAX_PAUSE: Duration = Duration::from_secs(5);

/// Asks the server for a challenge. A connection failure fails fast: this is the first contact
/// with the server, and a retry would only hide a wrong URL. A server that answers but is
/// unavailable (5xx, 429) is asked again, `GENERATOR_ATTEMPTS` times in all, after its
/// `Retry-After` (1 s if none, at most `GENERATOR_MAX_PAUSE`) and within `timeout`.
pub async fn request(
    client: &reqwest::Client,
    clock: &dyn Clock,
    server: &Url,
    user: &str,
    callback: Option<&CallbackParams>,
    timeout: Duration,
) -> Result<Challenge, LoginError> {
    let url = generator_url(server, user, callback);
    let deadline = clock.now() + timeout;
    let mut attempt = 1;
    let body = loop {
        let left = deadline.duration_since(clock.now()).unwrap_or_default();
        let e = match http::get_limited(client, &url, left.min(Duration::from_secs(15))).await {
            Ok(body) => break body,
            Err(e) => e,
        };
        if let FetchError::Unavailable { retry_after, .. } = &e {
            let pause = retry_after.unwrap_or(Duration::from_secs(1));
            let left = deadline.duration_since(clock.now()).unwrap_or_default();
            if attempt < GENERATOR_ATTEMPTS && pause <= GENERATOR_MAX_PAUSE && pause < left {
                attempt += 1;
                clock.sleep(pause).await;
                continue;
            }
        }
        return Err(match e {
            FetchError::Transient(reason) => LoginError::Unreachable {
                url: server.to_string(),
                reason,
            },
            FetchError::Unavailable { retry_after, .. } => {
                let why = match retry_after {
                    _ if attempt == GENERATOR_ATTEMPTS => format!(" ({attempt} attempts)"),
                    Some(after) if after > GENERATOR_MAX_PAUSE => {
                        format!("; it asks to wait {} s", after.as_secs())
                    }
                    _ => "; the login's time limit ran out before it could be asked again"
                        .to_string(),
                };
                LoginError::Unavailable {
                    url: server.to_string(),
                    reason: format!("{e}{why}"),
                }
            }
            FetchError::Status { status, url } => LoginError::Server(format!(
                "the server answered HTTP {status} to the challenge request ({url})"
            )),
            FetchError::TooLarge { .. } => {
                LoginError::Protocol("the server's challenge reply is too large".into())
            }
        });
    };
    parse_challenge(server, &body, callback.is_some())
}

/// Makes sense of the generator's reply (untrusted input): both URLs resolved against the
/// server, the challenge URL http(s) only, the polling URL on the server's own origin.
pub fn parse_challenge(
    server: &Url,
    body: &[u8],
    asked_for_callback: bool,
) -> Result<Challenge, LoginError> {
    let reply: GeneratorResponse = serde_json::from_slice(body).map_err(|e| {
        LoginError::Protocol(format!(
            "the server's challenge reply is not the expected JSON ({e})"
        ))
    })?;
    let challenge_url = server
        .join(&reply.challenge_url)
        .map_err(|e| LoginError::Protocol(format!("the challenge URL is not a URL ({e})")))?;
    if !matches!(challenge_url.scheme(), "http" | "https") {
        return Err(LoginError::Refused(format!(
            "the server's challenge URL uses {:?}; only http(s) URLs are opened",
            challenge_url.scheme()
        )));
    }
    let polling_url = server
        .join(&reply.polling_url)
        .map_err(|e| LoginError::Protocol(format!("the polling URL is not a URL ({e})")))?;
    if !http::same_origin(&polling_url, server) {
        return Err(LoginError::Refused(format!(
            "the server's polling URL points to {}, not to {}: refusing to poll another host",
            polling_url.origin().ascii_serialization(),
            server.origin().ascii_serialization()
        )));
    }
    Ok(Challenge {
        challenge_url,
        polling_url,
        // Shown to the person to compare with the page: never an escape sequence.
        user_code: reply
            .user_code
            .filter(|c| !c.is_empty() && c.len() <= 32)
            .map(|c| crate::text::Shown::new(&c, 32)),
        long_poll: reply.extensions.iter().any(|e| e == EXT_LONG_POLL),
        callback: asked_for_callback && reply.extensions.iter().any(|e| e == EXT_CALLBACK),
    })
}

/// When polling gives up, and how often it asks.
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    /// The login's deadline; one last poll is made when it is reached.
    pub deadline: SystemTime,
    /// The pause between polls when there is no long-poll (taken as at least 100 ms), and the
    /// first backoff after a transient failure.
    pub interval: Duration,
}

const MAX_BACKOFF: Duration = Duration::from_secs(10);

enum Outcome {
    Status(PollStatus),
    /// Worth another poll: why not now, and how long the server asked to be left alone.
    Retry(String, Option<Duration>),
}

/// Polls until a final status or the deadline. `wake` (from the loopback callback) cuts a sleep
/// or a long-poll short so that the token is collected the moment the browser comes back.
pub async fn wait(
    client: &reqwest::Client,
    clock: &dyn Clock,
    events: &dyn Events,
    challenge: &Challenge,
    settings: PollSettings,
    wake: Option<&Notify>,
) -> Result<Approval, LoginError> {
    let started = clock.now();
    let total = settings
        .deadline
        .duration_since(started)
        .unwrap_or_default();
    let interval = settings.interval.max(Duration::from_millis(100));
    let mut backoff = interval;
    // While retrying, the spinner keeps saying why, rather than "waiting".
    let mut retrying: Option<String> = None;
    // An approval in the last interval is still collected: at the deadline comes one final
    // poll (no long-poll), and only a "pending" to that one is a timeout.
    let mut final_poll = false;
    loop {
        let remaining = settings
            .deadline
            .duration_since(clock.now())
            .unwrap_or_default();
        if remaining.is_zero() {
            if final_poll {
                return Err(LoginError::TimedOut(total));
            }
            final_poll = true;
        }
        let long_poll_secs = (challenge.long_poll && remaining.as_secs() >= 1)
            .then(|| remaining.as_secs().min(MAX_LONG_POLL_SECS));
        if retrying.is_none() {
            events.progress(Progress::Waiting);
        }
        let url = poll_url(&challenge.polling_url, long_poll_secs);
        // A reply that trickles in must not keep the login past its deadline.
        let timeout = Duration::from_secs(long_poll_secs.unwrap_or(0) + 15)
            .min(remaining + Duration::from_secs(2));
        let sent = Instant::now();
        // An in-flight poll is never cancelled, not even by the callback: the server hands the
        // token out once, and a dropped reply would lose it ("unknown" on the next poll). A
        // long-poll answers as soon as the decision is made anyway; the wake cuts sleeps only.
        let outcome = poll_once(client, &url, timeout, unix_seconds(clock.now())).await?;
        let pause = match outcome {
            Outcome::Status(PollStatus::Pending) => {
                backoff = interval;
                retrying = None;
                // A long-poll that answers "pending" at once is not being honoured (a proxy in
                // between?): fall back to sleeping so that we never spin.
                if long_poll_secs.is_some() && sent.elapsed() >= Duration::from_millis(900) {
                    Duration::ZERO
                } else {
                    interval
                }
            }
            Outcome::Status(PollStatus::Success(a)) => return Ok(a),
            Outcome::Status(PollStatus::Expired) => return Err(LoginError::Expired),
            Outcome::Status(PollStatus::Unknown) => return Err(LoginError::Unknown),
            Outcome::Status(PollStatus::Unauthorized) => return Err(LoginError::Unauthorized),
            Outcome::Status(PollStatus::Denied) => return Err(LoginError::Denied),
            Outcome::Retry(reason, retry_after) => {
                events.progress(Progress::Retrying { reason: &reason });
                retrying = Some(reason);
                let b = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                // As long as the server asked (Retry-After, capped), if that is longer.
                retry_after.map_or(b, |after| after.max(b))
            }
        };
        let pause = pause.min(remaining);
        if pause.is_zero() {
            continue;
        }
        sleep_unless_woken(clock, pause, wake).await;
    }
}

/// The polling URL, with `?wait=SECS` for a long-poll.
fn poll_url(polling_url: &Url, long_poll_secs: Option<u64>) -> Url {
    let mut url = polling_url.clone();
    if let Some(secs) = long_poll_secs {
        url.query_pairs_mut().append_pair("wait", &secs.to_string());
    }
    url
}

/// Sleeps for `pause`, or until `wake` is notified if that comes first.
async fn sleep_unless_woken(clock: &dyn Clock, pause: Duration, wake: Option<&Notify>) {
    match wake {
        Some(w) => tokio::select! {
            _ = clock.sleep(pause) => {}
            _ = w.notified() => {}
        },
        None => clock.sleep(pause).await,
    }
}

async fn poll_once(
    client: &reqwest::Client,
    url: &Url,
    timeout: Duration,
    now: i64,
) -> Result<Outcome, LoginError> {
    let body = match http::get_limited(client, url, timeout).await {
        Ok(b) => b,
        Err(FetchError::Transient(reason)) => return Ok(Outcome::Retry(reason, None)),
        Err(e @ FetchError::Unavailable { retry_after, .. }) => {
            return Ok(Outcome::Retry(e.to_string(), retry_after));
        }
        Err(FetchError::Status { status, url }) => {
            return Err(LoginError::Server(format!(
                "the server answered HTTP {status} while polling ({url})"
            )));
        }
        Err(e @ FetchError::TooLarge { .. }) => return Err(LoginError::Protocol(e.to_string())),
    };
    let reply: PollResponse = serde_json::from_slice(&body).map_err(|e| {
        LoginError::Protocol(format!(
            "the server's poll reply is not the expected JSON ({e})"
        ))
    })?;
    reply
        .interpret(now)
        .map(Outcome::Status)
        .map_err(LoginError::Protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_url_encodes_the_user_and_keeps_a_path_prefix() {
        let s = Url::parse("https://h.example/consoleme/").unwrap();
        let u = generator_url(&s, "a b/c@d", None);
        assert_eq!(
            u.as_str(),
            "https://h.example/consoleme/noauth/v1/challenge_generator/a%20b%2Fc@d"
        );
        let cb = CallbackParams {
            redirect_uri: Url::parse("http://127.0.0.1:5/callback").unwrap(),
            state: "xyz".into(),
        };
        let u = generator_url(&Url::parse("http://127.0.0.1:1").unwrap(), "al", Some(&cb));
        assert_eq!(
            u.query(),
            Some("redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2Fcallback&state=xyz")
        );
    }
}
