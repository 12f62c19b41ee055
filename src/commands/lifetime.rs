//! How long the long-running commands (`agent`, `ssh`'s forwarded socket, `proxy`) live: their
//! async runtime, and the signals that end them.

use sesame_login::error::Error;

/// The runtime of a long-running command: two worker threads (a refresh that waits on a slow
/// keychain holds one, not the agent).
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::other(format!("Could not start the async runtime: {e}")))
}

/// SIGINT or SIGTERM; SIGHUP (the terminal it started from closing) is ignored. Elsewhere,
/// Ctrl-C.
pub async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                Some(()) = async { term.as_mut()?.recv().await } => return,
                Some(()) = async { hup.as_mut()?.recv().await } => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
