//! Library-level tests of the challenge flow's polling loop with a fake clock: a two-minute wait
//! runs in milliseconds, and the sleeps it asks for are recorded.

use serde_json::json;
use sesame_login::clock::{Clock, FakeClock};
use sesame_login::events::{Events, Progress};
use sesame_login::flows::challenge::{self, Challenge, PollSettings};
use sesame_login::login_error::LoginError;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use url::Url;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "flowtoken0123456789abcdefghijklmnopqrstu";
const POLLER: &str = "/noauth/v1/challenge_poller/";

/// Answers each request with the next template; the last one repeats.
struct Sequence {
    replies: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Sequence {
    fn new(replies: Vec<ResponseTemplate>) -> Self {
        Sequence {
            replies,
            next: AtomicUsize::new(0),
        }
    }
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.replies[i.min(self.replies.len() - 1)].clone()
    }
}

#[derive(Default)]
struct Recorder {
    waiting: AtomicUsize,
    retrying: Mutex<Vec<String>>,
}

impl Events for Recorder {
    fn progress(&self, p: Progress<'_>) {
        match p {
            Progress::Waiting => {
                self.waiting.fetch_add(1, Ordering::SeqCst);
            }
            Progress::Retrying { reason } => self.retrying.lock().unwrap().push(reason.into()),
        }
    }
}

fn pending() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"status": "pending"}))
}

fn unavailable() -> ResponseTemplate {
    ResponseTemplate::new(503).set_body_string("busy")
}

fn success() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "status": "success",
        "cookie_name": "consoleme_auth",
        "expiration": 1_700_003_600,
        "encoded_jwt": "aaa.bbb.ccc",
        "user": "alice",
    }))
}

/// sesame's client settings, minus proxies from the host environment: `sesame_login::http::client()`
/// honours `HTTP_PROXY`, which would send these loopback requests elsewhere on a machine that
/// sets it.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `challenge::request` for alice against `server`, on `clock`, within `timeout`.
async fn ask(
    server: &MockServer,
    clock: &FakeClock,
    timeout: Duration,
) -> Result<Challenge, LoginError> {
    let base = Url::parse(&server.uri()).unwrap();
    challenge::request(&client(), clock, &base, "alice", None, timeout).await
}

/// A mock server whose generator hands out a same-origin challenge (no extensions, so no
/// long-poll) and whose poller answers with `poller`; and that challenge, obtained through
/// `challenge::request`.
async fn setup(poller: impl Respond + 'static) -> (MockServer, Challenge) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/noauth/v1/challenge_generator/alice$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "challenge_url": format!("/challenge_validator/{TOKEN}"),
            "polling_url": format!("{}{POLLER}{TOKEN}", server.uri()),
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{POLLER}{TOKEN}")))
        .respond_with(poller)
        .mount(&server)
        .await;
    let challenge = ask(&server, &FakeClock::at_unix(1_700_000_000), secs(15))
        .await
        .expect("the challenge request succeeds");
    assert_eq!(
        challenge.challenge_url.as_str(),
        format!("{}/challenge_validator/{TOKEN}", server.uri()),
        "a relative challenge URL is resolved against the server"
    );
    assert!(!challenge.long_poll);
    (server, challenge)
}

async fn polls(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().starts_with(POLLER))
        .count()
}

/// Runs `wait` on a fake clock starting at a fixed time; returns the result, the clock, the
/// events and how long it took for real.
async fn run_wait(
    challenge: &Challenge,
    timeout: Duration,
    interval: Duration,
) -> (
    Result<sesame_login::protocol::Approval, LoginError>,
    FakeClock,
    Recorder,
    Duration,
) {
    let clock = FakeClock::at_unix(1_700_000_000);
    let events = Recorder::default();
    let settings = PollSettings {
        deadline: clock.now() + timeout,
        interval,
    };
    let started = Instant::now();
    let result = challenge::wait(&client(), &clock, &events, challenge, settings, None).await;
    (result, clock, events, started.elapsed())
}

#[tokio::test]
async fn always_pending_times_out_on_the_fake_clock_in_no_real_time() {
    let (server, challenge) = setup(pending()).await;
    let (result, clock, events, real) = run_wait(&challenge, secs(120), secs(2)).await;
    match result {
        Err(LoginError::TimedOut(after)) => assert_eq!(after, secs(120)),
        other => panic!("expected TimedOut, got {other:?}"),
    }
    // About 0.1 s on an idle machine (a 120 s wait); the bound leaves room for a busy 2-core
    // CI box running other tests at the same time.
    assert!(real < secs(5), "took {real:?} of real time");
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 60, "{sleeps:?}");
    assert!(
        sleeps.iter().all(|s| *s == secs(2)),
        "every sleep is the poll interval: {sleeps:?}"
    );
    assert_eq!(sleeps.iter().sum::<Duration>(), secs(120));
    assert_eq!(
        polls(&server).await,
        61,
        "one poll per interval, and a final one at the deadline"
    );
    assert_eq!(events.waiting.load(Ordering::SeqCst), 61);
    assert!(events.retrying.lock().unwrap().is_empty());
}

