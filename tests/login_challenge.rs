//! End-to-end tests of the challenge login: the real `sesame` binary against the in-process
//! reference server (happy paths, denial, expiry, the IP check through a proxy, transient 5xx
//! through a proxy) and against wiremock for servers that misbehave.

mod common;

use common::*;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use wiremock::ResponseTemplate;

// ---------------------------------------------------------------------------------------------
// Happy path.

#[test]
fn login_token_status_logout_round_trip() {
    let server = RefServer::start();
    let sb = Sandbox::new();

    let login = sb.spawn_login(server.url.as_str(), &["--timeout", "30"]);
    let url = login.challenge_url();
    // The URL is a line of its own, exactly the server's validator page for one token.
    let token_part = url
        .strip_prefix(&format!("{}/challenge_validator/", server.origin()))
        .unwrap_or_else(|| panic!("unexpected challenge URL {url:?}"));
    assert!(
        !token_part.is_empty() && token_part.chars().all(|c| c.is_ascii_alphanumeric()),
        "challenge token {token_part:?}"
    );
    let msg = approve(&url);
    assert!(msg.contains("successfully authenticated"), "{msg}");
    let out = login.finish();
    out.expect_code(0)
        .stderr_has(&["Logged in as alice", "profile default"])
        .no_panic();
    assert!(
        out.stdout.trim().is_empty(),
        "login prints nothing on stdout: {:?}",
        out.stdout
    );

    // `token`: the JWT and nothing else on stdout.
    let out = sb.run(&["token"]);
    out.expect_code(0);
    assert!(
        out.stdout.ends_with('\n') && out.stdout.lines().count() == 1,
        "{:?}",
        out.stdout
    );
    let jwt = out.stdout.trim_end().to_string();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {jwt}");
    assert!(parts.iter().all(|p| !p.is_empty()), "{jwt}");
    assert!(
        out.stderr.is_empty(),
        "token is silent on stderr: {:?}",
        out.stderr
    );
    // Signed by the server with its secret, for alice, expiring in about an hour.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    let data = jsonwebtoken::decode::<Value>(
        &jwt,
        &jsonwebtoken::DecodingKey::from_secret(JWT_SECRET),
        &validation,
    )
    .expect("the token verifies with the server's secret");
    assert_eq!(data.claims["email"], USER);
    let exp = data.claims["exp"].as_i64().unwrap();
    assert!((exp - unix_now() - 3600).abs() < 60, "exp {exp}");

    // `status` in text.
    let out = sb.run(&["status"]);
    out.expect_code(0);
    assert!(out.stdout.contains("alice"), "{}", out.stdout);
    assert!(out.stdout.contains("Expires"), "{}", out.stdout);
    assert!(out.stdout.contains(server.url.as_str()), "{}", out.stdout);

    // `status --output json`.
    let out = sb.run(&["status", "--output", "json"]);
    out.expect_code(0);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("status JSON");
    assert_eq!(v["user"], "alice", "{v}");
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["logged_in"], true, "{v}");
    assert_eq!(v["flow"], "challenge", "{v}");
    assert_eq!(v["profile"], "default", "{v}");
    assert_eq!(v["expires_at"].as_i64(), Some(exp), "{v}");
    assert_eq!(v["cookie_name"], "consoleme_auth", "{v}");

    // `logout` removes the session; `token` then has none.
    assert!(sb.session_file("default").exists());
    let out = sb.run(&["logout"]);
    out.expect_code(0)
        .stderr_has(&["Removed the session", "not revoked"]);
    assert!(
        !sb.session_file("default").exists(),
        "the session file is gone"
    );
    let out = sb.run(&["token"]);
    out.expect_code(3)
        .stderr_has(&["Not logged in", "sesame login"]);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);

    // A second logout has nothing to do, and says so.
    sb.run(&["logout"])
        .expect_code(0)
        .stderr_has(&["nothing to remove"]);
}

#[test]
fn status_without_a_session_exits_3() {
    let sb = Sandbox::new();
    let out = sb.run(&["status"]);
    out.expect_code(3)
        .stderr_has(&["Not logged in", "sesame login"]);
    let out = sb.run(&["status", "--output", "json"]);
    out.expect_code(3);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("JSON even without a session");
    assert_eq!(v["logged_in"], false, "{v}");
}

