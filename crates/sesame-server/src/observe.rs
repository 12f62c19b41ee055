//! One log line and one latency observation per request: a tower layer around each route that
//! records its route template (never the path: paths carry tokens), the client address, the
//! status and the time taken, and sees that every answer says `Cache-Control: no-store` and
//! `X-Content-Type-Options: nosniff`. Hand-written rather than axum's `middleware::from_fn`, which boxes
//! a future and clones the inner service per request, a measurable share of a poll's cost.

use super::metrics::{self, Metrics};
use super::park::Parked;
use axum::body::Body;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The client's address as the checks see it (the TCP peer, or the trusted proxy's header),
/// put on every request by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// Marks a response that failed for want of the challenge store, for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct StoreFailed;

#[derive(Clone)]
pub struct Observe {
    metrics: Arc<Metrics>,
    /// Whether requests are logged (a `tracing` event each).
    log: bool,
    /// The route's index in [`metrics::ROUTES`].
    route: usize,
}

impl Observe {
    pub fn new(metrics: Arc<Metrics>, log: bool) -> Self {
        Observe {
            metrics,
            log,
            route: metrics::OTHER,
        }
    }

    /// The layer for the route with this template (a path as given to the router).
    pub fn route(&self, template: &str) -> Self {
        let route = metrics::route_index(template.trim_start_matches('/'));
        debug_assert_ne!(
            route,
            metrics::OTHER,
            "{template} is missing from metrics::ROUTES"
        );
        Observe {
            route,
            ..self.clone()
        }
    }
}

impl<S> tower::Layer<S> for Observe {
    type Service = Observed<S>;
    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            observe: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
    observe: Observe,
}

impl<S, B> tower::Service<Request<B>> for Observed<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // A parked long-poll started when it arrived, not when hyper got it.
        let started = req
            .extensions()
            .get::<Parked>()
            .map_or_else(Instant::now, |p| p.since.into_std());
        let seen = Seen {
            route: self.observe.route,
            ip: req.extensions().get::<ClientIp>().map(|c| c.0),
            method: req.method().clone(),
            started,
            observe: self.observe.clone(),
        };
        ObservedFuture {
            inner: self.inner.call(req),
            seen: Some(seen),
        }
    }
}

struct Seen {
    route: usize,
    ip: Option<IpAddr>,
    method: Method,
    started: Instant,
    observe: Observe,
}

pin_project_lite::pin_project! {
    pub struct ObservedFuture<F> {
        #[pin]
        inner: F,
        seen: Option<Seen>,
    }
}

impl<F, E> Future for ObservedFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(resp), Some(seen)) = (&mut result, this.seen.take()) {
            finish(seen, resp);
        }
        Poll::Ready(result)
    }
}

fn finish(seen: Seen, resp: &mut Response<Body>) {
    let took = seen.started.elapsed();
    let metrics = &seen.observe.metrics;
    metrics.observe(seen.route, took.as_secs_f64());
    if resp.extensions().get::<StoreFailed>().is_some() {
        metrics.store_errors.inc();
    }
    let headers = resp.headers_mut();
    // What every answer carries, also those axum makes (405, rejected extractors).
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if !headers.contains_key(header::X_CONTENT_TYPE_OPTIONS) {
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(header::RETRY_AFTER)
    {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    }
    if let Some(ip) = seen.ip {
        log_line(
            seen.observe.log,
            ip,
            &seen.method,
            metrics::ROUTES[seen.route],
            resp.status(),
            took,
        );
    }
}

/// One `tracing` event per request ([`crate::config::ACCESS_LOG`]): the route template, never the
/// path (paths carry tokens).
pub fn log_line(
    log: bool,
    ip: IpAddr,
    method: &Method,
    route: &str,
    status: StatusCode,
    took: Duration,
) {
    if log {
        tracing::info!(
            target: crate::config::ACCESS_LOG,
            ip = %ip,
            method = method.as_str(),
            route,
            status = status.as_u16(),
            ms = took.as_secs_f64() * 1000.0,
        );
    }
}
