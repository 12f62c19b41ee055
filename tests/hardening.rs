//! Regression tests for hostile or odd input: every number from a flag, the environment or the
//! config file is range-checked (exit 2 naming it), a closed stdout ends a command quietly,
//! hostile expiry values do not panic, loose file permissions are reported, and secrets stay
//! out of `Debug`.

mod common;

use common::*;
use serde_json::json;
use std::process::Stdio;

#[track_caller]
fn usage_error(out: &Out, names: &[&str]) {
    out.expect_code(2).no_panic().stderr_has(names);
}

#[test]
fn keychain_timeout_of_minus_one_or_nan_is_a_usage_error_not_a_panic() {
    let sb = Sandbox::new();
    for value in ["-1", "nan", "inf", "1e400", "soon"] {
        for cmd in [&["token"][..], &["status"], &["logout"]] {
            let out = sb.run_full(cmd, &[("SESAME_KEYCHAIN_TIMEOUT", value)], None);
            usage_error(&out, &["SESAME_KEYCHAIN_TIMEOUT", "0.001 to 600 seconds"]);
        }
    }
    let out = sb.run_full(&["token"], &[("SESAME_KEYCHAIN_TIMEOUT", "2.5")], None);
    out.expect_code(3).no_panic();
}

#[test]
fn refresh_skew_out_of_range_is_a_usage_error() {
    let sb = Sandbox::new();
    for value in ["-5", "99999999999999999999", "x"] {
        let out = sb.run_full(&["token"], &[("SESAME_REFRESH_SKEW", value)], None);
        usage_error(&out, &["SESAME_REFRESH_SKEW"]);
    }
}

#[test]
fn login_timeout_and_poll_interval_out_of_range_are_usage_errors() {
    let sb = Sandbox::new();
    let server = ["--server", "http://127.0.0.1:9", "--user", "alice"];
    for (flag, range) in [
        ("--timeout", "1 to 86400 seconds"),
        ("--poll-interval", "1 to 300 seconds"),
    ] {
        for value in ["18446744073709551615", "0"] {
            let mut args = vec!["login", flag, value];
            args.extend(server);
            usage_error(&sb.run(&args), &[flag, range]);
        }
    }
    let mut args = vec!["login"];
    args.extend(server);
    usage_error(
        &sb.run_full(&args, &[("SESAME_TIMEOUT", "999999")], None),
        &["SESAME_TIMEOUT", "1 to 86400"],
    );
    usage_error(
        &sb.run_full(&args, &[("SESAME_POLL_INTERVAL", "-1")], None),
        &["SESAME_POLL_INTERVAL"],
    );
    std::fs::create_dir_all(sb.config_home.join("sesame")).unwrap();
    std::fs::write(
        sb.config_home.join("sesame/config.toml"),
        "[profiles.default]\ntimeout = 100000\n",
    )
    .unwrap();
    usage_error(
        &sb.run(&args),
        &["`timeout` in the config file", "1 to 86400"],
    );
}

#[test]
fn serve_ttls_out_of_range_are_usage_errors_not_a_poisoned_lock() {
    let sb = Sandbox::new();
    for flag in ["--challenge-ttl", "--jwt-ttl"] {
        for value in ["18446744073709551615", "0"] {
            let out = sb.run(&["serve", "--listen", "127.0.0.1:0", flag, value]);
            usage_error(&out, &[flag]);
        }
    }
}