#[cfg(unix)]
#[test]
fn file_store_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = RefServer::start();
    let sb = Sandbox::new();
    sb.login_approved(&server);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let file = sb.session_file("default");
    assert_eq!(mode(&file), 0o600, "{}", file.display());
    assert_eq!(
        mode(&sb.sessions_dir()),
        0o700,
        "{}",
        sb.sessions_dir().display()
    );
    let leftovers: Vec<_> = std::fs::read_dir(sb.sessions_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn a_failed_login_keeps_the_previous_session() {
    let server = RefServer::start();
    let sb = Sandbox::new();
    sb.login_approved(&server);
    let first = sb.token();
    let before = std::fs::read(sb.session_file("default")).unwrap();

    let login = sb.spawn_login(server.url.as_str(), &["--timeout", "30"]);
    deny(&login.challenge_url());
    login.finish().expect_code(4);

    assert_eq!(sb.token(), first, "the first token is still the session");
    assert_eq!(std::fs::read(sb.session_file("default")).unwrap(), before);
}

#[cfg(unix)]
#[test]
fn interrupt_exits_130_and_keeps_the_previous_session() {
    let server = RefServer::start();
    let sb = Sandbox::new();
    sb.login_approved(&server);
    let first = sb.token();

    let login = sb.spawn_login(server.url.as_str(), &["--timeout", "30"]);
    // The Ctrl-C handler is installed before the challenge is requested, so a Ctrl-C as soon as
    // the URL shows (or earlier) ends the login cleanly.
    login.challenge_url();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &login.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let out = login.finish_within(Duration::from_secs(10));
    out.expect_code(130).stderr_has(&["Interrupted"]).no_panic();
    assert_eq!(sb.token(), first);
}

// ---------------------------------------------------------------------------------------------
// Final statuses: each ends the login at once with exit 4 and says what to do.

#[test]
fn denied_in_the_browser_exits_4() {
    let server = RefServer::start();
    let sb = Sandbox::new();
    let login = sb.spawn_login(server.url.as_str(), &["--timeout", "60"]);
    let msg = deny(&login.challenge_url());
    assert!(msg.contains("denied"), "{msg}");
    let out = login.finish();
    out.expect_code(4)
        .stderr_has(&["denied in the browser", "sesame login"])
        .no_panic()
        .faster_than(Duration::from_secs(15));
    assert!(!sb.session_file("default").exists(), "nothing saved");
}

#[test]
fn expired_challenge_exits_4_long_before_the_timeout() {
    let mut config = dev_config();
    config.challenge_ttl = Duration::from_secs(1);
    let server = RefServer::with_config(config);
    let sb = Sandbox::new();
    let out = sb.login(server.url.as_str(), &["--timeout", "60"]);
    out.expect_code(4)
        .stderr_has(&["expired before it was approved", "sesame login"])
        .no_panic()
        .faster_than(Duration::from_secs(10));
    assert!(!sb.session_file("default").exists());
}

#[test]
fn unknown_challenge_exits_4() {
    let mock = mock_server(poll_json(json!({"status": "unknown"})));
    let sb = Sandbox::new();
    let out = sb.login(&mock.uri(), &["--timeout", "60"]);
    out.expect_code(4)
        .stderr_has(&["no longer knows this login request", "sesame login"])
        .no_panic()
        .faster_than(Duration::from_secs(10));
    assert_eq!(
        requests_to(&mock, "/noauth/v1/challenge_poller/"),
        1,
        "no retry on a final status"
    );
}

#[test]
fn polls_from_another_address_are_unauthorized_by_the_real_server() {
    let (_server, proxy) = server_behind_proxy(
        ProxyOptions {
            polls_from: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))),
            ..Default::default()
        },
        |_| {},
    );
    let sb = Sandbox::new();
    let login = sb.spawn_login(proxy.url.as_str(), &["--timeout", "60"]);
    let url = login.challenge_url();
    assert!(
        url.starts_with(&format!(
            "{}/challenge_validator/",
            proxy.url.origin().ascii_serialization()
        )),
        "the challenge URL points at the proxy: {url}"
    );
    let out = login.finish();
    out.expect_code(4)
        .stderr_has(&["different network address", "sesame login"])
        .no_panic()
        .faster_than(Duration::from_secs(10));
    assert_eq!(proxy.polls(), 1, "a final status is not polled again");
}