/// Regression (issue 17, item 14): an approval made during the last poll interval was reported
/// as a timeout, because the deadline came before the next poll and none was made.
#[tokio::test]
async fn an_approval_in_the_last_interval_is_collected_by_a_final_poll_at_the_deadline() {
    let mut replies = vec![pending(); 3];
    replies.push(success());
    let (server, challenge) = setup(Sequence::new(replies)).await;
    // 3 s at a 1 s interval: polls at 0, 1 and 2 s say pending; the approval comes after that.
    let (result, clock, _, _) = run_wait(&challenge, secs(3), secs(1)).await;
    let approval = result.expect("the approval made before the deadline is collected");
    assert_eq!(approval.jwt.expose(), "aaa.bbb.ccc");
    assert_eq!(clock.sleeps(), vec![secs(1), secs(1), secs(1)]);
    assert_eq!(
        polls(&server).await,
        4,
        "the fourth poll is at the deadline"
    );
}

#[tokio::test]
async fn the_last_sleep_is_cut_to_the_deadline() {
    let (_server, challenge) = setup(pending()).await;
    let (result, clock, _, _) = run_wait(&challenge, secs(10), secs(3)).await;
    assert!(
        matches!(result, Err(LoginError::TimedOut(d)) if d == secs(10)),
        "{result:?}"
    );
    assert_eq!(clock.sleeps(), vec![secs(3), secs(3), secs(3), secs(1)]);
}

#[tokio::test]
async fn a_503_is_retried_with_backoff_then_succeeds() {
    let (server, challenge) =
        setup(Sequence::new(vec![unavailable(), unavailable(), success()])).await;
    let (result, clock, events, _) = run_wait(&challenge, secs(120), secs(1)).await;
    let approval = result.expect("the login succeeds after the server recovers");
    assert_eq!(approval.jwt.expose(), "aaa.bbb.ccc");
    assert_eq!(approval.expiration, Some(1_700_003_600));
    assert_eq!(approval.user.as_deref(), Some("alice"));
    assert_eq!(approval.cookie_name.as_deref(), Some("consoleme_auth"));
    assert_eq!(clock.sleeps(), vec![secs(1), secs(2)], "backoff doubles");
    let retrying = events.retrying.lock().unwrap().clone();
    assert_eq!(retrying.len(), 2, "{retrying:?}");
    assert!(retrying.iter().all(|r| r.contains("503")), "{retrying:?}");
    assert_eq!(polls(&server).await, 3);
}

#[tokio::test]
async fn backoff_is_capped_and_reset_by_a_pending_reply() {
    let (_server, challenge) = setup(Sequence::new(vec![
        unavailable(),
        unavailable(),
        pending(),
        unavailable(),
        success(),
    ]))
    .await;
    let (result, clock, _, _) = run_wait(&challenge, secs(120), secs(1)).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        clock.sleeps(),
        vec![secs(1), secs(2), secs(1), secs(1)],
        "a pending reply resets the backoff to the interval"
    );

    let (_server, challenge) = setup(unavailable()).await;
    let (result, clock, _, _) = run_wait(&challenge, secs(60), secs(2)).await;
    assert!(matches!(result, Err(LoginError::TimedOut(_))), "{result:?}");
    assert_eq!(
        clock.sleeps(),
        [2, 4, 8, 10, 10, 10, 10, 6].map(secs).to_vec(),
        "doubling up to 10 s, the last sleep cut to the deadline"
    );
}

#[tokio::test]
async fn final_statuses_end_the_wait_at_once() {
    for (status, check) in [
        (
            "denied",
            (|e: &LoginError| matches!(e, LoginError::Denied)) as fn(&LoginError) -> bool,
        ),
        ("expired", |e| matches!(e, LoginError::Expired)),
        ("unknown", |e| matches!(e, LoginError::Unknown)),
        ("unauthorized", |e| matches!(e, LoginError::Unauthorized)),
    ] {
        let (server, challenge) = setup(Sequence::new(vec![
            pending(),
            ResponseTemplate::new(200).set_body_json(json!({ "status": status })),
        ]))
        .await;
        let (result, clock, _, _) = run_wait(&challenge, secs(120), secs(2)).await;
        let err = result.expect_err(status);
        assert!(check(&err), "{status}: got {err:?}");
        assert_eq!(
            clock.sleeps(),
            vec![secs(2)],
            "{status}: one pending, then stop"
        );
        assert_eq!(polls(&server).await, 2, "{status}");
    }
}

#[tokio::test]
async fn protocol_errors_are_not_retried() {
    let cases: [(ResponseTemplate, &str); 4] = [
        (
            ResponseTemplate::new(200).set_body_string("<html>"),
            "not the expected JSON",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"status": "weird"})),
            "unknown status",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"status": "success"})),
            "no token",
        ),
        (ResponseTemplate::new(404), "HTTP 404"),
    ];
    for (reply, needle) in cases {
        let (server, challenge) = setup(reply).await;
        let (result, clock, _, _) = run_wait(&challenge, secs(120), secs(2)).await;
        let err = result.expect_err(needle);
        assert!(
            matches!(err, LoginError::Protocol(_) | LoginError::Server(_)),
            "{needle}: {err:?}"
        );
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert!(clock.sleeps().is_empty());
        assert_eq!(polls(&server).await, 1);
    }
}

