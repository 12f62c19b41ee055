//! `sesame doctor`: each check's verdict against real conditions: a reference server's clock, a
//! server whose clock is a year off, a taken callback port, a broken config file, a proxy
//! with a password (never shown), a session.

mod common;

use common::*;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn doctor(s: &Sandbox, env: &[(&str, &str)]) -> (Out, Value) {
    let out = s.run_env(&["doctor", "-o", "json", "--store", "file"], env);
    out.no_panic();
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    (out, v)
}

fn verdict<'a>(v: &'a Value, name: &str) -> (&'a str, &'a str) {
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {v}"));
    (
        c["verdict"].as_str().unwrap(),
        c["detail"].as_str().unwrap(),
    )
}

/// A sandbox whose default profile names a reference server, logged in to it.
fn logged_in() -> (RefServer, Sandbox) {
    let server = RefServer::start();
    let s = Sandbox::new();
    s.write_config(&format!(
        "[profiles.default]\nserver = \"{}\"\n",
        server.url
    ));
    s.login_approved(&server);
    (server, s)
}

#[test]
fn a_healthy_profile_passes_and_names_every_check() {
    let (_server, s) = logged_in();
    let (out, v) = doctor(
        &s,
        &[("HTTPS_PROXY", "http://corp:hunter22@proxy.example:3128")],
    );
    out.expect_code(0);
    assert_eq!(v["ok"], true);
    for name in [
        "config",
        "keychain",
        "browser",
        "wsl",
        "callback port",
        "proxy",
        "CA certificates",
        "clock",
        "session",
    ] {
        verdict(&v, name);
    }
    assert_eq!(verdict(&v, "config").0, "OK");
    let (clock, detail) = verdict(&v, "clock");
    assert_eq!(clock, "OK", "{detail}");
    assert!(
        detail.contains("ahead of") || detail.contains("behind"),
        "{detail}"
    );
    let (session, detail) = verdict(&v, "session");
    assert_eq!(session, "OK");
    assert!(detail.contains("valid for"), "{detail}");
    let (_, proxy) = verdict(&v, "proxy");
    assert!(
        proxy.contains("proxy.example") && !proxy.contains("hunter22"),
        "{proxy}"
    );
    let (file, detail) = verdict(&v, "session file");
    assert_eq!(file, "OK", "{detail}");
    assert!(detail.contains("only you can open it"), "{detail}");
    // The text table has the same checks.
    let text = s.run_env(&["doctor", "--store", "file"], &[]);
    text.expect_code(0);
    assert!(text.stdout.contains("OK    config"), "{}", text.stdout);
}

#[test]
fn failures_exit_1_with_remedies() {
    // A server whose clock is a year behind ours.
    let skewed = block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("HEAD"))
            .respond_with(
                ResponseTemplate::new(200).insert_header("Date", "Sun, 23 Nov 2025 10:00:00 GMT"),
            )
            .mount(&server)
            .await;
        server
    });
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let s = Sandbox::new();
    s.write_config(&format!(
        "[profiles.default]\nserver = \"{}\"\n",
        skewed.uri()
    ));
    let (out, v) = doctor(&s, &[("SESAME_PORT", &port)]);
    assert!(out.stderr.contains("2 checks failed"), "{v:#}");
    assert_eq!(v["ok"], false);
    let (clock, detail) = verdict(&v, "clock");
    assert_eq!(clock, "FAIL", "{detail}");
    assert!(detail.contains("ahead of"), "{detail}");
    let (port_verdict, detail) = verdict(&v, "callback port");
    assert_eq!(port_verdict, "FAIL", "{detail}");
    assert_eq!(verdict(&v, "session").0, "WARN");
    let remedies = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "FAIL" && c["remedy"].is_string())
        .count();
    assert_eq!(remedies, 2);

    // A SESAME_PORT that login would refuse is a failure here too, not "any free port".
    for bad in ["abc", "70000"] {
        let (out, v) = doctor(&s, &[("SESAME_PORT", bad)]);
        out.expect_code(1);
        let (port_verdict, detail) = verdict(&v, "callback port");
        assert_eq!(port_verdict, "FAIL", "{bad}: {detail}");
        assert!(
            detail.contains("SESAME_PORT") && detail.contains(bad),
            "{detail}"
        );
    }

    // A broken config file: the config check fails and says which file.
    s.write_config("[profiles.default]\nsrever = \"typo\"\n");
    let (out, v) = doctor(&s, &[]);
    out.expect_code(1);
    let (config, detail) = verdict(&v, "config");
    assert_eq!(config, "FAIL");
    assert!(
        detail.contains("srever") && detail.contains("config.toml"),
        "{detail}"
    );
    drop(taken);
}

