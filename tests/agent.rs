//! `sesame agent` with real parts: the reference server for the session, the agent started as
//! its own process on a socket in the sandbox, and the commands (`token`, `header`, `exec`,
//! `logout`) pointed at it with `SESAME_AUTH_SOCK`. The agent answers from memory, commands fall
//! back to the store silently when it is gone, bad clients are refused without harming the
//! others, and only its own user is answered.

mod common;
#[path = "oidc_support/mod.rs"]
mod oidc_support;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An agent started in the foreground by a test, killed on drop.
struct AgentProc {
    child: Child,
}

impl AgentProc {
    /// `sesame agent --foreground --socket SOCKET` in `sandbox`'s environment (and `env`),
    /// once it prints its lines (it listens by then).
    fn start(sandbox: &Sandbox, socket: &Path, env: &[(&str, &str)]) -> AgentProc {
        let mut cmd = sandbox.sesame();
        cmd.args(["agent", "--foreground", "--socket"])
            .arg(socket)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("sesame agent starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert_eq!(
            first,
            format!(
                "SESAME_AUTH_SOCK='{}'; export SESAME_AUTH_SOCK;\n",
                socket.display()
            )
        );
        AgentProc { child }
    }

    fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// A sandbox logged in at a fresh reference server (file store), whose commands ask the agent
/// at `runtime/agent/agent.sock` and wait up to 5 s for it (a loaded machine is no reason for
/// a test to see the fallback).
fn logged_in(server: &RefServer) -> (Sandbox, PathBuf) {
    let mut sandbox = Sandbox::new();
    sandbox.login_approved(server);
    let socket = sandbox.path().join("runtime/agent/agent.sock");
    sandbox.set("SESAME_AUTH_SOCK", socket.to_string_lossy());
    sandbox.set("SESAME_AGENT_TIMEOUT", "5");
    (sandbox, socket)
}

/// `sesame token` with the debug log: the token, and whether the agent answered.
fn token_via(sandbox: &Sandbox) -> (String, bool) {
    let out = sandbox.run_full(&["token"], &[("SESAME_LOG", "debug")], None);
    out.expect_code(0).no_panic();
    (
        out.stdout.trim_end().to_string(),
        out.stderr.contains("agent: answered for profile default"),
    )
}

#[test]
fn the_agent_answers_from_memory_commands_fall_back_when_it_dies_and_logout_reaches_it() {
    let server = RefServer::start();
    let (sandbox, socket) = logged_in(&server);
    let stored = sandbox.token();
    let mut agent = AgentProc::start(&sandbox, &socket, &[]);
    let mode = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&socket), 0o600, "the socket is the user's only");
    assert_eq!(mode(socket.parent().unwrap()), 0o700);

    let (token, answered) = token_via(&sandbox);
    assert_eq!(token, stored);
    assert!(answered, "the agent answered");

    // From memory: with the session file gone, the agent still answers `token`, `header` and
    // `exec`; without the agent, the store has nothing.
    let file = sandbox.session_file("default");
    let aside = sandbox.path().join("aside.json");
    std::fs::rename(&file, &aside).unwrap();
    assert_eq!(token_via(&sandbox), (stored.clone(), true));
    let header = sandbox.run(&["header"]);
    header.expect_code(0);
    assert_eq!(header.stdout, format!("Cookie: consoleme_auth={stored}\n"));
    let exec = sandbox.run_full_args(
        &[
            "--store",
            "file",
            "exec",
            "--",
            "sh",
            "-c",
            "printf %s \"$SESAME_TOKEN\"",
        ],
        None,
    );
    exec.expect_code(0);
    assert_eq!(exec.stdout, stored);
    sandbox
        .run_full(&["token"], &[("SESAME_AUTH_SOCK", "")], None)
        .expect_code(3);
    std::fs::rename(&aside, &file).unwrap();

    // kill -9: commands read the store, silently, and the store has the session.
    agent.kill_9();
    let out = sandbox.run(&["token"]);
    out.expect_code(0);
    assert_eq!(out.stdout.trim_end(), stored);
    assert_eq!(out.stderr, "", "the fallback is silent");

    // A new agent replaces the dead one's socket; `logout` tells it, so it does not keep
    // handing out the session that was logged out.
    let _agent = AgentProc::start(&sandbox, &socket, &[]);
    assert_eq!(token_via(&sandbox), (stored.clone(), true));
    sandbox.run(&["logout"]).expect_code(0);
    sandbox
        .run(&["token"])
        .expect_code(3)
        .stderr_has(&["Not logged in"]);
}

