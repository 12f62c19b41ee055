//! `sesame serve`: a reference challenge server with ConsoleMe's endpoints, paths, statuses and
//! one-time semantics, plus sesame's extensions (deny, loopback callback, long-poll, user code).
//! It is the embedded default behind `sesame demo`, the fixture of the test suite, and can run
//! behind an SSO reverse proxy that sets a user header.
//!
//! Routing is axum's (one handler per endpoint), except that a poll takes a shortcut around the
//! router to the same handler (see `shortcut`); connections are served by hyper's HTTP/1
//! builder, which gives the header-read timeout (idle sockets are dropped after 10 s) and the
//! graceful shutdown that `axum::serve` does not expose.

use sesame_login::pages;
mod limits;
mod metrics;
mod observe;
mod park;
mod redis_state;
mod shortcut;
pub use redis_state::redact as redact_redis;
mod state;
mod token;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, any, get};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::{HeaderMap, Method, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use observe::{ClientIp, StoreFailed};
use sesame_login::clock::unix_seconds;
use sesame_login::protocol::{
    EXT_CALLBACK, EXT_DENY, EXT_LONG_POLL, EXT_USER_CODE, GENERATOR_PATH, GeneratorResponse,
    MAX_LONG_POLL_SECS, POLLER_PATH, PollResponse, VALIDATOR_API_PATH, VALIDATOR_PAGE_PATH,
    ValidatorDecision, ValidatorView, WHOAMI_PATH, WireStatus,
};
use sesame_login::secret::Secret;
use state::{ChallengeState, Challenges, Created, Limits, NewChallenge, Poll, StateError, Status};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use url::Url;

/// How the person approving in the browser is identified.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Nobody is authenticated: the approver is taken to be the requested user.
    Dev,
    /// An SSO reverse proxy (oauth2-proxy and the like) puts the user in this header.
    Header(HeaderName),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: Option<Url>,
    pub auth: Auth,
    pub ip_check: bool,
    pub trusted_proxy_header: Option<HeaderName>,
    pub jwt_secret: Secret<Vec<u8>>,
    pub challenge_ttl: Duration,
    pub jwt_ttl: Duration,
    pub cookie_name: String,
    pub groups: Vec<String>,
    pub max_pending: usize,
    /// Most pending challenges one client address may have; 0: no limit.
    pub max_pending_per_ip: usize,
    /// Polls of unknown tokens one address may make per minute.
    pub max_unknown_polls: u32,
    /// Keep challenges in this Redis (`redis://` or `rediss://`), shared by replicas;
    /// `None`: in this process's memory.
    pub redis_url: Option<String>,
    /// Emit a `tracing` event per request ([`ACCESS_LOG`]) and per decision ([`DECISION_LOG`]);
    /// the subscriber decides where they go and how they look.
    pub log: bool,
}

/// The target of the one `tracing` event per request: fields `ip`, `method`, `route` (the
/// route's template, never the path: paths carry tokens), `status` and `ms`.
pub const ACCESS_LOG: &str = "sesame_server::access";

/// The target of the `tracing` event for each decision on a challenge: fields `event`
/// (`approved` or `denied`), `user` and `requested_from`.
pub const DECISION_LOG: &str = "sesame_server::decision";

impl Config {
    /// Development defaults on an ephemeral loopback port, as `sesame demo` and the tests use.
    pub fn dev(secret: Vec<u8>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            auth: Auth::Dev,
            ip_check: false,
            trusted_proxy_header: None,
            jwt_secret: Secret::from_bytes(secret),
            challenge_ttl: Duration::from_secs(120),
            jwt_ttl: Duration::from_secs(3600),
            cookie_name: "consoleme_auth".into(),
            groups: Vec::new(),
            max_pending: 10_000,
            max_pending_per_ip: 20,
            max_unknown_polls: limits::ALLOWANCE,
            redis_url: None,
            log: false,
        }
    }
}

/// 32 random bytes, for a server started without a configured secret.
pub fn random_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut s = vec![0u8; 32];
    rand::rng().fill_bytes(&mut s);
    s
}

