//! Direct logins against servers that misbehave (wiremock): HTML where JSON belongs, non-JSON,
//! oversized replies, pointers that point at the wrong thing, absurd expiries, redirects, dead
//! servers; and Auth0's MFA exchange for the OAuth password grant. Each failure is a clear error
//! with nothing saved, no panic, and the password nowhere in the output.

mod common;

use common::{Sandbox, block_on, fake_jwt, unix_now};
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASSWORD: &str = "s3cret-pa55word";

fn api_with(reply: ResponseTemplate) -> MockServer {
    block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/login"))
            .respond_with(reply)
            .mount(&server)
            .await;
        server
    })
}

fn profile(login_url: &str, extra: &str) -> String {
    format!(
        "[profiles.api]\nflow = \"password\"\nuser = \"dana\"\nlogin-url = \"{login_url}\"\ntoken-pointer = \"/data/token\"\n{extra}\n"
    )
}

/// Logs in against a server answering `reply`; expects `code` and every one of `needles`.
fn fails_cleanly(reply: ResponseTemplate, extra: &str, code: i32, needles: &[&str]) {
    let server = api_with(reply);
    let s = Sandbox::new();
    s.write_config(&profile(&format!("{}/login", server.uri()), extra));
    let out = s.run_full(
        &["login", "--profile", "api", "--password-stdin"],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    out.expect_code(code).no_panic().stderr_has(needles);
    assert!(!out.stderr.contains(PASSWORD), "{}", out.stderr);
    assert!(!s.session_file("api").exists(), "nothing is saved");
}

#[test]
fn an_html_page_is_not_a_login_api() {
    fails_cleanly(
        ResponseTemplate::new(200)
            .set_body_raw("<!doctype html><title>Sign in</title>", "text/html"),
        "",
        1,
        &["HTML page", "API endpoint"],
    );
    // Even when it claims to be JSON.
    fails_cleanly(
        ResponseTemplate::new(200).set_body_raw("<html></html>", "application/json"),
        "",
        1,
        &["HTML page"],
    );
}

#[test]
fn non_json_and_oversized_replies() {
    fails_cleanly(
        ResponseTemplate::new(200).set_body_raw("OK", "text/plain"),
        "",
        1,
        &["not JSON"],
    );
    let huge = json!({"data": {"token": "t", "pad": "x".repeat(70 * 1024)}});
    fails_cleanly(
        ResponseTemplate::new(200).set_body_json(huge),
        "",
        1,
        &["larger than 64 KiB"],
    );
}

#[test]
fn pointers_that_miss_say_what_the_reply_has_but_not_its_values() {
    fails_cleanly(
        ResponseTemplate::new(200)
            .set_body_json(json!({"ok": true, "result": {"jwt": "VALUE-NEVER-SHOWN"}})),
        "",
        1,
        &[
            "no token at /data/token",
            "top-level keys ok, result",
            "docs/direct-login.md",
        ],
    );
    let server = api_with(
        ResponseTemplate::new(200)
            .set_body_json(json!({"ok": true, "result": {"jwt": "VALUE-NEVER-SHOWN"}})),
    );
    let s = Sandbox::new();
    s.write_config(&profile(&format!("{}/login", server.uri()), ""));
    let out = s.run_full(
        &["login", "--profile", "api", "--password-stdin"],
        &[],
        Some("pw\n"),
    );
    assert!(!out.stderr.contains("VALUE-NEVER-SHOWN"));
    fails_cleanly(
        ResponseTemplate::new(200).set_body_json(json!({"data": {"token": {"value": "t"}}})),
        "",
        1,
        &["/data/token (token-pointer) points at an object", "value"],
    );
}

#[test]
fn negative_or_absurd_expiries_are_refused() {
    for bad in [json!(-60), json!(1e13), json!("tomorrow")] {
        fails_cleanly(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"token": "t", "expires_in": bad}})),
            "expires-in-pointer = \"/data/expires_in\"",
            1,
            &["/data/expires_in"],
        );
    }
    fails_cleanly(
        ResponseTemplate::new(200)
            .set_body_json(json!({"data": {"token": "t", "exp": unix_now() - 10}})),
        "expires-at-pointer = \"/data/exp\"",
        1,
        &["in the past"],
    );
}

