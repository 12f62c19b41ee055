//! Direct credentials against the fixture JSON API (tests/direct_support), which is modelled
//! on the four systems of docs/direct-login.md: a password and a TOTP code, refresh with
//! rotation, a session key as a query parameter or cookie, a JWT, HTTP Basic, an API key, and
//! `status --remote` for each. The real binary runs in a sandbox with the file store.

mod common;
mod direct_support;

use common::{Sandbox, unix_now};
use direct_support::{API_KEY, Api, EMAIL, PASSWORD, current_code};
use serde_json::Value;
use std::sync::atomic::Ordering;

fn sandbox(api: &Api) -> Sandbox {
    let s = Sandbox::new();
    s.write_config(&api.config());
    s
}

fn session(s: &Sandbox, profile: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(s.session_file(profile)).unwrap()).unwrap()
}

fn token(s: &Sandbox, profile: &str) -> String {
    let out = s.run(&["token", "--profile", profile]);
    out.expect_code(0).no_panic();
    out.stdout.trim().to_string()
}

/// Password, then the TOTP code on the next line of stdin.
fn mfa_input() -> String {
    format!("{PASSWORD}\n{}\n", current_code())
}

#[test]
fn password_then_totp_then_token_refresh_and_remote_status() {
    let api = Api::start();
    let s = sandbox(&api);
    let input = mfa_input();
    let out = s.run_full(
        &["login", "--profile", "koneksi", "--password-stdin"],
        &[],
        Some(&input),
    );
    out.expect_code(0)
        .no_panic()
        .stderr_has(&["one-time code", "Logged in as dana@example.com"]);
    // The API grants 15 minutes; a busy machine may take a second between its reply and the
    // message, which then says 14m59s.
    assert!(
        out.stderr.contains("expires in 15m") || out.stderr.contains("expires in 14m5"),
        "{}",
        out.stderr
    );
    assert_eq!(api.fixture.otp_checks.load(Ordering::SeqCst), 1);
    // The password went out intact: quotes, backslash and non-ASCII.
    let bodies = api.fixture.bodies.lock().unwrap().clone();
    assert_eq!(bodies[0]["password"], PASSWORD);
    assert_eq!(bodies[0]["email"], EMAIL);
    assert!(bodies[1]["login_code"].as_str().unwrap().starts_with("lc_"));

    let first = token(&s, "koneksi");
    assert!(first.starts_with("at_"), "{first}");
    let saved = session(&s, "koneksi");
    assert_eq!(saved["flow"], "password");
    assert!(
        saved["json_api"]["refresh_url"]
            .as_str()
            .unwrap()
            .ends_with("/koneksi/auth/refresh")
    );

    let remote = s.run(&["status", "--profile", "koneksi", "--remote"]);
    remote.expect_code(0).no_panic();
    assert!(remote.stdout.contains("accepted by"), "{}", remote.stdout);
    assert!(remote.stdout.contains(EMAIL), "{}", remote.stdout);

    // `sesame refresh` rotates the tokens; the server has spent the old refresh token.
    s.run(&["refresh", "--profile", "koneksi"])
        .expect_code(0)
        .no_panic();
    assert_eq!(api.refreshes(), 1);
    let second = token(&s, "koneksi");
    assert_ne!(first, second);
    s.run(&["status", "--profile", "koneksi", "--remote"])
        .expect_code(0);

    // `sesame token` refreshes by itself once the token is about to expire.
    // (The short token is read from the file: `sesame token` itself might already refresh it
    // on a slow machine, half its 2 s lifetime being the skew.)
    api.fixture.access_ttl.store(2, Ordering::SeqCst);
    s.run(&["refresh", "--profile", "koneksi"]).expect_code(0);
    api.fixture.access_ttl.store(900, Ordering::SeqCst);
    let short = session(&s, "koneksi")["token"]
        .as_str()
        .unwrap()
        .to_string();
    let before = api.refreshes();
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let after = token(&s, "koneksi");
    assert_ne!(short, after, "an expired token was refreshed");
    assert_eq!(api.refreshes(), before + 1);

    // Neither the password nor the code is anywhere but on the wire.
    let everything = s.all_files_text();
    assert!(!everything.contains(PASSWORD));
    for o in [&out, &remote] {
        assert!(!o.stderr.contains(PASSWORD) && !o.stdout.contains(PASSWORD));
    }
    let code = bodies[1]["otp"].as_str().unwrap().to_string();
    assert!(
        !everything.contains(&format!("\"{code}\"")),
        "the one-time code was saved"
    );
    assert!(!out.stderr.contains(&code));
}

