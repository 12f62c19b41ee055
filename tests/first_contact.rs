//! What a new user meets in `sesame login` on a machine without a browser: the real reason no
//! browser opened, where the URL can be opened, a user name without `USER`, and a way to approve
//! from a terminal when the one-time page was fetched with curl.

mod common;

use common::*;
use std::process::Command;

fn login_once(sb: &Sandbox, server: &RefServer, extra: &[&str], env: &[(&str, &str)]) -> Out {
    let mut args = vec!["login", "--server", server.url.as_str(), "--timeout", "1"];
    args.extend_from_slice(extra);
    sb.run_full(&args, env, None)
}

/// "No browser was opened (--no-browser was given)" was printed when it was not given.
#[test]
fn login_names_the_real_reason_no_browser_opened() {
    let sb = Sandbox::new();
    let server = RefServer::start();
    let user = ["--user", USER];

    let out = login_once(&sb, &server, &user, &[]);
    out.expect_code(4).stderr_has(&[
        "No browser was opened (no graphical display: DISPLAY and WAYLAND_DISPLAY are unset)",
    ]);
    assert!(!out.stderr.contains("--no-browser"), "{}", out.stderr);

    let out = login_once(
        &sb,
        &server,
        &user,
        &[("SSH_CONNECTION", "10.0.0.1 1 10.0.0.2 22")],
    );
    out.expect_code(4)
        .stderr_has(&["No browser was opened (this is an SSH session without a display)"]);

    let out = login_once(
        &sb,
        &server,
        &user,
        &[("BROWSER", "/nonexistent/sesame-browser")],
    );
    out.expect_code(4)
        .stderr_has(&["$BROWSER (/nonexistent/sesame-browser) could not be started"]);

    let mut with_flag = user.to_vec();
    with_flag.push("--no-browser");
    let out = login_once(&sb, &server, &with_flag, &[]);
    out.expect_code(4)
        .stderr_has(&["No browser was opened (--no-browser was given)"]);
}

/// A server on this machine's loopback cannot be reached from a phone: no QR code, and no
/// "open it on any device".
#[test]
fn a_loopback_url_is_for_this_machine_no_qr_code() {
    let sb = Sandbox::new();
    let server = RefServer::start();
    let out = login_once(&sb, &server, &["--user", USER, "--no-browser", "--qr"], &[]);
    out.expect_code(4)
        .stderr_has(&["open this URL in a browser on this machine"]);
    assert!(!out.stderr.contains("any device"), "{}", out.stderr);
    assert!(
        !out.stdout.contains('█') && !out.stdout.contains('▀'),
        "no QR code of a loopback URL:\n{}",
        out.stdout
    );
}

/// With USER and USERNAME unset (root in a container), login failed with "Could not tell which
/// user to log in as" before contacting the server.
#[test]
fn login_without_user_in_the_environment_uses_the_os_account() {
    let sb = Sandbox::new();
    let server = RefServer::start();
    let me = Command::new("id").arg("-un").output().expect("id -un runs");
    let me = String::from_utf8_lossy(&me.stdout).trim().to_string();
    assert!(!me.is_empty());
    // The sandbox passes no USER, USERNAME or LOGNAME.
    let out = login_once(&sb, &server, &["--no-browser"], &[]);
    out.expect_code(4)
        .stderr_has(&[&format!("To log in as {me}, open this URL")]);
    assert!(!out.stderr.contains("Could not tell"), "{}", out.stderr);
}

/// The approval link works once, so someone who looked at it with curl first was stuck. The
/// page they fetched now holds the curl command that approves, and it works.
#[test]
fn the_approval_page_fetched_with_curl_shows_how_to_approve_from_the_terminal() {
    let sb = Sandbox::new();
    let server = RefServer::start();
    let login = sb.spawn_login(server.url.as_str(), &["--timeout", "30"]);
    let url = login.challenge_url();
    let page = Command::new("curl")
        .args(["-sS", "--noproxy", "*", &url])
        .output()
        .expect("curl runs");
    let page = String::from_utf8_lossy(&page.stdout).to_string();
    let command = page
        .split("<pre>")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("no terminal instructions on the page:\n{page}"))
        .replace("&amp;", "&");
    assert!(
        command.starts_with("curl -d nonce=") && command.ends_with(&url),
        "{command}"
    );
    // A second look is refused, and says where the form went.
    let again = Command::new("curl")
        .args(["-sS", "--noproxy", "*", &url])
        .output()
        .unwrap();
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.contains("Link already opened") && again.contains("curl"),
        "{again}"
    );
    let approved = Command::new("sh")
        .args(["-c", &format!("{command} --noproxy '*' -sS")])
        .output()
        .unwrap();
    assert_eq!(approved.status.code(), Some(0), "{approved:?}");
    let out = login.finish();
    out.expect_code(0).stderr_has(&["Logged in as alice"]);
}
