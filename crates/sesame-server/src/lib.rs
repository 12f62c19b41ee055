//! `sesame serve`: a reference challenge server with ConsoleMe's endpoints, paths, statuses and
//! one-time semantics, plus sesame's extensions (deny, loopback callback, long-poll, user code).
//! It is the embedded default behind `sesame demo`, the fixture of the test suite, and can run
//! behind an SSO reverse proxy that sets a user header.
//!
//! Routing is axum's (one handler per endpoint), except that a poll takes a shortcut around the
//! router to the same handler (see `shortcut`); connections are served by hyper's HTTP/1
//! builder, which gives the header-read timeout (idle sockets are dropped after 10 s) and the
//! graceful shutdown that `axum::serve` does not expose.

use crate::connection::connection;
use crate::routes::routes;
use app::App;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use url::Url;

mod app;
pub mod aws_roles;
mod aws_routes;
mod aws_sts;
mod config;
mod connection;
mod generate;
mod limits;
mod metrics;
mod observe;
mod park;
mod poll;
mod redis_state;
mod request;
mod respond;
mod routes;
mod session_cookie;
mod shortcut;
pub use config::{ACCESS_LOG, Auth, Config, DECISION_LOG, random_secret};
pub use redis_state::redact as redact_redis;
mod state;
mod token;
mod validator;

use state::{ChallengeState, Challenges};
use std::time::{Duration, SystemTime};

pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    app: Arc<App>,
}

/// A server running on a background task, for `sesame demo` and tests.
pub struct Running {
    pub url: Url,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Server {
    pub async fn bind(config: Config) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let base = match &config.public_url {
            Some(u) => u.clone(),
            None => Url::parse(&format!("http://{addr}/"))
                .map_err(|e| std::io::Error::other(format!("no URL for {addr}: {e}")))?,
        };
        let challenges: Arc<dyn ChallengeState> = match &config.redis_url {
            Some(url) => Arc::new(redis_state::RedisState::connect(url).map_err(|e| {
                std::io::Error::other(format!("--redis {}: {e}", redis_state::redact(url)))
            })?),
            None => Arc::new(Challenges::default()),
        };
        let sts = config
            .aws_roles
            .as_ref()
            .map(|_| Arc::new(aws_sts::SdkSts::default()) as Arc<dyn aws_sts::AssumeRole>);
        Ok(Server {
            listener,
            addr,
            app: Arc::new(App {
                guesses: limits::Guesses::new(config.max_unknown_polls),
                config,
                base,
                challenges,
                metrics: Arc::new(metrics::Metrics::default()),
                sts,
            }),
        })
    }

    /// The URL clients should use (the public URL when one was given).
    pub fn url(&self) -> &Url {
        &self.app.base
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn spawn(self) -> Running {
        let url = self.app.base.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            let _ = rx.await;
        }));
        Running {
            url,
            stop: Some(tx),
            task,
        }
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish (at most 5 s).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        // Cancelled at shutdown: each connection holds a child token of its own (a shared
        // signal would be one lock taken by every poll of every connection).
        let cancel = tokio_util::sync::CancellationToken::new();
        let connections = tokio_util::task::TaskTracker::new();
        let purger = {
            let app = self.app.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(15));
                loop {
                    tick.tick().await;
                    app.challenges.purge(SystemTime::now());
                }
            })
        };
        let routes = routes(self.app.clone());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            eprintln!("sesame serve: accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    connections.spawn(connection(
                        self.app.clone(),
                        routes.clone(),
                        stream,
                        peer,
                        cancel.child_token(),
                    ));
                }
                _ = &mut shutdown => break,
            }
        }
        purger.abort();
        cancel.cancel();
        drop(self.listener);
        connections.close();
        tokio::select! {
            () = connections.wait() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        Ok(())
    }
}