#[test]
fn unauthorized_from_a_mock_exits_4() {
    let mock = mock_server(poll_json(json!({"status": "unauthorized"})));
    let sb = Sandbox::new();
    sb.login(&mock.uri(), &["--timeout", "60"])
        .expect_code(4)
        .stderr_has(&["different network address", "Stay on one network"])
        .faster_than(Duration::from_secs(10));
}

#[test]
fn the_same_address_through_the_proxy_passes_the_ip_check() {
    // The control for the test above: the proxy alone does not make the server refuse.
    let (_server, proxy) = server_behind_proxy(ProxyOptions::default(), |_| {});
    let sb = Sandbox::new();
    let login = sb.spawn_login(proxy.url.as_str(), &["--timeout", "30"]);
    approve(&login.challenge_url());
    login
        .finish()
        .expect_code(0)
        .stderr_has(&["Logged in as alice"]);
    assert!(proxy.polls() >= 1);
}

#[test]
fn timeout_exits_4_and_mentions_the_flag() {
    let mock = mock_server(poll_json(json!({"status": "pending"})));
    let sb = Sandbox::new();
    let out = sb.login(&mock.uri(), &["--timeout", "2", "--poll-interval", "1"]);
    out.expect_code(4)
        .stderr_has(&["Timed out after 2s", "--timeout"])
        .no_panic()
        .faster_than(Duration::from_secs(8));
    assert!(
        out.elapsed >= Duration::from_millis(1500),
        "waited the timeout: {:?}",
        out.elapsed
    );
    let polls = requests_to(&mock, "/noauth/v1/challenge_poller/");
    assert!(
        (2..=4).contains(&polls),
        "about one poll a second, got {polls}"
    );
}

// ---------------------------------------------------------------------------------------------
// Network trouble.

/// Regression: a proxy from the environment was used for 127.0.0.1 too, so `sesame demo` and
/// local servers failed behind a corporate proxy with a misleading "could not reach".
#[test]
fn proxy_environment_is_not_used_for_a_loopback_server() {
    let server = RefServer::start();
    let sb = Sandbox::new();
    let mut cmd = sb.sesame();
    for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
        cmd.env(var, "http://127.0.0.1:9");
    }
    let login = sb.spawn_login_with(cmd, server.url.as_str(), &["--timeout", "30"]);
    approve(&login.challenge_url());
    login.finish().expect_code(0).no_panic();
}

#[test]
fn server_down_exits_1_fast() {
    let sb = Sandbox::new();
    let url = dead_url();
    let out = sb.login(&url, &["--timeout", "60"]);
    out.expect_code(1)
        .stderr_has(&["Could not reach the login server", "--server"])
        .no_panic()
        .faster_than(Duration::from_secs(5));
}

#[test]
fn transient_5xx_while_polling_is_retried() {
    let (_server, proxy) = server_behind_proxy(
        ProxyOptions {
            fail_first_polls: 2,
            ..Default::default()
        },
        |_| {},
    );
    let sb = Sandbox::new();
    let login = sb.spawn_login(
        proxy.url.as_str(),
        &["--timeout", "30", "--poll-interval", "1"],
    );
    // Approve at once: the answer is waiting behind two failed polls.
    approve(&login.challenge_url());
    let out = login.finish();
    out.expect_code(0)
        .stderr_has(&["Logged in as alice"])
        .no_panic();
    assert!(
        proxy.polls() >= 3,
        "two 503s and then the poll that collected the token, got {}",
        proxy.polls()
    );
    // Backoff: 1 s then 2 s before the third poll.
    assert!(
        out.elapsed >= Duration::from_millis(2500),
        "{:?}",
        out.elapsed
    );
    let jwt = sb.token();
    assert_eq!(jwt_claims(&jwt)["email"], USER);
}

// ---------------------------------------------------------------------------------------------
// Servers that break the protocol: exit 1, a clear message, never a panic, nothing saved.