/// `sesame status | head -c1` printed "failed printing to stdout: Broken pipe" and exit 101.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let sb = Sandbox::new();
    let token = fake_jwt(json!({"sub": "alice", "exp": unix_now() + 3600}));
    sb.run_full(&["login", "--with-token"], &[], Some(&token))
        .expect_code(0);
    for args in [
        &["status"][..],
        &["status", "--output", "json"],
        &["token"],
        &["status", "--profile", "nobody", "--output", "json"],
    ] {
        let mut cmd = sb.sesame();
        cmd.args(args)
            .args(["--store", "file"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // The reader goes away before sesame writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
        if args[0] == "token" || args.len() == 1 {
            assert_eq!(
                out.status.code(),
                Some(0),
                "{args:?} ends quietly: {stderr}"
            );
        }
    }
}

/// A damaged (or hostile) session file with an absurd expiry overflowed the validity check.
#[test]
fn absurd_expiry_times_do_not_panic() {
    let sb = Sandbox::new();
    let token = fake_jwt(json!({"sub": "alice", "exp": unix_now() + 3600}));
    sb.run_full(&["login", "--with-token"], &[], Some(&token))
        .expect_code(0);
    let path = sb.session_file("default");
    let mut session: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (expires_at, token_exit) in [(i64::MIN, 3), (i64::MAX, 0)] {
        session["expires_at"] = json!(expires_at);
        session["obtained_at"] = json!(i64::MIN);
        std::fs::write(&path, session.to_string()).unwrap();
        sb.run(&["token"]).expect_code(token_exit).no_panic();
        let out = sb.run(&["status"]);
        out.no_panic();
        assert!(out.stdout.contains("out of range"), "{out:?}");
        sb.run(&["status", "--output", "json"]).no_panic();
    }
}

/// A session file that is not a session: the error names the file and what to run, and that
/// command clears it so that the next login can save.
#[test]
fn a_damaged_session_file_says_what_to_run_and_logout_clears_it() {
    let sb = Sandbox::new();
    let token = fake_jwt(json!({"sub": "alice", "exp": unix_now() + 3600}));
    sb.run_full(&["login", "--with-token"], &[], Some(&token))
        .expect_code(0);
    let path = sb.session_file("default");
    std::fs::write(&path, "{\"garbage\": 1").unwrap();
    let out = sb.run(&["token"]);
    out.expect_code(1).no_panic();
    assert!(out.stdout.is_empty(), "{out:?}");
    let expected = [
        format!("the session file {} is damaged", path.display()),
        "Run `sesame logout`, then log in again".to_owned(),
    ];
    for text in expected {
        assert!(out.stderr.contains(&text), "{text:?} in {out:?}");
    }
    sb.run(&["logout"]).expect_code(0);
    sb.run(&["token"]).expect_code(3);
    sb.run_full(&["login", "--with-token"], &[], Some(&token))
        .expect_code(0);
    assert_eq!(sb.run(&["token"]).stdout.trim(), token);

    // Another profile's hint names it: a plain `sesame logout` would clear the wrong one.
    sb.run_full(
        &["--profile", "work", "login", "--with-token"],
        &[],
        Some(&token),
    )
    .expect_code(0);
    std::fs::write(sb.session_file("work"), "[]").unwrap();
    for args in [
        &["--profile", "work", "token"][..],
        &["--profile", "work", "status"],
    ] {
        let out = sb.run(args);
        out.expect_code(1).no_panic();
        assert!(
            out.stderr.contains("Run `sesame logout --profile work`"),
            "{args:?}: {out:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_session_file_others_can_read_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let token = fake_jwt(json!({"sub": "alice", "exp": unix_now() + 3600}));
    sb.run_full(&["login", "--with-token"], &[], Some(&token))
        .expect_code(0);
    let out = sb.run(&["token"]);
    out.expect_code(0);
    assert!(!out.stderr.contains("warning"), "{out:?}");
    let file = sb.session_file("default");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(sb.sessions_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for cmd in ["token", "status"] {
        let out = sb.run(&[cmd]);
        out.expect_code(0)
            .stderr_has(&["mode 0644", "chmod 600", "mode 0755", "chmod 700"]);
        assert!(
            !out.stderr.contains(&token),
            "the warning does not show the token"
        );
    }
    let out = sb.run(&["token"]);
    assert_eq!(out.stdout.trim(), token, "the token is still printed");
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    const SECRET: &str = "hunter2-very-secret";
    let config = sesame_login::config::ConfigFile::parse(&format!(
        "[profiles.p]\nclient-secret = \"{SECRET}\"\n"
    ))
    .unwrap();
    let server = sesame_server::Config::dev(SECRET.as_bytes().to_vec());
    let poll: sesame_login::protocol::PollResponse = serde_json::from_value(json!({
        "status": "success", "encoded_jwt": SECRET
    }))
    .unwrap();
    let id: sesame_login::oidc::IdTokenFields =
        serde_json::from_value(json!({ "id_token": SECRET })).unwrap();
    for (what, debug) in [
        ("config file", format!("{config:?}")),
        ("server config", format!("{server:?}")),
        ("poll reply", format!("{poll:?}")),
        ("ID token fields", format!("{id:?}")),
    ] {
        assert!(!debug.contains(SECRET), "{what} shows the secret: {debug}");
        assert!(debug.contains("redacted"), "{what}: {debug}");
    }
}

/// Regression (issue 17, item 12): `SESAME_CONFIG=/dev/zero` and `SESAME_CA_CERT=/dev/zero`
/// were read until memory ran out. Every file read has a cap that fits its purpose.
#[test]
fn endless_files_are_refused_not_read() {
    let sb = Sandbox::new();
    for (var, names) in [
        ("SESAME_CONFIG", &["config file", "larger than"][..]),
        ("SESAME_CA_CERT", &["CA certificate", "larger than"][..]),
    ] {
        let out = sb.run_full(
            &[
                "login",
                "--server",
                "https://sso.example.com",
                "--user",
                "alice",
            ],
            &[(var, "/dev/zero")],
            None,
        );
        out.expect_code(2)
            .no_panic()
            .stderr_has(names)
            .faster_than(std::time::Duration::from_secs(10));
    }
}

/// Regression (issue 17, item 21): `--user ..` became a request for another path on the
/// server (a 404); it is not a user name.
#[test]
fn dot_dot_is_not_a_user_name() {
    let sb = Sandbox::new();
    for user in ["..", "."] {
        let out = sb.run(&[
            "login",
            "--server",
            "https://sso.example.com",
            "--user",
            user,
        ]);
        usage_error(&out, &["not a user name"]);
    }
}

/// `SESAME_DATA_DIR` was documented (docs/platforms.md) but not read: the session went under
/// `XDG_DATA_HOME` instead. It now wins over `XDG_DATA_HOME`, for the file store and for
/// `doctor`.
#[test]
fn sesame_data_dir_is_where_sessions_go() {
    let sb = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("elsewhere");
    let data_env = data.to_str().unwrap();
    let token = fake_jwt(json!({"sub": "alice", "exp": unix_now() + 3600}));
    sb.run_full(
        &["login", "--with-token"],
        &[("SESAME_DATA_DIR", data_env)],
        Some(&token),
    )
    .expect_code(0);
    assert!(data.join("sessions/default.json").is_file());
    assert!(
        !sb.session_file("default").exists(),
        "not under XDG_DATA_HOME"
    );
    let out = sb.run_full(&["token"], &[("SESAME_DATA_DIR", data_env)], None);
    out.expect_code(0);
    assert_eq!(out.stdout.trim(), token);
}
