//! `sesame demo`: the whole flow on a fresh machine, against a throwaway reference server on an
//! ephemeral loopback port. Where no browser can open but a person is at the terminal (SSH,
//! `docker run -it`), Enter approves, through the validator API as the page's button would;
//! where nobody is there at all (no terminal, or `--auto-approve`), it approves by itself after a
//! visible pause.

use super::login;
use super::status::{self, Remote};
use crate::cli::{DemoArgs, OutputFormat};
use sesame_login::browser::{self, NoBrowser, Opener, SystemBrowser};
use sesame_login::error::{Error, Exit};
use sesame_login::output::Printer;
use sesame_login::protocol::{
    VALIDATOR_API_PATH, VALIDATOR_PAGE_PATH, ValidatorDecision, ValidatorView,
};
use sesame_login::settings::{Common, Env, LoginSettings};
use sesame_server::{self, Config, Server};
use std::io::IsTerminal;
use std::time::Duration;
use url::Url;

const AUTO_APPROVE_DELAY: Duration = Duration::from_secs(2);

pub async fn run(
    common: Common,
    args: &DemoArgs,
    env: Env<'_>,
    printer: &Printer,
) -> Result<(), Error> {
    let server = Server::bind(Config::dev(sesame_server::random_secret()))
        .await
        .map_err(|e| Error::other(format!("Could not start the demo server: {e}")))?;
    let url = server.url().clone();
    let running = server.spawn();
    printer.info(&format!(
        "Started a throwaway reference server at {url} (development mode: it does not authenticate anyone)."
    ));

    let opener = opener(args, env, printer);
    let user = demo_user(env);
    let settings = LoginSettings {
        common: common.clone(),
        server: Some(url),
        user: Some(user),
        no_browser: None,
        timeout: Duration::from_secs(args.timeout),
        poll_interval: Duration::from_secs(1),
        allow_http: false,
        port: 0,
        qr: Some(false),
        with_token: false,
        flow: sesame_login::config::FlowChoice::Challenge,
        oidc: Default::default(),
        direct: Default::default(),
        demo: true,
    };
    let result = login::run(&settings, &*opener, printer).await;
    running.stop().await;
    // The login's hints name `sesame login` and its flags; the demo takes neither.
    result.map_err(|e| match e.exit {
        Exit::LoginIncomplete => e.hint(
            "Run `sesame demo` again (`sesame demo --timeout SECS` allows more time), or `sesame demo --auto-approve` to let the demo approve by itself.",
        ),
        _ => e,
    })?;

    printer.info("");
    status::run(&common, OutputFormat::Text, Remote::Skip, env, printer)?;
    try_next(&common.profile, printer);
    Ok(())
}

/// How the demo's approval URL is opened: the system's browser, Enter at the terminal, or
/// nobody (the demo approves by itself, or the person opens it elsewhere).
fn opener(args: &DemoArgs, env: Env<'_>, printer: &Printer) -> Box<dyn Opener> {
    let no_browser = if args.no_browser {
        Some("--no-browser was given".to_string())
    } else {
        browser::no_browser_reason(env)
    };
    let attended = std::io::stdin().is_terminal();
    match no_browser {
        _ if args.auto_approve => Box::new(AutoApprove {
            printer: *printer,
            why: "--auto-approve was given".into(),
        }),
        Some(why) if !attended => Box::new(AutoApprove {
            printer: *printer,
            why: format!("{why}, and no one is at a terminal to approve"),
        }),
        Some(why) if args.no_browser => Box::new(NoBrowser(why)),
        Some(why) => Box::new(EnterApproves {
            printer: *printer,
            why,
        }),
        None => Box::new(SystemBrowser),
    }
}

/// The demo's user: the OS user if that is a usable name, else `demo`.
fn demo_user(env: Env<'_>) -> sesame_login::session::UserName {
    env("USER")
        .or_else(|| env("USERNAME"))
        .or_else(sesame_login::settings::os_user)
        .and_then(|u| sesame_login::session::UserName::new(&u).ok())
        .filter(|u| !u.is_empty() && !matches!(u.as_str(), "." | ".."))
        .unwrap_or_else(|| sesame_login::session::UserName::new("demo").unwrap_or_default())
}