/// The profile's `ca-cert` is the CA file in use unless `SESAME_CA_CERT` (then `--ca-cert`)
/// names another; doctor checks the one in use.
#[test]
fn the_ca_file_in_use_follows_flag_then_env_then_profile() {
    let s = Sandbox::new();
    let ca = s.home.join("ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=doctor-ca",
        ])
        .arg("-keyout")
        .arg(s.home.join("ca.key"))
        .arg("-out")
        .arg(&ca)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let bad = s.home.join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    s.write_config(&format!(
        "[profiles.default]\nca-cert = \"{}\"\n",
        ca.display()
    ));
    let (_, v) = doctor(&s, &[]);
    let (verdict_, detail) = verdict(&v, "CA certificates");
    assert_eq!(verdict_, "OK", "{detail}");
    assert!(detail.contains("ca.pem: 1 certificate"), "{detail}");
    let (out, v) = doctor(&s, &[("SESAME_CA_CERT", bad.to_str().unwrap())]);
    out.expect_code(1);
    assert_eq!(
        verdict(&v, "CA certificates").0,
        "FAIL",
        "the environment beats the profile"
    );
    let out = s.run_env(
        &[
            "doctor",
            "-o",
            "json",
            "--store",
            "file",
            "--ca-cert",
            ca.to_str().unwrap(),
        ],
        &[("SESAME_CA_CERT", bad.to_str().unwrap())],
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        verdict(&v, "CA certificates").0,
        "OK",
        "the flag beats the environment"
    );
}

/// A session file someone made readable to others (a restore from a backup, a `chmod -R`) is a
/// failure with the remedy, naming who else may open it; so is a sessions directory opened up.
#[cfg(unix)]
#[test]
fn a_session_file_others_may_read_fails_with_the_remedy() {
    use std::os::unix::fs::PermissionsExt;
    let (server, s) = logged_in();
    let mode = |path: &std::path::Path, m: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(&s.session_file("default"), 0o644);
    let (out, v) = doctor(&s, &[]);
    out.expect_code(1);
    let (file, detail) = verdict(&v, "session file");
    assert_eq!(file, "FAIL", "{detail}");
    assert!(detail.contains("every user (mode 644)"), "{detail}");
    assert!(
        !detail.contains("sessions: "),
        "the directory is still 0700: {detail}"
    );
    let remedy = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "session file")
        .unwrap()["remedy"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        remedy.contains("sesame logout --profile default"),
        "{remedy}"
    );

    mode(&s.session_file("default"), 0o600);
    mode(&s.sessions_dir(), 0o750);
    let (out, v) = doctor(&s, &[]);
    out.expect_code(1);
    let (file, detail) = verdict(&v, "session file");
    assert_eq!(file, "FAIL", "{detail}");
    assert!(detail.contains("(mode 750)"), "{detail}");

    // Logging in again puts both right.
    s.login_approved(&server);
    let (out, v) = doctor(&s, &[]);
    out.expect_code(0);
    assert_eq!(verdict(&v, "session file").0, "OK");
}

/// doctor resolves the login settings as `sesame login` does (one precedence, one place):
/// `SESAME_ISSUER` alone gives the clock check its server (doctor used to read only
/// `SESAME_SERVER` and the config file), and a variable `login` would refuse fails here too.
#[test]
fn login_settings_are_resolved_as_login_resolves_them() {
    let server = RefServer::start();
    let s = Sandbox::new();
    let issuer = server.origin();
    let (_, v) = doctor(&s, &[("SESAME_ISSUER", &issuer)]);
    let (login, detail) = verdict(&v, "login settings");
    assert_eq!(login, "OK", "{detail}");
    assert!(detail.contains(&issuer), "{detail}");
    let (clock, detail) = verdict(&v, "clock");
    assert!(!detail.contains("skipped"), "{clock}: {detail}");

    for (name, value, needle) in [
        ("SESAME_TIMEOUT", "0", "SESAME_TIMEOUT"),
        ("SESAME_SERVER", "http://login.example.com", "http"),
        ("SESAME_FLOW", "teleport", "SESAME_FLOW"),
    ] {
        let (out, v) = doctor(&s, &[(name, value)]);
        out.expect_code(1);
        let (login, detail) = verdict(&v, "login settings");
        assert_eq!(login, "FAIL", "{name}={value}: {detail}");
        assert!(detail.contains(needle), "{name}={value}: {detail}");
    }
}