const MAX_REQUEST_BODY: usize = 16 * 1024;
const MAX_USER_LEN: usize = 256;
const MAX_STATE_LEN: usize = 512;

struct App {
    config: Config,
    base: Url,
    challenges: Arc<dyn ChallengeState>,
    guesses: limits::Guesses,
    metrics: Arc<metrics::Metrics>,
}

impl App {
    fn log(&self) -> bool {
        self.config.log
    }
}

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
        Ok(Server {
            listener,
            addr,
            app: Arc::new(App {
                guesses: limits::Guesses::new(config.max_unknown_polls),
                config,
                base,
                challenges,
                metrics: Arc::new(metrics::Metrics::default()),
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

/// How long a client may take to send a request head, as hyper allows: then it is dropped.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection: its first request head is read here, and a long-poll of a pending challenge
/// is parked (see [`park`]) before hyper serves the connection as usual.
async fn connection<S>(
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
async fn park_long_poll(
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

type Resp = Response<Body>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Resp {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Resp {
    respond(
        status,
        "application/json",
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

fn message(status: StatusCode, text: &str) -> Resp {
    json(status, &serde_json::json!({ "message": text }))
}

fn html(status: StatusCode, page: String, form_target: Option<&Url>) -> Resp {
    // Chrome applies form-action to the redirect that follows a form post, so the loopback
    // callback must be allowed explicitly.
    let extra = form_target
        .map(|u| format!(" {}", u.origin().ascii_serialization()))
        .unwrap_or_default();
    pages::response(
        status,
        page,
        &format!(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'{extra}; frame-ancestors 'none'; base-uri 'none'"
        ),
    )
    .map(Body::new)
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Resp {
    html(status, pages::problem(title, detail), None)
}

/// The cap on a request body (only the validator routes read one).
fn body_limit() -> tower_http::limit::RequestBodyLimitLayer {
    tower_http::limit::RequestBodyLimitLayer::new(MAX_REQUEST_BODY)
}

/// The deadline of a request that reads a body.
fn body_deadline() -> tower_http::timeout::TimeoutLayer {
    tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(MAX_LONG_POLL_SECS + 15),
    )
}

/// Every request's way to its handler: a poll by the shortcut, anything else by the router.
fn routes(
    app: Arc<App>,
) -> impl tower::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = Resp,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone
+ Send
+ 'static {
    let observe = observe::Observe::new(app.metrics.clone(), app.log());
    let poll = tower::Layer::layer(
        &observe.route(&format!("{POLLER_PATH}{{token}}")),
        tower::service_fn({
            let app = app.clone();
            move |req| poll_shortcut(app.clone(), req)
        }),
    );
    shortcut::Shortcut::new(POLLER_PATH, poll, router(app, &observe))
}

/// One route per endpoint. Bodies are capped, requests that read one have a deadline longer
/// than the longest long-poll, and each request is logged by its route template, never its path (paths
/// carry challenge tokens).
fn router(app: Arc<App>, observe: &observe::Observe) -> Router {
    let routes: Vec<(String, MethodRouter<Arc<App>>)> = vec![
        (format!("{GENERATOR_PATH}{{user}}"), any(generator_route)),
        // Most polls take the shortcut around the router to the same `poll_answer` (see
        // `routes`): a layer added here would not apply to them.
        (format!("{POLLER_PATH}{{token}}"), any(poller_route)),
        // The two routes that read a request body get a deadline, against a body that trickles
        // in; the others read none (the poller's own wait is capped at MAX_LONG_POLL_SECS), and a
        // timer per request would cost every poll.
        (
            format!("{VALIDATOR_API_PATH}{{token}}"),
            any(validator_api_route)
                .layer::<_, std::convert::Infallible>(body_deadline())
                .layer::<_, std::convert::Infallible>(body_limit()),
        ),
        (
            format!("{VALIDATOR_PAGE_PATH}{{token}}"),
            any(validator_page_route)
                .layer::<_, std::convert::Infallible>(body_deadline())
                .layer::<_, std::convert::Infallible>(body_limit()),
        ),
        ("/healthz".into(), get(healthz)),
        ("/readyz".into(), get(readyz)),
        (
            "/metrics".into(),
            get(|State(app): State<Arc<App>>| async move {
                respond(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    app.metrics.render(),
                )
            }),
        ),
        (WHOAMI_PATH.into(), get(whoami_route)),
        ("/".into(), get(home)),
    ];
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            let observed = handler.layer(observe.route(&path));
            router.route(&path, observed)
        })
        .fallback(not_found)
        .with_state(app)
}

/// The client's address, put on every request by the connection loop (see [`connection`]).
impl axum::extract::FromRequestParts<Arc<App>> for ClientIp {
    type Rejection = StatusCode;

    async fn from_request_parts(
        parts: &mut hyper::http::request::Parts,
        _: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        // Without it the IP check could not be made, so refuse rather than guess.
        parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

async fn generator_route(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    Path(user): Path<String>,
    req: Request,
) -> Resp {
    generator(&app, ip, &user, req.method(), req.uri()).await
}

async fn poller_route(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    uri: hyper::Uri,
    parked: Option<axum::Extension<park::Parked>>,
) -> Resp {
    poll_answer(&app, ip, &token, poll_wait(&uri), parked.map(|p| p.0)).await
}

/// A poll that took the shortcut around the router: the request's parts are read and let go
/// before the (possibly long) wait, and the answer is [`poller_route`]'s.
fn poll_shortcut<B>(
    app: Arc<App>,
    req: hyper::Request<B>,
) -> impl Future<Output = Result<Resp, std::convert::Infallible>> {
    let ip = req.extensions().get::<ClientIp>().copied();
    let parked = req.extensions().get::<park::Parked>().copied();
    let token = shortcut::plain_token(req.uri().path(), POLLER_PATH).map(str::to_owned);
    let wait = poll_wait(req.uri());
    drop(req);
    async move {
        Ok(match (ip, token) {
            (Some(ClientIp(ip)), Some(token)) => poll_answer(&app, ip, &token, wait, parked).await,
            // As the router's extractor answers (see `ClientIp`).
            (None, _) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            // Only if the shortcut's prefix were not the poller's: never a poll of no token.
            (_, None) => StatusCode::NOT_FOUND.into_response(),
        })
    }
}

/// The wait a poll asks for (`?wait=` seconds), capped; none if absent or not a number.
fn poll_wait(uri: &hyper::Uri) -> u64 {
    uri.query()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "wait")
                .and_then(|(_, v)| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
        .min(MAX_LONG_POLL_SECS)
}

async fn poll_answer(
    app: &App,
    ip: IpAddr,
    token: &str,
    wait: u64,
    parked: Option<park::Parked>,
) -> Resp {
    // A parked request has waited already: only what is left of its wait remains.
    let until = match parked {
        Some(parked) => parked.until,
        None => tokio::time::Instant::now() + Duration::from_secs(wait),
    };
    let (mut resp, pending) = poller(app, ip, token, until).await;
    if wait > 0 && pending {
        // The client polls again: on a fresh connection, which is parked (see `park`).
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

async fn validator_api_route(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    req: Request,
) -> Resp {
    validator_api(&app, ip, &token, req).await
}

async fn validator_page_route(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    req: Request,
) -> Resp {
    validator_page(&app, ip, &token, req).await
}

/// Who the session cookie belongs to, as ConsoleMe's user profile endpoint answers; a missing,
/// forged or expired cookie gets ConsoleMe's 403 `{"code":"invalid_jwt"}`.
async fn whoami_route(State(app): State<Arc<App>>, headers: HeaderMap) -> Resp {
    let name = &app.config.cookie_name;
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value_trimmed().to_string());
    let claims = cookie.and_then(|c| token::verify(app.config.jwt_secret.expose_bytes(), &c));
    match claims {
        Some(c) => json(
            StatusCode::OK,
            &serde_json::json!({
                "user": c.get("email").or(c.get("sub")),
                "groups": c.get("groups"),
                "expires_at": c.get("exp"),
            }),
        ),
        None => json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({
                "code": "invalid_jwt",
                "message": format!("No valid {name} cookie: log in again."),
            }),
        ),
    }
}

/// Liveness: the process answers (200), and says whether its challenge store does.
async fn healthz(State(app): State<Arc<App>>) -> Resp {
    let store = match app.challenges.health().await {
        Ok(()) => "up".to_string(),
        Err(e) => format!("down: {e}"),
    };
    json(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "state": app.challenges.describe(), "store": store }),
    )
}

/// Readiness: 503 while the challenge store cannot be reached, so a load balancer sends
/// logins to a replica that can serve them.
async fn readyz(State(app): State<Arc<App>>) -> Resp {
    match app.challenges.health().await {
        Ok(()) => json(StatusCode::OK, &serde_json::json!({ "ready": true })),
        Err(e) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "ready": false, "reason": e.to_string() }),
        ),
    }
}

async fn home() -> Resp {
    html(
        StatusCode::OK,
        pages::layout(
            "Reference server",
            "<h1>sesame reference server</h1><p>This server issues login challenges for <code>sesame login</code>.</p>",
        ),
        None,
    )
}

async fn not_found(State(app): State<Arc<App>>, ClientIp(ip): ClientIp, req: Request) -> Resp {
    let resp = problem(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing at this address.",
    );
    observe::log_line(
        app.log(),
        ip,
        req.method(),
        "other",
        resp.status(),
        Duration::ZERO,
    );
    resp
}

/// `forwarded`: the value of the trusted proxy header, if one is configured and was sent.
fn client_ip(config: &Config, peer: SocketAddr, forwarded: Option<&str>) -> IpAddr {
    let from_header = forwarded
        .filter(|_| config.trusted_proxy_header.is_some())
        // A proxy appends the address it saw: the last entry is the one it vouches for.
        .and_then(|v| v.rsplit(',').next()?.trim().parse::<IpAddr>().ok());
    let ip = from_header.unwrap_or(peer.ip());
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn query_param(uri: &hyper::Uri, name: &str) -> Option<String> {
    let q = uri.query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Accepts a redirect URI only if it is plain http to a loopback host with a port: the browser
/// is sent there after the decision, and anything else would be an open redirect.
fn loopback_redirect(text: &str) -> Option<Url> {
    let url = Url::parse(text).ok()?;
    (url.scheme() == "http"
        && sesame_login::http::is_loopback(&url)
        && url.port().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none())
    .then_some(url)
}

async fn generator(app: &App, ip: IpAddr, user: &str, method: &Method, uri: &hyper::Uri) -> Resp {
    if method != Method::GET {
        return message(StatusCode::METHOD_NOT_ALLOWED, "use GET");
    }
    let user = user.to_string();
    if user.trim().is_empty()
        || user.len() > MAX_USER_LEN
        || user.contains('/')
        || user.chars().any(char::is_control)
    {
        return message(StatusCode::BAD_REQUEST, "invalid user name");
    }
    let redirect_uri = query_param(uri, "redirect_uri").and_then(|r| loopback_redirect(&r));
    let state = query_param(uri, "state").filter(|s| !s.is_empty() && s.len() <= MAX_STATE_LEN);
    let (redirect_uri, state) = match (redirect_uri, state) {
        (Some(r), Some(s)) => (Some(r), Some(s)),
        _ => (None, None),
    };
    let created = app
        .challenges
        .create(
            NewChallenge {
                user,
                ip,
                now: SystemTime::now(),
                ttl: app.config.challenge_ttl,
                redirect_uri,
                state,
            },
            Limits {
                max_pending: app.config.max_pending,
                max_per_ip: app.config.max_pending_per_ip,
            },
        )
        .await;
    let (token, code) = match created {
        Ok(Created::New { token, code }) => {
            app.metrics.event("generated");
            (token, code)
        }
        Ok(Created::Full) => {
            app.metrics.event("refused_full");
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many login requests are pending; try again in a minute",
            );
        }
        Ok(Created::IpFull) => {
            app.metrics.event("refused_address_limit");
            let mut r = message(
                StatusCode::TOO_MANY_REQUESTS,
                "too many login requests are pending from your address; finish or wait out one of them",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            return r;
        }
        Err(e) => return unavailable(&e),
    };
    // Tokens are URL-safe base64, so joining cannot fail; the base is the fallback.
    let join = |p: &str| {
        app.base
            .join(&format!("{}{token}", p.trim_start_matches('/')))
            .unwrap_or_else(|_| app.base.clone())
            .to_string()
    };
    json(
        StatusCode::OK,
        &GeneratorResponse {
            challenge_url: join(VALIDATOR_PAGE_PATH),
            polling_url: join(POLLER_PATH),
            user_code: Some(code),
            extensions: [EXT_CALLBACK, EXT_LONG_POLL, EXT_USER_CODE, EXT_DENY]
                .map(String::from)
                .to_vec(),
        },
    )
}

/// The challenge store cannot be reached: 503 with a JSON error; `Retry-After` is added to
/// every 503 by the logging layer.
fn unavailable(e: &StateError) -> Resp {
    let mut r = json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({
            "status": "error",
            "error": "state_unavailable",
            "message": format!("the login server cannot reach its challenge store: {e}; try again shortly"),
        }),
    );
    r.extensions_mut().insert(StoreFailed);
    r
}

/// A status-only poll answer: the bytes serde would write for a [`PollResponse`] with only
/// `status`, without serialising (a poll is the hottest request; a test keeps them equal).
fn status_only(code: StatusCode, status: WireStatus) -> Resp {
    let body: &'static str = match status {
        WireStatus::Pending => r#"{"status":"pending"}"#,
        WireStatus::Success => r#"{"status":"success"}"#,
        WireStatus::Unknown => r#"{"status":"unknown"}"#,
        WireStatus::Expired => r#"{"status":"expired"}"#,
        WireStatus::Unauthorized => r#"{"status":"unauthorized"}"#,
        WireStatus::Denied => r#"{"status":"denied"}"#,
        WireStatus::SlowDown => r#"{"status":"slow_down"}"#,
    };
    respond(
        code,
        "application/json",
        Bytes::from_static(body.as_bytes()),
    )
}

/// What a poll comes to.
enum Reply {
    Status(WireStatus),
    Success(PollResponse),
}

/// `wait_until`: until when to hold a pending poll open (the long-poll extension). The answer,
/// and whether it is `pending`.
async fn poller(
    app: &App,
    ip: IpAddr,
    token: &str,
    wait_until: tokio::time::Instant,
) -> (Resp, bool) {
    let check_ip = app.config.ip_check.then_some(ip);
    let mut rewatched = false;
    loop {
        let now = SystemTime::now();
        let polled = match app.challenges.poll(token, check_ip, now).await {
            Ok(p) => p,
            Err(e) => return (unavailable(&e), false),
        };
        let reply = match polled {
            Poll::Unknown => {
                // RFC 8628 §5.2: slow down whoever guesses tokens.
                if let Some(wait) = app.guesses.unknown(ip) {
                    app.metrics.poll(WireStatus::SlowDown);
                    let mut r = status_only(StatusCode::TOO_MANY_REQUESTS, WireStatus::SlowDown);
                    if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                        r.headers_mut().insert(header::RETRY_AFTER, v);
                    }
                    return (r, false);
                }
                Reply::Status(WireStatus::Unknown)
            }
            Poll::Expired => Reply::Status(WireStatus::Expired),
            Poll::Unauthorized => Reply::Status(WireStatus::Unauthorized),
            Poll::Denied => Reply::Status(WireStatus::Denied),
            Poll::Collected { user } => Reply::Success(collected(app, user, now)),
            Poll::Pending { expires } => {
                let expires_in = expires.duration_since(now).unwrap_or_default();
                let until = wait_until.min(tokio::time::Instant::now() + expires_in);
                if tokio::time::Instant::now() >= until {
                    Reply::Status(WireStatus::Pending)
                } else {
                    let watch = match app.challenges.watch(token, check_ip, now).await {
                        Ok(w) => w,
                        Err(e) => return (unavailable(&e), false),
                    };
                    match watch {
                        Some(mut watch) => {
                            let _waiting = metrics::Waiting::start(&app.metrics.waiting);
                            tokio::select! {
                                _ = watch.changed.changed() => {}
                                _ = tokio::time::sleep_until(until) => {}
                            }
                            continue;
                        }
                        // Decided in between: poll again. A store that keeps saying "pending"
                        // to the poll but not to `watch` gets a pending answer, not a busy loop.
                        None if !rewatched => {
                            rewatched = true;
                            continue;
                        }
                        None => Reply::Status(WireStatus::Pending),
                    }
                }
            }
        };
        return answer(app, reply);
    }
}

/// The success answer to a poll of an approved challenge: a session JWT for `user`, minted now.
fn collected(app: &App, user: String, now: SystemTime) -> PollResponse {
    let now = unix_seconds(now);
    let exp = now + app.config.jwt_ttl.as_secs() as i64;
    let jwt = token::mint(
        app.config.jwt_secret.expose_bytes(),
        &user,
        &app.config.groups,
        app.base.as_str(),
        now,
        exp,
    );
    PollResponse {
        status: WireStatus::Success.as_str().into(),
        cookie_name: Some(app.config.cookie_name.clone()),
        expiration: Some(exp.into()),
        encoded_jwt: Some(jwt),
        user: Some(user),
    }
}

/// A poll's reply as the response, counted in the metrics; and whether it is `pending`.
fn answer(app: &App, reply: Reply) -> (Resp, bool) {
    match reply {
        Reply::Status(status) => {
            app.metrics.poll(status);
            (
                status_only(StatusCode::OK, status),
                status == WireStatus::Pending,
            )
        }
        Reply::Success(r) => {
            app.metrics.poll(WireStatus::Success);
            app.metrics.event("collected");
            (json(StatusCode::OK, &r), false)
        }
    }
}

/// Who is approving: the requested user in dev mode, the proxy's header otherwise.
fn approver(
    app: &App,
    req_headers: &HeaderMap,
    requested: &str,
) -> Result<String, (StatusCode, String)> {
    match &app.config.auth {
        Auth::Dev => Ok(requested.to_string()),
        Auth::Header(h) => {
            // Behind a proxy that appends rather than replaces, a client's own header line
            // comes first: with two, which one the proxy set cannot be told.
            let lines = req_headers.get_all(h).iter().count();
            if lines > 1 {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The request carries the {h} header {lines} times; the SSO proxy must replace it, not append to it."
                    ),
                ));
            }
            let user = req_headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or((
                    StatusCode::UNAUTHORIZED,
                    format!("You are not signed in: the SSO proxy did not set the {h} header."),
                ))?;
            if user != requested {
                return Err((
                    StatusCode::FORBIDDEN,
                    format!(
                        "You are signed in as {user}, but this login request is for {requested}. Only {requested} can approve it."
                    ),
                ));
            }
            Ok(user.to_string())
        }
    }
}

