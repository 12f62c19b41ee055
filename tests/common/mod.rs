//! Shared helpers for the integration tests: the reference server in-process, a sandbox that
//! runs the real `sesame` binary with its own HOME and XDG directories and nothing of the host's
//! environment, a handle on a running `sesame login`, approval through the validator API, a
//! small reverse proxy that can fail polls or forward them from another source address, and
//! wiremock stand-ins for misbehaving servers.

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sesame_server::{Config, Running, Server};
use std::convert::Infallible;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use url::Url;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The secret the in-process reference server signs with, so tests can verify its tokens.
pub const JWT_SECRET: &[u8] = b"sesame-integration-tests-0123456789abcdef";

/// The user every test logs in as.
pub const USER: &str = "alice";

/// How long any single command may run before the test gives up on it and kills it.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Async runtime shared by the tests of one binary: servers and proxies run on its workers, and
// the (synchronous) tests `block_on` it for the odd async call.

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
});

pub fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}

/// Runs a task (a fixture server) on the shared runtime.
pub fn spawn<F: Future<Output = ()> + Send + 'static>(f: F) {
    RUNTIME.spawn(f);
}

/// An HTTP client that never goes through a proxy from the host's environment.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client builds")
}

// ---------------------------------------------------------------------------------------------
// The reference server, in-process.

/// The development config the tests start from: loopback, ephemeral port, quiet, our secret.
pub fn dev_config() -> Config {
    Config::dev(JWT_SECRET.to_vec())
}

pub struct RefServer {
    /// What clients use: the public URL when one was configured.
    pub url: Url,
    /// Where it actually listens.
    pub addr: SocketAddr,
    _running: Running,
}

impl RefServer {
    pub fn start() -> RefServer {
        RefServer::with_config(dev_config())
    }

    pub fn with_config(config: Config) -> RefServer {
        block_on(async {
            let server = Server::bind(config)
                .await
                .expect("the reference server binds");
            let addr = server.local_addr();
            let running = server.spawn();
            RefServer {
                url: running.url.clone(),
                addr,
                _running: running,
            }
        })
    }

    /// `http://127.0.0.1:PORT`, without the trailing slash, as it starts the challenge URL.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

// Dropping `Running` drops its stop channel, which shuts the server down in the background.

// ---------------------------------------------------------------------------------------------
// A reverse proxy in front of the reference server.

#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Answer HTTP 503 to this many poller requests before forwarding any.
    pub fail_first_polls: usize,
    /// Forward poller requests from this source address (e.g. 127.0.0.2) so that the server sees
    /// them come from another client than the challenge request.
    pub polls_from: Option<IpAddr>,
}

struct ProxyState {
    target: SocketAddr,
    options: ProxyOptions,
    client: reqwest::Client,
    poll_client: reqwest::Client,
    polls: AtomicUsize,
    requests: AtomicUsize,
    challenges: AtomicUsize,
    /// The `grant_type` of each request's form body, in order ("(none: METHOD PATH)" without).
    grants: Mutex<Vec<String>>,
}

