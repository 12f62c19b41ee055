//! `/metrics` in the Prometheus text format (the `prometheus-client` crate): challenges by
//! event, polls by the status answered, long-polls waiting now, request latency by route, and
//! errors of the challenge store (Redis).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sesame_login::protocol::WireStatus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Event {
    pub event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Status {
    pub status: &'static str,
}

/// The statuses a poll is answered with, the protocol's own (labels are their `&'static str`
/// words: no allocation per poll).
const STATUSES: [WireStatus; 7] = WireStatus::ALL;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    pub route: &'static str,
}

/// The route templates, so that a request's label is a `&'static str` (no allocation per
/// request); anything else is "other" (the last).
pub const ROUTES: &[&str] = &[
    "noauth/v1/challenge_poller/{token}",
    "noauth/v1/challenge_generator/{user}",
    "api/v2/challenge_validator/{token}",
    "challenge_validator/{token}",
    "api/v2/user_profile",
    "api/v1/get_credentials",
    "api/v1/get_roles",
    "api/v2/get_roles",
    "healthz",
    "readyz",
    "metrics",
    "",
    "other",
];

/// The index of "other" in [`ROUTES`].
pub const OTHER: usize = ROUTES.len() - 1;

/// The index of a route template in [`ROUTES`].
pub fn route_index(route: &str) -> usize {
    ROUTES[..OTHER]
        .iter()
        .position(|r| *r == route)
        .unwrap_or(OTHER)
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 33 s: the long-polls are in the top buckets.
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

pub struct Metrics {
    registry: Registry,
    challenges: Family<Event, Counter>,
    pub waiting: Gauge,
    pub store_errors: Counter,
    /// The series of [`ROUTES`] and [`STATUSES`], looked up once rather than per request.
    route_latency: Vec<Histogram>,
    poll_statuses: Vec<Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let challenges = Family::<Event, Counter>::default();
        let polls = Family::<Status, Counter>::default();
        let waiting = Gauge::default();
        let latency: Family<Route, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let store_errors = Counter::default();
        let mut registry = Registry::with_prefix("sesame_serve");
        registry.register(
            "challenges",
            "Challenges by event: generated, approved, denied, collected; refused_full (--max-pending), refused_address_limit (--max-pending-per-ip)",
            challenges.clone(),
        );
        registry.register("polls", "Polls by the status answered", polls.clone());
        registry.register(
            "long_polls_waiting",
            "Long-polls held open now, waiting for a decision",
            waiting.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Request latency by route template",
            latency.clone(),
        );
        registry.register(
            "store_errors",
            "Requests that failed because the challenge store (Redis) could not be reached",
            store_errors.clone(),
        );
        let route_latency = ROUTES
            .iter()
            .map(|&route| latency.get_or_create(&Route { route }).clone())
            .collect();
        let poll_statuses = STATUSES
            .iter()
            .map(|s| polls.get_or_create(&Status { status: s.as_str() }).clone())
            .collect();
        Metrics {
            registry,
            challenges,
            waiting,
            store_errors,
            route_latency,
            poll_statuses,
        }
    }
}

impl Metrics {
    pub fn event(&self, event: &'static str) {
        self.challenges.get_or_create(&Event { event }).inc();
    }

    pub fn poll(&self, status: WireStatus) {
        if let Some(c) = STATUSES
            .iter()
            .position(|s| *s == status)
            .and_then(|i| self.poll_statuses.get(i))
        {
            c.inc();
        }
    }

    /// `route`: an index into [`ROUTES`].
    pub fn observe(&self, route: usize, seconds: f64) {
        if let Some(h) = self.route_latency.get(route) {
            h.observe(seconds);
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Counts a long-poll as waiting for as long as it lives (also when the client goes away).
pub struct Waiting<'a>(&'a Gauge);

impl<'a> Waiting<'a> {
    pub fn start(g: &'a Gauge) -> Self {
        g.inc();
        Waiting(g)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