#[test]
fn a_polling_url_on_another_origin_is_refused() {
    let foreign = dead_url();
    let mock = block_on(async {
        let m = wiremock::MockServer::start().await;
        mount_generator(&m, &foreign).await;
        m
    });
    let sb = Sandbox::new();
    let out = sb.login(&mock.uri(), &["--timeout", "60"]);
    out.expect_code(1)
        .stderr_has(&["refusing to poll another host", &foreign])
        .no_panic()
        .faster_than(Duration::from_secs(10));
    assert!(!sb.session_file("default").exists());
}

#[test]
fn malformed_poll_json_exits_1() {
    let mock = mock_server(
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_string("{\"status\": \"pend"),
    );
    let sb = Sandbox::new();
    let out = sb.login(&mock.uri(), &["--timeout", "60"]);
    out.expect_code(1)
        .stderr_has(&["poll reply is not the expected JSON"])
        .no_panic()
        .faster_than(Duration::from_secs(10));
    assert!(!sb.session_file("default").exists());
}

#[test]
fn an_unknown_status_exits_1() {
    let mock = mock_server(poll_json(json!({"status": "approved-ish"})));
    let sb = Sandbox::new();
    let out = sb.login(&mock.uri(), &["--timeout", "60"]);
    out.expect_code(1)
        .stderr_has(&["unknown status \"approved-ish\""])
        .no_panic()
        .faster_than(Duration::from_secs(10));
}

#[test]
fn success_without_a_token_exits_1() {
    let mock = mock_server(poll_json(
        json!({"status": "success", "cookie_name": "consoleme_auth", "expiration": 4_000_000_000u64}),
    ));
    let sb = Sandbox::new();
    let out = sb.login(&mock.uri(), &["--timeout", "60"]);
    out.expect_code(1)
        .stderr_has(&["sent no token (encoded_jwt)"])
        .no_panic()
        .faster_than(Duration::from_secs(10));
    assert!(!sb.session_file("default").exists());
}

#[test]
fn http_to_a_remote_server_needs_allow_http() {
    let sb = Sandbox::new();
    let out = sb.login("http://consoleme.example.com", &[]);
    out.expect_code(2)
        .stderr_has(&["Refusing plain http", "--allow-http"])
        .no_panic()
        .faster_than(Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------------
// Tokens from elsewhere.

#[test]
fn with_token_saves_the_piped_token() {
    let sb = Sandbox::new();
    let jwt = fake_jwt(json!({"email": "bob@example.com", "exp": unix_now() + 600}));
    let out = sb.run_full(&["login", "--with-token"], &[], Some(&format!("{jwt}\n")));
    out.expect_code(0)
        .stderr_has(&["Logged in as bob@example.com"]);
    assert_eq!(sb.token(), jwt);
    let v: Value =
        serde_json::from_str(sb.run(&["status", "--output", "json"]).stdout.trim()).unwrap();
    assert_eq!(v["flow"], "with-token", "{v}");
    assert_eq!(v["user"], "bob@example.com", "{v}");
}

#[test]
fn with_token_and_nothing_on_stdin_is_a_usage_error() {
    let sb = Sandbox::new();
    let out = sb.run_full(&["login", "--with-token"], &[], Some(""));
    out.expect_code(2).stderr_has(&["No token on stdin"]);
    let out = sb.run_full(&["login", "--with-token"], &[], Some("  \n"));
    out.expect_code(2);
    assert!(!sb.session_file("default").exists());
}

#[test]
fn with_token_refuses_an_expired_token() {
    let sb = Sandbox::new();
    let jwt = fake_jwt(json!({"sub": "bob", "exp": unix_now() - 10}));
    sb.run_full(&["login", "--with-token"], &[], Some(&jwt))
        .expect_code(2)
        .stderr_has(&["already expired"]);
}

#[test]
fn sesame_token_env_overrides_the_store() {
    let sb = Sandbox::new();
    // With no session at all.
    let out = sb.run_full(&["token"], &[("SESAME_TOKEN", "from-the-env")], None);
    out.expect_code(0);
    assert_eq!(out.stdout, "from-the-env\n");
    // And over a stored one.
    let stored = fake_jwt(json!({"sub": "bob", "exp": unix_now() + 600}));
    sb.run_full(&["login", "--with-token"], &[], Some(&stored))
        .expect_code(0);
    let out = sb.run_full(&["token"], &[("SESAME_TOKEN", "from-the-env")], None);
    out.expect_code(0);
    assert_eq!(out.stdout, "from-the-env\n");
    assert_eq!(
        sb.token(),
        stored,
        "without the variable the store answers again"
    );
}

#[test]
fn only_token_ever_prints_the_token() {
    let server = RefServer::start();
    let sb = Sandbox::new();
    let mut outs = vec![("login", sb.login_approved(&server))];
    let jwt = sb.token();
    assert_eq!(jwt.split('.').count(), 3);
    outs.push(("status", sb.run(&["status"])));
    outs.push((
        "status --output json",
        sb.run(&["status", "--output", "json"]),
    ));
    outs.push(("logout", sb.run(&["logout"])));
    outs.push((
        "login --with-token",
        sb.run_full(&["login", "--with-token"], &[], Some(&jwt)),
    ));
    outs.push((
        "status after with-token",
        sb.run(&["status", "--output", "json"]),
    ));
    outs.push(("logout after with-token", sb.run(&["logout"])));
    // A token is also never echoed back when it is refused.
    outs.push((
        "with-token of two tokens",
        sb.run_full(
            &["login", "--with-token"],
            &[],
            Some(&format!("{jwt} {jwt}")),
        ),
    ));
    // ...nor by status when it comes from the environment.
    outs.push((
        "status with SESAME_TOKEN",
        sb.run_full(
            &["status", "--output", "json"],
            &[("SESAME_TOKEN", &jwt)],
            None,
        ),
    ));
    // Each part longer than a few characters would be a leak too (the signature especially).
    let signature = jwt.rsplit('.').next().unwrap();
    for (what, out) in &outs {
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !text.contains(&jwt),
                "`sesame {what}` printed the token on {stream}:\n{text}"
            );
            assert!(
                !text.contains(signature),
                "`sesame {what}` printed the token's signature on {stream}:\n{text}"
            );
        }
    }
    assert_eq!(outs[1].1.code(), Some(0));
    assert_eq!(outs[4].1.code(), Some(0));
}