/// The checks both the page and the API make before showing or deciding.
async fn check_challenge(
    app: &App,
    ip: IpAddr,
    token: &str,
    headers: &HeaderMap,
) -> Result<state::View, (StatusCode, &'static str, String)> {
    let now = SystemTime::now();
    let view = app.challenges.view(token, now).await.map_err(|e| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            format!(
                "The login server cannot reach its challenge store ({e}). Try again in a moment."
            ),
        )
    })?;
    let view = view.ok_or((
        StatusCode::NOT_FOUND,
        "Unknown login request",
        "This login link is not valid here: it was never issued, or it was already used. Run sesame login again.".to_string(),
    ))?;
    if view.expired {
        return Err((
            StatusCode::GONE,
            "Login request expired",
            "This login request expired before it was approved. Run sesame login again.".into(),
        ));
    }
    if view.status != Status::Pending {
        return Err((
            StatusCode::CONFLICT,
            "Already decided",
            "This login request was already approved or denied.".into(),
        ));
    }
    approver(app, headers, &view.user).map_err(|(s, m)| (s, "Not allowed", m))?;
    if app.config.ip_check && ip != view.ip {
        return Err((
            StatusCode::FORBIDDEN,
            "Address mismatch",
            format!(
                "This browser reaches the server from {ip}, but the login was requested from {}. Use a browser on the same network as the terminal (check VPN and proxy settings).",
                view.ip
            ),
        ));
    }
    Ok(view)
}

