//! Hostile servers (issue 17): a challenge server, a JSON login API and an OAuth token endpoint
//! whose every string field carries CR/LF, NUL, escape sequences or 40 KB, and what each
//! command then prints. A value from outside is checked where it enters: such a login is refused
//! with a clear message, the previous session is kept, nothing hostile is saved, and no command
//! prints an injected line or an escape byte.

mod common;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A server with one route: `verb` `route` answered with `reply`.
fn one_route(verb: &str, route: &str, reply: ResponseTemplate) -> MockServer {
    block_on(async {
        let server = MockServer::start().await;
        Mock::given(method(verb))
            .and(path(route))
            .respond_with(reply)
            .mount(&server)
            .await;
        server
    })
}

/// `login --profile api` against a JSON login API at `server`/login, reading `/data/token`.
fn json_login(server: &MockServer) -> (Sandbox, Out) {
    let s = Sandbox::new();
    s.write_config(&format!(
        "[profiles.api]\nflow = \"password\"\nuser = \"dana\"\nlogin-url = \"{}/login\"\ntoken-pointer = \"/data/token\"\n",
        server.uri()
    ));
    let out = s.run_full(
        &["login", "--profile", "api", "--password-stdin"],
        &[],
        Some("pw\n"),
    );
    (s, out)
}

/// What a hostile server puts in a field, each in turn.
fn hostile_values() -> Vec<String> {
    vec![
        "a.b.c\r\nX-Evil: injected".into(),
        "alice\nhost=evil.example\nquit=1".into(),
        "a\u{0}b".into(),
        "\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J\u{1b}[1;1HFAKE".into(),
        // Over every field's limit (a token's is 32 KiB) but under the 64 KiB reply limit.
        "x".repeat(40_000),
    ]
}

/// Nothing the server chose reached the person's terminal or a consumer as a line of its own.
#[track_caller]
fn clean(out: &Out) {
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !text.contains('\u{1b}'),
            "{name} holds an escape byte: {text:?}"
        );
        assert!(!text.contains('\0'), "{name} holds a NUL: {text:?}");
        assert!(!text.contains('\r'), "{name} holds a CR: {text:?}");
        for bad in ["X-Evil", "host=evil", "quit=1", "FAKE"] {
            assert!(
                !text.lines().any(|l| l.trim_start().starts_with(bad)),
                "{name} has an injected line starting {bad}: {text}"
            );
        }
        assert!(text.len() < 20_000, "{name} is {} bytes", text.len());
    }
}

/// A session saved with `--with-token`, to show that a refused login keeps it.
fn with_previous_session(s: &Sandbox) -> String {
    let token = fake_jwt(json!({"sub": "alice", "exp": unix_now() + 3600}));
    s.run_full(&["login", "--with-token"], &[], Some(&format!("{token}\n")))
        .expect_code(0);
    token
}

fn success_reply(field: &str, value: &str) -> Value {
    let mut reply = json!({
        "status": "success",
        "cookie_name": "consoleme_auth",
        "expiration": unix_now() + 3600,
        "encoded_jwt": fake_jwt(json!({"sub": "alice"})),
        "user": "alice",
    });
    reply[field] = json!(value);
    reply
}

#[test]
fn a_hostile_challenge_reply_is_refused_and_the_previous_session_kept() {
    for field in ["encoded_jwt", "cookie_name", "user"] {
        for value in hostile_values() {
            let mock = mock_server(poll_json(success_reply(field, &value)));
            let s = Sandbox::new();
            let previous = with_previous_session(&s);
            let out = s.login(&mock.uri(), &["--timeout", "20"]);
            out.expect_code(1)
                .no_panic()
                .stderr_has(&[field, "unusable"]);
            clean(&out);
            assert_eq!(s.token(), previous, "{field}: the previous session is kept");
            let saved = std::fs::read_to_string(s.session_file("default")).unwrap();
            assert!(!saved.contains("X-Evil") && !saved.contains("evil.example"));
        }
    }
}

/// Regression (issue 17, item 8): an `expiration` already past replaced a valid session and
/// exited 0.
#[test]
fn an_expiration_in_the_past_or_absurd_keeps_the_previous_session() {
    for expiration in [
        json!(0),
        json!(-1),
        json!("nan"),
        json!(1e308),
        json!(unix_now() - 5),
    ] {
        let mut reply = success_reply("user", "alice");
        reply["expiration"] = expiration.clone();
        let mock = mock_server(poll_json(reply));
        let s = Sandbox::new();
        let previous = with_previous_session(&s);
        let out = s.login(&mock.uri(), &["--timeout", "20"]);
        out.expect_code(1).no_panic().stderr_has(&["expir"]);
        assert_eq!(
            s.token(),
            previous,
            "{expiration}: the previous session is kept"
        );
    }
}