pub struct Proxy {
    pub url: Url,
    state: Arc<ProxyState>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Proxy {
    /// Poller requests seen so far (failed ones included).
    pub fn polls(&self) -> usize {
        self.state.polls.load(Ordering::SeqCst)
    }

    /// All requests seen so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Challenge generator requests seen so far.
    pub fn challenges(&self) -> usize {
        self.state.challenges.load(Ordering::SeqCst)
    }

    /// A counting proxy in front of any HTTP server at `target` (a token endpoint, say).
    pub fn forward_to(target: SocketAddr) -> Proxy {
        block_on(async {
            let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .expect("the proxy binds");
            let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
            start_proxy(listener, url, target, ProxyOptions::default())
        })
    }

    /// The proxy's URL of `path` ("token" gives `http://127.0.0.1:PORT/token`).
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The `grant_type` of every request seen, in order.
    pub fn grants(&self) -> Vec<String> {
        self.state.grants.lock().unwrap().clone()
    }

    /// The refresh-token grants seen so far.
    pub fn refreshes(&self) -> usize {
        self.grants()
            .iter()
            .filter(|g| *g == "refresh_token")
            .count()
    }
}

pub const POLLER_PREFIX: &str = "/noauth/v1/challenge_poller/";

/// Starts the reference server with `ip_check` on and its public URL set to a proxy in front of
/// it, so that the challenge and polling URLs point at the proxy; `tweak` adjusts the rest.
pub fn server_behind_proxy(
    options: ProxyOptions,
    tweak: impl FnOnce(&mut Config),
) -> (RefServer, Proxy) {
    block_on(async {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("the proxy binds");
        let proxy_url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let mut config = dev_config();
        config.ip_check = true;
        config.public_url = Some(proxy_url.clone());
        tweak(&mut config);
        let server = Server::bind(config)
            .await
            .expect("the reference server binds");
        let addr = server.local_addr();
        let running = server.spawn();
        let proxy = start_proxy(listener, proxy_url, addr, options);
        (
            RefServer {
                url: running.url.clone(),
                addr,
                _running: running,
            },
            proxy,
        )
    })
}

fn start_proxy(
    listener: tokio::net::TcpListener,
    url: Url,
    target: SocketAddr,
    options: ProxyOptions,
) -> Proxy {
    let mut poll_client = reqwest::Client::builder().no_proxy();
    if let Some(ip) = options.polls_from {
        poll_client = poll_client.local_address(ip);
    }
    let state = Arc::new(ProxyState {
        target,
        // No kept-alive connections: an upstream that closes idle ones (node, after 5 s) would
        // otherwise turn a request into a 502 that is the proxy's doing.
        client: reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        poll_client: poll_client.build().unwrap(),
        options,
        polls: AtomicUsize::new(0),
        challenges: AtomicUsize::new(0),
        requests: AtomicUsize::new(0),
        grants: Mutex::new(Vec::new()),
    });
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let accept_state = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let state = accept_state.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| forward(state.clone(), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                _ = &mut stopped => break,
            }
        }
    });
    Proxy {
        url,
        state,
        _stop: stop,
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r
}

async fn forward(
    state: Arc<ProxyState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    if req
        .uri()
        .path()
        .starts_with("/noauth/v1/challenge_generator/")
    {
        state.challenges.fetch_add(1, Ordering::SeqCst);
    }
    let is_poll = req.uri().path().starts_with(POLLER_PREFIX);
    if is_poll {
        let n = state.polls.fetch_add(1, Ordering::SeqCst);
        if n < state.options.fail_first_polls {
            return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "try again later\n"));
        }
    }
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
    let target = format!("http://{}{}", state.target, path_and_query);
    let method = req.method().clone();
    let mut headers = req.headers().clone();
    for h in [
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "keep-alive",
    ] {
        headers.remove(h);
    }
    let Ok(body) = req
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
    else {
        return Ok(plain(StatusCode::BAD_REQUEST, "unreadable body\n"));
    };
    let grant = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| format!("(none: {method} {path_and_query})"));
    state.grants.lock().unwrap().push(grant);
    let client = if is_poll {
        &state.poll_client
    } else {
        &state.client
    };
    let Ok(resp) = client
        .request(method, &target)
        .headers(headers)
        .body(body)
        .send()
        .await
    else {
        return Ok(plain(StatusCode::BAD_GATEWAY, "upstream failed\n"));
    };
    let status = resp.status();
    let mut resp_headers = resp.headers().clone();
    for h in [
        "connection",
        "content-length",
        "transfer-encoding",
        "keep-alive",
    ] {
        resp_headers.remove(h);
    }
    let Ok(bytes) = resp.bytes().await else {
        return Ok(plain(StatusCode::BAD_GATEWAY, "upstream body failed\n"));
    };
    let mut out = Response::new(Full::new(bytes));
    *out.status_mut() = status;
    *out.headers_mut() = resp_headers;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Approving and denying through the validator API, as the approval page's buttons would.

/// The validator API URL for a challenge (page) URL.
pub fn validator_api_url(challenge_url: &str) -> String {
    assert!(
        challenge_url.contains("/challenge_validator/"),
        "not a challenge URL: {challenge_url}"
    );
    challenge_url.replacen("/challenge_validator/", "/api/v2/challenge_validator/", 1)
}

