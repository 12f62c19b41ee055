//! One pending login per profile: concurrent `sesame login` for one profile share one challenge
//! (kubelogin #904: "hundreds of Okta tabs"), and a login whose process died blocks nobody.

mod common;

use common::*;
use std::process::Command;

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn two_concurrent_logins_request_one_challenge_and_both_succeed_after_one_approval() {
    let (_server, proxy) = server_behind_proxy(ProxyOptions::default(), |c| c.ip_check = false);
    let sb = Sandbox::new();
    // Both start at once: one becomes the login, the other joins it.
    let a = sb.spawn_login(proxy.url.as_str(), &["--timeout", "30"]);
    let b = sb.spawn_login(proxy.url.as_str(), &["--timeout", "30"]);
    let (url_a, url_b) = (a.challenge_url(), b.challenge_url());
    assert_eq!(url_a, url_b, "both show the same approval URL");
    approve(&url_a);
    let (a, b) = (a.finish(), b.finish());
    a.expect_code(0).no_panic();
    b.expect_code(0).no_panic();
    let joined = [&a, &b]
        .iter()
        .filter(|o| {
            o.stderr
                .contains("joining it instead of starting a second one")
        })
        .count();
    assert_eq!(
        joined, 1,
        "exactly one joined:\n{}\n---\n{}",
        a.stderr, b.stderr
    );
    assert!(
        [&a, &b]
            .iter()
            .any(|o| o.stderr.contains("by the login this one joined")),
        "the joiner reports the shared outcome"
    );
    assert_eq!(proxy.challenges(), 1, "one challenge for two logins");
    assert_eq!(sb.token().split('.').count(), 3);
}

#[test]
fn a_killed_login_blocks_nobody_and_its_joiner_is_told() {
    let (_server, proxy) = server_behind_proxy(ProxyOptions::default(), |c| c.ip_check = false);
    let sb = Sandbox::new();
    let a = sb.spawn_login(proxy.url.as_str(), &["--timeout", "30"]);
    let first = a.challenge_url();
    let b = sb.spawn_login(proxy.url.as_str(), &["--timeout", "30"]);
    assert_eq!(b.challenge_url(), first);
    signal(a.pid(), "-KILL");
    let b = b.finish();
    b.expect_code(4)
        .no_panic()
        .stderr_has(&["stopped without a result", "sesame login"]);
    drop(a);

    // The next login runs at once, with a challenge of its own.
    let c = sb.spawn_login(proxy.url.as_str(), &["--timeout", "30"]);
    let next = c.challenge_url();
    assert_ne!(next, first);
    approve(&next);
    c.finish().expect_code(0);
    assert_eq!(proxy.challenges(), 2);
}

#[test]
fn a_joiner_of_an_interrupted_login_says_so() {
    let (_server, proxy) = server_behind_proxy(ProxyOptions::default(), |c| c.ip_check = false);
    let sb = Sandbox::new();
    let a = sb.spawn_login(proxy.url.as_str(), &["--timeout", "30"]);
    let url = a.challenge_url();
    let b = sb.spawn_login(proxy.url.as_str(), &["--timeout", "30"]);
    assert_eq!(b.challenge_url(), url);
    signal(a.pid(), "-INT");
    a.finish().expect_code(130);
    b.finish()
        .expect_code(4)
        .stderr_has(&["was interrupted", "Run `sesame login` again"]);
}

/// Regression (issue 17, item 9): a login for bob joined the pending login for alice (same
/// profile) and reported "Logged in as alice" to the person who asked for bob.
#[test]
fn a_login_for_another_user_does_not_join_and_says_which_login_is_pending() {
    let server = RefServer::start();
    let sb = Sandbox::new();
    let a = sb.spawn_login(server.url.as_str(), &["--timeout", "30"]);
    let url = a.challenge_url();
    let mut cmd = sb.sesame();
    cmd.args([
        "login",
        "--store",
        "file",
        "--no-browser",
        "--user",
        "bob",
        "--server",
        server.url.as_str(),
        "--timeout",
        "30",
    ]);
    let b = run_with_limit(cmd, std::time::Duration::from_secs(20));
    b.expect_code(1)
        .no_panic()
        .stderr_has(&["is pending", "as alice", "as bob", "cannot join"]);
    approve(&url);
    a.finish().expect_code(0);
    assert!(sb.run(&["status"]).stdout.contains("alice"));
}
