//! Ctrl-C as an event the login can wait on. The handler is installed when the login starts, not
//! when it first waits, so a Ctrl-C during the first request ends the login cleanly too (exit 130)
//! instead of killing the process with the default action.

/// The Ctrl-C handler of one login. On Unix, if the handler cannot be installed, `wait` never
/// resolves.
pub struct CtrlC {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl CtrlC {
    /// Must be called inside the tokio runtime.
    pub fn install() -> CtrlC {
        CtrlC {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok(),
        }
    }

    /// Resolves at the next Ctrl-C.
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        {
            match &mut self.signal {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