#[test]
fn wrong_password_and_wrong_code_exit_4_and_keep_the_session() {
    let api = Api::start();
    let s = sandbox(&api);
    s.run_full(
        &["login", "--profile", "koneksi", "--password-stdin"],
        &[],
        Some(&mfa_input()),
    )
    .expect_code(0);
    let before = token(&s, "koneksi");

    let out = s.run_full(
        &["login", "--profile", "koneksi", "--password-stdin"],
        &[],
        Some("not the password\n000000\n"),
    );
    out.expect_code(4).no_panic().stderr_has(&[
        "HTTP 401",
        "Invalid email or password",
        "previous session",
    ]);
    assert!(!out.stderr.contains("not the password"));

    let wrong = if current_code() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let out = s.run_full(
        &["login", "--profile", "koneksi", "--password-stdin"],
        &[],
        Some(&format!("{PASSWORD}\n{wrong}\n")),
    );
    out.expect_code(4)
        .no_panic()
        .stderr_has(&["Invalid OTP code"]);
    assert_eq!(
        token(&s, "koneksi"),
        before,
        "the previous session is intact"
    );

    // No code left on stdin: a clear usage error, nothing sent as a code.
    let checks = api.fixture.otp_checks.load(Ordering::SeqCst);
    let out = s.run_full(
        &["login", "--profile", "koneksi", "--password-stdin"],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    out.expect_code(2).stderr_has(&["one-time code", "stdin"]);
    assert_eq!(api.fixture.otp_checks.load(Ordering::SeqCst), checks);
    assert_eq!(token(&s, "koneksi"), before);
}

#[test]
fn a_session_key_as_query_parameter_or_cookie() {
    let api = Api::start();
    let s = sandbox(&api);
    let input = format!("{PASSWORD}\n");
    s.run_full(
        &["login", "--profile", "konekt", "--password-stdin"],
        &[],
        Some(&input),
    )
    .expect_code(0)
    .stderr_has(&["Logged in as dana@example.com", "expiry unknown"]);
    let key = token(&s, "konekt");
    assert!(key.starts_with("sk_"));
    let status = s.run(&[
        "status",
        "--profile",
        "konekt",
        "--remote",
        "--output",
        "json",
    ]);
    status.expect_code(0);
    let v: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["use_as"], "query:sesskey");
    assert_eq!(v["remote"]["accepted"], true);
    assert_eq!(v["remote"]["response"]["data"]["email"], EMAIL);
    assert_eq!(v["expires_at"], Value::Null);
    let text = s.run(&["status", "--profile", "konekt"]);
    assert!(
        text.stdout.contains("the query parameter sesskey"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("unknown"), "{}", text.stdout);

    // The same API, the key kept from its Set-Cookie.
    s.run_full(
        &["login", "--profile", "konekt-cookie", "--password-stdin"],
        &[],
        Some(&input),
    )
    .expect_code(0);
    assert!(token(&s, "konekt-cookie").starts_with("sk_"));
    s.run(&["status", "--profile", "konekt-cookie", "--remote"])
        .expect_code(0);

    // A key the server no longer knows: refused remotely, exit 3.
    let forged = s.run_full(
        &["login", "--profile", "konekt", "--with-token"],
        &[("SESAME_USE_AS", "query:sesskey")],
        Some("sk_forged\n"),
    );
    forged.expect_code(0);
    s.run(&["status", "--profile", "konekt", "--remote"])
        .expect_code(3)
        .stderr_has(&["refused", "HTTP 401", "Invalid session key"]);
}

#[test]
fn a_jwt_login_takes_its_expiry_from_the_token() {
    let api = Api::start();
    let s = sandbox(&api);
    let out = s.run_full(
        &["login", "--profile", "jwtcli", "--password-stdin"],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    out.expect_code(0).stderr_has(&["Logged in as dana"]);
    // The token was minted for 8 h a moment ago: a second later it has 7h59m left.
    assert!(
        out.stderr.contains("expires in 8h") || out.stderr.contains("expires in 7h59m"),
        "{}",
        out.stderr
    );
    let saved = session(&s, "jwtcli");
    let exp = saved["expires_at"].as_i64().unwrap();
    assert!((exp - unix_now() - 8 * 3600).abs() < 60);
    assert!(saved.get("json_api").is_none(), "nothing to refresh with");
    s.run(&["status", "--profile", "jwtcli", "--remote"])
        .expect_code(0);
    // Without a refresh URL, `refresh` says why it cannot.
    s.run(&["refresh", "--profile", "jwtcli"])
        .expect_code(2)
        .stderr_has(&["cannot be refreshed"]);
}

#[test]
fn an_api_key_is_saved_shown_without_its_value_and_presented_as_a_header() {
    let api = Api::start();
    let s = sandbox(&api);
    let out = s.run_full(
        &["login", "--profile", "jwtcli-key", "--api-key"],
        &[],
        Some(&format!("{API_KEY}\n")),
    );
    out.expect_code(0)
        .stderr_has(&["Saved the API key", "the header X-API-Key"]);
    assert!(!out.stderr.contains(API_KEY));
    let status = s.run(&["status", "--profile", "jwtcli-key"]);
    status.expect_code(0);
    assert!(
        status.stdout.contains("api-key") && status.stdout.contains("never"),
        "{}",
        status.stdout
    );
    assert!(!status.stdout.contains(API_KEY) && !status.stderr.contains(API_KEY));
    let remote = s.run(&["status", "--profile", "jwtcli-key", "--remote"]);
    remote.expect_code(0);
    assert!(remote.stdout.contains("api key"), "{}", remote.stdout);
    assert_eq!(token(&s, "jwtcli-key"), API_KEY);

    // The same key as konekt's `apikey` query parameter, chosen on the command line.
    s.run_full(
        &[
            "login",
            "--profile",
            "konekt",
            "--api-key",
            "--use-as",
            "query:apikey",
        ],
        &[],
        Some(&format!("{API_KEY}\n")),
    )
    .expect_code(0);
    s.run(&["status", "--profile", "konekt", "--remote"])
        .expect_code(0);

    // A wrong key: accepted locally, refused by the server.
    s.run_full(
        &["login", "--profile", "jwtcli-key", "--api-key"],
        &[],
        Some("ak_wrong\n"),
    )
    .expect_code(0);
    s.run(&["status", "--profile", "jwtcli-key", "--remote"])
        .expect_code(3);
    // No key at all: nothing saved over the last one.
    s.run_full(
        &["login", "--profile", "jwtcli-key", "--api-key"],
        &[],
        Some("\n"),
    )
    .expect_code(2)
    .stderr_has(&["No API key"]);
    assert_eq!(token(&s, "jwtcli-key"), "ak_wrong");
}

#[test]
fn basic_credentials_and_an_expires_at_pointer() {
    let api = Api::start();
    let s = sandbox(&api);
    let out = s.run_full(
        &["login", "--profile", "konekt-basic", "--password-stdin"],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    out.expect_code(0).stderr_has(&["HTTP Basic"]);
    let saved = session(&s, "konekt-basic");
    assert_eq!(saved["flow"], "basic");
    assert_eq!(saved["use_as"], "basic");
    s.run(&["status", "--profile", "konekt-basic", "--remote"])
        .expect_code(0);

    s.run_full(
        &["login", "--profile", "cli4", "--password-stdin"],
        &[],
        Some(&format!("{PASSWORD}\n")),
    )
    .expect_code(0)
    .stderr_has(&["expires in 15m"]);
    s.run(&["status", "--profile", "cli4", "--remote"])
        .expect_code(0);
    let out = s.run_full(
        &["login", "--profile", "cli4", "--password-stdin"],
        &[],
        Some("nope\n"),
    );
    out.expect_code(4)
        .stderr_has(&["Incorrect username or password"]);
}

#[test]
fn status_remote_says_when_the_server_cannot_be_reached() {
    let api = Api::start();
    let s = sandbox(&api);
    s.run_full(
        &["login", "--profile", "jwtcli", "--password-stdin"],
        &[],
        Some(&format!("{PASSWORD}\n")),
    )
    .expect_code(0);
    let dead = common::dead_url();
    s.write_config(&api.config().replace(
        &format!(
            "whoami-url = \"{}/jwtcli/api/auth/whoami\"\n\n[profiles.jwtcli-key]",
            api.base
        ),
        &format!("whoami-url = \"{dead}/whoami\"\n\n[profiles.jwtcli-key]"),
    ));
    s.run(&["status", "--profile", "jwtcli", "--remote"])
        .expect_code(1)
        .no_panic()
        .stderr_has(&["Could not reach"]);
}

/// At a terminal, the password and the one-time code are asked for without echo: run under
/// util-linux `script` (a pseudo-terminal), typing both; neither appears in what the terminal
/// showed.
#[test]
fn terminal_prompts_do_not_echo_the_password_or_the_code() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let api = Api::start();
    let s = sandbox(&api);
    let bin = env!("CARGO_BIN_EXE_sesame");
    let mut child = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{bin} login --profile koneksi --store file"),
            "/dev/null",
        ])
        .env_clear()
        .env("HOME", &s.home)
        .env("XDG_CONFIG_HOME", &s.config_home)
        .env("XDG_DATA_HOME", &s.data_home)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdin = child.stdin.take().unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    {
        let seen = seen.clone();
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let wait_for = |needle: &str| {
        let started = Instant::now();
        while !seen.lock().unwrap().contains(needle) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never saw {needle:?}:\n{}",
                seen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("Password for dana@example.com: ");
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
    wait_for("One-time code: ");
    let code = current_code();
    stdin.write_all(format!("{code}\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
    wait_for("Logged in as dana@example.com");
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "login did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let seen = seen.lock().unwrap().clone();
    assert!(status.success(), "{seen}");
    assert!(!seen.contains(PASSWORD), "the password was echoed:\n{seen}");
    assert!(!seen.contains(&code), "the code was echoed:\n{seen}");
    assert!(token(&s, "koneksi").starts_with("at_"));
}

/// Eight `sesame token` calls at once on a stale JSON-login session refresh it once, under the
/// same per-profile lock as OAuth refreshes: the server rotates refresh tokens, so a second
/// refresh with the spent token would fail and end the session.
#[test]
fn concurrent_token_calls_refresh_a_json_login_once() {
    let api = Api::start();
    let s = sandbox(&api);
    api.fixture.access_ttl.store(2, Ordering::SeqCst);
    s.run_full(
        &["login", "--profile", "koneksi", "--password-stdin"],
        &[],
        Some(&mfa_input()),
    )
    .expect_code(0);
    // Read from the file, not with `sesame token`, which on a slow machine may already refresh.
    api.fixture.access_ttl.store(900, Ordering::SeqCst);
    let stale = session(&s, "koneksi")["token"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let before = api.refreshes();
    let s = std::sync::Arc::new(s);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                s.run(&["token", "--profile", "koneksi"])
            })
        })
        .collect();
    let outs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let tokens: std::collections::HashSet<String> = outs
        .iter()
        .map(|o| {
            o.expect_code(0).no_panic();
            o.stdout.trim().to_string()
        })
        .collect();
    assert_eq!(api.refreshes() - before, 1, "one refresh for eight callers");
    assert_eq!(
        tokens.len(),
        1,
        "everyone got the refreshed token: {tokens:?}"
    );
    assert!(!tokens.contains(&stale));
}