/// The verification code the generator sends is shown without its escape sequences.
#[test]
fn a_hostile_verification_code_is_shown_harmless() {
    let server = block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path_regex("^/noauth/v1/challenge_generator/[^/]+$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "challenge_url": format!("{}/challenge_validator/{MOCK_TOKEN}", server.uri()),
                "polling_url": format!("{}{POLLER_PREFIX}{MOCK_TOKEN}", server.uri()),
                "user_code": "\u{1b}[2J\u{1b}]0;pwn\u{7}AB\r\nCD",
                "extensions": ["user_code"],
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{POLLER_PREFIX}{MOCK_TOKEN}")))
            .respond_with(poll_json(success_reply("user", "alice")))
            .mount(&server)
            .await;
        server
    });
    let s = Sandbox::new();
    let out = s.login(&server.uri(), &["--timeout", "20"]);
    out.expect_code(0)
        .no_panic()
        .stderr_has(&["Verification code:"]);
    clean(&out);
}

#[test]
fn a_hostile_json_login_api_token_is_refused() {
    for value in hostile_values() {
        let reply = ResponseTemplate::new(200).set_body_json(json!({"data": {"token": value}}));
        let (s, out) = json_login(&one_route("POST", "/login", reply));
        out.expect_code(1)
            .no_panic()
            .stderr_has(&["token", "unusable"]);
        clean(&out);
        assert!(!s.session_file("api").exists(), "nothing is saved");
    }
}

/// Regression (issue 17, item 15): 12345678901234567890123 was saved as
/// 1.2345678901234568e+22, another token.
#[test]
fn a_numeric_token_too_large_to_read_exactly_is_refused_not_rounded() {
    let reply = ResponseTemplate::new(200).set_body_raw(
        r#"{"data":{"token":12345678901234567890123}}"#,
        "application/json",
    );
    let (s, out) = json_login(&one_route("POST", "/login", reply));
    out.expect_code(1)
        .no_panic()
        .stderr_has(&["cannot be read exactly", "as a string"]);
    assert!(!s.session_file("api").exists());
}

/// An OAuth provider (discovery and token endpoint) whose token reply is `token_reply`.
fn token_endpoint(token_reply: Value) -> MockServer {
    block_on(async {
        let server = MockServer::start().await;
        let issuer = server.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": issuer,
                "token_endpoint": format!("{issuer}/token"),
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_reply))
            .mount(&server)
            .await;
        server
    })
}

#[test]
fn a_hostile_token_endpoint_is_refused() {
    for value in hostile_values() {
        let server = token_endpoint(json!({
            "access_token": value,
            "token_type": "Bearer",
            "expires_in": 3600,
        }));
        let s = Sandbox::new();
        s.write_config(&format!(
            "[profiles.ci]\nflow = \"client-credentials\"\nissuer = \"{}\"\nclient-id = \"bot\"\n",
            server.uri()
        ));
        let out = s.run_full(
            &["login", "--profile", "ci"],
            &[("SESAME_CLIENT_SECRET", "bot-secret")],
            None,
        );
        out.expect_code(1)
            .no_panic()
            .stderr_has(&["access token", "unusable"]);
        clean(&out);
        assert!(!s.session_file("ci").exists(), "nothing is saved");
    }
}

/// A session file edited by someone else (or by hand) to carry a line break is not used: every
/// command that would present it refuses, and none prints a second line for it.
#[test]
fn a_tampered_session_file_is_refused_by_every_command() {
    let s = Sandbox::new();
    let token = with_previous_session(&s);
    let file = s.session_file("default");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace(&token, "t0k\\r\\nX-Evil: injected")).unwrap();
    for args in [&["token"][..], &["header"], &["status"]] {
        let out = s.run(args);
        out.expect_code(1).no_panic().stderr_has(&["sesame logout"]);
        clean(&out);
    }
    let out = s.run_full_args(&["--store", "file", "exec", "--", "true"], None);
    out.expect_code(1).no_panic().stderr_has(&["sesame logout"]);
    clean(&out);
    let out = s.run_full(
        &["credential", "git", "get"],
        &[],
        Some("protocol=https\nhost=git.example.com\n\n"),
    );
    out.expect_code(1).no_panic();
    clean(&out);
    assert!(!out.stdout.contains("password="), "{}", out.stdout);
}