/// The commands to try next with the demo's session, as this sesame is run.
fn try_next(p: &str, printer: &Printer) {
    let (sesame, note) = invocation();
    let line = |args: &str, what: &str| format!("  {sesame} {args}{what}\n");
    printer.info(&format!(
        "\nTry next{note}:\n{}{}{}\
         The demo server has stopped, so this token is only good for looking at. For real use: `{sesame} login --server https://your-consoleme`.",
        line(&format!("token --profile {p}"), "            # the JWT, for scripts"),
        line(&format!("status --profile {p} --output json"), ""),
        line(&format!("logout --profile {p}"), ""),
    ));
}

/// How the person can run this same sesame: `sesame` when it is the one on PATH, the
/// `cargo run` form when it runs from a checkout's target directory (the README's first
/// command), else its full path; and a note on how to get it onto PATH.
fn invocation() -> (String, String) {
    let Ok(me) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return ("sesame".into(), String::new());
    };
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::canonicalize(dir.join(if cfg!(windows) {
                "sesame.exe"
            } else {
                "sesame"
            }))
            .is_ok_and(|p| p == me)
        })
    });
    if on_path {
        return ("sesame".into(), String::new());
    }
    let in_target = |profile: &str| {
        me.parent()
            .is_some_and(|d| d.ends_with(std::path::Path::new("target").join(profile)))
    };
    let install = " (sesame is not on your PATH; ./install.sh puts it there)".to_string();
    if in_target("release") {
        ("cargo run --release --".into(), install)
    } else if in_target("debug") {
        ("cargo run --".into(), install)
    } else {
        (me.display().to_string(), install)
    }
}

/// Approves the way the page's Approve button would: view once for the nonce, then post it.
struct AutoApprove {
    printer: Printer,
    why: String,
}

impl Opener for AutoApprove {
    fn open(&self, url: &Url) -> Result<(), String> {
        let api = api_url(url)?;
        self.printer.info(&format!(
            "The demo approves by itself in {}s through the validator API, as pressing Approve would.",
            AUTO_APPROVE_DELAY.as_secs()
        ));
        let printer = self.printer;
        tokio::spawn(async move {
            tokio::time::sleep(AUTO_APPROVE_DELAY).await;
            if let Err(e) = approve(&api).await {
                printer.warn(&format!("The demo could not approve: {e}"));
            }
        });
        Err(self.why.clone())
    }

    fn can_open(&self) -> bool {
        false
    }
}

/// No browser can open here, but a person is at the terminal: Enter approves, as the page's
/// Approve button would.
struct EnterApproves {
    printer: Printer,
    why: String,
}

impl Opener for EnterApproves {
    fn open(&self, url: &Url) -> Result<(), String> {
        let api = api_url(url)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        // A plain thread: a blocked read must not keep the runtime from shutting down when the
        // login ends another way (the URL opened on this machine).
        let _ = std::thread::Builder::new()
            .name("demo-enter".into())
            .spawn(move || {
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                    let _ = tx.send(());
                }
            });
        let printer = self.printer;
        tokio::spawn(async move {
            if rx.await.is_err() {
                return;
            }
            match approve(&api).await {
                Ok(()) => printer.info(
                    "Approved through the validator API (GET for the one-time nonce, then POST it), as the page's Approve button would.",
                ),
                Err(e) => printer.warn(&format!("The demo could not approve: {e}")),
            }
        });
        Err(self.why.clone())
    }

    fn can_open(&self) -> bool {
        false
    }

    fn prompt(&self) -> Option<String> {
        Some(
            "No browser can open here. Press Enter to approve this login here, as the page's Approve button would (or open the URL from this machine)."
                .into(),
        )
    }
}

fn api_url(page: &Url) -> Result<Url, String> {
    Url::parse(
        &page
            .as_str()
            .replacen(VALIDATOR_PAGE_PATH, VALIDATOR_API_PATH, 1),
    )
    .map_err(|e| e.to_string())
}

async fn approve(api: &Url) -> Result<(), String> {
    let client = sesame_login::http::client_for(api).map_err(|e| e.message)?;
    let view: ValidatorView = client
        .get(api.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let nonce = view.nonce.ok_or(view.message)?;
    let resp = client
        .post(api.clone())
        .json(&ValidatorDecision {
            nonce,
            action: None,
        })
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status()))
    }
}