#[test]
fn a_login_that_redirects_elsewhere_is_refused() {
    fails_cleanly(
        ResponseTemplate::new(302).insert_header("Location", "https://evil.example/collect"),
        "",
        1,
        &[
            "redirected (HTTP 302)",
            "another host, evil.example",
            "does not follow redirects",
        ],
    );
}

#[test]
fn server_errors_refusals_and_dead_servers() {
    fails_cleanly(
        ResponseTemplate::new(503).set_body_json(json!({"message": "maintenance"})),
        "",
        1,
        &["HTTP 503", "maintenance"],
    );
    fails_cleanly(
        ResponseTemplate::new(403)
            .set_body_json(json!({"errors": [{"message": "Account locked"}]})),
        "",
        4,
        &["HTTP 403", "Account locked"],
    );
    fails_cleanly(
        ResponseTemplate::new(401).set_body_json(json!({"oops": {"why": "custom place"}})),
        "error-pointer = \"/oops/why\"",
        4,
        &["custom place"],
    );
    let s = Sandbox::new();
    s.write_config(&profile(&format!("{}/login", common::dead_url()), ""));
    let out = s.run_full(
        &["login", "--profile", "api", "--password-stdin"],
        &[],
        Some("pw\n"),
    );
    out.expect_code(1)
        .no_panic()
        .stderr_has(&["Could not reach"]);
}

#[test]
fn plain_http_to_another_host_needs_allow_http_and_config_errors_name_the_key() {
    let s = Sandbox::new();
    s.write_config(&profile("http://api.example.com/login", ""));
    let out = s.run_full(
        &["login", "--profile", "api", "--password-stdin"],
        &[],
        Some("pw\n"),
    );
    out.expect_code(2)
        .no_panic()
        .stderr_has(&["login-url", "plain http"]);

    s.write_config(&profile(
        "http://127.0.0.1:1/login",
        "mfa-pointer = \"/mfa\"",
    ));
    let out = s.run_full(
        &["login", "--profile", "api", "--password-stdin"],
        &[],
        Some("pw\n"),
    );
    out.expect_code(2).stderr_has(&["mfa-url"]);

    s.write_config(&profile(
        "http://127.0.0.1:1/login",
        "login-body = { code = \"{otp}\" }",
    ));
    let out = s.run_full(
        &["login", "--profile", "api", "--password-stdin"],
        &[],
        Some("pw\n"),
    );
    out.expect_code(2).stderr_has(&["`login-body` uses {otp}"]);

    let out = s.run_full(
        &[
            "login",
            "--server",
            "http://127.0.0.1:1",
            "--password-stdin",
        ],
        &[],
        Some("pw\n"),
    );
    out.expect_code(2)
        .stderr_has(&["--password-stdin is for password and basic logins"]);

    s.write_config(&profile("http://127.0.0.1:1/login", "use-as = \"cookie\""));
    let out = s.run_full(
        &["login", "--profile", "api", "--password-stdin"],
        &[],
        Some("pw\n"),
    );
    out.expect_code(2).stderr_has(&["cookie:NAME"]);
}

/// Auth0's MFA API: the password grant answers `mfa_required` with an `mfa_token`, which the
/// `mfa-otp` grant exchanges with the one-time code.
fn auth0() -> MockServer {
    block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(body_string_contains("grant_type=password"))
            .and(body_string_contains("username=dana%40example.com"))
            .and(body_string_contains(format!("password={PASSWORD}")))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "error": "mfa_required",
                "error_description": "Multifactor authentication required",
                "mfa_token": "Fe26.2**mfa-token"
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(body_string_contains("grant_type=password"))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "error": "invalid_grant",
                "error_description": "Wrong email or password."
            })))
            .with_priority(10)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(body_string_contains(
                "grant_type=http%3A%2F%2Fauth0.com%2Foauth%2Fgrant-type%2Fmfa-otp",
            ))
            .and(body_string_contains("mfa_token=Fe26.2**mfa-token"))
            .and(body_string_contains("otp=123456"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": fake_jwt(json!({"sub": "auth0|dana", "exp": unix_now() + 86_400})),
                "refresh_token": "v1.refresh",
                "token_type": "Bearer",
                "expires_in": 86_400
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "error": "invalid_grant",
                "error_description": "Invalid otp_code."
            })))
            .with_priority(20)
            .mount(&server)
            .await;
        server
    })
}