#[tokio::test]
async fn request_refuses_a_polling_url_on_another_origin() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/noauth/v1/challenge_generator/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "challenge_url": "/challenge_validator/x",
            "polling_url": "http://127.0.0.1:1/noauth/v1/challenge_poller/x",
        })))
        .mount(&server)
        .await;
    let err = ask(&server, &FakeClock::at_unix(1_700_000_000), secs(15))
        .await
        .expect_err("a foreign polling URL is refused");
    assert!(matches!(err, LoginError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("refusing"), "{err}");
}

/// A generator that answers `replies` in turn, then a same-origin challenge.
async fn generator(replies: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    let mut all = replies;
    all.push(ResponseTemplate::new(200).set_body_json(json!({
        "challenge_url": format!("/challenge_validator/{TOKEN}"),
        "polling_url": format!("{}{POLLER}{TOKEN}", server.uri()),
    })));
    Mock::given(method("GET"))
        .and(path_regex("^/noauth/v1/challenge_generator/alice$"))
        .respond_with(Sequence::new(all))
        .mount(&server)
        .await;
    server
}

fn busy(retry_after: Option<&str>) -> ResponseTemplate {
    let r = ResponseTemplate::new(503).set_body_json(json!({
        "status": "error",
        "message": "the login server cannot reach its challenge store\u{1b}[31m; try again shortly",
    }));
    match retry_after {
        Some(a) => r.insert_header("retry-after", a),
        None => r,
    }
}

#[tokio::test]
async fn an_unavailable_generator_is_asked_again_after_its_retry_after() {
    let server = generator(vec![busy(Some("2")), busy(None)]).await;
    let clock = FakeClock::at_unix(1_700_000_000);
    let challenge = ask(&server, &clock, secs(60))
        .await
        .expect("the third attempt gets the challenge");
    assert!(challenge.polling_url.path().ends_with(TOKEN));
    assert_eq!(
        clock.sleeps(),
        vec![secs(2), secs(1)],
        "Retry-After, then 1 s without one"
    );
}

#[tokio::test]
async fn a_generator_that_stays_unavailable_is_reported_with_its_message() {
    let server = generator(vec![busy(Some("1")), busy(Some("1")), busy(Some("1"))]).await;
    let clock = FakeClock::at_unix(1_700_000_000);
    let err = ask(&server, &clock, secs(60))
        .await
        .expect_err("three 503s in a row");
    assert_eq!(clock.sleeps(), vec![secs(1), secs(1)], "three attempts");
    let LoginError::Unavailable { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        reason.contains("HTTP 503") && reason.ends_with("(3 attempts)"),
        "{reason}"
    );
    assert!(
        reason.contains("cannot reach its challenge store"),
        "the server's message: {reason}"
    );
    assert!(
        !reason.contains('\u{1b}'),
        "no control characters: {reason:?}"
    );
    let shown = sesame_login::error::Error::from(err).to_string();
    assert!(shown.contains("unavailable for now"), "{shown}");
}

#[tokio::test]
async fn a_retry_after_beyond_the_generators_patience_is_not_waited_for() {
    for (retry_after, why, shown) in [
        ("30", "longer than 5 s", "it asks to wait 30 s"),
        (
            "99999999999999999999",
            "out of range",
            "it asks to wait 60 s",
        ),
    ] {
        let server = generator(vec![busy(Some(retry_after))]).await;
        let clock = FakeClock::at_unix(1_700_000_000);
        let err = ask(&server, &clock, secs(60)).await.expect_err(why);
        assert!(clock.sleeps().is_empty(), "{why}: {:?}", clock.sleeps());
        assert!(err.to_string().contains(shown), "{why}: {err}");
    }
    // Nor past the login's own time.
    let server = generator(vec![busy(Some("3"))]).await;
    let clock = FakeClock::at_unix(1_700_000_000);
    let err = ask(&server, &clock, secs(2))
        .await
        .expect_err("3 s is past a 2 s timeout");
    assert!(clock.sleeps().is_empty());
    assert!(
        err.to_string().contains("the login's time limit ran out"),
        "{err}"
    );
}

#[tokio::test]
async fn a_poll_answered_with_retry_after_waits_as_long_as_asked() {
    let (server, challenge) = setup(Sequence::new(vec![
        busy(Some("7")),
        ResponseTemplate::new(429).insert_header("retry-after", "600"),
        success(),
    ]))
    .await;
    let (result, clock, events, _) = run_wait(&challenge, secs(300), secs(1)).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        clock.sleeps(),
        vec![secs(7), secs(60)],
        "Retry-After when longer than the backoff, at most 60 s"
    );
    let retrying = events.retrying.lock().unwrap().clone();
    assert!(
        retrying[0].contains("cannot reach its challenge store"),
        "{retrying:?}"
    );
    assert_eq!(polls(&server).await, 3);
}