/// Claims a person reads in `status` (a JWT's, and a whoami endpoint's reply with
/// `--remote`) are shown without their escape sequences or line breaks.
#[test]
fn status_shows_hostile_claims_and_remote_replies_harmlessly() {
    let whoami = one_route(
        "GET",
        "/me",
        ResponseTemplate::new(200).set_body_json(json!({
            "name": "\u{1b}]52;c;ZXZpbA==\u{7}Mallory",
            "note\u{1b}[2J": "line one\r\nX-Evil: injected",
        })),
    );
    let s = Sandbox::new();
    s.write_config(&format!(
        "[profiles.default]\nwhoami-url = \"{}/me\"\n",
        whoami.uri()
    ));
    let token = fake_jwt(json!({
        "sub": "alice",
        "exp": unix_now() + 3600,
        "name": "\u{1b}[2J\u{1b}[1;1HFAKE root",
        "groups": ["a\nX-Evil: 1"],
    }));
    s.run_full(&["login", "--with-token"], &[], Some(&format!("{token}\n")))
        .expect_code(0);
    let out = s.run(&["status"]);
    out.expect_code(0).no_panic();
    clean(&out);
    assert!(
        out.stdout.contains("FAKE root"),
        "the claim is shown, cleaned: {}",
        out.stdout
    );
    let out = s.run(&["status", "--remote"]);
    out.no_panic();
    clean(&out);
    assert!(out.stdout.contains("Mallory"), "{}", out.stdout);
}

/// What the integrations hand over is one credential, on the lines the protocol expects.
#[test]
fn git_and_header_get_exactly_their_lines() {
    let s = Sandbox::new();
    let token = with_previous_session(&s);
    let out = s.run_full(
        &[
            "credential",
            "git",
            "get",
            "--username",
            "bob\nhost=evil.example",
        ],
        &[],
        Some("protocol=https\nhost=git.example.com\n\n"),
    );
    out.expect_code(0).no_panic();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0], "username=alice",
        "a --username with a line break is not used"
    );
    assert_eq!(lines[1], format!("password={token}"));
    assert!(lines[2].starts_with("password_expiry_utc="));
    assert_eq!(lines.len(), 3);
    let out = s.run(&["header"]);
    out.expect_code(0);
    assert_eq!(out.stdout, format!("Authorization: Bearer {token}\n"));
    // kubectl reads JSON: one object whose token is the session's.
    let info = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#;
    let out = s.run_full(
        &["credential", "kubectl"],
        &[("KUBERNETES_EXEC_INFO", info)],
        None,
    );
    out.expect_code(0).no_panic();
    let cred: Value = serde_json::from_str(&out.stdout).expect("one JSON object");
    assert_eq!(cred["status"]["token"], token.as_str());
    // exec: the child's environment holds the token as one variable, nothing more.
    let out = s.run_full_args(&["--store", "file", "exec", "--", "env"], None);
    out.expect_code(0).no_panic();
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(&token)).collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert!(lines[0].ends_with(&format!("={token}")));
    clean(&out);
}

/// Regression (issue 17, item 13): a client secret given in SESAME_CLIENT_SECRET (as CI does)
/// was written into the session file with `--store file`.
#[test]
fn a_client_secret_from_the_environment_is_not_written_to_disk() {
    let server = token_endpoint(json!({
        "access_token": "cc-token-0123456789",
        "token_type": "Bearer",
        "expires_in": 3600,
    }));
    let s = Sandbox::new();
    s.write_config(&format!(
        "[profiles.ci]\nflow = \"client-credentials\"\nissuer = \"{}\"\nclient-id = \"bot\"\n",
        server.uri()
    ));
    let secret = [("SESAME_CLIENT_SECRET", "ci-secret-from-env-42")];
    s.run_full(&["login", "--profile", "ci"], &secret, None)
        .expect_code(0)
        .no_panic();
    assert!(s.session_file("ci").exists());
    assert!(!s.all_files_text().contains("ci-secret-from-env-42"));
    // Keeping it is asked for explicitly, and only a keychain may keep it.
    let out = s.run_full(
        &["login", "--profile", "ci", "--remember-secret"],
        &secret,
        None,
    );
    out.expect_code(2)
        .no_panic()
        .stderr_has(&["--remember-secret", "keychain"]);
    assert!(!s.all_files_text().contains("ci-secret-from-env-42"));
}

