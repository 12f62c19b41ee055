//! `sesame proxy` with real parts: a TLS upstream (node's https server with a private CA made
//! by openssl, and npm `ws` for WebSocket), real curl and a real `ws` client as the programs
//! that cannot add a header, and the reference server's session. The credential is added as the
//! session's use-as says, hop-by-hop headers are dropped, bodies stream both ways, an upgrade
//! passes, and requests whose Host or Origin is another site are refused before the upstream
//! sees them. The proxy never prints the token.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child that prints one line when ready, killed on drop.
struct Ready {
    child: Child,
    line: String,
}

impl Ready {
    fn start(mut cmd: Command) -> Ready {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Ready { child, line }
    }
}

impl Drop for Ready {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup {
    sandbox: Sandbox,
    _server: RefServer,
    _upstream: Ready,
    upstream: String,
    ca: PathBuf,
    token: String,
}

fn setup() -> Setup {
    let server = RefServer::start();
    let sandbox = Sandbox::new();
    sandbox.login_approved(&server);
    let token = sandbox.token();
    let (ca, cert, key) = private_ca(sandbox.path());
    let mut node = Command::new("node");
    node.current_dir(oidc_dir())
        .arg("upstream.mjs")
        .arg(&cert)
        .arg(&key);
    let upstream = Ready::start(node);
    let url = serde_json::from_str::<Value>(&upstream.line)
        .unwrap_or_else(|e| panic!("{e}: {:?}", upstream.line))["url"]
        .as_str()
        .unwrap()
        .to_string();
    Setup {
        sandbox,
        _server: server,
        _upstream: upstream,
        upstream: url,
        ca,
        token,
    }
}

/// `sesame proxy --upstream UPSTREAM/api --ca-cert CA --store file`, its URL once it listens.
fn proxy(s: &Setup) -> (Child, String) {
    let mut cmd = s.sandbox.sesame();
    cmd.args(["proxy", "--store", "file", "--ca-cert"])
        .arg(&s.ca)
        .args(["--upstream", &format!("{}/api", s.upstream)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("sesame proxy starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("http://127.0.0.1:"), "{line:?}");
    (child, line.trim_end().trim_end_matches('/').to_string())
}

fn curl(args: &[&str]) -> Out {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "20"]).args(args);
    run_with_limit(cmd, Duration::from_secs(30))
}

#[test]
#[ignore = "needs node and `npm ci` in tests/oidc (scripts/test-all.sh runs it)"]
fn curl_through_the_proxy_gets_the_credential_added_and_bodies_stream() {
    let s = setup();
    let (mut proxy, url) = proxy(&s);

    // The credential as use-as says (the cookie consoleme_auth), replacing a forged one and
    // keeping the client's other cookies; hop-by-hop headers dropped; the path below /api.
    let out = curl(&[
        "-H",
        "Cookie: mine=1; consoleme_auth=forged",
        "-H",
        "Connection: keep-alive, X-Hop",
        "-H",
        "X-Hop: 1",
        "-H",
        "Proxy-Authorization: Basic c2VjcmV0",
        "-D",
        "-",
        &format!("{url}/things?x=1"),
    ]);
    out.expect_code(0);
    let (head, body) = out.stdout.split_once("\r\n\r\n").unwrap();
    let echo: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(echo["url"], "/api/things?x=1");
    assert_eq!(
        echo["headers"]["cookie"],
        format!("mine=1; consoleme_auth={}", s.token)
    );
    assert!(echo["headers"].get("x-hop").is_none(), "{echo}");
    assert!(
        echo["headers"].get("proxy-authorization").is_none(),
        "{echo}"
    );
    assert_eq!(
        echo["headers"]["host"],
        s.upstream.trim_start_matches("https://")
    );
    assert!(
        !head.to_ascii_lowercase().contains("x-upstream-hop"),
        "{head}"
    );

    // A 4 MiB upload streams through whole; a slow answer comes back in pieces as it is sent.
    let big = s.sandbox.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 4 << 20]).unwrap();
    let out = curl(&[
        "--data-binary",
        &format!("@{}", big.display()),
        &format!("{url}/upload"),
    ]);
    out.expect_code(0);
    let echo: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body_bytes"], 4 << 20);
    let started = std::time::Instant::now();
    let mut slow = Command::new("curl")
        .args(["-sSN", &format!("{url}/slow")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(slow.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert_eq!(first, "chunk 0\n");
    let first_after = started.elapsed();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    assert_eq!(rest, "chunk 1\nchunk 2\nchunk 3\nchunk 4\n");
    assert!(
        first_after + Duration::from_millis(500) < started.elapsed(),
        "the first chunk came before the last was sent: streamed, not buffered ({first_after:?} of {:?})",
        started.elapsed()
    );
    let _ = slow.wait();

    // Another site's Host (DNS rebinding) or Origin: refused before the upstream sees it.
    let seen_before = serde_json::from_str::<Value>(&curl(&[&format!("{url}/count")]).stdout)
        .unwrap()["seen"]
        .as_u64()
        .unwrap();
    for header in [
        "Host: evil.example.com",
        "Origin: https://evil.example.com",
        "Referer: https://evil.example.com/x",
        "Sec-Fetch-Site: cross-site",
    ] {
        let out = curl(&["-H", header, "-w", "%{http_code}", &format!("{url}/x")]);
        assert!(out.stdout.ends_with("403"), "{header}: {out:?}");
        assert!(out.stdout.contains("sesame proxy:"), "{out:?}");
    }
    let seen_after = serde_json::from_str::<Value>(&curl(&[&format!("{url}/count")]).stdout)
        .unwrap()["seen"]
        .as_u64()
        .unwrap();
    assert_eq!(
        seen_after,
        seen_before + 1,
        "only the counting request reached the upstream"
    );

    // A WebSocket through the proxy: the upgrade carries the credential, and messages echo.
    let ws = run_with_limit(
        {
            let mut c = Command::new("node");
            c.current_dir(oidc_dir())
                .arg("ws_client.mjs")
                .arg(format!("{}/ws", url.replace("http://", "ws://")));
            c
        },
        Duration::from_secs(20),
    );
    ws.expect_code(0);
    let mut lines = ws.stdout.lines();
    let first: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        first["headers"]["cookie"],
        format!("consoleme_auth={}", s.token)
    );
    assert_eq!(first["url"], "/api/ws");
    assert_eq!(lines.next(), Some("echo: hello"));

    // Another user of this machine (root acts as nobody): the connection is closed unanswered.
    if sesame_login::private_file::effective_uid() == 0 {
        let out = run_with_limit(
            {
                let mut c = Command::new("setpriv");
                c.args([
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "curl",
                    "-sS",
                    "--max-time",
                    "10",
                ])
                .arg(format!("{url}/x"))
                .env_clear()
                .env("PATH", "/usr/bin:/bin");
                c
            },
            Duration::from_secs(20),
        );
        assert_ne!(out.code(), Some(0), "{out:?}");
        assert!(!out.stdout.contains(&s.token), "{out:?}");
        assert!(
            out.stderr.contains("Empty reply") || out.stderr.contains("reset"),
            "{out:?}"
        );
    }

    // Logged out: within the few seconds the proxy holds a session, requests get 401 with
    // what to run.
    s.sandbox.run(&["logout"]).expect_code(0);
    std::thread::sleep(sesame::proxy::HELD_FOR + Duration::from_millis(200));
    let out = curl(&["-w", "%{http_code}", &format!("{url}/after-logout")]);
    assert!(out.stdout.ends_with("401"), "{out:?}");
    assert!(out.stdout.contains("Not logged in"), "{out:?}");

    // Ctrl-C stops it (exit 0); it never printed the token.
    unsafe_sigint(&proxy);
    let status = proxy.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut proxy.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains(&s.token), "{stderr}");
    let _ = std::io::stdout().flush();
}

/// SIGINT, as Ctrl-C sends.
fn unsafe_sigint(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
#[ignore = "needs node and `npm ci` in tests/oidc (scripts/test-all.sh runs it)"]
fn without_a_session_requests_get_401_saying_what_to_run() {
    let s = setup();
    s.sandbox.run(&["logout"]).expect_code(0);
    let (mut proxy, url) = proxy(&s);
    let out = curl(&["-w", "%{http_code}", &format!("{url}/x")]);
    assert!(out.stdout.ends_with("401"), "{out:?}");
    assert!(
        out.stdout.contains("Not logged in") && out.stdout.contains("sesame login"),
        "{out:?}"
    );
    unsafe_sigint(&proxy);
    assert!(proxy.wait().unwrap().success());
    // An upstream that is not https and not on this machine is refused before listening.
    s.sandbox
        .run(&["proxy", "--upstream", "http://api.example.com"])
        .expect_code(2)
        .stderr_has(&["--upstream"]);
}
