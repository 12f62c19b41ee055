//! The keychain backend against a real Secret Service (gnome-keyring under `dbus-run-session`,
//! started by `scripts/test-all.sh`), and the behaviour without one, which needs nothing.
//!
//! The tests that need a Secret Service are `#[ignore]`d; `scripts/test-all.sh` runs them
//! (`--include-ignored`) and a missing one is a failure.

mod common;
mod direct_support;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The session bus of the Secret Service the test script started. These tests are `#[ignore]`d
/// and run only when asked (scripts/test-all.sh), so a missing one is a failure.
fn secret_service() -> String {
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").ok();
    let marked = std::env::var("SESAME_TEST_SECRET_SERVICE").is_ok_and(|v| v == "1");
    let tool = Command::new("secret-tool")
        .arg("--version")
        .output()
        .is_ok();
    match (bus, marked, tool) {
        (Some(bus), true, true) => bus,
        (bus, marked, tool) => panic!(
            "no Secret Service for this test (DBUS_SESSION_BUS_ADDRESS set: {}, SESAME_TEST_SECRET_SERVICE=1: {marked}, secret-tool installed: {tool}); run scripts/test-all.sh",
            bus.is_some()
        ),
    }
}

fn secret_tool(bus: &str, args: &[&str]) -> Output {
    Command::new("secret-tool")
        .args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .output()
        .expect("secret-tool runs")
}

fn sesame(sb: &Sandbox, bus: &str, args: &[&str]) -> Output {
    sb.sesame()
        .args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .stdin(Stdio::null())
        .output()
        .expect("sesame runs")
}

/// `sesame login --store STORE` against the reference server, approved through the API.
fn login(sb: &Sandbox, bus: &str, server: &RefServer, store: &str, profile: &str) -> Output {
    let mut child = sb
        .sesame()
        .args(["login", "--no-browser", "--user", USER, "--timeout", "30"])
        .args([
            "--server",
            server.url.as_str(),
            "--store",
            store,
            "--profile",
            profile,
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sesame login starts");
    let (tx, rx) = mpsc::channel();
    let pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if is_challenge_url_line(&line) {
                let _ = tx.send(line.clone());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("sesame login prints the challenge URL");
    approve(&url);
    let out = child.wait_with_output().expect("sesame login ends");
    let stderr = reader.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "login failed:\n{stderr}");
    Output {
        status: out.status,
        stdout: out.stdout,
        stderr: stderr.into_bytes(),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring under dbus-run-session); scripts/test-all.sh runs it"]
fn keychain_login_token_and_logout_use_the_secret_service() {
    let bus = secret_service();
    let sb = Sandbox::new();
    let server = RefServer::start();
    let profile = format!("ss-{}", std::process::id());
    let out = login(&sb, &bus, &server, "keychain", &profile);
    assert!(
        text(&out.stderr).contains("keychain (Secret Service)"),
        "{}",
        text(&out.stderr)
    );

    let found = secret_tool(&bus, &["search", "service", "sesame", "username", &profile]);
    let listing = format!("{}{}", text(&found.stdout), text(&found.stderr));
    assert!(
        listing.contains(&format!("attribute.username = {profile}")),
        "secret-tool search finds the entry:\n{listing}"
    );
    let stored = secret_tool(&bus, &["lookup", "service", "sesame", "username", &profile]);
    let stored: serde_json::Value =
        serde_json::from_slice(&stored.stdout).expect("the entry holds the session as JSON");
    assert_eq!(stored["user"], USER);

    let token = sesame(
        &sb,
        &bus,
        &["token", "--store", "keychain", "--profile", &profile],
    );
    assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));
    assert_eq!(
        text(&token.stdout).trim(),
        stored["token"].as_str().unwrap()
    );
    assert_eq!(text(&token.stdout).trim().split('.').count(), 3);
    assert!(
        !sb.session_file(&profile).exists(),
        "a keychain session leaves no file behind"
    );

    let logout = sesame(
        &sb,
        &bus,
        &["logout", "--store", "keychain", "--profile", &profile],
    );
    assert_eq!(logout.status.code(), Some(0), "{}", text(&logout.stderr));
    let gone = secret_tool(&bus, &["search", "service", "sesame", "username", &profile]);
    assert!(
        !text(&gone.stdout).contains(&profile) && !text(&gone.stderr).contains(&profile),
        "logout removed the entry"
    );
    let after = sesame(
        &sb,
        &bus,
        &["token", "--store", "keychain", "--profile", &profile],
    );
    assert_eq!(after.status.code(), Some(3));
}

#[test]
#[ignore = "needs a Secret Service (gnome-keyring under dbus-run-session); scripts/test-all.sh runs it"]
fn auto_prefers_the_keychain_when_one_answers() {
    let bus = secret_service();
    let sb = Sandbox::new();
    let server = RefServer::start();
    let profile = format!("auto-{}", std::process::id());
    let out = login(&sb, &bus, &server, "auto", &profile);
    let err = text(&out.stderr);
    assert!(!err.contains("warning"), "no fallback warning:\n{err}");
    assert!(!sb.session_file(&profile).exists());
    let token = sesame(&sb, &bus, &["token", "--profile", &profile]);
    assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));
    let logout = sesame(&sb, &bus, &["logout", "--profile", &profile]);
    assert_eq!(logout.status.code(), Some(0));
    let gone = secret_tool(&bus, &["lookup", "service", "sesame", "username", &profile]);
    assert!(gone.stdout.is_empty());
}

