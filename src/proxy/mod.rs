//! `sesame proxy`'s server: HTTP/1.1 on a loopback address, each request checked
//! ([`guard`]), given the profile's credential and passed to the upstream ([`relay`]). The
//! session is held in memory for a few seconds ([`HELD_FOR`]) and fetched again (from the
//! agent, or the store, refreshed). Only this user's programs are served: on Linux the peer of
//! each connection is looked up in `/proc/net/tcp` and another uid's is closed. Nothing is logged but method, status and time,
//! with `--verbose`: never a header, a query or a body.

pub mod guard;
pub mod peer;
pub mod relay;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use relay::Body;
use sesame_login::clock::unix_seconds;
use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::session::Session;
use sesame_login::settings::{Common, process_env};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use url::Url;

/// What the proxy needs for every request.
pub struct Proxy {
    /// Its own address: the Host and Origin it accepts name it.
    pub listen: SocketAddr,
    /// Where requests go.
    pub upstream: Url,
    /// The client for the upstream (HTTP/1.1, so that upgrades pass).
    pub client: reqwest::Client,
    common: Common,
    held: tokio::sync::Mutex<Option<(Session, Instant)>>,
}

/// How long the proxy uses a session before asking for it again: a store read (or the
/// agent's answer) every few seconds at most, and a logout noticed within them.
pub const HELD_FOR: Duration = Duration::from_secs(5);

impl Proxy {
    pub fn new(
        listen: SocketAddr,
        upstream: Url,
        client: reqwest::Client,
        common: Common,
    ) -> Proxy {
        Proxy {
            listen,
            upstream,
            client,
            common,
            held: tokio::sync::Mutex::new(None),
        }
    }

    /// The session to present: the one held, for [`HELD_FOR`] and while it has more than the
    /// skew left; else what `sesame token` would hand out (the agent's, or the store's,
    /// refreshed if due), so that a logout or a new login shows within seconds.
    pub async fn session(&self) -> Result<Session, Error> {
        let mut held = self.held.lock().await;
        let now = unix_seconds(SystemTime::now());
        if let Some((s, since)) = held.as_ref() {
            let skew = sesame_login::refresh::effective_skew(s, self.common.refresh_skew);
            if since.elapsed() < HELD_FOR && s.is_valid_at(now, skew) {
                return Ok(s.clone());
            }
        }
        let printer = Printer::stderr();
        let from_agent = sesame_login::current::from_agent(&self.common, &process_env, &printer)?;
        let fresh = match from_agent {
            Some(s) => s,
            None => {
                // The environment is read here, not across the await: a future that holds it
                // could not move between threads.
                let secret = self.common.client_secret(&process_env);
                sesame_login::current::fresh_session_with(&self.common, secret.as_ref(), &printer)
                    .await?
            }
        };
        *held = Some((fresh.clone(), Instant::now()));
        Ok(fresh)
    }
}

/// Serves `listener` until `shutdown` completes, then lets the requests under way finish (10 s
/// at most).
pub async fn serve(
    listener: tokio::net::TcpListener,
    proxy: Arc<Proxy>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    // hyper-util's GracefulShutdown does not take a connection that may upgrade: each
    // connection watches `stopping` and shuts down gracefully itself.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, client))
                    if peer::is_ours(client, stream.local_addr().unwrap_or(proxy.listen)) => stream,
                Ok((_, client)) => {
                    tracing::debug!("proxy: closed a connection from {client}: another user's");
                    continue;
                }
                Err(e) => {
                    tracing::debug!("proxy: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let service = hyper::service::service_fn(move |req| {
            let proxy = proxy.clone();
            async move { Ok::<_, Infallible>(handle(req, &proxy).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopping.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), connections.join_all()).await;
}

/// One request.
async fn handle(req: Request<Incoming>, proxy: &Proxy) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let response = if let Err(why) = guard::check(req.headers(), proxy.listen) {
        relay::text(StatusCode::FORBIDDEN, &why)
    } else {
        match proxy.session().await {
            Ok(session) => relay::relay(req, &proxy.upstream, &proxy.client, &session).await,
            Err(e) => relay::text(
                StatusCode::UNAUTHORIZED,
                &format!("{} {}", e.message, e.hint.as_deref().unwrap_or_default()),
            ),
        }
    };
    tracing::debug!(
        "proxy: {method} -> {} in {:?}",
        response.status().as_u16(),
        started.elapsed()
    );
    response
}
