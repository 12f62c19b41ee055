//! `--verbose` shows each HTTP exchange, the store and the flow chosen, and never a secret: every
//! command runs verbose, and every output is searched for the tokens, the refresh tokens, the
//! password and the one-time code.

mod common;
mod direct_support;

use common::*;
use direct_support::{Api, PASSWORD, current_code};
use serde_json::Value;

/// Fails if any of `secrets` appears in `text`.
#[track_caller]
fn clean(text: &str, secrets: &[String], what: &str) {
    for s in secrets {
        assert!(s.len() >= 6, "a secret worth looking for: {s:?}");
        assert!(
            !text.contains(s.as_str()),
            "{what} shows a secret ({s}):\n{text}"
        );
    }
}

#[test]
fn every_command_verbose_shows_exchanges_but_no_secret_challenge() {
    let server = RefServer::start();
    let mut s = Sandbox::new();
    let mut cmd = s.sesame();
    cmd.arg("-v");
    let login = s.spawn_login_with(cmd, server.url.as_str(), &["--timeout", "30"]);
    approve(&login.challenge_url());
    let login = login.finish();
    login.expect_code(0);
    let token = s.token();
    s.set("SESAME_STORE", "file");
    let mut all = login.stderr.clone();
    assert!(all.contains("flow: challenge"), "{all}");
    assert!(all.contains("store: File requested"), "{all}");
    assert!(
        all.contains("GET http://127.0.0.1:") && all.contains("-> 200 in"),
        "{all}"
    );
    assert!(
        all.contains("/noauth/v1/challenge_poller/…"),
        "poll URLs are elided: {all}"
    );

    let runs: Vec<(Vec<&str>, Option<&str>, bool)> = vec![
        (vec!["-v", "token"], None, false),
        (vec!["-v", "status"], None, true),
        (vec!["-v", "status", "--remote", "-o", "json"], None, true),
        (vec!["-v", "header"], None, false),
        (vec!["-v", "exec", "--", "true"], None, true),
        (
            vec!["-v", "credential", "git", "get"],
            Some("protocol=https\nhost=h\n\n"),
            false,
        ),
        (vec!["-v", "logout"], None, true),
    ];
    for (args, stdin, stdout_too) in runs {
        let out = s.run_full_args(&args, stdin);
        out.no_panic();
        assert!(
            out.stderr.contains("DEBUG"),
            "{args:?} logs: {}",
            out.stderr
        );
        clean(
            &out.stderr,
            std::slice::from_ref(&token),
            &format!("{args:?} stderr"),
        );
        if stdout_too {
            clean(
                &out.stdout,
                std::slice::from_ref(&token),
                &format!("{args:?} stdout"),
            );
        }
        all.push_str(&out.stderr);
    }
    assert!(all.contains("/api/v2/user_profile -> 200"), "{all}");
}

#[test]
fn every_command_verbose_shows_no_password_code_or_token_json_login() {
    let api = Api::start();
    let mut s = Sandbox::new();
    s.write_config(&api.config());
    s.set("SESAME_STORE", "file");
    let code = current_code();
    let login = s.run_full_args(
        &["-v", "login", "--profile", "koneksi", "--password-stdin"],
        Some(&format!("{PASSWORD}\n{code}\n")),
    );
    login.expect_code(0);
    assert!(
        login.stderr.contains("flow: password (JSON login API)"),
        "{}",
        login.stderr
    );
    assert!(
        login.stderr.contains("POST http://127.0.0.1:")
            && login.stderr.contains("/koneksi/auth/verify-otp -> 200"),
        "{}",
        login.stderr
    );
    let session = |s: &Sandbox| -> Value {
        serde_json::from_str(&std::fs::read_to_string(s.session_file("koneksi")).unwrap()).unwrap()
    };
    let first = session(&s);
    let mut outputs = vec![login];
    for args in [
        vec!["-v", "status", "--profile", "koneksi", "--remote"],
        vec!["-v", "refresh", "--profile", "koneksi"],
        vec!["-v", "status", "--profile", "koneksi", "-o", "json"],
        vec!["-v", "exec", "--profile", "koneksi", "--", "true"],
    ] {
        let out = s.run_full_args(&args, None);
        out.expect_code(0);
        outputs.push(out);
    }
    let second = session(&s);
    let mut secrets = vec![PASSWORD.to_string(), format!("={code}"), format!(" {code}")];
    for s in [&first, &second] {
        secrets.push(s["token"].as_str().unwrap().to_string());
        secrets.push(s["refresh_token"].as_str().unwrap().to_string());
    }
    for out in &outputs {
        clean(&out.stderr, &secrets, "stderr");
        clean(&out.stdout, &secrets, "stdout");
    }
    assert!(
        outputs[2].stderr.contains("/koneksi/auth/refresh -> 200"),
        "{}",
        outputs[2].stderr
    );
}
