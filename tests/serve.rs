//! The reference server's own promises: ConsoleMe's one-time semantics, header authentication,
//! redirects only to loopback, bounded memory and bodies, cheap long-polls, no tokens in its
//! logs, and a graceful stop.

mod common;

use common::*;
use hyper::header::HeaderName;
use serde_json::Value;
use sesame_server::Auth;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn generate(server: &RefServer, query: &str) -> Value {
    generate_with(&http(), server, query)
}

fn generate_with(client: &reqwest::Client, server: &RefServer, query: &str) -> Value {
    block_on(async {
        client
            .get(format!(
                "{}noauth/v1/challenge_generator/{USER}{query}",
                server.url
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

fn api(challenge_url: &str) -> String {
    challenge_url.replacen("/challenge_validator/", "/api/v2/challenge_validator/", 1)
}

fn get_json(url: &str, header: Option<(&str, &str)>) -> (u16, Value) {
    block_on(async {
        let mut req = http().get(url);
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    })
}

fn post_json(url: &str, body: Value, header: Option<(&str, &str)>) -> u16 {
    block_on(async {
        let mut req = http().post(url).json(&body);
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        req.send().await.unwrap().status().as_u16()
    })
}

#[test]
fn a_challenge_is_viewed_once_decided_with_its_nonce_and_collected_once() {
    let server = RefServer::start();
    let ch = generate(&server, "");
    assert_eq!(
        ch["extensions"],
        serde_json::json!(["callback", "long_poll", "user_code", "deny"])
    );
    let api = api(ch["challenge_url"].as_str().unwrap());
    let (status, first) = get_json(&api, None);
    assert_eq!(
        (status, first["show_approve_button"].as_bool()),
        (200, Some(true))
    );
    let (_, second) = get_json(&api, None);
    assert_eq!(
        second["show_approve_button"], false,
        "a second view is refused"
    );
    assert!(second.get("nonce").is_none());
    assert_eq!(
        post_json(&api, serde_json::json!({"nonce": "forged"}), None),
        400
    );
    assert_eq!(
        post_json(&api, serde_json::json!({"nonce": first["nonce"]}), None),
        200
    );
    let poll = ch["polling_url"].as_str().unwrap();
    let (_, got) = get_json(poll, None);
    assert_eq!(got["status"], "success");
    assert_eq!(got["cookie_name"], "consoleme_auth");
    assert!(got["encoded_jwt"].as_str().unwrap().split('.').count() == 3);
    let (_, again) = get_json(poll, None);
    assert_eq!(again["status"], "unknown", "collected once");
}

#[test]
fn header_auth_requires_the_requested_user() {
    let mut config = dev_config();
    config.auth = Auth::Header(HeaderName::from_static("x-forwarded-email"));
    config.ip_check = true;
    let server = RefServer::with_config(config);
    let ch = generate(&server, "");
    let api = api(ch["challenge_url"].as_str().unwrap());
    let (status, body) = get_json(&api, None);
    assert_eq!(status, 401, "{body}");
    let (status, body) = get_json(&api, Some(("x-forwarded-email", "mallory")));
    assert_eq!(status, 403);
    assert!(body["message"].as_str().unwrap().contains("mallory"));
    let (status, view) = get_json(&api, Some(("x-forwarded-email", USER)));
    assert_eq!(status, 200);
    let nonce = serde_json::json!({"nonce": view["nonce"]});
    assert_eq!(
        post_json(&api, nonce.clone(), Some(("x-forwarded-email", "mallory"))),
        403
    );
    assert_eq!(
        post_json(&api, nonce, Some(("x-forwarded-email", USER))),
        200
    );
    let (_, got) = get_json(ch["polling_url"].as_str().unwrap(), None);
    assert_eq!(got["status"], "success");
}

/// Presses a button on the server-rendered page the way a browser does, without following the
/// redirect; returns the status and the Location header.
fn press(challenge_url: &str, decision: &str) -> (u16, Option<String>) {
    block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = press_button(&client, challenge_url, decision).await;
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        (r.status().as_u16(), location)
    })
}

#[test]
fn decisions_redirect_only_to_a_loopback_callback() {
    let server = RefServer::start();
    let ch = generate(
        &server,
        "?redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback&state=s1",
    );
    let (status, location) = press(ch["challenge_url"].as_str().unwrap(), "approve");
    assert_eq!(status, 303);
    assert_eq!(
        location.as_deref(),
        Some("http://127.0.0.1:5555/callback?state=s1")
    );

    let ch = generate(
        &server,
        "?redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback&state=s2",
    );
    let (_, location) = press(ch["challenge_url"].as_str().unwrap(), "deny");
    assert_eq!(
        location.as_deref(),
        Some("http://127.0.0.1:5555/callback?state=s2&error=access_denied")
    );
    let (_, got) = get_json(ch["polling_url"].as_str().unwrap(), None);
    assert_eq!(got["status"], "denied");

    for evil in [
        "https%3A%2F%2Fevil.example%2Fcallback",
        "http%3A%2F%2Fevil.example%3A5555%2Fcallback",
        "http%3A%2F%2F127.0.0.1%2Fcallback",
    ] {
        let ch = generate(&server, &format!("?redirect_uri={evil}&state=s3"));
        let (status, location) = press(ch["challenge_url"].as_str().unwrap(), "approve");
        assert_eq!(
            (status, location),
            (200, None),
            "{evil} is ignored, not followed"
        );
    }
}

#[test]
fn pending_challenges_are_capped_and_bodies_are_limited() {
    let mut config = dev_config();
    config.max_pending = 3;
    let server = RefServer::with_config(config);
    for _ in 0..3 {
        assert!(generate(&server, "").get("polling_url").is_some());
    }
    let status = block_on(async {
        http()
            .get(format!(
                "{}noauth/v1/challenge_generator/{USER}",
                server.url
            ))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 503);

    let server = RefServer::start();
    let ch = generate(&server, "");
    let api = api(ch["challenge_url"].as_str().unwrap());
    let big = "x".repeat(64 * 1024);
    assert_eq!(
        post_json(&api, serde_json::json!({"nonce": big}), None),
        413
    );
}

#[test]
fn a_thousand_long_polls_wait_without_answering_until_their_challenge_changes() {
    // A thousand challenges from one address: the per-address limit is off.
    let mut config = dev_config();
    config.max_pending_per_ip = 0;
    let server = RefServer::with_config(config);
    let client = http();
    let challenges: Vec<Value> = (0..1000)
        .map(|_| generate_with(&client, &server, ""))
        .collect();
    block_on(async {
        let polls: Vec<_> = challenges
            .iter()
            .map(|ch| {
                let url = format!("{}?wait=8", ch["polling_url"].as_str().unwrap());
                let client = client.clone();
                tokio::spawn(async move {
                    let v: Value = client.get(url).send().await.unwrap().json().await.unwrap();
                    v
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            polls.iter().all(|p| !p.is_finished()),
            "no long-poll answers while nothing changed"
        );
        let api = api(challenges[500]["challenge_url"].as_str().unwrap());
        let view: Value = client.get(&api).send().await.unwrap().json().await.unwrap();
        let approved_at = Instant::now();
        client
            .post(&api)
            .json(&serde_json::json!({"nonce": view["nonce"]}))
            .send()
            .await
            .unwrap();
        let mut polls = polls;
        let approved = polls.swap_remove(500);
        let reply = tokio::time::timeout(Duration::from_secs(5), approved)
            .await
            .expect("the approved challenge's long-poll answers at once")
            .unwrap();
        assert_eq!(reply["status"], "success");
        eprintln!(
            "long-poll answered {:?} after the approval",
            approved_at.elapsed()
        );
        assert!(
            polls.iter().all(|p| !p.is_finished()),
            "the other 999 keep waiting"
        );
        for p in polls {
            p.abort();
        }
    });
}

/// `sesame serve --listen 127.0.0.1:0 EXTRA` as a process: it, its URL (its first line on
/// stdout), and a thread that collects its log (stderr) until it exits.
fn serve_process(extra: &[&str]) -> (std::process::Child, String, std::thread::JoinHandle<String>) {
    let mut serve = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env_clear()
        .env("SESAME_JWT_SECRET", "a-test-secret-of-at-least-32-bytes!!")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sesame serve starts");
    let mut first = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first.trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "prints its URL: {url:?}"
    );
    let mut log_pipe = serve.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = log_pipe.read_to_string(&mut s);
        s
    });
    (serve, url, log)
}

#[test]
fn serve_logs_no_tokens_and_stops_gracefully_on_sigterm() {
    let (mut serve, url, log) = serve_process(&[]);

    let sb = Sandbox::new();
    let login = sb.spawn_login(&url, &["--timeout", "30"]);
    let challenge_url = login.challenge_url();
    approve(&challenge_url);
    login.finish().expect_code(0);
    let jwt = sb.token();

    let killed = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = serve.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "sesame serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let log = log.join().unwrap();
    let challenge_token = challenge_url.rsplit('/').next().unwrap();
    assert!(
        log.contains("challenge_poller/{token} 200"),
        "requests are logged:\n{log}"
    );
    assert!(log.contains("approved"), "decisions are logged:\n{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(
        !log.contains(challenge_token),
        "no challenge token in the log:\n{log}"
    );
    assert!(!log.contains(&jwt), "no JWT in the log");
    assert!(
        !log.contains(jwt.rsplit('.').next().unwrap()),
        "no JWT signature in the log"
    );
}

/// ConsoleMe's user profile endpoint: who the session cookie belongs to, and 403
/// `{"code":"invalid_jwt"}` for a missing, forged or foreign cookie. `sesame status --remote`
/// asks it for challenge sessions.
#[test]
fn the_user_profile_endpoint_checks_the_cookie_and_status_remote_uses_it() {
    let server = RefServer::start();
    let s = Sandbox::new();
    s.login_approved(&server);
    let remote = s.run(&["status", "--remote"]);
    remote.expect_code(0).no_panic();
    assert!(remote.stdout.contains("accepted by"), "{}", remote.stdout);
    assert!(
        remote.stdout.contains(&format!("user: {USER}")),
        "{}",
        remote.stdout
    );
    assert!(
        remote.stdout.contains("the cookie consoleme_auth"),
        "{}",
        remote.stdout
    );

    let url = format!("{}api/v2/user_profile", server.url);
    let (status, body): (u16, Value) = block_on(async {
        let r = http().get(&url).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    });
    assert_eq!((status, body["code"].as_str()), (403, Some("invalid_jwt")));

    // The session cookie among others, in two Cookie headers, one value quoted (RFC 6265's
    // grammar, read by the cookie crate): found.
    let jwt = s.token();
    let (status, body): (u16, Value) = block_on(async {
        let r = http()
            .get(&url)
            .header("cookie", "theme=dark; lang=\"en\"")
            .header("cookie", format!("a=1; consoleme_auth=\"{jwt}\"; b=2"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    });
    assert_eq!((status, body["user"].as_str()), (200, Some(USER)), "{body}");

    // A token signed with another key (another server's) is refused; status says so, exit 3.
    let other = RefServer::with_config(sesame_server::Config::dev(
        b"another-secret-0123456789abcdef".to_vec(),
    ));
    let s2 = Sandbox::new();
    s2.login_approved(&other);
    let mut session: Value =
        serde_json::from_str(&std::fs::read_to_string(s2.session_file("default")).unwrap())
            .unwrap();
    session["server"] = Value::String(server.url.to_string());
    std::fs::write(s2.session_file("default"), session.to_string()).unwrap();
    s2.run(&["status", "--remote"])
        .expect_code(3)
        .no_panic()
        .stderr_has(&["refused", "HTTP 403", "invalid_jwt"]);
}

/// `--log-format json`: one JSON object per request (route template, status, milliseconds; no
/// token) and per decision; `/metrics` counts what happened, in the Prometheus text format.
#[test]
fn json_logs_and_prometheus_metrics() {
    let (mut serve, url, log) = serve_process(&["--log-format", "json"]);
    let sb = Sandbox::new();
    let login = sb.spawn_login(&url, &["--timeout", "30"]);
    let challenge_url = login.challenge_url();
    approve(&challenge_url);
    login.finish().expect_code(0);
    let jwt = sb.token();

    let metrics = metrics_text(&url);
    for line in [
        "sesame_serve_challenges_total{event=\"generated\"} 1",
        "sesame_serve_challenges_total{event=\"approved\"} 1",
        "sesame_serve_challenges_total{event=\"collected\"} 1",
        "sesame_serve_polls_total{status=\"success\"} 1",
        "sesame_serve_long_polls_waiting 0",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    assert!(
        metrics.contains("sesame_serve_request_duration_seconds_count{route=\"noauth/v1/challenge_poller/{token}\"}"),
        "{metrics}"
    );

    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.wait();
    let log = log.join().unwrap();
    let token = challenge_url.rsplit('/').next().unwrap();
    assert!(!log.contains(token) && !log.contains(&jwt), "{log}");
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|v| v["route"] == "noauth/v1/challenge_poller/{token}"
                && v["status"] == 200
                && v["ms"].is_number()),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|v| v["event"] == "approved" && v["user"] == USER),
        "{log}"
    );
}

/// The default text log: one line per request (time, address, method, route template, status,
/// milliseconds) and one per decision, written by the CLI's layer from the server's `tracing`
/// events; `--quiet` writes neither.
#[test]
fn text_logs_one_line_per_request_and_decision() {
    let (mut serve, url, log) = serve_process(&[]);
    let sb = Sandbox::new();
    let login = sb.spawn_login(&url, &["--timeout", "30"]);
    approve(&login.challenge_url());
    login.finish().expect_code(0);
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.wait();
    let log = log.join().unwrap();
    let request = log
        .lines()
        .find(|l| l.contains(" GET noauth/v1/challenge_poller/{token} 200 "));
    let request = request.unwrap_or_else(|| panic!("no poll line in:\n{log}"));
    let fields: Vec<&str> = request.split(' ').collect();
    assert!(
        fields[0].len() == 10 && fields[0].as_bytes()[4] == b'-',
        "{request}"
    );
    assert!(request.contains(" 127.0.0.1 GET "), "{request}");
    let ms = fields.last().unwrap();
    assert!(
        ms.ends_with("ms") && ms.trim_end_matches("ms").parse::<u64>().is_ok(),
        "{request}"
    );
    assert!(
        log.contains(&format!(
            "login for {USER} (requested from 127.0.0.1) approved"
        )),
        "{log}"
    );

    let (mut quiet, url, log) = serve_process(&["--quiet"]);
    let sb = Sandbox::new();
    let login = sb.spawn_login(&url, &["--timeout", "30"]);
    approve(&login.challenge_url());
    login.finish().expect_code(0);
    let _ = Command::new("kill")
        .args(["-TERM", &quiet.id().to_string()])
        .status();
    let _ = quiet.wait();
    let log = log.join().unwrap();
    assert!(
        !log.contains("challenge_poller") && !log.contains("login for"),
        "{log}"
    );
}

/// Sends `request` on a fresh connection.
fn send_raw(server: &RefServer, request: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    s
}

/// Reads one response: its head (lower-cased) and body (by Content-Length).
fn read_response(s: &mut std::net::TcpStream) -> (String, String) {
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

/// The server's `/metrics` page.
fn metrics_text(url: &str) -> String {
    block_on(async {
        http()
            .get(format!("{url}metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
}

fn waiting(server: &RefServer) -> u64 {
    metrics_text(server.url.as_str())
        .lines()
        .find_map(|l| l.strip_prefix("sesame_serve_long_polls_waiting "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn wait_for_waiting(server: &RefServer, n: u64) {
    let start = Instant::now();
    while waiting(server) != n {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "long-polls waiting: {} (expected {n})",
            waiting(server)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Long-polls on fresh connections wait outside hyper (parked): they are counted as waiting, a
/// client that hangs up is let go at once, a pending answer closes the connection (so the next
/// long-poll is parked too), and a decision answers a parked poll at once, on a connection kept
/// alive.
#[test]
fn parked_long_polls_answer_on_decision_or_time_and_let_go_of_clients_that_leave() {
    let server = RefServer::start();
    let ch = generate(&server, "");
    let path = url::Url::parse(ch["polling_url"].as_str().unwrap())
        .unwrap()
        .path()
        .to_string();
    let long_poll = |wait: u32| format!("GET {path}?wait={wait} HTTP/1.1\r\nHost: sesame\r\n\r\n");

    let mut timed = send_raw(&server, &long_poll(2));
    let leaving = send_raw(&server, &long_poll(20));
    wait_for_waiting(&server, 2);
    drop(leaving);
    wait_for_waiting(&server, 1);

    let (head, body) = read_response(&mut timed);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert_eq!(body, r#"{"status":"pending"}"#);
    let mut rest = Vec::new();
    timed.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "the connection is closed after a pending answer"
    );

    let mut decided = send_raw(&server, &long_poll(20));
    wait_for_waiting(&server, 1);
    let asked = Instant::now();
    approve(ch["challenge_url"].as_str().unwrap());
    let (head, body) = read_response(&mut decided);
    assert!(asked.elapsed() < Duration::from_secs(5));
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["status"], "success");
    assert_eq!(waiting(&server), 0);
}

/// Parking checks the client's address as the poll would: a long-poll from another address
/// (here, behind a trusted proxy) is answered `unauthorized` at once, not held.
#[test]
fn a_long_poll_from_another_address_is_not_parked() {
    let mut config = dev_config();
    config.ip_check = true;
    config.trusted_proxy_header = Some(HeaderName::from_static("x-forwarded-for"));
    let server = RefServer::with_config(config);
    let ch = block_on(async {
        http()
            .get(format!(
                "{}noauth/v1/challenge_generator/{USER}",
                server.url
            ))
            .header("x-forwarded-for", "10.1.1.1")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    let path = url::Url::parse(ch["polling_url"].as_str().unwrap())
        .unwrap()
        .path()
        .to_string();
    let from = |ip: &str| {
        format!("GET {path}?wait=20 HTTP/1.1\r\nHost: sesame\r\nX-Forwarded-For: {ip}\r\n\r\n")
    };
    let started = Instant::now();
    let (_, body) = read_response(&mut send_raw(&server, &from("10.2.2.2")));
    assert_eq!(body, r#"{"status":"unauthorized"}"#);
    assert!(started.elapsed() < Duration::from_secs(5));
    let _owner = send_raw(&server, &from("10.1.1.1"));
    wait_for_waiting(&server, 1);
}

#[test]
fn polls_the_shortcut_does_not_take_are_answered_alike_by_the_router() {
    let server = RefServer::start();
    let ch = generate(&server, "");
    let polling_url = ch["polling_url"].as_str().unwrap();
    let token = polling_url.rsplit('/').next().unwrap();
    // The same token with its first letter percent-encoded: the router decodes it, the
    // shortcut (plain tokens only) leaves it to the router.
    let encoded = polling_url.replacen(
        &format!("/{token}"),
        &format!("/%{:02X}{}", token.as_bytes()[0], &token[1..]),
        1,
    );
    assert_eq!(get_json(polling_url, None).1["status"], "pending");
    assert_eq!(get_json(&encoded, None).1["status"], "pending");
    assert_eq!(get_json(&format!("{polling_url}/"), None).0, 404);

    assert_eq!(post_json(&encoded, serde_json::json!({}), None), 200);
    let api = api(ch["challenge_url"].as_str().unwrap());
    let (_, view) = get_json(&api, None);
    let nonce = view["nonce"].as_str().unwrap();
    assert_eq!(
        post_json(&api, serde_json::json!({"nonce": nonce}), None),
        200
    );
    // Collected once, whichever way the poll came.
    let (status, first) = get_json(&encoded, None);
    assert_eq!((status, first["status"].as_str()), (200, Some("success")));
    assert!(
        first["encoded_jwt"].as_str().is_some_and(|j| !j.is_empty()),
        "{first}"
    );
    let (_, second) = get_json(polling_url, None);
    assert_ne!(second["status"], "success", "{second}");

    // Both ways are observed under the poller's route: five polls (the 404 is no route's).
    let metrics = metrics_text(server.url.as_str());
    assert!(
        metrics.contains(
            "sesame_serve_request_duration_seconds_count{route=\"noauth/v1/challenge_poller/{token}\"} 5"
        ),
        "{metrics}"
    );
}

/// A challenge for alice, requested with these `x-forwarded-for` lines; its polling and
/// validator API URLs.
fn challenge_via(server: &RefServer, forwarded: &[&str]) -> (String, String) {
    let mut req = http().get(format!(
        "{}noauth/v1/challenge_generator/{USER}",
        server.url
    ));
    for ip in forwarded {
        req = req.header("x-forwarded-for", *ip);
    }
    let ch: Value = block_on(async { req.send().await.unwrap().json().await.unwrap() });
    (
        ch["polling_url"].as_str().unwrap().to_string(),
        validator_api_url(ch["challenge_url"].as_str().unwrap()),
    )
}

/// Regression (issue 17, item 5): behind a proxy that appends (HAProxy's `option
/// forwardfor`), a client's own `X-Forwarded-For` line comes first, and the server read the
/// first: a client on another address could collect someone else's login by naming the
/// victim's address.
#[test]
fn the_trusted_address_header_is_read_from_its_last_line() {
    let mut config = dev_config();
    config.ip_check = true;
    config.trusted_proxy_header = Some(HeaderName::from_static("x-forwarded-for"));
    let server = RefServer::with_config(config);
    let (polling_url, _) = challenge_via(&server, &["10.1.1.1"]);
    let poll = |lines: &[&str]| {
        let mut req = http().get(&polling_url);
        for ip in lines {
            req = req.header("x-forwarded-for", *ip);
        }
        block_on(async { req.send().await.unwrap().text().await.unwrap() })
    };
    // The attacker (10.2.2.2, appended by the proxy) spoofs the victim's address first.
    assert_eq!(
        poll(&["10.1.1.1", "10.2.2.2"]),
        r#"{"status":"unauthorized"}"#
    );
    assert_eq!(
        poll(&["10.2.2.2, 10.1.1.1"]),
        r#"{"status":"pending"}"#,
        "the last hop of one line"
    );
    assert_eq!(poll(&["10.1.1.1"]), r#"{"status":"pending"}"#);
}

/// Regression (issue 17, item 5): the user header was read from its first line, so behind a
/// proxy that appends, a client could approve another user's login by sending that user's name.
#[test]
fn a_repeated_user_header_is_refused() {
    let mut config = dev_config();
    config.auth = Auth::Header(HeaderName::from_static("x-forwarded-email"));
    let server = RefServer::with_config(config);
    let (_, api) = challenge_via(&server, &[]);
    let view = |lines: &[&str]| {
        let mut req = http().get(&api);
        for u in lines {
            req = req.header("x-forwarded-email", *u);
        }
        block_on(async {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (status, body) = view(&[USER, "mallory"]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("2 times"), "{body}");
    let (status, _) = view(&["mallory"]);
    assert_eq!(status, 403, "another user cannot approve");
    let (status, body) = view(&[USER]);
    assert_eq!(status, 200, "{body}");
}

/// With `--groups-header`, each session's `groups` claim is the approver's groups as the SSO
/// proxy names them, beside `--group`'s; a header the proxy appended to, or one too large, is
/// refused.
#[test]
fn the_groups_header_gives_each_session_its_approvers_groups() {
    let mut config = dev_config();
    config.auth = Auth::Header(HeaderName::from_static("x-forwarded-email"));
    config.groups_header = Some(HeaderName::from_static("x-forwarded-groups"));
    config.groups = vec!["everyone".into()];
    let server = RefServer::with_config(config);
    let approved_groups = |headers: &[(&str, &str)]| {
        let ch = generate(&server, "");
        let (status, body) = approve_with(ch["challenge_url"].as_str().unwrap(), headers);
        assert_eq!(status, 200, "{body}");
        let (_, got) = get_json(ch["polling_url"].as_str().unwrap(), None);
        assert_eq!(got["status"], "success", "{got}");
        jwt_claims(got["encoded_jwt"].as_str().unwrap())["groups"].clone()
    };
    assert_eq!(
        approved_groups(&[
            ("x-forwarded-email", USER),
            ("x-forwarded-groups", "ops, eng ,,eng"),
        ]),
        serde_json::json!(["eng", "everyone", "ops"])
    );
    assert_eq!(
        approved_groups(&[("x-forwarded-email", USER)]),
        serde_json::json!(["everyone"]),
        "no groups header: --group's only"
    );

    let refused = |groups: &[&str]| {
        let ch = generate(&server, "");
        let mut headers = vec![("x-forwarded-email", USER)];
        headers.extend(groups.iter().map(|g| ("x-forwarded-groups", *g)));
        let (status, body) = approve_with(ch["challenge_url"].as_str().unwrap(), &headers);
        let (_, poll) = get_json(ch["polling_url"].as_str().unwrap(), None);
        assert_eq!(poll["status"], "pending", "nothing approved: {poll}");
        (status, body)
    };
    let (status, body) = refused(&["eng", "admins"]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("x-forwarded-groups header 2 times"), "{body}");
    let many = vec!["g"; 300].join(",");
    let (status, body) = refused(&[&many]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("more than 256 groups"), "{body}");
    let long = "g".repeat(300);
    let (status, body) = refused(&[&long]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("longer than 256 bytes"), "{body}");
    let heavy = vec!["g".repeat(250); 20].join(",");
    let (status, body) = refused(&[&heavy]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("more than 4096 bytes"), "{body}");
}

/// Regression (issue 17, item 2): an empty `--jwt-secret-file` (or /dev/null) signed with an
/// empty key, with a warning only: anyone could forge tokens.
#[test]
fn serve_refuses_a_jwt_secret_under_32_bytes_from_any_source() {
    let run = |args: &[&str], secret: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sesame"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_clear();
        if let Some(s) = secret {
            cmd.env("SESAME_JWT_SECRET", s);
        }
        run_with_limit(cmd, Duration::from_secs(20))
    };
    let empty = tempfile::NamedTempFile::new().unwrap();
    for out in [
        run(&["--jwt-secret-file", "/dev/null"], None),
        run(&["--jwt-secret-file", empty.path().to_str().unwrap()], None),
        run(&[], Some("short")),
    ] {
        out.expect_code(2)
            .no_panic()
            .stderr_has(&["at least 32", "/dev/urandom"]);
    }
    // /dev/zero is not read to the end of memory.
    run(&["--jwt-secret-file", "/dev/zero"], None)
        .expect_code(2)
        .no_panic()
        .stderr_has(&["larger than"]);
}

/// Issue 17, item 20: `--cookie-name` must be a cookie name, and the allowance for polls of
/// unknown tokens is a setting.
#[test]
fn serve_checks_its_cookie_name_and_takes_an_unknown_poll_allowance() {
    for bad in ["a=b", "consoleme auth", "x;y", ""] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sesame"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--cookie-name", bad])
            .env_clear()
            .env("SESAME_JWT_SECRET", "a-test-secret-of-at-least-32-bytes!!");
        run_with_limit(cmd, Duration::from_secs(20))
            .expect_code(2)
            .no_panic()
            .stderr_has(&["--cookie-name"]);
    }
    let mut config = dev_config();
    config.max_unknown_polls = 2;
    let server = RefServer::with_config(config);
    let statuses: Vec<u16> = (0..3)
        .map(|i| {
            let url = format!("{}noauth/v1/challenge_poller/unknowntoken{i}", server.url);
            block_on(async { http().get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
}