// ---------------------------------------------------------------------------------------------
// The browser's way back: approve on the page, follow the redirect to the loopback callback.

/// Does what a browser does on the approval page: GET it, POST the form, follow the 303 to the
/// loopback callback. Returns the final page.
fn approve_like_a_browser(challenge_url: &str) -> String {
    block_on(async {
        press_button(&http(), challenge_url, "approve")
            .await
            .text()
            .await
            .unwrap()
    })
}

/// Regression: the callback woke the poller while a long-poll was carrying the (one-time)
/// token; the in-flight reply was dropped and the next poll said "unknown" (about 1 login in
/// 15). And when the long-poll won, sesame could exit before the browser reached the callback,
/// leaving the tab on a broken connection. Callback and long-poll finish at the same moment, so
/// repeat to give the races room. `BROWSER=true` "opens" the URL; the test is the browser.
#[test]
fn the_callback_never_drops_a_token_in_flight() {
    let server = RefServer::start();
    for round in 0..25 {
        let sb = Sandbox::new();
        let mut cmd = sb.sesame();
        cmd.env("BROWSER", "true");
        let login = sb.spawn_login_opening(cmd, server.url.as_str(), &["--timeout", "30"]);
        let page = approve_like_a_browser(&login.challenge_url());
        let out = login.finish();
        assert_eq!(out.code(), Some(0), "round {round}:\n{}", out.stderr);
        assert!(
            page.contains("Signed in as alice"),
            "round {round}: the browser ends on the callback's success page:\n{page}"
        );
    }
}

/// With `--no-browser` the URL may be opened on another device, which cannot reach this
/// machine's loopback: no callback is requested, and the server's own page ends the visit.
#[test]
fn without_a_local_browser_no_callback_is_requested() {
    let server = RefServer::start();
    let sb = Sandbox::new();
    let login = sb.spawn_login(server.url.as_str(), &["--timeout", "30"]);
    let page = approve_like_a_browser(&login.challenge_url());
    login.finish().expect_code(0);
    assert!(
        page.contains("Signed in as alice") && page.contains("Return to your terminal"),
        "the server's outcome page, not a redirect:\n{page}"
    );
}