async fn read_body(req: Request) -> Result<Bytes, Resp> {
    match axum::body::to_bytes(req.into_body(), MAX_REQUEST_BODY).await {
        Ok(b) => Ok(b),
        Err(_) => Err(message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large or unreadable",
        )),
    }
}

fn log_decision(app: &App, approved: bool, view: &state::View) {
    let decision = if approved { "approved" } else { "denied" };
    app.metrics.event(decision);
    if app.config.log {
        tracing::info!(
            target: DECISION_LOG,
            event = decision,
            user = %view.user,
            requested_from = %view.ip,
        );
    }
}

async fn validator_page(app: &App, ip: IpAddr, token: &str, req: Request) -> Resp {
    let view = match check_challenge(app, ip, token, req.headers()).await {
        Ok(v) => v,
        Err((s, title, detail)) => {
            let mut r = problem(s, title, &detail);
            if s == StatusCode::SERVICE_UNAVAILABLE {
                r.extensions_mut().insert(StoreFailed);
            }
            return r;
        }
    };
    match *req.method() {
        Method::GET => approval_page(app, token, &view, req.uri().path()).await,
        Method::POST => decide_on_page(app, token, &view, req).await,
        _ => problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "Use GET or POST.",
        ),
    }
}

/// The validator page's GET: the approval form, with the challenge's one-time nonce, posted
/// to `action` (the page's own path).
async fn approval_page(app: &App, token: &str, view: &state::View, action: &str) -> Resp {
    let nonce = match app.challenges.take_nonce(token).await {
        Ok(n) => n,
        Err(e) => {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                &format!(
                    "The login server cannot reach its challenge store ({e}). Reload in a moment."
                ),
            );
        }
    };
    let Some(nonce) = nonce else {
        return problem(
            StatusCode::CONFLICT,
            "Link already opened",
            "This approval link works once and was already opened. If curl or a link preview opened it, the page it received holds the one-time form, with the curl command that approves from a terminal. Otherwise, for your safety, run sesame login again to get a new link.",
        );
    };
    let page_url = app
        .base
        .join(&format!(
            "{}{token}",
            VALIDATOR_PAGE_PATH.trim_start_matches('/')
        ))
        .map(|u| u.to_string())
        .unwrap_or_default();
    let page = pages::approval(&pages::Approval {
        user: &view.user,
        ip: &view.ip.to_string(),
        created_unix: unix_seconds(view.created),
        user_code: &view.user_code,
        nonce: &nonce,
        action,
        page_url: &page_url,
        dev_mode: matches!(app.config.auth, Auth::Dev),
    });
    html(StatusCode::OK, page, view.redirect_uri.as_ref())
}

