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
        stderr.contains("cargo run -- token --profile demo") && stderr.contains("./install.sh"),
        "says what to try next, as it can be run from this checkout:\n{stderr}"
    );
    assert!(
        sb.session_file("demo").exists(),
        "saved into the demo profile"
    );
}

/// Runs `sesame ARGS --store file` under util-linux `script`, which gives it a pseudo-terminal as
/// an SSH session would (no display, no BROWSER). Presses Enter once `press_after` appears, if
/// given. Returns the exit code and everything the terminal showed.
fn demo_in_a_terminal(
    sb: &Sandbox,
    args: &str,
    press_after: Option<&str>,
) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader, Write};
    let bin = env!("CARGO_BIN_EXE_sesame");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{bin} {args} --store file"), "/dev/null"])
        .env_clear()
        .env("HOME", &sb.home)
        .env("XDG_CONFIG_HOME", &sb.config_home)
        .env("XDG_DATA_HOME", &sb.data_home)
        .env("USER", "dora")
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let mut seen = String::new();
    let mut pressed = false;
    let mut exited = None;
    while started.elapsed() < Duration::from_secs(60) {
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
            seen.push_str(&line);
            seen.push('\n');
        }
        if let Some(after) = press_after
            && !pressed
            && seen.contains(after)
        {
            stdin.write_all(b"\n").unwrap();
            stdin.flush().unwrap();
            pressed = true;
        }
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
    }
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push_str(&line);
        seen.push('\n');
    }
    drop(stdin);
    let Some(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`sesame {args}` did not finish within 60 s:\n{seen}");
    };
    if press_after.is_some() {
        assert!(pressed, "never saw {press_after:?}:\n{seen}");
    }
    (status.code(), seen)
}

/// Over SSH or in `docker run -it` (a terminal, no display), the demo said "--no-browser was
/// given", offered a loopback URL "on any device" with a QR code, and timed out after two
/// minutes. Now it asks for one Enter, which approves through the validator API.
#[test]
fn demo_on_a_terminal_without_a_display_finishes_with_one_enter() {
    let sb = Sandbox::new();
    let started = Instant::now();
    let (code, seen) = demo_in_a_terminal(&sb, "demo", Some("Press Enter to approve"));
    assert_eq!(code, Some(0), "{seen}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "finished at once after Enter, not after the 2-minute timeout"
    );
    for needle in [
        "no graphical display",
        "open this URL in a browser on this machine",
        "Approved through the validator API",
        "Logged in as dora",
        "User:      dora",
    ] {
        assert!(seen.contains(needle), "output lacks {needle:?}:\n{seen}");
    }
    for wrong in ["--no-browser was given", "any device", "▀", "█", "panicked"] {
        assert!(!seen.contains(wrong), "output has {wrong:?}:\n{seen}");
    }
}

/// A demo nobody approves timed out with "Allow more time with --timeout SECS", a flag the demo
/// rejected, and never mentioned --auto-approve.
#[test]
fn demo_timeout_hint_names_only_flags_the_demo_accepts() {
    let sb = Sandbox::new();
    let (code, seen) = demo_in_a_terminal(&sb, "demo --no-browser --timeout 1", None);
    assert_eq!(code, Some(4), "{seen}");
    assert!(
        seen.contains("--no-browser was given") && seen.contains("Timed out after 1s"),
        "{seen}"
    );
    assert!(
        seen.contains("sesame demo --auto-approve") && seen.contains("sesame demo --timeout"),
        "the hint names the demo's own flags:\n{seen}"
    );
    assert!(!seen.contains("sesame login"), "{seen}");
}

/// The "Try next" lines are commands that work as printed: with sesame on PATH they say
/// `sesame`, and running them as printed gives the token.
#[test]
fn demo_try_next_lines_work_as_printed_and_later_hints_name_the_demo() {
    let sb = Sandbox::new();
    let bin_dir = sb.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sesame"), bin_dir.join("sesame")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = sb.run_full(&["demo"], &[("PATH", &path), ("USER", "dora")], None);
    out.expect_code(0);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("token --profile demo"))
        .unwrap_or_else(|| panic!("no token line:\n{}", out.stderr));
    let command = line.split('#').next().unwrap().trim();
    assert_eq!(command, "sesame token --profile demo");
    let ran = std::process::Command::new("sh")
        .args(["-c", &format!("{command} --store file")])
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &sb.home)
        .env("XDG_CONFIG_HOME", &sb.config_home)
        .env("XDG_DATA_HOME", &sb.data_home)
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(0), "{ran:?}");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).split('.').count(),
        3,
        "the printed command prints the JWT"
    );

    // Once the demo session has expired, the hint names the demo, not a login that cannot work.
    let file = sb.session_file("demo");
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(s["demo"], true);
    s["expires_at"] = serde_json::json!(unix_now() - 5);
    std::fs::write(&file, s.to_string()).unwrap();
    for cmd in ["status", "token"] {
        sb.run(&[cmd, "--profile", "demo"])
            .expect_code(3)
            .stderr_has(&["run `sesame demo` again"]);
    }
    let out = sb.run(&["logout", "--profile", "demo"]);
    out.expect_code(0)
        .stderr_has(&["`sesame demo`, whose server has stopped"]);
    assert!(!out.stderr.contains("stays valid"), "{}", out.stderr);
    sb.run(&["status", "--profile", "demo"])
        .expect_code(3)
        .stderr_has(&["Run `sesame demo`"]);
}
