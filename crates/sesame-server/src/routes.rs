//! The routes: axum's router with one handler per endpoint, and the poll shortcut around it.

use crate::app::{App, MAX_REQUEST_BODY};
use crate::generate::generator;
use crate::observe::ClientIp;
use crate::poll::poller;
use crate::respond::{Resp, html, json, problem, respond};
use crate::validator::{validator_api, validator_page};
use crate::{observe, park, shortcut};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, any, get};
use hyper::header::HeaderValue;
use hyper::{HeaderMap, StatusCode, header};
use sesame_login::pages;
use sesame_login::protocol::{
    GENERATOR_PATH, MAX_LONG_POLL_SECS, POLLER_PATH, VALIDATOR_API_PATH, VALIDATOR_PAGE_PATH,
    WHOAMI_PATH,
};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The cap on a request body (only the validator routes read one).
pub(crate) fn body_limit() -> tower_http::limit::RequestBodyLimitLayer {
    tower_http::limit::RequestBodyLimitLayer::new(MAX_REQUEST_BODY)
}

/// The deadline of a request that reads a body.
pub(crate) fn body_deadline() -> tower_http::timeout::TimeoutLayer {
    tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(MAX_LONG_POLL_SECS + 15),
    )
}

/// Every request's way to its handler: a poll by the shortcut, anything else by the router.
pub(crate) fn routes(
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
pub(crate) fn router(app: Arc<App>, observe: &observe::Observe) -> Router {
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
        (
            format!("/{}", sesame_login::aws::consoleme::CREDENTIALS_PATH),
            axum::routing::post(crate::aws_routes::get_credentials_route)
                .layer::<_, std::convert::Infallible>(body_deadline())
                .layer::<_, std::convert::Infallible>(body_limit()),
        ),
        (
            "/api/v1/get_roles".into(),
            get(crate::aws_routes::get_roles_v1_route),
        ),
        (
            "/api/v2/get_roles".into(),
            get(crate::aws_routes::get_roles_v2_route),
        ),
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

pub(crate) async fn generator_route(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    Path(user): Path<String>,
    req: Request,
) -> Resp {
    generator(&app, ip, &user, req.method(), req.uri()).await
}

pub(crate) async fn poller_route(
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
pub(crate) fn poll_shortcut<B>(
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
pub(crate) fn poll_wait(uri: &hyper::Uri) -> u64 {
    uri.query()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "wait")
                .and_then(|(_, v)| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
        .min(MAX_LONG_POLL_SECS)
}

pub(crate) async fn poll_answer(
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

pub(crate) async fn validator_api_route(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    req: Request,
) -> Resp {
    validator_api(&app, ip, &token, req).await
}

pub(crate) async fn validator_page_route(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    req: Request,
) -> Resp {
    validator_page(&app, ip, &token, req).await
}

/// Who the session cookie belongs to, as ConsoleMe's user profile endpoint answers; a missing,
/// forged or expired cookie gets ConsoleMe's 403 `{"code":"invalid_jwt"}`.
pub(crate) async fn whoami_route(State(app): State<Arc<App>>, headers: HeaderMap) -> Resp {
    match crate::session_cookie::session_claims(&app, &headers) {
        Some(c) => json(
            StatusCode::OK,
            &serde_json::json!({
                "user": c.user,
                "groups": c.all.get("groups"),
                "expires_at": c.all.get("exp"),
            }),
        ),
        None => json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({
                "code": "invalid_jwt",
                "message": format!("No valid {} cookie: log in again.", app.config.cookie_name),
            }),
        ),
    }
}

/// Liveness: the process answers (200), and says whether its challenge store does.
pub(crate) async fn healthz(State(app): State<Arc<App>>) -> Resp {
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
pub(crate) async fn readyz(State(app): State<Arc<App>>) -> Resp {
    match app.challenges.health().await {
        Ok(()) => json(StatusCode::OK, &serde_json::json!({ "ready": true })),
        Err(e) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "ready": false, "reason": e.to_string() }),
        ),
    }
}

pub(crate) async fn home() -> Resp {
    html(
        StatusCode::OK,
        pages::layout(
            "Reference server",
            "<h1>sesame reference server</h1><p>This server issues login challenges for <code>sesame login</code>.</p>",
        ),
        None,
    )
}

pub(crate) async fn not_found(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    req: Request,
) -> Resp {
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
