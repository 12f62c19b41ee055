//! `sesame proxy --upstream URL [--listen ADDR:PORT]`: a local HTTP endpoint that forwards to
//! the upstream with the profile's credential attached, for tools that cannot add a header
//! (docs/integrations.md).

use crate::cli::ProxyArgs;
use crate::proxy::{self, Proxy};
use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::settings::Common;
use std::sync::Arc;

pub fn run(args: &ProxyArgs, common: Common, printer: &Printer) -> Result<(), Error> {
    let upstream = sesame_login::http::check_server_url(&args.upstream, false).map_err(|e| {
        Error::usage(format!("--upstream: {}", e.message)).hint(e.hint.unwrap_or_default())
    })?;
    if !crate::proxy::peer::CHECKED {
        printer.warn("On this system sesame proxy cannot tell which user connects: other users of this machine can send requests with your credential.");
    }
    if !args.listen.ip().is_loopback() {
        printer.warn(&format!(
            "--listen {} is not a loopback address: anyone who can reach it can send requests to {upstream} with your credential.",
            args.listen
        ));
    }
    let client = sesame_login::http::builder_for(&upstream)?
        .http1_only()
        .build()
        .map_err(|e| Error::other(format!("Could not set up the HTTP client: {e}.")))?;
    let runtime = super::lifetime::runtime()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| {
            Error::other(format!("Could not listen on {}: {e}.", args.listen))
                .hint("Pick another address with --listen 127.0.0.1:PORT (port 0 picks a free one).")
        })?;
        let listen = listener
            .local_addr()
            .map_err(|e| Error::other(format!("The proxy's address: {e}")))?;
        let profile = common.profile.clone();
        let proxy = Arc::new(Proxy::new(listen, upstream.clone(), client, common));
        // Check the session now, so that a missing one is said at once, not at the first request.
        let how = match proxy.session().await {
            Ok(s) => s.use_as().describe(),
            Err(e) => {
                printer.warn(&format!("{} Requests get 401 until then.", e.message));
                "its use-as".into()
            }
        };
        let _ = sesame_login::output::stdout(&format!("http://{listen}/\n"));
        printer.info(&format!(
            "sesame proxy: http://{listen}/ -> {upstream}, with profile {profile}'s credential as {how}. Ctrl-C stops."
        ));
        proxy::serve(listener, proxy, super::lifetime::stopped()).await;
        printer.info("sesame proxy: stopped.");
        Ok(())
    })
}