async fn decide(challenge_url: &str, action: Option<&str>) -> String {
    let (status, text) = decide_with(challenge_url, action, &[]).await;
    assert_eq!(status, 200, "validator POST for {challenge_url}: {text}");
    text
}

/// Views the challenge through the validator API and decides it, each request carrying
/// `headers` (as an SSO proxy sets them); the status and body of the first refusal, or of the
/// decision.
async fn decide_with(
    challenge_url: &str,
    action: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let api = validator_api_url(challenge_url);
    let client = http();
    let with_headers = |mut req: reqwest::RequestBuilder| {
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    };
    let resp = with_headers(client.get(&api))
        .send()
        .await
        .expect("validator GET");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if status != 200 {
        return (status, text);
    }
    let view: Value = serde_json::from_str(&text).expect("validator view is JSON");
    assert_eq!(view["show_approve_button"], true, "first view: {view}");
    let nonce = view["nonce"]
        .as_str()
        .expect("first view has a nonce")
        .to_string();
    let mut body = json!({ "nonce": nonce });
    if let Some(a) = action {
        body["action"] = json!(a);
    }
    let resp = with_headers(client.post(&api))
        .json(&body)
        .send()
        .await
        .expect("validator POST");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Approves the challenge; returns the server's message.
pub fn approve(challenge_url: &str) -> String {
    block_on(decide(challenge_url, None))
}

/// Approves the challenge with `headers` on each request, as an SSO proxy in front of the
/// server would set them; the status and body of the refusal or the approval.
pub fn approve_with(challenge_url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    block_on(decide_with(challenge_url, None, headers))
}

/// Denies the challenge; returns the server's message.
pub fn deny(challenge_url: &str) -> String {
    block_on(decide(challenge_url, Some("deny")))
}

// ---------------------------------------------------------------------------------------------
// Running the binary.

/// What a finished command left behind.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Asserts the exit code, showing everything the command printed when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "unexpected exit status {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.elapsed,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts that stderr contains every one of `needles`.
    #[track_caller]
    pub fn stderr_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}\n--- stderr ---\n{}",
                self.stderr
            );
        }
        self
    }

    /// Asserts that nothing panicked in the process.
    #[track_caller]
    pub fn no_panic(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked"),
            "the process panicked:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn faster_than(&self, limit: Duration) -> &Self {
        assert!(
            self.elapsed < limit,
            "took {:?}, expected under {limit:?}\n--- stderr ---\n{}",
            self.elapsed,
            self.stderr
        );
        self
    }
}

/// Waits for `child` (whose stdout/stderr readers are given) with a limit; kills it past that.
fn wait_child(
    child: &mut Child,
    started: Instant,
    limit: Duration,
    stdout: JoinHandle<String>,
    stderr: impl FnOnce() -> String,
) -> Out {
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the command did not finish within {limit:?}; stderr so far:\n{}",
                stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let stdout = stdout.join().expect("stdout reader");
    Out {
        status,
        stdout,
        stderr: stderr(),
        elapsed,
    }
}

/// Runs `cmd` with no stdin to completion, killing it (and failing the test) after `limit`.
/// Runs `cmd` to completion (within [`COMMAND_LIMIT`]) with `stdin` as its input, if any.
pub fn run_with_stdin(mut cmd: Command, stdin: Option<&str>) -> Out {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the command starts");
    if let Some(text) = stdin {
        let mut w = child.stdin.take().unwrap();
        w.write_all(text.as_bytes()).expect("write stdin");
        drop(w);
    }
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    wait_child(&mut child, started, COMMAND_LIMIT, stdout, move || {
        stderr.join().unwrap_or_default()
    })
}

pub fn run_with_limit(mut cmd: Command, limit: Duration) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the command starts");
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    wait_child(&mut child, started, limit, stdout, move || {
        stderr.join().unwrap_or_default()
    })
}