/// `sesame doctor` reports the agent: what it holds when it answers, a warning when
/// `SESAME_AUTH_SOCK` names a socket nobody answers on.
#[test]
fn doctor_reports_the_agent() {
    let server = RefServer::start();
    let (sandbox, socket) = logged_in(&server);
    let agent_check = |sandbox: &Sandbox| {
        let out = sandbox.run_env(&["doctor", "--output", "json", "--store", "file"], &[]);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "agent")
            .cloned()
            .unwrap_or_else(|| panic!("no agent check: {report}"))
    };
    let dead = agent_check(&sandbox);
    assert_eq!(dead["verdict"], "WARN", "{dead}");
    assert!(
        dead["detail"]
            .as_str()
            .unwrap()
            .contains("no agent answers"),
        "{dead}"
    );
    let mut agent = AgentProc::start(&sandbox, &socket, &[]);
    assert!(token_via(&sandbox).1);
    let live = agent_check(&sandbox);
    assert_eq!(live["verdict"], "OK", "{live}");
    let detail = live["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("pid {} on", agent.child.id()))
            && detail.contains("holding 1 session: default (expires in"),
        "{live}"
    );
    agent.kill_9();
}

/// Sends `bytes` on a new connection and reads what the agent answers (a frame's JSON), or
/// `None` if it closes without one.
fn raw(socket: &Path, bytes: &[u8]) -> Option<serde_json::Value> {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut header = [0u8; 4];
    s.read_exact(&mut header).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
    s.read_exact(&mut body).ok()?;
    Some(serde_json::from_slice(&body).unwrap())
}

