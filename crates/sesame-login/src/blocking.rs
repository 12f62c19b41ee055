//! [`Auth`] for programs without an async runtime, safe to call from any context: on a thread
//! that runs no runtime it runs one of its own for the call; on a runtime's thread it runs the
//! call on a scoped thread of its own, so that no runtime is ever nested (tokio panics on
//! `block_on` inside a runtime).
//!
//! ```no_run
//! let auth = sesame_login::Auth::builder("mytool")
//!     .oidc("https://id.example.com", "mytool-cli")
//!     .build()?;
//! let auth = sesame_login::blocking::Auth::from(auth);
//! let token = auth.token_or_login()?;
//! # Ok::<(), sesame_login::Error>(())
//! ```

use crate::error::Error;
use crate::secret::Token;
use crate::session::Session;
use std::future::Future;

/// The blocking face of [`crate::Auth`]: the same methods, each waiting for its result.
#[derive(Debug, Clone)]
pub struct Auth {
    inner: crate::Auth,
}

impl From<crate::Auth> for Auth {
    fn from(inner: crate::Auth) -> Self {
        Auth { inner }
    }
}

impl Auth {
    /// [`crate::Auth::session`], blocking.
    pub fn session(&self) -> Result<Session, Error> {
        block_on(self.inner.session())
    }

    /// [`crate::Auth::token`], blocking.
    pub fn token(&self) -> Result<Token, Error> {
        block_on(self.inner.token())
    }

    /// [`crate::Auth::token_or_login`], blocking.
    pub fn token_or_login(&self) -> Result<Token, Error> {
        block_on(self.inner.token_or_login())
    }

    /// [`crate::Auth::login`], blocking.
    pub fn login(&self) -> Result<Session, Error> {
        block_on(self.inner.login())
    }

    /// [`crate::Auth::logout`].
    pub fn logout(&self) -> Result<bool, Error> {
        self.inner.logout()
    }
}

/// Runs `future` to completion from synchronous code, whatever the calling thread runs: the
/// one place that starts a runtime for a single call (the `sesame` command's own commands run on
/// the runtime its `main` builds). Never nests: inside a runtime it runs on a scoped thread.
pub fn block_on<T: Send>(
    future: impl Future<Output = Result<T, Error>> + Send,
) -> Result<T, Error> {
    let run = |future| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::other(format!("Could not start an async runtime: {e}.")))?
            .block_on(future)
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return run(future);
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("sesame-login".into())
            .spawn_scoped(scope, || run(future))
            .map_err(|e| Error::other(format!("Could not start a thread: {e}.")))?
            .join()
            .unwrap_or_else(|_| Err(Error::other("The login thread panicked.")))
    })
}