fn read_all(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// A temporary `HOME`, `XDG_CONFIG_HOME` and `XDG_DATA_HOME`, and a way to run `sesame` in them with
/// none of the host's environment (no SESAME_*, BROWSER, DISPLAY, proxies, D-Bus...).
pub struct Sandbox {
    dir: tempfile::TempDir,
    pub home: PathBuf,
    pub config_home: PathBuf,
    pub data_home: PathBuf,
    /// Variables every later run gets (after the sandbox's own), set with [`Sandbox::set`].
    env: Vec<(String, String)>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let home = dir.path().join("home");
        let config_home = dir.path().join("config");
        let data_home = dir.path().join("data");
        let mut env = Vec::new();
        for (var, sub) in [
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_RUNTIME_DIR", "runtime"),
            ("TMPDIR", "tmp"),
        ] {
            let d = dir.path().join(sub);
            std::fs::create_dir_all(&d).unwrap();
            env.push((var.to_string(), d.to_string_lossy().into_owned()));
        }
        for d in [&home, &config_home, &data_home] {
            std::fs::create_dir_all(d).unwrap();
        }
        Sandbox {
            dir,
            home,
            config_home,
            data_home,
            env,
        }
    }

    /// Sets (or replaces) a variable for every later run.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.into()));
    }

    /// `sesame ARGS` with the sandbox's environment and `extra_env`, not started.
    pub fn command(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Command {
        let mut cmd = self.sesame();
        cmd.args(args);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `sesame ARGS` (exactly those: no `--store file` added) to completion.
    pub fn run_env(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Out {
        run_with_limit(self.command(args, extra_env), COMMAND_LIMIT)
    }

    /// `sesame` with a clean environment pointing at this sandbox. Nothing else is inherited.
    pub fn sesame(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sesame"));
        cmd.env_clear()
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.config_home)
            .env("XDG_DATA_HOME", &self.data_home)
            .env("NO_COLOR", "1")
            .current_dir(&self.home);
        if let Some(p) = std::env::var_os("PATH") {
            cmd.env("PATH", p);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Writes the config file (`$XDG_CONFIG_HOME/sesame/config.toml`).
    pub fn write_config(&self, text: &str) {
        let dir = self.config_home.join("sesame");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
    }

    /// Every file under the sandbox, read as text (lossily): for checking that a secret
    /// was written nowhere.
    pub fn all_files_text(&self) -> String {
        fn walk(dir: &std::path::Path, out: &mut String) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if let Ok(bytes) = std::fs::read(&p) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                    out.push('\n');
                }
            }
        }
        let mut out = String::new();
        walk(self.dir.path(), &mut out);
        out
    }

    /// `bash -c SCRIPT` with the sandbox's environment, `sesame` first on PATH and the file
    /// store chosen (`SESAME_STORE=file`): for pipelines with real programs (curl, git, kubectl).
    pub fn shell(&self, script: &str) -> Command {
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_sesame"))
            .parent()
            .unwrap()
            .to_path_buf();
        let mut path = std::ffi::OsString::from(bin);
        if let Some(p) = std::env::var_os("PATH") {
            path.push(":");
            path.push(p);
        }
        let mut cmd = Command::new("bash");
        cmd.args(["-c", script])
            .env_clear()
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.config_home)
            .env("XDG_DATA_HOME", &self.data_home)
            .env("NO_COLOR", "1")
            .env("SESAME_STORE", "file")
            .env("PATH", path)
            .current_dir(&self.home);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Where `--store file` keeps the sessions.
    pub fn sessions_dir(&self) -> PathBuf {
        self.data_home.join("sesame").join("sessions")
    }

    pub fn session_file(&self, profile: &str) -> PathBuf {
        self.sessions_dir().join(format!("{profile}.json"))
    }

    /// Runs `sesame ARGS --store file` with no stdin.
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_full(args, &[], None)
    }

    /// Runs `sesame ARGS --store file` with extra environment and, optionally, text on stdin.
    pub fn run_full(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Out {
        let mut cmd = self.sesame();
        cmd.args(args).args(["--store", "file"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_with_stdin(cmd, stdin)
    }

    /// Runs `sesame ARGS` exactly (nothing appended), with optional stdin.
    pub fn run_full_args(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = self.sesame();
        cmd.args(args);
        run_with_stdin(cmd, stdin)
    }

    /// Starts `sesame login --store file --no-browser --user alice --server SERVER EXTRA...`.
    pub fn spawn_login(&self, server: &str, extra: &[&str]) -> Login {
        self.spawn_login_with(self.sesame(), server, extra)
    }

    /// As [`spawn_login`](Self::spawn_login), from a command with extra environment.
    pub fn spawn_login_with(&self, cmd: Command, server: &str, extra: &[&str]) -> Login {
        let mut args = vec!["--no-browser"];
        args.extend_from_slice(extra);
        self.spawn_login_opening(cmd, server, &args)
    }

    /// As [`spawn_login_with`](Self::spawn_login_with) but without `--no-browser`: `cmd` sets
    /// `BROWSER` to what should "open" the approval URL.
    pub fn spawn_login_opening(&self, mut cmd: Command, server: &str, extra: &[&str]) -> Login {
        cmd.args([
            "login", "--store", "file", "--user", USER, "--server", server,
        ])
        .args(extra);
        Sandbox::spawn_watching(cmd)
    }

    /// Starts `cmd` (a sesame command that may log in) and watches its stderr for the challenge
    /// URL.
    pub fn spawn_watching(mut cmd: Command) -> Login {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().expect("sesame login starts");
        let stdout = read_all(child.stdout.take().unwrap());
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let (tx, url_rx) = mpsc::channel();
        let stderr_thread = {
            let pipe = child.stderr.take().unwrap();
            let text = stderr_text.clone();
            std::thread::spawn(move || {
                let mut sent = false;
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if !sent && is_challenge_url_line(&line) {
                        sent = true;
                        let _ = tx.send(line.clone());
                    }
                    let mut t = text.lock().unwrap();
                    t.push_str(&line);
                    t.push('\n');
                }
            })
        };
        Login {
            child: Some(child),
            started,
            url_rx,
            stdout: Some(stdout),
            stderr_thread: Some(stderr_thread),
            stderr_text,
        }
    }

    /// Runs a login to the end without anyone approving (for servers that answer by themselves).
    pub fn login(&self, server: &str, extra: &[&str]) -> Out {
        self.spawn_login(server, extra).finish()
    }

    /// Logs in against `server` and approves through the API; returns the finished login.
    pub fn login_approved(&self, server: &RefServer) -> Out {
        let login = self.spawn_login(server.url.as_str(), &["--timeout", "30"]);
        let url = login.challenge_url();
        approve(&url);
        let out = login.finish();
        out.expect_code(0);
        out
    }

    /// `sesame token`'s stdout (trimmed), asserting success.
    #[track_caller]
    pub fn token(&self) -> String {
        let out = self.run(&["token"]);
        out.expect_code(0);
        out.stdout.trim_end().to_string()
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// A line of stderr that is nothing but a challenge URL.
pub fn is_challenge_url_line(line: &str) -> bool {
    (line.starts_with("http://") || line.starts_with("https://"))
        && line.contains("/challenge_validator/")
        && !line.contains(char::is_whitespace)
}

/// A `sesame login` in progress.
pub struct Login {
    child: Option<Child>,
    started: Instant,
    url_rx: mpsc::Receiver<String>,
    stdout: Option<JoinHandle<String>>,
    stderr_thread: Option<JoinHandle<()>>,
    stderr_text: Arc<Mutex<String>>,
}

impl Login {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr_text.lock().unwrap().clone()
    }

    /// The challenge URL the login printed on a line of its own; panics (with the stderr so far)
    /// if it does not within 20 s or the process ends first.
    pub fn challenge_url(&self) -> String {
        match self.url_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(u) => u,
            Err(e) => panic!(
                "no challenge URL on stderr ({e:?}); stderr so far:\n{}",
                self.stderr_so_far()
            ),
        }
    }

    pub fn finish(self) -> Out {
        self.finish_within(COMMAND_LIMIT)
    }

    pub fn finish_within(mut self, limit: Duration) -> Out {
        let mut child = self.child.take().unwrap();
        let stdout = self.stdout.take().unwrap();
        let reader = self.stderr_thread.take().unwrap();
        let text = self.stderr_text.clone();
        let mut reader = Some(reader);
        wait_child(&mut child, self.started, limit, stdout, move || {
            if let Some(r) = reader.take() {
                // The pipe closes when the process is gone; the reader then ends.
                let _ = r.join();
            }
            text.lock().unwrap().clone()
        })
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens and ports.

/// A JWT-shaped token with these claims (unsigned: sesame reads, never verifies, what it stores).
pub fn fake_jwt(claims: Value) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The claims of a JWT, read without verification.
pub fn jwt_claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// The JSON of a JWT's header (part 0) or payload (part 1); panics unless `token` is a
/// three-part compact JWS with JSON in both.
pub fn jwt_part(token: &str, part: usize) -> Value {
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWT: {token:?}");
    let bytes = URL_SAFE_NO_PAD
        .decode(parts[part])
        .unwrap_or_else(|e| panic!("JWT part {part} is not base64url ({e}): {token:?}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT part {part} is not JSON ({e})"))
}

/// tests/oidc: the node providers (oidc-provider, oauth2-mock-server) and the scripts around
/// them.
pub fn oidc_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// A loopback URL nothing listens on (a port bound and released at once).
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

// ---------------------------------------------------------------------------------------------
// Misbehaving servers.

pub const MOCK_TOKEN: &str = "mocktoken0123456789abcdefghijklmnopqrstuv";

/// A wiremock server whose generator hands out a challenge on its own origin and whose poller
/// answers `poll` to every request.
pub fn mock_server(poll: ResponseTemplate) -> MockServer {
    block_on(async {
        let server = MockServer::start().await;
        mount_generator(&server, &server.uri()).await;
        Mock::given(method("GET"))
            .and(path(format!("{POLLER_PREFIX}{MOCK_TOKEN}")))
            .respond_with(poll)
            .mount(&server)
            .await;
        server
    })
}

/// Mounts a generator on `server` whose polling URL lives under `polling_origin`.
pub async fn mount_generator(server: &MockServer, polling_origin: &str) {
    Mock::given(method("GET"))
        .and(path_regex("^/noauth/v1/challenge_generator/[^/]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "challenge_url": format!("{}/challenge_validator/{MOCK_TOKEN}", server.uri()),
            "polling_url": format!("{polling_origin}{POLLER_PREFIX}{MOCK_TOKEN}"),
        })))
        .mount(server)
        .await;
}

/// A poll reply with this JSON body.
pub fn poll_json(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// How many requests `server` received whose path starts with `prefix`.
pub fn requests_to(server: &MockServer, prefix: &str) -> usize {
    block_on(server.received_requests())
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().starts_with(prefix))
        .count()
}

/// Presses a button on the server-rendered approval page as a browser does: GET the page, POST
/// its form with the nonce and `decision` (approve or deny). Redirects are followed or not as
/// `client` is configured.
pub async fn press_button(
    client: &reqwest::Client,
    challenge_url: &str,
    decision: &str,
) -> reqwest::Response {
    let page = client
        .get(challenge_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let nonce = page
        .split("name=\"nonce\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the approval page carries a nonce")
        .to_string();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("nonce", &nonce)
        .append_pair("decision", decision)
        .finish();
    client
        .post(challenge_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A private CA in `dir` and a server certificate for 127.0.0.1 signed by it (openssl):
/// `(ca.pem, leaf.pem, leaf.key)`.
pub fn private_ca(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let script = format!(
        "set -e; cd {d}; \
         openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=sesame-test-ca -keyout ca.key -out ca.pem 2>/dev/null; \
         openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout leaf.key -out leaf.csr 2>/dev/null; \
         printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > leaf.ext; \
         openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out leaf.pem -extfile leaf.ext 2>/dev/null",
        d = dir.display()
    );
    let ok = Command::new("bash").args(["-c", &script]).status().unwrap();
    assert!(ok.success(), "openssl made the CA");
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}
