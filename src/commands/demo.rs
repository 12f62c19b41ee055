//! `sesame demo`: the whole flow on a fresh machine, against a throwaway reference server on an
//! ephemeral loopback port. Where nobody can approve in a browser (no browser, no terminal, or
//! `--auto-approve`), it approves through the validator API itself, after a visible pause.

use super::{login, status};
use crate::browser::{self, NoBrowser, Opener, SystemBrowser};
use crate::cli::{DemoArgs, OutputFormat};
use crate::error::Error;
use crate::output::Printer;
use crate::protocol::{VALIDATOR_API_PATH, VALIDATOR_PAGE_PATH, ValidatorDecision, ValidatorView};
use crate::server::{self, Config, Server};
use crate::settings::{Common, Env, LoginSettings};
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
    let server = Server::bind(Config::dev(server::random_secret()))
        .await
        .map_err(|e| Error::other(format!("Could not start the demo server: {e}")))?;
    let url = server.url().clone();
    let running = server.spawn();
    printer.info(&format!(
        "Started a throwaway reference server at {url} (development mode: it does not authenticate anyone)."
    ));

    let no_browser = if args.no_browser {
        Some("--no-browser was given".to_string())
    } else {
        browser::no_browser_reason(env)
    };
    let attended = std::io::stdin().is_terminal();
    let opener: Box<dyn Opener> = if args.auto_approve || (no_browser.is_some() && !attended) {
        Box::new(AutoApprove { printer: *printer })
    } else if no_browser.is_some() {
        Box::new(NoBrowser)
    } else {
        Box::new(SystemBrowser)
    };
    let user = env("USER")
        .or_else(|| env("USERNAME"))
        .unwrap_or_else(|| "demo".into());
    let settings = LoginSettings {
        common: common.clone(),
        server: Some(url),
        user: Some(user),
        open_browser: true,
        timeout: Duration::from_secs(120),
        poll_interval: Duration::from_secs(1),
        allow_http: false,
        port: 0,
        qr: Some(false),
        with_token: false,
        flow: crate::cli::FlowChoice::Challenge,
        oidc: Default::default(),
    };
    let result = login::run(&settings, &*opener, printer).await;
    running.stop().await;
    result?;

    printer.info("");
    status::run(&common, OutputFormat::Text, env, printer)?;
    let p = &common.profile;
    printer.info(&format!(
        "\nTry next:\n  sesame token --profile {p}            # the JWT, for scripts\n  sesame status --profile {p} --output json\n  sesame logout --profile {p}\n\
         The demo server has stopped, so this token is only good for looking at. For real use: `sesame login --server https://your-consoleme`."
    ));
    Ok(())
}

/// Approves the way the page's Approve button would: view once for the nonce, then post it.
struct AutoApprove {
    printer: Printer,
}

impl Opener for AutoApprove {
    fn open(&self, url: &Url) -> Result<(), String> {
        let api = Url::parse(
            &url.as_str()
                .replacen(VALIDATOR_PAGE_PATH, VALIDATOR_API_PATH, 1),
        )
        .map_err(|e| e.to_string())?;
        self.printer.info(&format!(
            "Nobody can approve in a browser here, so the demo approves by itself in {}s through the validator API, as pressing Approve would.",
            AUTO_APPROVE_DELAY.as_secs()
        ));
        let printer = self.printer;
        tokio::spawn(async move {
            tokio::time::sleep(AUTO_APPROVE_DELAY).await;
            if let Err(e) = approve(&api).await {
                printer.warn(&format!("The demo could not approve: {e}"));
            }
        });
        Err("the demo approves by itself".into())
    }

    fn can_open(&self) -> bool {
        false
    }
}

async fn approve(api: &Url) -> Result<(), String> {
    let client = crate::http::client_for(api).map_err(|e| e.message)?;
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