/// A stale OAuth session whose provider's token endpoint is `server`/token.
fn stale_oauth_session(s: &Sandbox, server: &MockServer) {
    let session = json!({
        "version": 1,
        "profile": "default",
        "server": server.uri(),
        "user": "alice",
        "flow": "browser",
        "token": "stale-access-token",
        "expires_at": unix_now() - 60,
        "obtained_at": unix_now() - 3660,
        "refresh_token": "revoked-refresh-token",
        "oauth": {
            "issuer": server.uri(),
            "client_id": "sesame-cli",
            "token_endpoint": format!("{}/token", server.uri()),
            "revocation_endpoint": format!("{}/revoke", server.uri()),
        },
    });
    std::fs::create_dir_all(s.sessions_dir()).unwrap();
    std::fs::write(s.session_file("default"), session.to_string()).unwrap();
}

/// Regression (issue 17, item 16): a provider that refuses a revoked refresh token with a bare
/// HTTP 400 (no error body, against RFC 6749 §5.2) gave "server returned empty error
/// response", exit 1; the session is over: exit 3 and "log in".
#[test]
fn a_refresh_refused_with_a_bare_400_or_401_ends_the_session() {
    for status in [400, 401] {
        let server = one_route("POST", "/token", ResponseTemplate::new(status));
        let s = Sandbox::new();
        stale_oauth_session(&s, &server);
        let before = std::fs::read(s.session_file("default")).unwrap();
        let out = s.run(&["token"]);
        out.expect_code(3).no_panic().stderr_has(&[
            "has ended",
            &format!("HTTP {status}"),
            "sesame login",
        ]);
        assert_eq!(
            std::fs::read(s.session_file("default")).unwrap(),
            before,
            "the session is kept until the person logs in"
        );
    }
    // A 500 is the provider's trouble, not the end of the session: exit 1.
    let server = one_route("POST", "/token", ResponseTemplate::new(500));
    let s = Sandbox::new();
    stale_oauth_session(&s, &server);
    s.run(&["token"]).expect_code(1).no_panic();
}

/// Regression (issue 17, item 17): `logout --revoke` for a public client, at a provider that
/// revokes only for clients with a secret, said a bare "HTTP 401".
#[test]
fn a_provider_that_revokes_only_for_confidential_clients_is_named_as_such() {
    let server = one_route(
        "POST",
        "/revoke",
        ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})),
    );
    let s = Sandbox::new();
    stale_oauth_session(&s, &server);
    let out = s.run(&["logout", "--revoke"]);
    out.expect_code(1).no_panic().stderr_has(&[
        "HTTP 401",
        "only for clients that authenticate with a secret",
        "public client",
    ]);
    assert!(
        !s.session_file("default").exists(),
        "logged out here all the same"
    );
}

/// Regression (issue 17, item 19): a provider that refuses the loopback redirect URI (it
/// compares ports exactly, against RFC 8252 §7.3) shows its own error page, and sesame waited
/// out its timeout with a bare "Timed out": the message now names the cause and `--port`.
#[test]
fn a_browser_that_never_comes_back_is_explained_with_the_redirect_uri_and_port() {
    let server = block_on(async {
        let server = MockServer::start().await;
        let issuer = server.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
            })))
            .mount(&server)
            .await;
        server
    });
    let s = Sandbox::new();
    // The "browser" opens nothing: like a person looking at the provider's error page.
    let out = s.run_full(
        &[
            "login",
            "--flow",
            "browser",
            "--issuer",
            &server.uri(),
            "--client-id",
            "cli",
            "--timeout",
            "2",
        ],
        &[("BROWSER", "true")],
        None,
    );
    out.expect_code(4).no_panic().stderr_has(&[
        "never came back to http://127.0.0.1:",
        "redirect_uri",
        "--port",
    ]);
}

/// Regression (issue 17, item 21): `status --remote` on an expired session whose server is
/// gone exited 1 (network error) where `status` exits 3 (log in).
#[test]
fn status_remote_on_an_expired_session_exits_3_like_status() {
    let s = Sandbox::new();
    s.write_config(&format!(
        "[profiles.default]\nwhoami-url = \"{}/me\"\n",
        dead_url()
    ));
    let token = fake_jwt(json!({"sub": "alice", "exp": unix_now() + 2}));
    s.run_full(&["login", "--with-token"], &[], Some(&format!("{token}\n")))
        .expect_code(0);
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    s.run(&["status"]).expect_code(3);
    s.run(&["status", "--remote"])
        .expect_code(3)
        .no_panic()
        .stderr_has(&["expired", "not asked"]);
}