/// The validator page's POST: the decision in the form, made, then the browser sent on.
async fn decide_on_page(app: &App, token: &str, view: &state::View, req: Request) -> Resp {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (nonce, approve) = page_form(&body);
    let Some(approve) = approve else {
        return problem(
            StatusCode::BAD_REQUEST,
            "No decision",
            "Press Approve or Deny.",
        );
    };
    let decided = match app
        .challenges
        .decide(token, &nonce, approve, SystemTime::now())
        .await
    {
        Ok(d) => d,
        Err(e) => {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                &format!(
                    "The login server cannot reach its challenge store ({e}). Go back and press the button again in a moment."
                ),
            );
        }
    };
    if !decided {
        return problem(
            StatusCode::BAD_REQUEST,
            "Form no longer valid",
            "This approval form is not the one issued for this login request. Run sesame login again.",
        );
    }
    log_decision(app, approve, view);
    after_decision(view, approve)
}

/// The approval form's fields: the nonce (empty if absent) and the decision (`None` if absent).
fn page_form(body: &[u8]) -> (String, Option<bool>) {
    let mut nonce = String::new();
    let mut approve = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        match &*k {
            "nonce" => nonce = v.into_owned(),
            "decision" => approve = Some(v == "approve"),
            _ => {}
        }
    }
    (nonce, approve)
}

