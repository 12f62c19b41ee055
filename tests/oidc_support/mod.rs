//! Support for `tests/oidc_interop.rs`: the `tests/oidc` provider fixture (node), the shared
//! sandbox of `tests/common` set up for OIDC logins, a counting proxy for the token endpoint, RSA
//! keys and JWTs for fake providers, and a scripted wiremock responder.
//!
//! Every process started here is killed when its handle is dropped (also on panic); the provider
//! additionally exits when its stdin closes, i.e. when the test process is gone.

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "sesame-cli";

pub use super::common::{oidc_dir, unix_now as now};

pub fn drive_script() -> PathBuf {
    oidc_dir().join("drive.mjs")
}

pub fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc_support")
}

// ------------------------------------------------------------------ node fixture ---

fn node_installed() -> bool {
    Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `npm ci` in tests/oidc once per test process (and under a file lock across processes) when
/// its node_modules are missing.
fn ensure_node_modules() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = oidc_dir();
        let installed = || {
            ["oidc-provider", "oauth2-mock-server"].iter().all(|m| {
                dir.join("node_modules")
                    .join(m)
                    .join("package.json")
                    .exists()
            })
        };
        if installed() {
            return Ok(());
        }
        // Across test processes: a lock directory (mkdir is atomic), given up on after 5 min.
        let lock = std::env::temp_dir().join("sesame-oidc-npm-ci.lock.d");
        let start = Instant::now();
        let mut held = false;
        while start.elapsed() < Duration::from_secs(300) {
            if std::fs::create_dir(&lock).is_ok() {
                held = true;
                break;
            }
            thread::sleep(Duration::from_millis(200));
        }
        let _unlock = DirLock(held.then(|| lock.clone()));
        if installed() {
            return Ok(());
        }
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("npm could not be run ({e})"))?;
        if !out.status.success() || !installed() {
            return Err(format!(
                "`npm ci` in {} failed ({}):\n{}\n{}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    })
    .clone()
}

struct DirLock(Option<PathBuf>);

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The OIDC tests are `#[ignore]`d, so they run only when asked (`--include-ignored`, as
/// scripts/test-all.sh does); then a missing node or oidc-provider is a failure, not a skip.
pub fn require_node_fixture() {
    let problem = if !node_installed() {
        Some("node is not installed".to_string())
    } else {
        ensure_node_modules().err()
    };
    if let Some(why) = problem {
        panic!("the OIDC fixture cannot run: {why}; scripts/test-all.sh installs what it needs");
    }
}

/// `tests/oidc/provider.mjs`, running until dropped.
pub struct OidcProvider {
    child: Child,
    pub issuer: String,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl OidcProvider {
    /// Starts a provider with `OIDC_DEVICE_INTERVAL=1` plus `env`.
    pub fn start(env: &[(&str, &str)]) -> OidcProvider {
        OidcProvider::start_script("provider.mjs", env)
    }

    /// npm `oauth2-mock-server` (`tests/oidc/mock-server.mjs`), for the direct grants.
    pub fn start_mock_server(env: &[(&str, &str)]) -> OidcProvider {
        OidcProvider::start_script("mock-server.mjs", env)
    }

    /// Starts `tests/oidc/SCRIPT`, which prints `{"issuer": URL}` once it listens. A start that
    /// prints nothing in 90 s is tried once more (a CI run once saw node sit silent after its
    /// import warning while the same test passed on every rerun); a second silence fails with
    /// both logs.
    pub fn start_script(script: &str, env: &[(&str, &str)]) -> OidcProvider {
        match OidcProvider::try_start(script, env) {
            Ok(p) => p,
            Err(first) => {
                eprintln!(
                    "{script} printed no issuer line in 90 s; starting it again. Its log:\n{first}"
                );
                OidcProvider::try_start(script, env).unwrap_or_else(|second| {
                    panic!(
                        "{script} printed no issuer line, twice; its logs:\n{first}\n---\n{second}"
                    )
                })
            }
        }
    }

    /// One start of `tests/oidc/SCRIPT`; on silence, its log.
    fn try_start(script: &str, env: &[(&str, &str)]) -> Result<OidcProvider, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("provider.log");
        let log_file = std::fs::File::create(&log).expect("provider log file");
        let mut cmd = Command::new("node");
        cmd.arg(oidc_dir().join(script))
            .current_dir(oidc_dir())
            .env("OIDC_EXIT_ON_STDIN_EOF", "1")
            .env("OIDC_DEVICE_INTERVAL", "1")
            .env("OIDC_MAX_LIFETIME", "600")
            .env("OIDC_LOG", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start node tests/oidc/provider.mjs");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        // Generous: on a loaded 2-core machine node can take long to start.
        let line = match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(l) if !l.trim().is_empty() => l,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "({other:?}) {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
        };
        let v: Value = serde_json::from_str(line.trim()).expect("issuer line is JSON");
        let issuer = v["issuer"].as_str().expect("issuer").to_string();
        let url = url::Url::parse(&issuer).expect("issuer URL");
        let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
            .parse()
            .expect("issuer host:port");
        Ok(OidcProvider {
            child,
            issuer,
            addr,
            log,
            _dir: dir,
        })
    }

    /// What the provider logged (requests, with OIDC_LOG=1), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------- sesame sandbox ---

#[allow(unused_imports)]
pub use super::common::{Out, run_with_limit};

/// The tests' one sandbox ([`super::common::Sandbox`]: isolated HOME and XDG directories, no
/// host environment, runs killed past their limit), with `$BROWSER` set to the drive script and
/// the OIDC helpers below. Its `run` adds nothing to the arguments.
pub struct Sandbox(super::common::Sandbox);

impl std::ops::Deref for Sandbox {
    type Target = super::common::Sandbox;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Sandbox {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let mut sb = super::common::Sandbox::new();
        sb.set("BROWSER", drive_script().to_string_lossy());
        let log = sb.path().join("drive.log");
        sb.set("OIDC_DRIVE_LOG", log.to_string_lossy());
        Sandbox(sb)
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.0.run_env(args, &[])
    }

    /// `sesame login` with the file store and a 30 s timeout.
    pub fn login(
        &self,
        issuer: &str,
        flow: &str,
        more: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Out {
        let mut args = vec![
            "login",
            "--issuer",
            issuer,
            "--client-id",
            CLIENT_ID,
            "--flow",
            flow,
            "--store",
            "file",
            "--timeout",
            "30",
            "--no-qr",
        ];
        args.extend_from_slice(more);
        self.0.run_env(&args, extra_env)
    }

    pub fn session_path(&self) -> PathBuf {
        self.0.session_file("default")
    }

    pub fn session(&self) -> Value {
        let text = std::fs::read_to_string(self.session_path()).unwrap_or_else(|e| {
            panic!("no session file at {}: {e}", self.session_path().display())
        });
        serde_json::from_str(&text).expect("session file is JSON")
    }

    pub fn write_session(&self, v: &Value) {
        std::fs::write(self.session_path(), serde_json::to_vec_pretty(v).unwrap())
            .expect("write session file");
    }

    /// What drive.mjs logged, for failure messages.
    pub fn drive_log(&self) -> String {
        std::fs::read_to_string(self.path().join("drive.log")).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------- JWTs ---

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A 2048-bit RSA key for signing test ID tokens.
pub struct TestKey {
    pair: aws_lc_rs::rsa::KeyPair,
    pub kid: String,
}

impl TestKey {
    pub fn generate(kid: &str) -> TestKey {
        TestKey {
            pair: aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .expect("RSA key generation"),
            kid: kid.to_string(),
        }
    }

    /// The public key as a JWK (RFC 7517).
    pub fn jwk(&self) -> Value {
        use aws_lc_rs::signature::KeyPair;
        let public = self.pair.public_key();
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// An RS256 JWT with `kid` set to this key's (or `kid_override`).
    pub fn sign(&self, claims: &Value, kid_override: Option<&str>) -> String {
        let header = json!({
            "alg": "RS256",
            "typ": "JWT",
            "kid": kid_override.unwrap_or(&self.kid),
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .expect("RSA signing");
        format!("{input}.{}", b64(&sig))
    }
}

/// Two keys, generated once per test process: the one the fake provider publishes, and another.
pub fn keys() -> &'static (TestKey, TestKey) {
    static KEYS: OnceLock<(TestKey, TestKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            TestKey::generate("good-key"),
            TestKey::generate("other-key"),
        )
    })
}

// ------------------------------------------------------- scripted wiremock reply ---

/// A wiremock responder that answers from a script, one reply per request (the last reply
/// repeats), and records when each request came.
#[derive(Clone)]
pub struct Script {
    steps: Arc<Mutex<VecDeque<wiremock::ResponseTemplate>>>,
    last: wiremock::ResponseTemplate,
    times: Arc<Mutex<Vec<Instant>>>,
}

impl Script {
    pub fn new(mut steps: Vec<wiremock::ResponseTemplate>) -> Script {
        let last = steps.pop().expect("at least one reply");
        Script {
            steps: Arc::new(Mutex::new(steps.into())),
            last,
            times: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn times(&self) -> Vec<Instant> {
        self.times.lock().unwrap().clone()
    }
}

impl wiremock::Respond for Script {
    fn respond(&self, _: &wiremock::Request) -> wiremock::ResponseTemplate {
        self.times.lock().unwrap().push(Instant::now());
        self.steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.last.clone())
    }
}

// ------------------------------------------- fake token endpoint, browser flow ---

/// What the fake token endpoint puts in the ID token's `nonce`.
#[derive(Clone)]
pub enum Nonce {
    /// The one the authorization request carried (as recorded by fake_browser.mjs).
    Echo,
    Fixed(String),
    Absent,
}

/// The token endpoint of a fake provider for the browser flow: checks the code, the
/// redirect_uri and PKCE (S256) against what fake_browser.mjs recorded from the authorization
/// URL, and answers with tokens whose ID token (signed with the good key) carries `nonce`.
pub struct CodeExchange {
    pub recorded: PathBuf,
    pub issuer: String,
    pub nonce: Nonce,
    pub calls: Arc<AtomicUsize>,
}

impl wiremock::Respond for CodeExchange {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let refuse = |why: String| {
            wiremock::ResponseTemplate::new(400)
                .set_body_json(json!({ "error": "invalid_grant", "error_description": why }))
        };
        let Ok(text) = std::fs::read_to_string(&self.recorded) else {
            return refuse("fake_browser.mjs recorded nothing".into());
        };
        let rec: Value = serde_json::from_str(&text).unwrap_or_default();
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
        let field = |k: &str| form.get(k).cloned().unwrap_or_default();
        if field("grant_type") != "authorization_code" || field("code") != "fake-code" {
            return refuse(format!("unexpected grant {form:?}"));
        }
        if Some(field("redirect_uri").as_str()) != rec["redirect_uri"].as_str() {
            return refuse(format!(
                "redirect_uri {:?} is not {}",
                field("redirect_uri"),
                rec["redirect_uri"]
            ));
        }
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            field("code_verifier").as_bytes(),
        );
        if rec["code_challenge_method"] != "S256"
            || rec["code_challenge"].as_str() != Some(&b64(digest.as_ref()))
        {
            return refuse("PKCE verification failed".into());
        }
        let t = now();
        let mut claims = json!({
            "iss": self.issuer, "aud": CLIENT_ID, "sub": "alice",
            "email": "alice@example.test", "iat": t, "exp": t + 3600,
        });
        match &self.nonce {
            Nonce::Echo => claims["nonce"] = rec["nonce"].clone(),
            Nonce::Fixed(n) => claims["nonce"] = json!(n),
            Nonce::Absent => {}
        }
        wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "fake-browser-access-token",
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "fake-browser-refresh-token",
            "id_token": keys().0.sign(&claims, None),
        }))
    }
}
