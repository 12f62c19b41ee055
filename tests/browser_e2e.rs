//! Real-browser end-to-end tests: `sesame login` against the reference server, approved or
//! denied by headless Chromium driven over WebDriver (chromedriver + fantoccini).
//!
//! `$BROWSER` is a tiny script that writes the approval URL to a file; the test, which owns the
//! WebDriver session, sends the browser there, checks the verification code, presses a button
//! and follows the browser to the loopback callback page.
//!
//! The tests are `#[ignore]`d: plain `cargo test` lists them as ignored, and
//! `scripts/test-all.sh` runs them (`--include-ignored`), failing if Chromium or chromedriver is
//! missing. `SESAME_CHROMIUM` and `SESAME_CHROMEDRIVER` name
//! the binaries if they are not on `PATH`. With `SESAME_UPDATE_SCREENSHOTS=1` the approve test
//! refreshes `docs/images/approval-page.png` and `docs/images/callback-page.png`; otherwise its
//! screenshots go to the target directory, so a test run never dirties the work tree.

use fantoccini::wd::{Capabilities, TimeoutConfiguration};
use fantoccini::{Client, ClientBuilder, Locator};
use sesame_server::{Config, Running, Server};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The bound on every wait: generous for a loaded machine, finite so a hang fails.
const WAIT: Duration = Duration::from_secs(30);
const SESAME: &str = env!("CARGO_BIN_EXE_sesame");

/// One browser at a time: three Chromiums at once on a small CI machine invite timeouts.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `$BROWSER` for sesame: hands the URL to the test (written whole, then renamed into place).
const OPEN_SCRIPT: &str = "#!/bin/sh\n\
# sesame's $BROWSER in the browser e2e tests: hand the URL to the test driving Chromium.\n\
printf '%s\\n' \"$1\" > \"$E2E_URL_FILE.tmp\" && mv \"$E2E_URL_FILE.tmp\" \"$E2E_URL_FILE\"\n";

// ---------------------------------------------------------------------------------------------
// Finding the browser

struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn find_tool(var: &str, names: &[&str]) -> Option<PathBuf> {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => on_path(names),
    }
}

