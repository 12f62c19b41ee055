//! Ctrl-C during a login: exit 130, a message, and the previous session untouched.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn ctrl_c_ends_the_login_with_130_and_keeps_the_previous_session() {
    let sb = Sandbox::new();
    let server = RefServer::start();
    sb.login_approved(&server);
    let before = sb.token();

    let login = sb.spawn_login(server.url.as_str(), &["--timeout", "60"]);
    let _url = login.challenge_url();
    let status = Command::new("kill")
        .args(["-INT", &login.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = login.finish_within(Duration::from_secs(10));
    out.expect_code(130)
        .stderr_has(&["Interrupted", "previous session"])
        .no_panic();
    assert_eq!(sb.token(), before, "the previous session is intact");
}