/// Where the browser goes after a decision: back to the loopback callback when the challenge
/// has one, else the outcome page.
fn after_decision(view: &state::View, approve: bool) -> Resp {
    let location = match (&view.redirect_uri, &view.state) {
        (Some(redirect), Some(state)) => {
            let mut to = redirect.clone();
            {
                let mut q = to.query_pairs_mut();
                q.append_pair("state", state);
                if !approve {
                    q.append_pair("error", "access_denied");
                }
            }
            HeaderValue::from_str(to.as_str()).ok()
        }
        _ => None,
    };
    match location {
        Some(to) => {
            let mut r = respond(StatusCode::SEE_OTHER, "text/plain", "");
            r.headers_mut().insert(header::LOCATION, to);
            r
        }
        None => {
            let decision = if approve {
                pages::Decision::Approved
            } else {
                pages::Decision::Denied
            };
            html(StatusCode::OK, pages::outcome(decision, &view.user), None)
        }
    }
}

async fn validator_api(app: &App, ip: IpAddr, token: &str, req: Request) -> Resp {
    let view = match check_challenge(app, ip, token, req.headers()).await {
        Ok(v) => v,
        Err((StatusCode::SERVICE_UNAVAILABLE, _, detail)) => {
            return unavailable(&StateError(detail));
        }
        Err((s, _, detail)) => return message(s, &detail),
    };
    match *req.method() {
        Method::GET => {
            let nonce = match app.challenges.take_nonce(token).await {
                Ok(n) => n,
                Err(e) => return unavailable(&e),
            };
            let reply = match nonce {
                Some(nonce) => ValidatorView {
                    message: format!(
                        "A command-line login for {} is waiting for approval. Check that the code {} matches your terminal.",
                        view.user, view.user_code
                    ),
                    nonce: Some(nonce),
                    show_approve_button: true,
                    user: Some(view.user.clone()),
                    user_code: Some(view.user_code.clone()),
                },
                None => ValidatorView {
                    message: "This unique challenge URL has already been viewed. Please try requesting a new challenge URL.".into(),
                    nonce: None,
                    show_approve_button: false,
                    user: None,
                    user_code: None,
                },
            };
            json(StatusCode::OK, &reply)
        }
        Method::POST => {
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let Ok(decision) = serde_json::from_slice::<ValidatorDecision>(&body) else {
                return message(
                    StatusCode::BAD_REQUEST,
                    "expected JSON {\"nonce\": \"...\"}",
                );
            };
            let approve = match decision.action.as_deref() {
                None | Some("approve") => true,
                Some("deny") => false,
                Some(_) => {
                    return message(StatusCode::BAD_REQUEST, "action must be approve or deny");
                }
            };
            let decided = match app
                .challenges
                .decide(token, &decision.nonce, approve, SystemTime::now())
                .await
            {
                Ok(d) => d,
                Err(e) => return unavailable(&e),
            };
            if !decided {
                return message(
                    StatusCode::BAD_REQUEST,
                    "Unable to validate challenge URL. The Nonce you've submitted is invalid. Please try requesting a new challenge URL.",
                );
            }
            log_decision(app, approve, &view);
            let text = if approve {
                "You've successfully authenticated and may now close this page."
            } else {
                "The login request was denied."
            };
            message(StatusCode::OK, text)
        }
        _ => message(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_only_to_loopback_http_with_a_port() {
        assert!(loopback_redirect("http://127.0.0.1:5000/callback").is_some());
        assert!(loopback_redirect("http://[::1]:5000/callback").is_some());
        assert!(loopback_redirect("http://localhost:5000/callback").is_some());
        assert!(loopback_redirect("http://127.0.0.1/callback").is_none());
        assert!(loopback_redirect("https://127.0.0.1:5000/callback").is_none());
        assert!(loopback_redirect("http://evil.example:5000/callback").is_none());
        assert!(loopback_redirect("http://user@127.0.0.1:5000/callback").is_none());
        assert!(loopback_redirect("javascript:alert(1)").is_none());
    }

    #[tokio::test]
    async fn status_only_answers_are_what_serde_writes() {
        for status in WireStatus::ALL {
            let resp = status_only(StatusCode::OK, status);
            let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
            let expected = serde_json::to_vec(&PollResponse {
                status: status.as_str().into(),
                ..Default::default()
            })
            .unwrap();
            assert_eq!(body, expected, "{status:?}");
        }
    }
}
