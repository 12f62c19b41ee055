//! The fault matrix: one named test per fault, each asserting what the person is told, the exit
//! code, and that the previous session is intact. docs/reliability.md lists them.

mod common;

use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A sandbox with a session already saved in the file store, and its bytes.
fn with_previous_session() -> (Sandbox, Vec<u8>) {
    let sb = Sandbox::new();
    let token = fake_jwt(json!({"sub": "alice", "exp": unix_now() + 3600}));
    sb.run_full(&["login", "--with-token"], &[], Some(&token))
        .expect_code(0);
    let bytes = std::fs::read(sb.session_file("default")).unwrap();
    (sb, bytes)
}

#[track_caller]
fn assert_intact(sb: &Sandbox, before: &[u8]) {
    assert_eq!(
        std::fs::read(sb.session_file("default")).unwrap(),
        before,
        "the previous session is intact"
    );
    sb.run(&["token"]).expect_code(0);
}

fn login(sb: &Sandbox, server: &str, timeout: &str) -> Out {
    sb.run(&[
        "login",
        "--server",
        server,
        "--user",
        USER,
        "--no-browser",
        "--timeout",
        timeout,
    ])
}

/// A TCP server that misbehaves the same way on every connection, on a thread of its own.
fn raw_server(behave: fn(TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || behave(stream));
        }
    });
    url
}

fn read_some(stream: &mut TcpStream) {
    let mut buf = [0u8; 16];
    let _ = stream.read(&mut buf);
}

fn generator_answers(server: &MockServer, reply: ResponseTemplate) {
    block_on(
        Mock::given(method("GET"))
            .and(path_regex("^/noauth/v1/challenge_generator/"))
            .respond_with(reply)
            .mount(server),
    );
}

#[test]
fn the_server_answers_5xx_to_the_challenge_request() {
    let (sb, before) = with_previous_session();
    let server = block_on(MockServer::start());
    generator_answers(&server, ResponseTemplate::new(503));
    login(&sb, &server.uri(), "5")
        .expect_code(1)
        .no_panic()
        .stderr_has(&[
            "is unavailable for now",
            "HTTP 503",
            "Run `sesame login` again in a moment",
        ]);
    assert_intact(&sb, &before);
    // Asked three times, a second apart (no Retry-After), before giving up.
    let asked = block_on(server.received_requests())
        .unwrap_or_default()
        .len();
    assert_eq!(asked, 3);
}

