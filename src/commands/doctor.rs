//! `sesame doctor`: one table of checks, each OK, WARN or FAIL with what to do about it: the
//! config file, the keychain (and how long a read takes), the browser, WSL, the callback port,
//! proxies and CAs, the clock against the profile's server, and the session. Exit 1 on a FAIL.

use crate::cli::{LoginArgs, OutputFormat};
use serde::Serialize;
use sesame_login::clock::{human_duration, unix_seconds};
use sesame_login::config::ConfigFile;
use sesame_login::error::Error;
use sesame_login::output::stdout;
use sesame_login::settings::{Common, Env, LoginSettings, Paths};
use sesame_login::store::{KeychainStore, StoreError, StoreKind};
use std::time::{Duration, Instant, SystemTime};
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// What to do, for WARN and FAIL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

fn check(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name,
        verdict,
        detail: detail.into(),
        remedy: None,
    }
}

impl Check {
    fn remedy(mut self, r: impl Into<String>) -> Check {
        self.remedy = Some(r.into());
        self
    }
}

/// Most a server's clock may differ from ours before tokens look expired or not yet valid.
const SKEW_WARN: i64 = 30;
const SKEW_FAIL: i64 = 300;

pub fn run(
    profile: Option<String>,
    store: Option<StoreKind>,
    format: OutputFormat,
    env: Env,
) -> Result<(), Error> {
    let mut checks = Vec::new();
    let common = config_check(profile, store, env, &mut checks);
    if let Some(common) = &common {
        checks.push(keychain_check(common));
    }
    checks.push(browser_check(env));
    checks.push(wsl_check());
    if let Some(common) = &common {
        checks.push(port_check(common, env));
    }
    checks.extend(network_checks(env));
    if let Some(common) = &common {
        let login = login_settings_check(common, env, &mut checks);
        checks.push(clock_check(login.as_ref()));
        checks.push(session_check(common));
        checks.extend(session_file_check(common));
    }
    #[cfg(unix)]
    checks.push(agent_check(env));
    match format {
        OutputFormat::Json => stdout(&format!(
            "{}\n",
            serde_json::json!({ "checks": checks, "ok": !checks.iter().any(|c| c.verdict == Verdict::Fail) })
        ))?,
        OutputFormat::Text => stdout(&table(&checks))?,
    }
    let fails = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    if fails > 0 {
        return Err(Error::other(format!(
            "{fails} check{} failed; see the remedies above.",
            if fails == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// A session the agent holds, as doctor shows it.
#[cfg(unix)]
fn held_line(h: &sesame_login::agent::protocol::Held) -> String {
    let now = unix_seconds(SystemTime::now());
    let until = |at: Option<i64>| {
        at.map(|t| {
            human_duration(Duration::from_secs(
                t.saturating_sub(now).max(0).unsigned_abs(),
            ))
        })
    };
    match (until(h.expires_at), until(h.refresh_at)) {
        (Some(e), Some(r)) => format!("{} (expires in {e}, refreshed in {r})", h.profile),
        (Some(e), None) => format!("{} (expires in {e})", h.profile),
        _ => h.profile.clone(),
    }
}

/// The agent `SESAME_AUTH_SOCK` names: whether it answers, and what it holds.
#[cfg(unix)]
fn agent_check(env: Env) -> Check {
    use sesame_login::agent::client::Agent;
    use sesame_login::agent::protocol::{Answer, Op};
    let agent = match Agent::from_env(env) {
        Ok(Some(a)) => a,
        Ok(None) => {
            return check(
                "agent",
                Verdict::Ok,
                "not in use: commands read the store (`eval \"$(sesame agent)\"` starts one)",
            );
        }
        Err(e) => return check("agent", Verdict::Fail, e.message).remedy("Fix or unset it."),
    };
    let path = agent.path().display().to_string();
    let slow = Agent::at(agent.path().to_path_buf(), Duration::from_secs(2));
    match slow.ask(Op::Status) {
        Ok(Answer::Status {
            pid,
            version,
            sessions,
        }) => {
            let held: Vec<String> = sessions.iter().map(held_line).collect();
            let detail = format!(
                "pid {pid} on {path}, holding {} session{}{}",
                held.len(),
                if held.len() == 1 { "" } else { "s" },
                if held.is_empty() {
                    String::new()
                } else {
                    format!(": {}", held.join(", "))
                }
            );
            if version == env!("CARGO_PKG_VERSION") {
                check("agent", Verdict::Ok, detail)
            } else {
                check(
                    "agent",
                    Verdict::Warn,
                    format!(
                        "{detail}; it is sesame {version}, this is {}",
                        env!("CARGO_PKG_VERSION")
                    ),
                )
                .remedy("Restart it: `sesame agent --stop`, then `eval \"$(sesame agent)\"`.")
            }
        }
        Ok(other) => check(
            "agent",
            Verdict::Warn,
            format!("the agent on {path} answered {other:?}"),
        )
        .remedy("Restart it: `sesame agent --stop`, then `eval \"$(sesame agent)\"`."),
        Err(e) => check(
            "agent",
            Verdict::Warn,
            format!(
                "SESAME_AUTH_SOCK names {path}, but no agent answers ({e}): commands read the store"
            ),
        )
        .remedy("Start one with `eval \"$(sesame agent)\"`, or unset SESAME_AUTH_SOCK."),
    }
}

fn table(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let v = match c.verdict {
            Verdict::Ok => "OK  ",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        out.push_str(&format!("{v}  {:<width$}  {}\n", c.name, c.detail));
        if let Some(r) = &c.remedy {
            out.push_str(&format!("      {:<width$}  → {r}\n", ""));
        }
    }
    out
}

fn config_check(
    profile: Option<String>,
    store: Option<StoreKind>,
    env: Env,
    checks: &mut Vec<Check>,
) -> Option<Common> {
    let path = match Paths::resolve(env) {
        Ok(p) => p.config_file,
        Err(e) => {
            checks.push(check("config", Verdict::Fail, e.message).remedy("Set HOME."));
            return None;
        }
    };
    if let Err(e) = ConfigFile::load(&path) {
        checks.push(
            check("config", Verdict::Fail, e.message)
                .remedy(e.hint.unwrap_or_else(|| "Fix the file.".into())),
        );
        return None;
    }
    match Common::resolve(profile, store, env) {
        Ok(c) => {
            let detail = if path.exists() {
                format!("{} is valid (profile {})", path.display(), c.profile)
            } else {
                format!(
                    "no config file at {} (defaults apply; profile {})",
                    path.display(),
                    c.profile
                )
            };
            checks.push(check("config", Verdict::Ok, detail));
            Some(c)
        }
        Err(e) => {
            checks
                .push(check("config", Verdict::Fail, e.message).remedy(e.hint.unwrap_or_default()));
            None
        }
    }
}

fn keychain_check(common: &Common) -> Check {
    let started = Instant::now();
    let opened = KeychainStore::open_platform(common.keychain.timeout)
        .map(|k| k.with_service(&common.keychain.service));
    let result = opened.map(|k| {
        let r = sesame_login::store::TokenStore::load(&k, &common.profile);
        (r, started.elapsed())
    });
    let file_ok = common.store != StoreKind::Keychain;
    match result {
        // A damaged entry is the session check's to report: the keychain answered.
        Ok((Ok(_) | Err(StoreError::NotFound | StoreError::Damaged { .. }), took)) => check(
            "keychain",
            if took > Duration::from_millis(500) { Verdict::Warn } else { Verdict::Ok },
            format!("the OS keychain answers; a read took {}", ms(took)),
        ),
        Ok((Err(e), took)) => check(
            "keychain",
            Verdict::Fail,
            format!("the keychain failed a read after {}: {e}", ms(took)),
        )
        .remedy("Unlock the keychain (log in to the desktop session), or use --store file."),
        Err(e) if file_ok => check("keychain", Verdict::Warn, format!("{e}; sessions go to the 0600 file store"))
            .remedy("Fine on a server or in CI. For a keychain on Linux, run a Secret Service (gnome-keyring, KeePassXC)."),
        Err(e) => check("keychain", Verdict::Fail, format!("{e}, and the store is `keychain`"))
            .remedy("Start a Secret Service, or use --store file / auto."),
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn browser_check(env: Env) -> Check {
    match sesame_login::browser::no_browser_reason(env) {
        None => check(
            "browser",
            Verdict::Ok,
            match env("BROWSER") {
                Some(b) => format!("$BROWSER ({b}) opens login pages"),
                None => "the system's default browser opens login pages".into(),
            },
        ),
        Some(why) => check("browser", Verdict::Warn, format!("no browser can open here: {why}"))
            .remedy("Logins print the URL (and a QR code) to open on another device; OIDC profiles use the device flow."),
    }
}

fn wsl_check() -> Check {
    if sesame_login::browser::is_wsl() {
        check(
            "wsl",
            Verdict::Ok,
            "WSL: login pages open in the Windows browser",
        )
    } else {
        check("wsl", Verdict::Ok, "not WSL")
    }
}

fn port_check(common: &Common, env: Env) -> Check {
    // doctor has no --port: what a `sesame login` without one would use.
    let port = match sesame_login::settings::callback_port(None, &common.config, env) {
        Ok(p) => p,
        Err(e) => {
            return check("callback port", Verdict::Fail, e.message)
                .remedy("Set SESAME_PORT to a port number (0-65535), or unset it.");
        }
    };
    if port == 0 {
        return check(
            "callback port",
            Verdict::Ok,
            "any free loopback port (port 0)",
        );
    }
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => check("callback port", Verdict::Ok, format!("127.0.0.1:{port} is free")),
        Err(e) => check("callback port", Verdict::Fail, format!("127.0.0.1:{port} cannot be bound: {e}"))
            .remedy("Stop what listens there, or choose another port (--port, SESAME_PORT, `port`); it must match the redirect URI registered with the provider."),
    }
}

/// A proxy URL without its user and password.
fn without_credentials(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("redacted");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => text.to_string(),
    }
}

fn network_checks(env: Env) -> Vec<Check> {
    let var = |n: &str| env(n).or_else(|| env(&n.to_ascii_lowercase()));
    let mut out = Vec::new();
    let proxy = var("HTTPS_PROXY").or_else(|| var("ALL_PROXY"));
    out.push(match &proxy {
        Some(p) => check(
            "proxy",
            Verdict::Ok,
            format!(
                "HTTPS_PROXY={}; NO_PROXY={}; servers on this machine are never proxied",
                without_credentials(p),
                var("NO_PROXY").unwrap_or_else(|| "(unset)".into())
            ),
        ),
        None => check("proxy", Verdict::Ok, "no HTTPS_PROXY: direct connections"),
    });
    // What main chose (flag > SESAME_CA_CERT > profile), which every request here uses.
    let ca = sesame_login::http::ca_file().map(|p| p.display().to_string());
    out.push(match (&ca, var("SSL_CERT_FILE")) {
        (Some(path), _) => match sesame_login::http::read_ca_bytes(std::path::Path::new(path))
            .ok()
            .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).ok())
        {
            Some(certs) if !certs.is_empty() => check(
                "CA certificates",
                Verdict::Ok,
                format!(
                    "{path}: {} certificate(s) trusted besides the system's",
                    certs.len()
                ),
            ),
            _ => check(
                "CA certificates",
                Verdict::Fail,
                format!("{path} is not a readable PEM file"),
            )
            .remedy("Point SESAME_CA_CERT / `ca-cert` at your CA's PEM certificate."),
        },
        (None, Some(file)) => check(
            "CA certificates",
            Verdict::Ok,
            format!("SSL_CERT_FILE={file}: the certificates trusted instead of the system's"),
        ),
        (None, None) => check("CA certificates", Verdict::Ok, "the system's certificates"),
    });
    out
}

/// The profile's server, issuer or login URL: where the clock is compared.
/// The server `sesame login` would talk to, from the settings resolved as `login` resolves
/// them (flags aside): the challenge server, the issuer, the login API, the token endpoint.
fn server_of(login: &LoginSettings) -> Option<String> {
    let url = login
        .server
        .as_ref()
        .or(login.oidc.issuer.as_ref())
        .or(login.oidc.endpoints.token.as_ref())
        .map(|u| u.to_string());
    url.or_else(|| login.direct.json_api.as_ref().map(|a| a.login_url.clone()))
}

/// `sesame login`'s settings for the profile, resolved once, as `login` resolves them with no
/// flags: a `SESAME_*` variable or config entry that `login` would refuse fails here too.
fn login_settings_check(
    common: &Common,
    env: Env,
    checks: &mut Vec<Check>,
) -> Option<LoginSettings> {
    match crate::login_args::resolve(common.clone(), &LoginArgs::default(), env) {
        Ok(login) => {
            let what = server_of(&login).map_or("no server or issuer set".into(), |s| {
                format!("login goes to {s}")
            });
            checks.push(check("login settings", Verdict::Ok, what));
            Some(login)
        }
        Err(e) => {
            let remedy = e
                .hint
                .unwrap_or_else(|| "Fix the variable or the config entry it names.".into());
            checks.push(check("login settings", Verdict::Fail, e.message).remedy(remedy));
            None
        }
    }
}

fn clock_check(login: Option<&LoginSettings>) -> Check {
    let Some(server) = login.and_then(server_of) else {
        return check(
            "clock",
            Verdict::Ok,
            "no server in the profile to compare with (skipped)",
        );
    };
    let Ok(url) = Url::parse(&server) else {
        return check(
            "clock",
            Verdict::Warn,
            format!("the profile's server {server:?} is not a URL"),
        );
    };
    let date = (|| -> Result<Option<String>, String> {
        let client = sesame_login::http::client_for(&url).map_err(|e| e.message)?;
        let head = client.head(url.clone()).timeout(Duration::from_secs(10));
        sesame_login::blocking::block_on(async {
            let resp = sesame_login::http::send(head)
                .await
                .map_err(|e| Error::other(sesame_login::http::describe(&e)))?;
            Ok(resp
                .headers()
                .get(reqwest::header::DATE)
                .and_then(|d| d.to_str().ok())
                .map(str::to_owned))
        })
        .map_err(|e| e.message)
    })();
    let shown = sesame_login::http::redact(&url);
    match date {
        Err(e) => check(
            "clock",
            Verdict::Warn,
            format!("could not reach {shown}: {e}"),
        )
        .remedy("Check the network (and HTTPS_PROXY, --ca-cert); logins need the server."),
        Ok(None) => check(
            "clock",
            Verdict::Ok,
            format!("{shown} sends no Date header (skipped)"),
        ),
        Ok(Some(d)) => match chrono::DateTime::parse_from_rfc2822(&d) {
            Err(_) => check(
                "clock",
                Verdict::Warn,
                format!("{shown} sent an unreadable Date: {d:?}"),
            ),
            Ok(theirs) => {
                let skew = unix_seconds(SystemTime::now()) - theirs.timestamp();
                let how = format!(
                    "this machine is {} {} {shown}",
                    human_duration(Duration::from_secs(skew.unsigned_abs())),
                    if skew >= 0 { "ahead of" } else { "behind" }
                );
                let verdict = match skew.abs() {
                    s if s >= SKEW_FAIL => Verdict::Fail,
                    s if s >= SKEW_WARN => Verdict::Warn,
                    _ => Verdict::Ok,
                };
                let c = check("clock", verdict, how);
                if verdict == Verdict::Ok {
                    c
                } else {
                    c.remedy("Sync the clock (timedatectl set-ntp true; on WSL: wsl --shutdown); tokens look expired or not yet valid otherwise.")
                }
            }
        },
    }
}

fn session_check(common: &Common) -> Check {
    let opened = match common.open_store() {
        Ok(o) => o,
        Err(e) => {
            return check("session", Verdict::Fail, e.message).remedy(e.hint.unwrap_or_default());
        }
    };
    let now = unix_seconds(SystemTime::now());
    let login = sesame_login::hints::login_hint(&common.profile);
    match opened.store.load(&common.profile) {
        Err(StoreError::NotFound) => check(
            "session",
            Verdict::Warn,
            format!("not logged in (profile {})", common.profile),
        )
        .remedy(login),
        Err(e) => {
            let shown = e.into_error_for(common.store, &common.profile);
            let remedy = shown.hint.clone().unwrap_or(login);
            check("session", Verdict::Fail, shown.message).remedy(remedy)
        }
        Ok(s) => match s.expires_at {
            Some(e) if e <= now && s.renewable() => check(
                "session",
                Verdict::Ok,
                format!(
                    "{} ({}): expired, renewed by the next `sesame token`",
                    s.user, s.flow
                ),
            ),
            Some(e) if e <= now => check(
                "session",
                Verdict::Warn,
                format!("{} ({}): expired", s.user, s.flow),
            )
            .remedy(login),
            Some(e) => check(
                "session",
                Verdict::Ok,
                format!(
                    "{} ({}), valid for {}",
                    s.user,
                    s.flow,
                    human_duration(Duration::from_secs((e - now).max(0) as u64))
                ),
            ),
            None => check(
                "session",
                Verdict::Ok,
                format!("{} ({}), no stated expiry", s.user, s.flow),
            ),
        },
    }
}

/// Whether the file store's session file (if there is one) and its directory are closed to
/// other users: mode 0600 and 0700 on Unix, an owner-only DACL on Windows.
fn session_file_check(common: &Common) -> Option<Check> {
    let dir = sesame_login::store::FileStore::in_data_dir(&common.paths.data_dir);
    let file = dir.path(&common.profile);
    if !file.exists() {
        return None;
    }
    let mut others = Vec::new();
    for path in [dir.dir(), file.as_path()] {
        match sesame_login::private_file::others_allowed(path) {
            Ok(o) => others.extend(
                o.into_iter()
                    .map(|who| format!("{}: {who}", path.display())),
            ),
            Err(e) => {
                return Some(check(
                    "session file",
                    Verdict::Warn,
                    format!("could not read who may open {}: {e}", path.display()),
                ));
            }
        }
    }
    Some(if others.is_empty() {
        check(
            "session file",
            Verdict::Ok,
            format!("{}: only you can open it", file.display()),
        )
    } else {
        check(
            "session file",
            Verdict::Fail,
            format!("others may open it: {}", others.join("; ")),
        )
        .remedy(format!(
            "Run `sesame logout --profile {0}` and log in again: sesame writes the file for you alone.",
            common.profile
        ))
    })
}
