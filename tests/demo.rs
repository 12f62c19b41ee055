//! `sesame demo` on a headless machine: no browser, no terminal, so it approves by itself and
//! completes unattended, as the README promises for a fresh machine.

mod common;

use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn demo_completes_unattended_without_a_browser_or_terminal() {
    let sb = Sandbox::new();
    let started = Instant::now();
    let out = sb
        .sesame()
        .args(["demo", "--store", "file"])
        .env("USER", "dora")
        .stdin(Stdio::null())
        .output()
        .expect("sesame demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        stderr.contains("approves by itself"),
        "says it approves by itself:\n{stderr}"
    );
    assert!(
        stdout.contains("User:      dora"),
        "status shows the user:\n{stdout}"
    );
    assert!(
        stdout.contains("Expires:"),
        "status shows the expiry:\n{stdout}"
    );
    assert!(
        stderr.contains("sesame token --profile demo"),
        "says what to try next"
    );
    assert!(
        sb.session_file("demo").exists(),
        "saved into the demo profile"
    );
}
