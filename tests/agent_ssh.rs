//! The agent forwarded over real OpenSSH: Debian's `openssh-server`, started here on an
//! ephemeral loopback port with a throwaway host key and user key (scripts/test-all.sh installs
//! it). `sesame ssh` forwards its restricted socket; on the "remote" side, `sesame token` runs
//! with another HOME and none of the laptop's environment, and is answered from the laptop.
//! Refusals: a profile not marked `forward`, a password session, a use declined at the
//! terminal, and no terminal to ask on. No refresh or ID token crosses, nothing is written to
//! the remote HOME, and ssh's exit code passes through. Plain `RemoteForward` lines to the
//! agent's own forwarded socket serve a profile with `forward-confirm = false`.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// sshd on a free loopback port, killed on drop.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    user: String,
}

impl Sshd {
    fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "needs Debian's openssh-server (scripts/test-all.sh installs it)"
        );
        // sshd wants its privilege separation directory, which only a service start makes.
        if sesame_login::private_file::effective_uid() == 0 {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        for key in ["host", "user"] {
            let made = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.path().join(key))
                .status()
                .expect("ssh-keygen runs");
            assert!(made.success());
        }
        std::fs::copy(
            dir.path().join("user.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let port = free_port();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile none\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nAllowStreamLocalForwarding yes\n\
                 # Debian's default: LANG and LC_* cross, nothing else.\nAcceptEnv LANG LC_*\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.path().join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd did not listen: {}",
                std::fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        Sshd {
            child,
            port,
            dir,
            user,
        }
    }

    /// ssh's options for this server, and the destination.
    fn args(&self) -> Vec<String> {
        let key = self.dir.path().join("user");
        let mut a: Vec<String> = vec![
            "-F".into(),
            "/dev/null".into(),
            "-p".into(),
            self.port.to_string(),
            "-i".into(),
            key.display().to_string(),
        ];
        for o in [
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "LogLevel=ERROR",
            "BatchMode=yes",
        ] {
            a.push("-o".into());
            a.push(o.into());
        }
        a.push(format!("{}@127.0.0.1", self.user));
        a
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The command run on the SSH host: sesame with another HOME and none of the laptop's
/// environment but what sshd sets (SSH_CONNECTION, and LC_* from `sesame ssh`).
fn remote(home: &Path, sesame_args: &str) -> String {
    format!(
        "env -i PATH=/usr/bin:/bin HOME={} SSH_CONNECTION=\"$SSH_CONNECTION\" LC_SESAME_AUTH_SOCK=\"$LC_SESAME_AUTH_SOCK\" NO_COLOR=1 SESAME_STORE=file {} {sesame_args}",
        home.display(),
        env!("CARGO_BIN_EXE_sesame"),
    )
}

/// A laptop: logged in at `server` as profile default (file store), with profiles `other`
/// (a copy, not forwarded), `oidc` (a crafted OAuth session holding a refresh and an ID token)
/// and `basic` (a password), and the config given.
fn laptop(server: &RefServer, config: &str) -> Sandbox {
    let mut s = Sandbox::new();
    s.set("SESAME_STORE", "file");
    s.login_approved(server);
    let default: Value =
        serde_json::from_str(&std::fs::read_to_string(s.session_file("default")).unwrap()).unwrap();
    let write = |profile: &str, v: &Value| {
        std::fs::write(s.session_file(profile), serde_json::to_vec(v).unwrap()).unwrap();
    };
    let mut other = default.clone();
    other["profile"] = json!("other");
    write("other", &other);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    write(
        "oidc",
        &json!({"version": 1, "profile": "oidc", "server": "https://idp.example.com", "user": "alice",
            "flow": "browser", "token": "oidc-access-token", "expires_at": now + 3600, "obtained_at": now,
            "refresh_token": "rt-never-leaves-the-laptop", "id_token": "id.never.leaves",
            "oauth": {"issuer": "https://idp.example.com", "client_id": "cli",
                      "token_endpoint": "https://idp.example.com/token"}}),
    );
    write(
        "basic",
        &json!({"version": 1, "profile": "basic", "server": "https://api.example.com", "user": "alice",
            "flow": "basic", "token": "a password", "obtained_at": now}),
    );
    s.write_config(config);
    s
}

const FORWARD_ALL: &str = "[profiles.default]\nforward = true\nforward-confirm = false\n\
    [profiles.oidc]\nforward = true\nforward-confirm = false\n\
    [profiles.basic]\nforward = true\nforward-confirm = false\n";

/// `sesame ssh ARGS... REMOTE_COMMAND` from the laptop, with no terminal (`setsid`).
fn sesame_ssh(laptop: &Sandbox, sshd: &Sshd, remote_command: &str) -> Out {
    let mut cmd = Command::new("setsid");
    cmd.arg("-w")
        .arg(env!("CARGO_BIN_EXE_sesame"))
        .arg("ssh")
        .args(sshd.args())
        .arg(remote_command);
    with_env_of(laptop, &mut cmd);
    run_with_limit(cmd, Duration::from_secs(60))
}

/// `cmd` with the laptop's environment and nothing else.
fn with_env_of(laptop: &Sandbox, cmd: &mut Command) {
    let sesame = laptop.sesame();
    cmd.env_clear();
    for (k, v) in sesame.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    if let Some(dir) = sesame.get_current_dir() {
        cmd.current_dir(dir);
    }
}

#[test]
#[ignore = "needs openssh-server (scripts/test-all.sh installs it)"]
fn a_forwarded_profile_is_usable_on_the_ssh_host_and_nothing_else_crosses() {
    let server = RefServer::start();
    let laptop = laptop(&server, FORWARD_ALL);
    let token = laptop.token();
    let sshd = Sshd::start();
    let home = tempfile::tempdir().unwrap();

    // The token, from the laptop.
    let out = sesame_ssh(&laptop, &sshd, &remote(home.path(), "token"));
    out.expect_code(0).no_panic();
    assert_eq!(out.stdout.trim_end(), token, "{out:?}");

    // Only the access token crosses: an OAuth session's refresh and ID tokens stay home.
    let out = sesame_ssh(
        &laptop,
        &sshd,
        &format!(
            "{}; {}",
            remote(home.path(), "token --profile oidc"),
            remote(home.path(), "token --profile oidc --id-token")
        ),
    );
    assert_eq!(
        out.stdout.lines().next(),
        Some("oidc-access-token"),
        "{out:?}"
    );
    assert!(out.stderr.contains("has no ID token"), "{out:?}");
    assert!(
        !out.stdout.contains("never-leaves") && !out.stderr.contains("never"),
        "{out:?}"
    );

    // Refusals, each with its reason on the remote side.
    let out = sesame_ssh(
        &laptop,
        &sshd,
        &remote(home.path(), "token --profile other"),
    );
    out.expect_code(3).stderr_has(&[
        "The agent refused: profile other is not forwarded to SSH hosts",
        "forward = true",
    ]);
    let out = sesame_ssh(
        &laptop,
        &sshd,
        &remote(home.path(), "token --profile basic"),
    );
    out.expect_code(3)
        .stderr_has(&["holds a password credential, not an access token"]);

    // A refresh asks for what stays on the laptop: refused, saying so.
    let out = sesame_ssh(&laptop, &sshd, &remote(home.path(), "refresh"));
    out.expect_code(2)
        .stderr_has(&["its refresh token stays there", "The laptop refreshes it"]);

    // Nothing was written to the remote HOME; ssh's exit code is sesame ssh's.
    let written: Vec<PathBuf> = walk(home.path());
    assert!(written.is_empty(), "{written:?}");
    sesame_ssh(&laptop, &sshd, "exit 7").expect_code(7);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `sesame ssh` on a terminal of its own (tests/agent_support/pty_answer.py), answering
/// `answer` to its question (`-`: never).
fn sesame_ssh_at_terminal(
    laptop: &Sandbox,
    sshd: &Sshd,
    answer: &str,
    remote_command: &str,
) -> Out {
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agent_support/pty_answer.py");
    let mut cmd = Command::new("python3");
    cmd.arg(helper)
        .args(["[y/N]", answer])
        .arg(env!("CARGO_BIN_EXE_sesame"))
        .arg("ssh")
        .args(sshd.args())
        .arg(remote_command);
    with_env_of(laptop, &mut cmd);
    run_with_limit(cmd, Duration::from_secs(90))
}

#[test]
#[ignore = "needs openssh-server (scripts/test-all.sh installs it)"]
fn the_first_use_on_a_connection_waits_for_a_yes_at_the_laptops_terminal() {
    let server = RefServer::start();
    let laptop = laptop(&server, "[profiles.default]\nforward = true\n");
    let token = laptop.token();
    let sshd = Sshd::start();
    let home = tempfile::tempdir().unwrap();
    let twice = format!(
        "{}; {}",
        remote(home.path(), "token"),
        remote(home.path(), "token")
    );

    // Yes: both uses on the connection get the token, and the question came once.
    let out = sesame_ssh_at_terminal(&laptop, &sshd, "y", &twice);
    out.expect_code(0);
    assert_eq!(out.stdout.matches(&token).count(), 2, "{out:?}");
    assert_eq!(
        out.stdout.matches("Allow it for this connection?").count(),
        1,
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("asks for the access token of profile default"),
        "{out:?}"
    );

    // No: refused, and said so on the remote side; asked again on the same connection, the
    // no stands (no second question for a host to wear the person down with).
    let out = sesame_ssh_at_terminal(&laptop, &sshd, "n", &twice);
    assert!(out.stdout.contains("(refused)"), "{out:?}");
    assert_eq!(
        out.stdout
            .matches("was not confirmed on the laptop")
            .count(),
        2,
        "{out:?}"
    );
    assert_eq!(out.stdout.matches("[y/N]").count(), 1, "{out:?}");
    assert!(!out.stdout.contains(&token), "{out:?}");

    // No terminal to ask on (sesame ssh without one): refused too.
    let out = sesame_ssh(&laptop, &sshd, &remote(home.path(), "token"));
    out.expect_code(3)
        .stderr_has(&["was not confirmed on the laptop"]);
}

/// `sesame login` on the SSH host, with nobody logged in on the laptop: after a yes at the
/// laptop's terminal, the login runs there (its browser step on the laptop: here a $BROWSER that
/// approves), and the host gets only the access token; nothing is saved on the host.
#[test]
#[ignore = "needs openssh-server (scripts/test-all.sh installs it)"]
fn a_login_on_the_ssh_host_runs_on_the_laptop() {
    let server = RefServer::start();
    let mut laptop = Sandbox::new();
    laptop.set("SESAME_STORE", "file");
    laptop.set(
        "BROWSER",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/agent_support/approve_browser.py")
            .to_string_lossy(),
    );
    laptop.write_config(&format!(
        "[profiles.default]\nserver = \"{}\"\nuser = \"{USER}\"\nforward = true\n",
        server.url
    ));
    let sshd = Sshd::start();
    let home = tempfile::tempdir().unwrap();
    let out = sesame_ssh_at_terminal(
        &laptop,
        &sshd,
        "y",
        &format!(
            "{}; {}",
            remote(home.path(), "login"),
            remote(home.path(), "token")
        ),
    );
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("asks to log in to profile default here"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("Logged in on the laptop as alice"),
        "{out:?}"
    );
    let token = laptop.token();
    assert!(
        out.stdout.contains(&token),
        "the host got the laptop's token: {out:?}"
    );
    assert_eq!(
        out.stdout.matches("[y/N]").count(),
        1,
        "one question: {out:?}"
    );
    assert!(walk(home.path()).is_empty(), "nothing saved on the host");
}

/// Without `sesame ssh`: a plain `RemoteForward` line to the agent's forwarded socket. A profile
/// with `forward-confirm = false` is served; one that wants confirmation is refused with the
/// way to get it.
#[test]
#[ignore = "needs openssh-server (scripts/test-all.sh installs it)"]
fn plain_remote_forward_lines_reach_the_agents_forwarded_socket() {
    let server = RefServer::start();
    let mut laptop = laptop(
        &server,
        "[profiles.default]\nforward = true\nforward-confirm = false\n[profiles.other]\nforward = true\n",
    );
    let token = laptop.token();
    let socket = laptop.path().join("runtime/sesame/agent.sock");
    let started = laptop.run_env(&["agent", "--socket", socket.to_str().unwrap()], &[]);
    started.expect_code(0);
    laptop.set("SESAME_AUTH_SOCK", socket.to_string_lossy());
    let forward = socket.with_file_name("agent-forward.sock");
    assert!(
        forward.exists(),
        "the agent serves its forwarded socket too"
    );
    let sshd = Sshd::start();
    let home = tempfile::tempdir().unwrap();
    let remote_sock = format!("/tmp/sesame-fwd-plain{}.sock", sshd.port);
    // The socket's name goes along as docs/agent.md shows (sshd passes LC_*), so that this
    // host uses this connection's socket, not another test's.
    let mut cmd = Command::new("ssh");
    cmd.args(sshd.args())
        .arg("-o")
        .arg(format!("RemoteForward={remote_sock} {}", forward.display()))
        .arg("-o")
        .arg(format!("SetEnv=LC_SESAME_AUTH_SOCK={remote_sock}"))
        .arg(format!(
            "{}; {}",
            remote(home.path(), "token"),
            remote(home.path(), "token --profile other")
        ))
        .stdin(Stdio::null());
    let out = run_with_limit(cmd, Duration::from_secs(60));
    assert_eq!(out.stdout.trim_end(), token, "{out:?}");
    assert!(
        out.stderr
            .contains("profile other wants each SSH connection confirmed"),
        "{out:?}"
    );
    let _ = std::fs::remove_file(&remote_sock);
    laptop
        .run_env(
            &["agent", "--stop", "--socket", socket.to_str().unwrap()],
            &[],
        )
        .expect_code(0);
}