#[test]
fn the_server_answers_5xx_to_every_poll_until_the_deadline() {
    let (sb, before) = with_previous_session();
    let server = mock_server(ResponseTemplate::new(502));
    let started = Instant::now();
    login(&sb, &server.uri(), "2")
        .expect_code(4)
        .no_panic()
        .stderr_has(&["Timed out after 2s", "--timeout"]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(requests_to(&server, "/noauth/v1/challenge_poller/") >= 1);
    assert_intact(&sb, &before);
}

#[test]
fn the_connection_resets_mid_reply() {
    let (sb, before) = with_previous_session();
    // Half a reply, then close with the request still unread, which makes the kernel send RST.
    let url = raw_server(|mut s| {
        read_some(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n{\"challenge_url\":\"");
        let _ = s.flush();
    });
    login(&sb, &url, "5")
        .expect_code(1)
        .no_panic()
        .stderr_has(&["Could not reach the login server"]);
    assert_intact(&sb, &before);
}

#[test]
fn a_reply_trickling_one_byte_a_second_is_bounded_by_the_timeout() {
    let (sb, before) = with_previous_session();
    let url = raw_server(|mut s| {
        read_some(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n");
        for b in br#"{"challenge_url":"/challenge_validator/x","polling_url":"/noauth/v1/"#.iter() {
            if s.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let started = Instant::now();
    login(&sb, &url, "3")
        .expect_code(1)
        .no_panic()
        .stderr_has(&["timed out"]);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "bounded by --timeout 3: took {took:?}"
    );
    assert_intact(&sb, &before);
}

#[test]
fn a_truncated_json_reply() {
    let (sb, before) = with_previous_session();
    let server = block_on(MockServer::start());
    generator_answers(
        &server,
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_raw(r#"{"challenge_url": "/challenge_vali"#, "application/json"),
    );
    login(&sb, &server.uri(), "5")
        .expect_code(1)
        .no_panic()
        .stderr_has(&["not the expected JSON", "Nothing was saved"]);
    assert_intact(&sb, &before);
}

#[test]
fn the_server_name_does_not_resolve() {
    let (sb, before) = with_previous_session();
    login(&sb, "https://sesame-fault-test.invalid", "5")
        .expect_code(1)
        .no_panic()
        .stderr_has(&["Could not reach the login server", "lookup", "--server"]);
    assert_intact(&sb, &before);
}

/// A D-Bus session bus that accepts connections and never answers: every keychain call hangs.
fn hanging_bus(dir: &Path) -> String {
    let socket = dir.join("hanging-bus");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    format!("unix:path={}", socket.display())
}

#[test]
fn a_keychain_call_that_hangs() {
    let (sb, before) = with_previous_session();
    let bus = hanging_bus(sb.path());
    let env = [
        ("DBUS_SESSION_BUS_ADDRESS", bus.as_str()),
        ("SESAME_KEYCHAIN_TIMEOUT", "1"),
    ];
    let started = Instant::now();
    let mut cmd = sb.sesame();
    cmd.args(["token", "--store", "keychain"]).envs(env);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not answer within 1s"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // `auto` gives up on the keychain after the same second and reads the file store.
    let out = sb
        .sesame()
        .args(["token", "--store", "auto"])
        .envs(env)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        sb.token(),
        "the file store's token"
    );
    assert_intact(&sb, &before);
}

#[test]
#[ignore = "needs gnome-keyring and dbus-run-session; scripts/test-all.sh runs it"]
fn the_keychain_is_locked() {
    require_secret_service();
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_sesame");
    let token = fake_jwt(json!({"sub": "alice", "exp": unix_now() + 3600}));
    // A private bus and keyring: save, lock the collection, try to read, unlock, read again.
    let script = format!(
        r#"set -u
printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
printf %s '{token}' | {bin} login --with-token --store keychain >/dev/null 2>&1 || exit 90
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
  org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null || exit 91
SESAME_KEYCHAIN_TIMEOUT=5 {bin} token --store keychain 2>locked.err
echo "locked-exit=$?"
printf pw | gnome-keyring-daemon --replace --unlock --components=secrets >/dev/null
sleep 0.5
{bin} token --store keychain
"#
    );
    let out = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("NO_COLOR", "1")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let locked = std::fs::read_to_string(dir.path().join("locked.err")).unwrap_or_default();
    assert!(stdout.contains("locked-exit=1"), "{stdout}\n{locked}");
    assert!(
        locked.contains("The OS keychain is not available")
            && locked.contains("may be locked")
            && locked.contains("Unlock"),
        "{locked}"
    );
    assert!(!locked.contains("panicked"), "{locked}");
    assert!(
        stdout.lines().any(|l| l == token),
        "once unlocked, the session is intact: {stdout}"
    );
}

fn require_secret_service() {
    for tool in ["dbus-run-session", "gnome-keyring-daemon", "dbus-send"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{tool} is missing; scripts/test-all.sh installs it");
    }
}

#[test]
fn the_session_file_cannot_be_written() {
    let (sb, before) = with_previous_session();
    let dir = sb.sessions_dir();
    let new = fake_jwt(json!({"sub": "bob", "exp": unix_now() + 7200}));
    let bin = env!("CARGO_BIN_EXE_sesame");
    // A read-only bind mount of the sessions directory, in a mount namespace of this command.
    let script = format!(
        "mount --bind '{d}' '{d}' && mount -o remount,ro,bind '{d}' '{d}' || exit 90\n\
         printf %s '{new}' | '{bin}' login --with-token --store file",
        d = dir.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &sb.home)
        .env("XDG_CONFIG_HOME", &sb.config_home)
        .env("XDG_DATA_HOME", &sb.data_home)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(90),
        "could not set up the read-only mount: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not write") && stderr.contains("Read-only file system"),
        "{stderr}"
    );
    assert!(
        stderr.contains("previous session, if any, is unchanged"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_intact(&sb, &before);
}

fn interrupt(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn ctrl_c_during_the_challenge_request() {
    let (sb, before) = with_previous_session();
    // A server that accepts and never answers.
    let url = raw_server(|mut s| {
        read_some(&mut s);
        std::thread::sleep(Duration::from_secs(60));
    });
    let login = sb.spawn_login(&url, &["--timeout", "30"]);
    std::thread::sleep(Duration::from_millis(700));
    interrupt(login.pid());
    login
        .finish_within(Duration::from_secs(10))
        .expect_code(130)
        .no_panic()
        .stderr_has(&["Interrupted", "previous session, if any, is intact"]);
    assert_intact(&sb, &before);
}

#[test]
fn ctrl_c_during_polling() {
    let (sb, before) = with_previous_session();
    let server = RefServer::start();
    let login = sb.spawn_login(server.url.as_str(), &["--timeout", "30"]);
    let _ = login.challenge_url();
    std::thread::sleep(Duration::from_millis(300));
    interrupt(login.pid());
    login
        .finish_within(Duration::from_secs(10))
        .expect_code(130)
        .no_panic()
        .stderr_has(&["Interrupted"]);
    assert_intact(&sb, &before);
}

/// Ctrl-C pressed while the session is being saved: the file holds the old session or the new
/// one, never half of either.
#[test]
fn ctrl_c_during_the_save() {
    let server = RefServer::start();
    for round in 0..5 {
        let (sb, before) = with_previous_session();
        let login = sb.spawn_login(server.url.as_str(), &["--timeout", "30"]);
        let url = login.challenge_url();
        let pid = login.pid();
        approve(&url);
        for _ in 0..20 {
            let _ = Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
            std::thread::sleep(Duration::from_millis(2));
        }
        let out = login.finish_within(Duration::from_secs(10));
        out.no_panic();
        assert!(
            matches!(out.code(), Some(0 | 130)),
            "round {round}: {:?}\n{}",
            out.code(),
            out.stderr
        );
        let now = std::fs::read(sb.session_file("default")).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&now).expect("a whole session");
        if now != before {
            assert_eq!(
                parsed["flow"], "challenge",
                "round {round}: the new session"
            );
        }
        sb.run(&["token"]).expect_code(0);
    }
}

/// `sesame serve` as its own process, and the URL it prints.
fn serve() -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["serve", "--listen", "127.0.0.1:0", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0] as char);
    }
    (child, line.trim_end_matches('/').to_string())
}

fn generator_ok(url: &str) -> bool {
    block_on(async {
        http()
            .get(format!("{url}/noauth/v1/challenge_generator/alice"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
}

#[test]
fn serve_still_answers_with_10000_idle_connections_open() {
    let (mut child, url) = serve();
    let addr = url.trim_start_matches("http://").to_string();
    let mut idle = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        match TcpStream::connect(&addr) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {} failed: {e}", idle.len()),
        }
    }
    let started = Instant::now();
    assert!(generator_ok(&url), "a real request is served");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn serve_refuses_headers_over_its_limit_and_keeps_serving() {
    let (mut child, url) = serve();
    let addr = url.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let big = "a".repeat(1024 * 1024);
    let _ =
        s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
        "refused (431 or closed): {}",
        reply.lines().next().unwrap_or_default()
    );
    assert!(generator_ok(&url), "still serving");
    let _ = child.kill();
    let _ = child.wait();
}