fn frame(json: &str) -> Vec<u8> {
    let mut f = (json.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(json.as_bytes());
    f
}

#[test]
fn bad_clients_are_refused_without_harming_the_others() {
    let server = RefServer::start();
    let (sandbox, socket) = logged_in(&server);
    let _agent = AgentProc::start(&sandbox, &socket, &[]);
    let refused = |bytes: &[u8], why: &str| {
        let answer = raw(&socket, bytes).expect("a refusal");
        assert_eq!(answer["result"], "refused", "{answer}");
        assert_eq!(answer["why"], why, "{answer}");
    };
    refused(b"GET / HTTP/1.1\r\n\r\n", "bad-request");
    refused(&u32::MAX.to_be_bytes(), "bad-request");
    refused(&(64 * 1024 + 1u32).to_be_bytes(), "bad-request");
    refused(&frame("not json"), "bad-request");
    refused(&frame(r#"{"v":1,"op":"steal"}"#), "bad-request");
    refused(&frame(r#"{"v":2,"op":"ping"}"#), "version");
    refused(
        &frame(
            r#"{"v":1,"op":"session","profile":"../x","store":"file","data_dir":"/tmp","keychain_service":"sesame"}"#,
        ),
        "bad-request",
    );
    let pong = raw(&socket, &frame(r#"{"v":1,"op":"ping"}"#)).unwrap();
    assert_eq!(pong["result"], "pong");

    // Twenty slow clients send half a header and stall; the others are answered meanwhile,
    // and the slow ones are cut off after the read timeout.
    let slow: Vec<UnixStream> = (0..20)
        .map(|_| {
            let mut s = UnixStream::connect(&socket).unwrap();
            s.write_all(&[0, 0]).unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let (_, answered) = token_via(&sandbox);
    assert!(answered, "answered while twenty clients stall");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 1];
        let read = s.read(&mut buf);
        assert!(
            matches!(read, Ok(0)),
            "closed by the agent after its read timeout, not left open: {read:?}"
        );
    }
    assert!(token_via(&sandbox).1, "still serving");
}

/// Whatever listens at `SESAME_AUTH_SOCK` is outside: a refusal carrying escape sequences, a
/// line break and a NUL is shown on one line with none of them, and the command goes on to the
/// store.
#[test]
fn a_hostile_agents_message_is_shown_on_one_line() {
    use std::io::Write as _;
    let server = RefServer::start();
    let (mut sandbox, _) = logged_in(&server);
    let socket = sandbox.path().join("runtime/fake.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1) {
            let mut stream = stream.unwrap();
            let mut header = [0u8; 4];
            stream.read_exact(&mut header).unwrap();
            let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
            stream.read_exact(&mut body).unwrap();
            let refusal = serde_json::json!({"v": 1, "result": "refused", "why": "forbidden",
                "message": "evil \u{1b}[31mRED\u{1b}[0m\r\nerror: fake line\u{0}"});
            stream.write_all(&frame(&refusal.to_string())).unwrap();
        }
    });
    sandbox.set("SESAME_AUTH_SOCK", socket.to_string_lossy());
    let out = sandbox.run(&["token"]);
    out.expect_code(0);
    assert!(
        !out.stderr.contains('\u{1b}') && !out.stderr.contains('\0'),
        "{out:?}"
    );
    let warning: Vec<&str> = out.stderr.lines().filter(|l| l.contains("evil")).collect();
    assert_eq!(warning.len(), 1, "{out:?}");
    assert!(warning[0].contains("fake line"), "one line: {out:?}");
    assert!(
        !out.stderr
            .lines()
            .any(|l| l.starts_with("error: fake line")),
        "{out:?}"
    );
}

/// The socket is 0600 in a 0700 directory (checked by the first test); behind that, the agent
/// checks the peer's uid itself (a socket made reachable by mistake, or a forwarded one, still
/// answers only its user). Acting as another user needs root: elsewhere this test says it
/// skipped and checks nothing.
#[test]
fn another_user_is_refused() {
    let server = RefServer::start();
    let (sandbox, socket) = logged_in(&server);
    let _agent = AgentProc::start(&sandbox, &socket, &[]);
    if sesame_login::private_file::effective_uid() != 0 {
        eprintln!("not root: the other-user half of this test needs root; skipped");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let mut dir = socket.parent().unwrap().to_path_buf();
    // Open every directory on the way so that `nobody` reaches the socket at all.
    for _ in 0..3 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir = dir.parent().unwrap().to_path_buf();
    }
    std::fs::set_permissions(sandbox.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = format!(
        "import socket, struct, json\n\
         s = socket.socket(socket.AF_UNIX)\n\
         s.connect({:?})\n\
         body = json.dumps({{'v': 1, 'op': 'session', 'profile': 'default', 'store': 'file', 'data_dir': {:?}, 'keychain_service': 'sesame'}}).encode()\n\
         try:\n    s.sendall(struct.pack('>I', len(body)) + body)\nexcept BrokenPipeError:\n    pass\n\
         n = struct.unpack('>I', s.recv(4))[0]\n\
         print(s.recv(n).decode())\n",
        socket.to_str().unwrap(),
        sandbox.path().join("data/sesame").to_str().unwrap(),
    );
    let out = Command::new("setpriv")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "python3",
            "-c",
        ])
        .arg(&script)
        .output()
        .expect("setpriv (util-linux) and /usr/bin/python3 run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(answer["why"], "forbidden", "{answer}");
    assert!(answer.get("session").is_none());
}

#[test]
fn sesame_agent_detaches_prints_shell_lines_once_and_stops() {
    let sandbox = Sandbox::new();
    let socket = sandbox.path().join("runtime/sesame-test/agent.sock");
    let socket_arg = socket.to_str().unwrap();
    let started = sandbox.run_env(&["agent", "--socket", socket_arg, "--shell", "bash"], &[]);
    started.expect_code(0).no_panic();
    let pid_line = started
        .stdout
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        started.stdout.lines().next().unwrap(),
        format!("SESAME_AUTH_SOCK='{socket_arg}'; export SESAME_AUTH_SOCK;")
    );
    let pid: u32 = pid_line
        .trim_start_matches("echo Agent pid ")
        .trim_end_matches(';')
        .parse()
        .unwrap_or_else(|_| panic!("{pid_line}"));
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "it runs on");

    // Again: the same agent's lines, in the shell asked for.
    let again = sandbox.run_env(&["agent", "--socket", socket_arg, "--shell", "fish"], &[]);
    again
        .expect_code(0)
        .stderr_has(&[&format!("An agent (pid {pid}) already answers")]);
    assert_eq!(
        again.stdout,
        format!("set -gx SESAME_AUTH_SOCK '{socket_arg}';\necho Agent pid {pid};\n")
    );

    // Through a real shell, as a startup file would.
    let out = run_with_limit(
        sandbox.shell(&format!(
            "eval \"$(sesame agent --socket {socket_arg} --shell bash)\" && test \"$SESAME_AUTH_SOCK\" = {socket_arg} && eval \"$(sesame agent --stop --shell bash)\" && test -z \"${{SESAME_AUTH_SOCK:-}}\" && echo done"
        )),
        Duration::from_secs(30),
    );
    assert_eq!(
        out.stdout.trim_end().lines().last(),
        Some("done"),
        "{out:?}"
    );
    let gone = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(gone.elapsed() < Duration::from_secs(10), "the agent exits");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!socket.exists(), "its socket is removed");
    sandbox
        .run_env(&["agent", "--stop", "--socket", socket_arg], &[])
        .expect_code(2)
        .stderr_has(&["No agent answers"]);

    // Something else at the socket's path is left alone.
    std::fs::write(&socket, "not a socket").unwrap();
    sandbox
        .run_env(&["agent", "--foreground", "--socket", socket_arg], &[])
        .expect_code(2)
        .stderr_has(&["is not a socket of yours"]);
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "not a socket");
    // A path a shell would misread is refused before anything is made.
    sandbox
        .run_env(&["agent", "--socket", "/tmp/a b;c/agent.sock"], &[])
        .expect_code(2)
        .stderr_has(&["must be absolute and hold only"]);
}

/// With a refreshable session (oidc-provider, 12 s access tokens), the agent refreshes before
/// callers would find the token due: the store gets the new session with no command running,
/// twenty concurrent `sesame token` calls are answered from memory without a refresh of their
/// own, and after kill -9 the store has the latest session.
#[test]
#[ignore = "needs node and oidc-provider (npm ci in tests/oidc); scripts/test-all.sh runs it"]
fn the_agent_refreshes_ahead_so_no_caller_waits_and_the_store_keeps_up() {
    oidc_support::require_node_fixture();
    let provider = oidc_support::OidcProvider::start(&[("OIDC_ACCESS_TTL", "12")]);
    let proxy = common::Proxy::forward_to(provider.addr);
    let mut sb = oidc_support::Sandbox::new();
    let out = sb.login(
        &provider.issuer,
        "browser",
        &["--token-endpoint", &proxy.at("token")],
        &[],
    );
    assert_eq!(out.code(), Some(0), "{out:?}\n{}", provider.log());
    let socket = sb.path().join("runtime/agent/agent.sock");
    sb.set("SESAME_AUTH_SOCK", socket.to_string_lossy());
    sb.set("SESAME_AGENT_TIMEOUT", "5");
    sb.set("SESAME_REFRESH_SKEW", "3");
    let stored = || sb.session()["token"].as_str().unwrap().to_string();
    let first = stored();
    let mut agent = AgentProc::start(&sb, &socket, &[]);
    assert_eq!(token_via(&sb), (first.clone(), true));

    // Nothing runs; the agent refreshes at about 8 s, before callers (3 s of skew) would.
    let waited = Instant::now();
    while stored() == first {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "no refresh by the agent; {:?}",
            proxy.grants()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(proxy.refreshes(), 1, "{:?}", proxy.grants());
    let second = stored();
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let cmd = sb.command(&["token", "--store", "file"], &[("SESAME_LOG", "debug")]);
            std::thread::spawn(move || run_with_limit(cmd, Duration::from_secs(30)))
        })
        .collect();
    for caller in callers {
        let out = caller.join().unwrap();
        out.expect_code(0).no_panic();
        assert!(
            out.stderr.contains("agent: answered"),
            "answered by the agent: {out:?}"
        );
        assert_ne!(out.stdout.trim_end(), first, "never the old token");
    }
    assert!(
        proxy.refreshes() <= 2,
        "the callers refreshed nothing themselves: {:?}",
        proxy.grants()
    );

    // kill -9: the store holds what the agent last had.
    agent.kill_9();
    let latest = stored();
    assert!(latest == second || proxy.refreshes() == 2);
    let out = sb.run(&["token", "--store", "file"]);
    out.expect_code(0);
    assert_eq!(out.stdout.trim_end(), stored());
}
