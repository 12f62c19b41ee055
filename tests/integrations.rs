//! The session used by the programs people run, with the real programs: curl reading
//! `sesame header` from a file, `sesame exec` handing the token to a child, git cloning through
//! `sesame credential git`, and kubectl calling `sesame credential kubectl` as its exec plugin.
//! The servers accept only the session's token: sesame's reference server (its user profile
//! endpoint checks the cookie), and stand-ins for a git HTTP server and a Kubernetes API server
//! (tests/integrations/auth_server.py), since neither real one can be started in a test.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A stand-in server from tests/integrations/auth_server.py, killed on drop.
struct StandIn {
    child: Child,
    url: String,
}

impl StandIn {
    fn start(args: &[&str], token: &str) -> StandIn {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integrations/auth_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .env("EXPECTED_TOKEN", token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: Value = serde_json::from_str(&line).expect("the stand-in prints its URL");
        StandIn {
            child,
            url: v["url"].as_str().unwrap().to_string(),
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn out_of(cmd: Command) -> Out {
    run_with_limit(cmd, Duration::from_secs(60))
}

/// A sandbox logged in to a fresh reference server, and the session's token.
fn logged_in() -> (RefServer, Sandbox, String) {
    let server = RefServer::start();
    let s = Sandbox::new();
    s.login_approved(&server);
    let token = s.token();
    (server, s, token)
}

#[test]
fn curl_reads_the_header_from_a_file_and_the_server_accepts_it() {
    let (server, s, token) = logged_in();
    let header = s.run(&["header"]);
    header.expect_code(0);
    assert_eq!(header.stdout, format!("Cookie: consoleme_auth={token}\n"));
    let out = out_of(s.shell(&format!(
        "curl -sS --fail-with-body -H @<(sesame header) {}api/v2/user_profile",
        server.url
    )));
    out.expect_code(0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["user"], USER);
    // Without the header, the same request is refused.
    let out = out_of(s.shell(&format!(
        "curl -sS --fail {}api/v2/user_profile",
        server.url
    )));
    assert_ne!(out.code(), Some(0));

    // A session presented as a query parameter has no header: a usage error that says why.
    s.run_full(
        &[
            "login",
            "--with-token",
            "--use-as",
            "query:sesskey",
            "--profile",
            "q",
        ],
        &[],
        Some("abc\n"),
    )
    .expect_code(0);
    s.run(&["header", "--profile", "q"])
        .expect_code(2)
        .stderr_has(&["query parameter sesskey", "header cannot carry"]);
    // No session: exit 3 with the hint.
    s.run(&["header", "--profile", "none"])
        .expect_code(3)
        .stderr_has(&["sesame login"]);
}

#[test]
fn exec_hands_the_token_to_the_child_and_passes_its_exit_status_on() {
    let (_server, mut s, token) = logged_in();
    // `run` appends `--store file`, which after `--` would be the command's; the env says it.
    s.set("SESAME_STORE", "file");
    let run = |args: &[&str]| s.run_env(args, &[]);
    let out = run(&["exec", "--", "sh", "-c", "printf %s \"$SESAME_TOKEN\""]);
    out.expect_code(0);
    assert_eq!(out.stdout, token);
    assert_eq!(out.stderr, "", "nothing of sesame's own on success");
    let out = run(&[
        "exec",
        "--env",
        "API_TOKEN",
        "--",
        "sh",
        "-c",
        "printf %s \"$API_TOKEN\"; exit 7",
    ]);
    out.expect_code(7);
    assert_eq!(out.stdout, token);
    // Arguments that look like sesame's own flags belong to the command.
    let out = run(&["exec", "--", "printf", "%s", "--profile"]);
    out.expect_code(0);
    assert_eq!(out.stdout, "--profile");

    // No session: exit 3, and the command does not run.
    let marker = s.home.join("ran");
    let out = run(&[
        "exec",
        "--profile",
        "none",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    out.expect_code(3)
        .stderr_has(&["Not logged in", "sesame login"]);
    assert!(!marker.exists());
    run(&["exec", "--", "no-such-command-sesame"])
        .expect_code(127)
        .stderr_has(&["Could not run no-such-command-sesame: not found"]);
    run(&["exec", "--env", "1BAD", "--", "true"]).expect_code(2);
}

/// sesame becomes the command (execve): a SIGTERM sent to the PID it started with reaches
/// the command itself.
#[cfg(unix)]
#[test]
fn exec_becomes_the_command_so_signals_reach_it() {
    use std::os::unix::process::ExitStatusExt;
    let (_server, s, _token) = logged_in();
    let mut child = s
        .sesame()
        .args(["exec", "--store", "file", "--", "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = std::time::Instant::now();
    loop {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.starts_with(b"sleep\0") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never became sleep"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe_kill(pid, "TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(15), "{status:?}");
}

#[cfg(unix)]
fn unsafe_kill(pid: u32, signal: &str) {
    Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn git_clones_through_the_credential_helper() {
    let (_server, s, token) = logged_in();
    // A bare repository with one commit, served over git's dumb HTTP protocol.
    let work = s.home.join("src");
    let bare = s.home.join("served/repo.git");
    let setup = format!(
        "set -e; git init -q -b main {w}; cd {w}; git -c user.name=t -c user.email=t@e commit -q --allow-empty -m first; \
         git clone -q --bare {w} {b}; cd {b}; git update-server-info",
        w = work.display(),
        b = bare.display()
    );
    out_of(s.shell(&setup)).expect_code(0);
    let served = StandIn::start(&["git", s.home.join("served").to_str().unwrap()], &token);

    let clone = |helper: &str, dest: &str| {
        out_of(s.shell(&format!(
            "GIT_TERMINAL_PROMPT=0 git -c credential.helper= -c credential.helper='{helper}' clone -q {}/repo.git {dest}",
            served.url
        )))
    };
    // Without the helper git has no credential and the server refuses it.
    assert_ne!(clone("", "without").code(), Some(0));
    let out = clone("!sesame credential git", "with");
    out.expect_code(0);
    let log = out_of(s.shell("git -C with log --format=%s"));
    assert_eq!(log.stdout.trim(), "first");

    // The helper protocol itself: get answers, store and erase do nothing.
    let answer = s.run_full(
        &["credential", "git", "get"],
        &[],
        Some("protocol=https\nhost=git.example.com\n\n"),
    );
    answer.expect_code(0);
    assert!(
        answer.stdout.contains(&format!("password={token}\n")),
        "{}",
        answer.stdout
    );
    assert!(answer.stdout.starts_with(&format!("username={USER}\n")));
    assert!(answer.stdout.contains("password_expiry_utc="));
    for action in ["store", "erase"] {
        let out = s.run_full(
            &["credential", "git", action],
            &[],
            Some("protocol=https\nhost=h\npassword=x\n\n"),
        );
        out.expect_code(0);
        assert_eq!(out.stdout, "");
    }
    // Plain http to another host: no token, a warning, and git may ask elsewhere.
    let out = s.run_full(
        &["credential", "git", "get"],
        &[],
        Some("protocol=http\nhost=git.example.com\n\n"),
    );
    out.expect_code(0).stderr_has(&["unencrypted"]);
    assert_eq!(out.stdout, "");
}

/// A kubeconfig whose user runs `sesame credential kubectl` (with the sandbox's environment).
fn kubeconfig(s: &Sandbox, server: &str, ca: &Path, api_version: &str) -> std::path::PathBuf {
    let bin = env!("CARGO_BIN_EXE_sesame");
    let path = s.home.join("kubeconfig");
    let text = format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: standin
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: sso
  user:
    exec:
      apiVersion: {api_version}
      command: {bin}
      args: ["credential", "kubectl", "--store", "file"]
      interactiveMode: IfAvailable
      provideClusterInfo: false
      env:
      - name: HOME
        value: {home}
      - name: XDG_CONFIG_HOME
        value: {config}
      - name: XDG_DATA_HOME
        value: {data}
contexts:
- name: standin
  context:
    cluster: standin
    user: sso
current-context: standin
"#,
        ca = ca.display(),
        home = s.home.display(),
        config = s.config_home.display(),
        data = s.data_home.display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `kubectl --kubeconfig CONFIG get --raw PATH`, with no terminal (so not interactive).
fn kubectl_get_raw(config: &Path, path: &str) -> Out {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(config)
        .args(["get", "--raw", path])
        .stdin(Stdio::null());
    out_of(cmd)
}

fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(ok.success());
    (cert, key)
}

#[test]
fn kubectl_uses_sesame_as_its_exec_credential_plugin() {
    let (_server, s, token) = logged_in();
    let (cert, key) = self_signed(&s.home);
    let api = StandIn::start(
        &["kube", cert.to_str().unwrap(), key.to_str().unwrap()],
        &token,
    );
    for version in [
        "client.authentication.k8s.io/v1",
        "client.authentication.k8s.io/v1beta1",
    ] {
        let config = kubeconfig(&s, &api.url, &cert, version);
        let out = kubectl_get_raw(&config, "/api/v1/namespaces/default/pods");
        out.expect_code(0);
        assert!(
            out.stdout.contains("stand-in API server: authenticated"),
            "{}",
            out.stdout
        );
    }

    // What kubectl reads from the plugin.
    let out = s.run_env(
        &["credential", "kubectl", "--store", "file"],
        &[("KUBERNETES_EXEC_INFO", r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#)],
    );
    out.expect_code(0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["kind"], "ExecCredential");
    assert_eq!(v["status"]["token"], token.as_str());
    assert!(
        v["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // Logged out and not interactive: kubectl shows sesame's message and fails.
    s.run(&["logout"]).expect_code(0);
    let config = kubeconfig(&s, &api.url, &cert, "client.authentication.k8s.io/v1");
    let out = kubectl_get_raw(&config, "/api");
    assert_ne!(out.code(), Some(0));
    assert!(
        out.stderr.contains("not running interactively"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("sesame login"), "{}", out.stderr);
}

/// Ten kubectl calls at once with no session, interactive: they log in through the one pending
/// login of the profile, so one challenge is requested and one approval serves them all.
#[test]
fn interactive_kubectl_calls_share_one_login() {
    let (_server, proxy) = server_behind_proxy(ProxyOptions::default(), |c| c.ip_check = false);
    let s = Sandbox::new();
    s.write_config(&format!(
        "[profiles.default]\nserver = \"{}\"\nuser = \"{USER}\"\nno-browser = true\ntimeout = 30\n",
        proxy.url
    ));
    let info = r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":true}}"#;
    let calls: Vec<Login> = (0..10)
        .map(|_| {
            let mut cmd = s.command(
                &["credential", "kubectl", "--store", "file"],
                &[("KUBERNETES_EXEC_INFO", info)],
            );
            cmd.env("SESAME_NO_BROWSER", "1");
            Sandbox::spawn_watching(cmd)
        })
        .collect();
    let url = calls[0].challenge_url();
    for c in &calls[1..] {
        assert_eq!(
            c.challenge_url(),
            url,
            "every call shows the one login's URL"
        );
    }
    approve(&url);
    let mut tokens = std::collections::HashSet::new();
    for c in calls {
        let out = c.finish();
        out.expect_code(0).no_panic();
        let v: Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
        assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1beta1");
        tokens.insert(v["status"]["token"].as_str().unwrap().to_string());
    }
    assert_eq!(tokens.len(), 1);
    assert_eq!(proxy.challenges(), 1, "one challenge for ten kubectl calls");
}

/// `sesame completions bash` loaded into a real bash completes sesame's subcommands and
/// flags; the other shells' scripts and the man page are generated.
#[test]
fn shell_completions_work_in_bash_and_the_man_page_is_roff() {
    let s = Sandbox::new();
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let script = format!(
            "source <(sesame completions bash); COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; _sesame sesame '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words.join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let out = out_of(s.shell(&script));
        out.expect_code(0);
        out.stdout
    };
    let subcommands = complete("sesame cre");
    assert_eq!(subcommands.trim(), "credential");
    let helpers = complete("sesame credential ");
    assert!(
        helpers.contains("kubectl") && helpers.contains("git"),
        "{helpers}"
    );
    let flags = complete("sesame login --pass");
    assert!(flags.contains("--password-stdin"), "{flags}");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = s.run_env(&["completions", shell], &[]);
        out.expect_code(0);
        assert!(out.stdout.contains("credential"), "{shell}");
    }
    let man = s.run_env(&["man"], &[]);
    man.expect_code(0);
    assert!(
        man.stdout.contains(".TH sesame 1"),
        "{}",
        &man.stdout[..200]
    );
    assert!(man.stdout.contains("credential"));

    // One page per command, as packages install them; `man` itself finds and reads them.
    let pages = s.home.join("man/man1");
    std::fs::create_dir_all(&pages).unwrap();
    s.run_env(&["man", "--dir", pages.to_str().unwrap()], &[])
        .expect_code(0);
    for page in ["sesame.1", "sesame-login.1", "sesame-credential-kubectl.1"] {
        assert!(pages.join(page).is_file(), "{page} missing");
    }
    let shown = out_of(s.shell(&format!(
        "MANPATH={} MANWIDTH=80 man sesame-login 2>/dev/null | col -b",
        s.home.join("man").display()
    )));
    shown.expect_code(0);
    assert!(shown.stdout.contains("--no-browser"), "{}", shown.stdout);
    let missing = s.run_env(
        &["man", "--dir", s.home.join("nowhere").to_str().unwrap()],
        &[],
    );
    missing.expect_code(1);
    assert!(
        missing.stderr.contains("Could not write the man pages"),
        "{}",
        missing.stderr
    );
}

/// [`private_ca`] in the sandbox's `pki` directory.
fn sandbox_ca(s: &Sandbox) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = s.home.join("pki");
    std::fs::create_dir_all(&dir).unwrap();
    private_ca(&dir)
}

/// The reference server behind a TLS front whose certificate comes from a private CA, as in a
/// company that runs its own: refused without `--ca-cert` (the error names the flag), and
/// logged in to with it (and with `SESAME_CA_CERT`).
#[test]
fn a_private_ca_is_trusted_with_ca_cert_and_refused_without() {
    use std::io::Write;
    let s = Sandbox::new();
    let (ca, cert, key) = sandbox_ca(&s);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integrations/auth_server.py");
    let mut relay = Command::new("python3")
        .arg(script)
        .args(["tls", cert.to_str().unwrap(), key.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(relay.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let front = serde_json::from_str::<Value>(&line).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let mut config = dev_config();
    config.public_url = Some(url::Url::parse(&front).unwrap());
    let server = RefServer::with_config(config);
    let mut relay_in = relay.stdin.take().unwrap();
    writeln!(relay_in, "{}", server.addr).unwrap();
    relay_in.flush().unwrap();

    let out = s.login(&front, &["--timeout", "5"]);
    out.expect_code(1)
        .no_panic()
        .stderr_has(&["--ca-cert", "SESAME_CA_CERT"]);

    let backend = format!("http://{}", server.addr);
    // --ca-cert, SESAME_CA_CERT, and SSL_CERT_FILE (read by the system's certificate loader on
    // Linux, where it replaces the system's roots) each make the private CA trusted.
    let ca_text = ca.to_str().unwrap();
    for (env, flag) in [
        (None, Some(ca_text)),
        (Some("SESAME_CA_CERT"), None),
        (Some("SSL_CERT_FILE"), None),
    ] {
        let mut cmd = s.sesame();
        if let Some(var) = env {
            cmd.env(var, &ca);
        }
        let mut extra = vec!["--timeout", "30"];
        if let Some(path) = flag {
            extra.extend(["--ca-cert", path]);
        }
        let login = s.spawn_login_with(cmd, &front, &extra);
        let url = login.challenge_url();
        assert!(url.starts_with(&front), "{url}");
        approve(&url.replacen(&front, &backend, 1));
        login.finish().expect_code(0).no_panic();
    }
    let bad = s.home.join("not-a-cert.pem");
    std::fs::write(&bad, "hello").unwrap();
    s.login(
        &front,
        &["--ca-cert", bad.to_str().unwrap(), "--timeout", "5"],
    )
    .expect_code(2)
    .stderr_has(&["--ca-cert", "no PEM certificate"]);
    drop(relay_in);
    let _ = relay.kill();
    let _ = relay.wait();
}