/// The browser and driver, or `None` after saying loudly that the test is skipped.
fn tools() -> Tools {
    let chromium = find_tool(
        "SESAME_CHROMIUM",
        &[
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ],
    );
    let chromedriver = find_tool("SESAME_CHROMEDRIVER", &["chromedriver"]);
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Tools {
            chromium,
            chromedriver,
        },
        (chromium, driver) => panic!(
            "the browser tests need chromium ({}) and chromedriver ({}): apt-get install chromium chromium-driver, or run scripts/test-all.sh",
            if chromium.is_some() {
                "found"
            } else {
                "missing"
            },
            if driver.is_some() { "found" } else { "missing" },
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Processes that are killed however the test ends

/// A child process killed (with its whole process group, for chromedriver and the Chromium it
/// starts) and reaped on drop, so a failing assertion leaves nothing running.
struct Reaped {
    child: Child,
    group: bool,
}

impl Reaped {
    fn id(&self) -> u32 {
        self.child.id()
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// The exit status, waiting at most [`WAIT`].
    async fn exit_status(&mut self) -> ExitStatus {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.try_wait() {
                return s;
            }
            assert!(
                Instant::now() < end,
                "process {} still running after {WAIT:?}",
                self.id()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() || self.group {
            if self.group {
                // The group's leader is our child, so its id is the group id.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", self.child.id())])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The browser

struct Browser {
    client: Option<Client>,
    _driver: Reaped,
    log: PathBuf,
}

impl Browser {
    async fn start(tools: &Tools, dir: &Path) -> Browser {
        let profile = dir.join("chromium-profile");
        std::fs::create_dir_all(&profile).unwrap();
        let log = dir.join("chromedriver.log");
        let port = free_port();
        let mut cmd = Command::new(&tools.chromedriver);
        cmd.arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let driver = Reaped {
            child: cmd.spawn().expect("start chromedriver"),
            group: true,
        };
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let status = format!("{url}/status");
        let end = Instant::now() + WAIT;
        loop {
            if http
                .get(&status)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(
                Instant::now() < end,
                "chromedriver did not come up on {url}; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut caps = Capabilities::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": tools.chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    "--disable-dev-shm-usage", "--disable-crash-reporter", "--disable-breakpad",
                    "--window-size=900,860",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("rustls connector")
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("WebDriver session: {e}; see {}", log.display()));
        client
            .update_timeouts(TimeoutConfiguration::new(Some(WAIT), Some(WAIT), None))
            .await
            .unwrap();
        Browser {
            client: Some(client),
            _driver: driver,
            log,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("session open")
    }

    async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}; see {}", self.log.display()));
    }

    async fn text(&self, id: &str) -> String {
        let el = self
            .client()
            .wait()
            .at_most(WAIT)
            .every(Duration::from_millis(100))
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id} on the page: {e}"));
        el.text().await.unwrap().trim().to_string()
    }

    async fn click(&self, id: &str) {
        self.client()
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id} to click: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click #{id}: {e}"));
    }

    /// Waits for a page whose URL starts with `prefix` and returns its `#result` text.
    async fn result_at(&self, prefix: &str) -> String {
        let c = self.client();
        let end = Instant::now() + WAIT;
        loop {
            let url = c.current_url().await.unwrap();
            if url.as_str().starts_with(prefix) && c.find(Locator::Id("result")).await.is_ok() {
                return self.text("result").await;
            }
            assert!(
                Instant::now() < end,
                "the browser never reached {prefix} (it is at {url})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client().screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let update = std::env::var("SESAME_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1");
        let dir = if update {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images")
        } else {
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }

    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// sesame

struct Env {
    dir: TempDir,
    server: Option<Running>,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "config", "data", "cache"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let script = dir.path().join("open-in-webdriver.sh");
        std::fs::write(&script, OPEN_SCRIPT).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let server = Server::bind(Config::dev(sesame_server::random_secret()))
            .await
            .expect("bind the reference server")
            .spawn();
        Env {
            dir,
            server: Some(server),
        }
    }

    fn server_url(&self) -> String {
        self.server.as_ref().unwrap().url.to_string()
    }

    fn url_file(&self) -> PathBuf {
        self.dir.path().join("opened-url")
    }

    /// `sesame` in an isolated home, with the test's `$BROWSER` and nothing from the caller's
    /// `SESAME_*`, keychain or display.
    fn sesame(&self) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new(SESAME);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", d.join("home"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_DATA_HOME", d.join("data"))
            .env("XDG_CACHE_HOME", d.join("cache"))
            .env("BROWSER", d.join("open-in-webdriver.sh"))
            .env("E2E_URL_FILE", self.url_file())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    fn login(&self, extra: &[&str]) -> Login {
        let mut cmd = self.sesame();
        cmd.args([
            "login",
            "--server",
            &self.server_url(),
            "--user",
            "alice",
            "--store",
            "file",
        ])
        .args(["--timeout", "60", "--no-qr"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start sesame login");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        std::thread::spawn(move || std::io::copy(&mut BufReader::new(out), &mut std::io::sink()));
        Login {
            proc: Reaped {
                child,
                group: false,
            },
            stderr,
        }
    }

    /// The URL sesame handed to `$BROWSER`.
    async fn opened_url(&self) -> String {
        let f = self.url_file();
        until("sesame to run $BROWSER", || {
            std::fs::read_to_string(&f)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .await
    }

    fn token(&self) -> std::process::Output {
        self.sesame()
            .args(["token", "--store", "file"])
            .output()
            .expect("run sesame token")
    }

    async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep chromedriver.log and the sessions for a post-mortem.
            self.dir.disable_cleanup(true);
            eprintln!(
                "browser_e2e: test failed; its files are kept in {}",
                self.dir.path().display()
            );
        }
    }
}

struct Login {
    proc: Reaped,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Login {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("browser_e2e: sesame login's stderr:\n{}", self.stderr());
        }
    }
}

impl Login {
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The verification code sesame printed, once it has.
    async fn code(&self) -> String {
        until("sesame to print the verification code", || {
            self.stderr()
                .lines()
                .find_map(|l| l.trim().strip_prefix("Verification code:"))
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string)
        })
        .await
    }

    async fn exit_code(&mut self) -> i32 {
        let s = self.proc.exit_status().await;
        s.code()
            .unwrap_or_else(|| panic!("sesame login was killed ({s}); stderr:\n{}", self.stderr()))
    }
}

fn assert_jwt_for(token: &str, user: &str) {
    use base64::Engine;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT: {token:?}");
    let decode = |p: &str| -> serde_json::Value {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap_or_else(|e| panic!("JWT segment is not base64url ({e}): {token:?}"));
        serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("JWT segment is not JSON ({e})"))
    };
    assert!(decode(parts[0])["alg"].is_string(), "JWT header has no alg");
    assert_eq!(decode(parts[1])["sub"], user);
    assert!(!parts[2].is_empty(), "JWT has no signature");
}

/// Sends the browser to the approval page and checks it shows what the terminal showed.
async fn open_approval(env: &Env, login: &Login, browser: &Browser) -> String {
    let code = login.code().await;
    let url = env.opened_url().await;
    assert!(
        login.stderr().lines().any(|l| l.trim() == url),
        "the URL given to $BROWSER is not printed on a line of its own:\n{}",
        login.stderr()
    );
    assert!(
        url.starts_with(&env.server_url()),
        "{url} is not on the server"
    );
    browser.goto(&url).await;
    assert_eq!(
        browser.text("user-code").await,
        code,
        "the page shows another code than the terminal"
    );
    assert_eq!(browser.text("user").await, "alice");
    code
}

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver; scripts/test-all.sh runs it"]
async fn approve_in_the_browser_signs_in() {
    let tools = tools();
    let _serial = SERIAL.lock().await;
    let env = Env::new().await;
    let browser = Browser::start(&tools, env.dir.path()).await;
    let mut login = env.login(&[]);

    open_approval(&env, &login, &browser).await;
    browser.screenshot("approval-page.png").await;
    browser.click("approve").await;
    let result = browser.result_at("http://127.0.0.1:").await;
    assert_eq!(result, "Signed in as alice");
    let at = browser.client().current_url().await.unwrap();
    assert_eq!(
        at.path(),
        "/callback",
        "the browser did not end on the loopback callback: {at}"
    );
    browser.screenshot("callback-page.png").await;

    let code = login.exit_code().await;
    assert_eq!(code, 0, "sesame login failed; stderr:\n{}", login.stderr());
    assert!(
        login.stderr().contains("Logged in as alice"),
        "{}",
        login.stderr()
    );
    let token = env.token();
    assert!(
        token.status.success(),
        "sesame token: {}",
        String::from_utf8_lossy(&token.stderr)
    );
    assert_jwt_for(String::from_utf8(token.stdout).unwrap().trim(), "alice");

    browser.close().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver; scripts/test-all.sh runs it"]
async fn deny_in_the_browser_fails_the_login() {
    let tools = tools();
    let _serial = SERIAL.lock().await;
    let env = Env::new().await;
    let browser = Browser::start(&tools, env.dir.path()).await;
    let mut login = env.login(&[]);

    open_approval(&env, &login, &browser).await;
    browser.click("deny").await;
    let result = browser.result_at("http://127.0.0.1:").await;
    assert_eq!(result, "Sign-in denied");
    let at = browser.client().current_url().await.unwrap();
    assert_eq!(
        at.path(),
        "/callback",
        "the browser did not end on the loopback callback: {at}"
    );
    assert!(
        at.query_pairs()
            .any(|(k, v)| k == "error" && v == "access_denied"),
        "{at}"
    );

    let code = login.exit_code().await;
    assert_eq!(
        code,
        4,
        "expected exit 4 (login did not complete); stderr:\n{}",
        login.stderr()
    );
    let token = env.token();
    assert!(!token.status.success(), "a denied login left a session");
    assert!(token.stdout.is_empty());

    browser.close().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver; scripts/test-all.sh runs it"]
async fn a_forged_callback_is_refused_and_the_login_keeps_waiting() {
    let tools = tools();
    let _serial = SERIAL.lock().await;
    let env = Env::new().await;
    let browser = Browser::start(&tools, env.dir.path()).await;
    let port = free_port();
    let mut login = env.login(&["--port", &port.to_string()]);
    login.code().await;

    let http = reqwest::Client::new();
    let callback = format!("http://127.0.0.1:{port}/callback");
    for forged in [format!("{callback}?state=wrong"), callback.clone()] {
        let r = http
            .get(&forged)
            .send()
            .await
            .expect("the callback server answers");
        assert_eq!(r.status().as_u16(), 400, "GET {forged}");
    }
    // The browser gets the explanation, not a sign-in.
    browser
        .goto(&format!("{callback}?state=wrong&error=access_denied"))
        .await;
    assert_eq!(browser.text("result").await, "Not your login");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        login.proc.try_wait().is_none(),
        "sesame login ended on a forged callback; stderr:\n{}",
        login.stderr()
    );

    open_approval(&env, &login, &browser).await;
    browser.click("approve").await;
    let result = browser.result_at(&callback).await;
    assert_eq!(result, "Signed in as alice");
    let code = login.exit_code().await;
    assert_eq!(code, 0, "sesame login failed; stderr:\n{}", login.stderr());
    let token = env.token();
    assert!(token.status.success());
    assert_jwt_for(String::from_utf8(token.stdout).unwrap().trim(), "alice");

    browser.close().await;
    env.stop().await;
}
