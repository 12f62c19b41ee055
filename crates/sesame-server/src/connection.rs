//! Serving one connection: the first request head read here, a long-poll of a pending
//! challenge parked (see `park`) before hyper serves the connection as usual.

use crate::app::App;
use crate::observe::ClientIp;
use crate::request::client_ip;
use crate::respond::Resp;
use crate::{metrics, park};
use hyper::header::HeaderName;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sesame_login::protocol::{MAX_LONG_POLL_SECS, POLLER_PATH};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long a client may take to send a request head, as hyper allows: then it is dropped.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection: its first request head is read here, and a long-poll of a pending challenge
/// is parked (see [`park`]) before hyper serves the connection as usual.
pub(crate) async fn connection<S>(
    app: Arc<App>,
    routes: S,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    cancel: tokio_util::sync::CancellationToken,
) where
    S: tower::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = Resp,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    use tokio::io::AsyncReadExt;
    let mut stream = stream;
    let mut head = Vec::with_capacity(park::FIRST_READ);
    let first = tokio::select! {
        read = tokio::time::timeout(HEAD_TIMEOUT, stream.read_buf(&mut head)) => read,
        () = cancel.cancelled() => return,
    };
    match first {
        Ok(Ok(n)) if n > 0 => {}
        // Closed, failed, or silent for as long as hyper would wait for a head.
        _ => return,
    }
    let ControlFlow::Continue(parked) =
        park_long_poll(&app, &stream, &mut head, peer, &cancel).await
    else {
        return;
    };
    // The client's address (for the handlers' IP checks and the log) and, for the first
    // request, how long it was parked.
    let parked = Arc::new(std::sync::Mutex::new(parked));
    let svc = tower::ServiceExt::map_request(
        routes,
        move |mut req: hyper::Request<hyper::body::Incoming>| {
            // A proxy that appends (HAProxy's `option forwardfor`) adds its own line after any
            // the client sent: only the last line is the proxy's.
            let forwarded = app
                .config
                .trusted_proxy_header
                .as_ref()
                .and_then(|h| req.headers().get_all(h).iter().next_back()?.to_str().ok());
            let ip = client_ip(&app.config, peer, forwarded);
            req.extensions_mut().insert(ClientIp(ip));
            if let Some(p) = parked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
            {
                req.extensions_mut().insert(p);
            }
            req
        },
    );
    let io = park::Rewind::new(head.into(), stream);
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        // No read while a request is in flight: hyper would otherwise take a fresh 8 KiB
        // buffer per request to watch for the client leaving (the request still holds the
        // first), a malloc, free and page faults per poll. Parked long-polls watch for it
        // themselves; a client that leaves a request in hyper is noticed when its answer is
        // written, at most a long-poll's wait later.
        .half_close(true)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(svc));
    // Boxed, so that a parked connection's task does not reserve room for hyper's.
    let mut conn = Box::pin(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = cancel.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

/// A first request that is a long-poll of a pending challenge is parked until the decision, its
/// wait or shutdown: how long it was parked, or `Break` when the client left meanwhile.
pub(crate) async fn park_long_poll(
    app: &App,
    stream: &tokio::net::TcpStream,
    head: &mut Vec<u8>,
    peer: SocketAddr,
    cancel: &tokio_util::sync::CancellationToken,
) -> ControlFlow<(), Option<park::Parked>> {
    let parked = match park::long_poll(
        head,
        POLLER_PATH,
        app.config
            .trusted_proxy_header
            .as_ref()
            .map(HeaderName::as_str),
    ) {
        Some(poll) => {
            let since = tokio::time::Instant::now();
            let ip = client_ip(&app.config, peer, poll.forwarded.as_deref());
            let check_ip = app.config.ip_check.then_some(ip);
            let now = SystemTime::now();
            match app.challenges.watch(&poll.token, check_ip, now).await {
                Ok(Some(watch)) => {
                    head.shrink_to_fit();
                    let wait = Duration::from_secs(poll.wait.min(MAX_LONG_POLL_SECS));
                    let left = watch.expires.duration_since(now).unwrap_or_default();
                    let until = since + wait.min(left);
                    let _waiting = metrics::Waiting::start(&app.metrics.waiting);
                    match park::park(stream, head, watch.changed, until, cancel).await {
                        park::Unparked::Ready => Some(park::Parked { since, until }),
                        park::Unparked::Gone => return ControlFlow::Break(()),
                    }
                }
                // Not pending, or the store is down: the handler answers.
                _ => None,
            }
        }
        None => None,
    };
    ControlFlow::Continue(parked)
}
