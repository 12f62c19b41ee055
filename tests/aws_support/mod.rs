//! What the AWS tests share: moto's server as STS on an ephemeral loopback port, and the
//! environment that points AWS tools at it.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NEEDS: &str = "needs moto_server and aws (scripts/test-all.sh installs them)";

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's server on a free loopback port: an STS that assumes any role.
pub fn moto() -> (Proc, String) {
    let port = free_port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("moto_server runs ({e}); {NEEDS}"));
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto_server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Proc(child), format!("http://127.0.0.1:{port}"))
}

/// The environment that points AWS tools at moto with throwaway credentials.
pub fn aws_env(sts: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_ENDPOINT_URL_STS", sts.into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
    ]
}

/// `aws ARGS` with HOME in the sandbox, its other settings from `env`.
pub fn aws(
    sandbox: &super::common::Sandbox,
    args: &[&str],
    env: &[(&str, String)],
) -> super::common::Out {
    let mut cmd = Command::new("aws");
    cmd.args(args)
        .env_clear()
        .env("HOME", &sandbox.home)
        .env("XDG_CONFIG_HOME", &sandbox.config_home)
        .env("XDG_DATA_HOME", &sandbox.data_home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    super::common::run_with_stdin(cmd, None)
}