#[test]
fn auth0_mfa_otp_finishes_a_password_grant() {
    let server = auth0();
    let s = Sandbox::new();
    s.write_config(&format!(
        "[profiles.auth0]\nflow = \"password\"\nuser = \"dana@example.com\"\ntoken-endpoint = \"{}/oauth/token\"\nclient-id = \"cli\"\naudience = \"https://api.example.com\"\n",
        server.uri()
    ));
    let out = s.run_full(
        &["login", "--profile", "auth0", "--password-stdin"],
        &[],
        Some(&format!("{PASSWORD}\n123 456\n")),
    );
    out.expect_code(0).no_panic().stderr_has(&[
        "one-time code",
        "Logged in as dana@example.com",
        "expires in 1d",
    ]);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.session_file("auth0")).unwrap()).unwrap();
    assert_eq!(saved["flow"], "password");
    assert_eq!(saved["refresh_token"], "v1.refresh");
    let requests = block_on(server.received_requests()).unwrap();
    let first = String::from_utf8_lossy(&requests[0].body).to_string();
    assert!(
        first.contains("audience=https%3A%2F%2Fapi.example.com"),
        "{first}"
    );
    assert!(first.contains("client_id=cli"), "{first}");
    let before = s.run(&["token", "--profile", "auth0"]).stdout;

    // A wrong code: exit 4, the provider's words, the session kept.
    let out = s.run_full(
        &["login", "--profile", "auth0", "--password-stdin"],
        &[],
        Some(&format!("{PASSWORD}\n654321\n")),
    );
    out.expect_code(4)
        .no_panic()
        .stderr_has(&["invalid_grant", "Invalid otp_code."]);
    // A wrong password: exit 4 before any code is asked for.
    let out = s.run_full(
        &["login", "--profile", "auth0", "--password-stdin"],
        &[],
        Some("wrong\n"),
    );
    out.expect_code(4).stderr_has(&["Wrong email or password."]);
    assert!(!out.stderr.contains("one-time code"));
    assert_eq!(s.run(&["token", "--profile", "auth0"]).stdout, before);
}

/// A refresh token with no `refresh-url` to use it at is not kept, so `status` does not promise
/// refreshes; a `whoami-url` over plain http to another host is refused at `status --remote`
/// time too, before the credential is sent.
#[test]
fn an_unusable_refresh_token_is_not_kept_and_remote_checks_need_https() {
    let server = api_with(
        ResponseTemplate::new(200)
            .set_body_json(json!({"data": {"token": "tok", "refresh": "rt-unused"}})),
    );
    let s = Sandbox::new();
    let login_url = format!("{}/login", server.uri());
    s.write_config(&profile(
        &login_url,
        "refresh-token-pointer = \"/data/refresh\"",
    ));
    s.run_full(
        &["login", "--profile", "api", "--password-stdin"],
        &[],
        Some("pw\n"),
    )
    .expect_code(0);
    let saved = std::fs::read_to_string(s.session_file("api")).unwrap();
    assert!(!saved.contains("rt-unused"), "{saved}");
    let status = s.run(&["status", "--profile", "api"]);
    assert!(!status.stdout.contains("Refresh:"), "{}", status.stdout);

    s.write_config(&profile(
        &login_url,
        "whoami-url = \"http://whoami.example.com/me\"",
    ));
    let out = s.run(&["status", "--profile", "api", "--remote"]);
    out.expect_code(2)
        .no_panic()
        .stderr_has(&["`whoami-url` in the profile", "plain http"]);
}