/// Needs no Secret Service: a bus address where nothing listens stands for a machine without.
#[test]
fn without_a_keychain_auto_falls_back_to_the_file_and_keychain_refuses() {
    let sb = Sandbox::new();
    let server = RefServer::start();
    let nowhere = format!("unix:path={}/no-bus", sb.path().display());

    let out = login(&sb, &nowhere, &server, "auto", "default");
    let err = text(&out.stderr);
    assert!(
        err.contains("warning:")
            && err.contains("No Secret Service on this session's D-Bus")
            && err.contains("--store"),
        "auto warns, says why and how to choose:\n{err}"
    );
    assert_eq!(
        err.matches("warning:").count(),
        1,
        "one warning line, once per command:\n{err}"
    );
    assert!(
        !err.contains("zbus") && !err.contains("unix:path"),
        "no raw D-Bus error:\n{err}"
    );
    assert!(
        sb.session_file("default").exists(),
        "fell back to the file store"
    );
    let token = sesame(&sb, &nowhere, &["token"]);
    assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));

    let refused = sesame(&sb, &nowhere, &["token", "--store", "keychain"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = text(&refused.stderr);
    assert!(
        err.contains("keychain is not available") && err.contains("--store file"),
        "{err}"
    );
}

/// A direct login (password, then a TOTP code) keeps its session in the keychain like any
/// other: the token and refresh token are there, the password and code are not; `token`
/// refreshes it there and `logout` removes it.
#[test]
#[ignore = "needs a Secret Service (gnome-keyring under dbus-run-session); scripts/test-all.sh runs it"]
fn a_password_login_is_kept_in_the_keychain_without_the_password() {
    use std::io::Write;
    let bus = secret_service();
    let api = direct_support::Api::start();
    let sb = Sandbox::new();
    let profile = format!("koneksi-{}", std::process::id());
    sb.write_config(
        &api.config()
            .replace("[profiles.koneksi]", &format!("[profiles.{profile}]")),
    );
    let code = direct_support::current_code();
    let mut child = sb
        .sesame()
        .args([
            "login",
            "--profile",
            &profile,
            "--store",
            "keychain",
            "--password-stdin",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n{code}\n", direct_support::PASSWORD).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("keychain"),
        "{}",
        text(&out.stderr)
    );

    let stored =
        text(&secret_tool(&bus, &["lookup", "service", "sesame", "username", &profile]).stdout);
    assert!(stored.contains("\"refresh_token\":\"rt_"), "{stored}");
    assert!(
        !stored.contains(direct_support::PASSWORD),
        "the password is not kept"
    );
    assert!(
        !stored.contains(&format!("\"{code}\"")),
        "the code is not kept"
    );

    let first = text(
        &sesame(
            &sb,
            &bus,
            &["token", "--profile", &profile, "--store", "keychain"],
        )
        .stdout,
    );
    assert!(first.starts_with("at_"), "{first}");
    let refreshed = sesame(
        &sb,
        &bus,
        &["refresh", "--profile", &profile, "--store", "keychain"],
    );
    assert!(refreshed.status.success(), "{}", text(&refreshed.stderr));
    let second = text(
        &sesame(
            &sb,
            &bus,
            &["token", "--profile", &profile, "--store", "keychain"],
        )
        .stdout,
    );
    assert_ne!(first, second);
    let logout = sesame(
        &sb,
        &bus,
        &["logout", "--profile", &profile, "--store", "keychain"],
    );
    assert!(logout.status.success(), "{}", text(&logout.stderr));
    let gone = secret_tool(&bus, &["lookup", "service", "sesame", "username", &profile]);
    assert!(gone.stdout.is_empty());
}
