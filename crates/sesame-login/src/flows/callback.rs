//! The loopback callback server (RFC 8252 §7.3): lets the browser tell the terminal the moment
//! the user has decided. Bound to 127.0.0.1 only, serves nothing but `/callback`, checks `state`
//! in constant time and the `Host` header against loopback names (a DNS-rebinding defence), and
//! answers the browser with the login's real outcome once the terminal knows it.
//!
//! The token never travels through the browser: for the challenge flow the callback only wakes
//! the poller, which collects the token from the server.

use crate::error::Error;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use url::Url;

/// What a valid callback carried (the query parameters the flows care about).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// The authorization code, when the provider granted one.
    pub code: Option<String>,
    /// The OAuth error code when it did not (`access_denied`, ...).
    pub error: Option<String>,
    /// The provider's words about the error, if it sent any (untrusted text).
    pub error_description: Option<String>,
    /// The issuer that answered (RFC 9207), when the provider says.
    pub iss: Option<String>,
}

/// The page the browser gets once the terminal knows how the login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// The session is saved.
    SignedIn {
        /// The user signed in, as shown on the page.
        user: String,
    },
    /// The login was denied.
    Denied,
    /// The login failed after the browser came back.
    Failed {
        /// What went wrong, as a sentence; the page adds "See your terminal".
        message: String,
    },
}

/// A running callback server, stopped when dropped.
pub struct Callback {
    redirect_uri: Url,
    state: String,
    rx: mpsc::Receiver<Params>,
    outcome: watch::Sender<Option<Page>>,
    received: Arc<AtomicBool>,
    delivered: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A random `state`: 256 bits, URL-safe.
pub fn random_state() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

struct Shared {
    port: u16,
    state: String,
    tx: mpsc::Sender<Params>,
    outcome: watch::Receiver<Option<Page>>,
    received: Arc<AtomicBool>,
}

impl Callback {
    /// Listens on 127.0.0.1:`port` (0: any free port).
    pub async fn bind(port: u16) -> Result<Callback, Error> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                Error::usage(format!(
                    "Port {port} on 127.0.0.1 is already in use, so the login callback cannot listen there."
                ))
                .hint("Free the port, or choose another with --port N (or `port` in the profile's config; 0 picks any free port).")
            } else {
                Error::other(format!("Could not listen on {addr} for the login callback: {e}."))
                    .hint("Choose another port with --port N, or 0 for any free port.")
            }
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::other(e.to_string()))?
            .port();
        let redirect_uri = Url::parse(&format!("http://127.0.0.1:{port}/callback"))
            .map_err(|e| Error::other(format!("No callback URL for port {port}: {e}.")))?;
        let state = random_state();
        let (tx, rx) = mpsc::channel(4);
        let (outcome, outcome_rx) = watch::channel(None);
        let received = Arc::new(AtomicBool::new(false));
        let delivered = Arc::new(tokio::sync::Notify::new());
        let shared = Arc::new(Shared {
            port,
            state: state.clone(),
            tx,
            outcome: outcome_rx,
            received: received.clone(),
        });
        let delivered_tx = delivered.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                let valid = Arc::new(AtomicBool::new(false));
                let conn_valid = valid.clone();
                let svc = service_fn(move |req| {
                    let shared = shared.clone();
                    let valid = conn_valid.clone();
                    async move { Ok::<_, Infallible>(handle(&shared, &valid, req).await) }
                });
                let delivered = delivered_tx.clone();
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                    if valid.load(Ordering::SeqCst) {
                        delivered.notify_one();
                    }
                });
            }
        });
        Ok(Callback {
            redirect_uri,
            state,
            rx,
            outcome,
            received,
            delivered,
            task,
        })
    }

    /// `http://127.0.0.1:PORT/callback`, with the port actually bound.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// The random `state` a callback must carry to be taken.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The next callback whose `state` matched. Forged or stray requests never get here.
    pub async fn next(&mut self) -> Option<Params> {
        self.rx.recv().await
    }

    /// Tells every waiting (and later) browser request how the login ended.
    pub fn finish(&self, page: Page) {
        self.outcome.send_replace(Some(page));
    }

    /// Whether a callback with our `state` has arrived: a browser is waiting for its page.
    pub fn received(&self) -> bool {
        self.received.load(Ordering::SeqCst)
    }

    /// Waits up to `max` until a browser that came back (or is about to: it was redirected just
    /// as the poller finished) has been sent its page, so that the tab does not end on
    /// "connection refused". The callback response closes its connection, so "sent" is exact.
    pub async fn linger(&self, max: Duration) {
        let _ = tokio::time::timeout(max, self.delivered.notified()).await;
    }
}

fn page_response(status: StatusCode, html: String) -> Response<Full<Bytes>> {
    crate::pages::response(status, html, crate::pages::STRICT_CSP)
}

fn host_is_loopback(host: &str, port: u16) -> bool {
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|h| host.eq_ignore_ascii_case(&format!("{h}:{port}")))
}

/// A request to the callback, as far as the checks go (untrusted input: anything on this
/// machine, a browser tab included, can send it).
pub struct CallbackRequest<'a> {
    /// The `Host` header, empty if missing.
    pub host: &'a str,
    /// The port the server is bound to, which `host` must name.
    pub port: u16,
    /// Whether the method is GET.
    pub get: bool,
    /// The request path; only `/callback` is served.
    pub path: &'a str,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
}

/// Why a callback request is turned away.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The `Host` is not a loopback name with our port (DNS rebinding).
    Host,
    /// Not a GET of `/callback`.
    NotFound,
    /// The `state` is missing or not ours (compared in constant time).
    State,
}

/// Checks a callback request and reads its parameters.
pub fn read_request(req: &CallbackRequest<'_>, expected_state: &str) -> Result<Params, Rejected> {
    if !host_is_loopback(req.host, req.port) {
        return Err(Rejected::Host);
    }
    if req.path != "/callback" || !req.get {
        return Err(Rejected::NotFound);
    }
    let mut params = Params::default();
    let mut state = None;
    if let Some(q) = req.query {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            let v = Some(v.into_owned());
            match &*k {
                "state" => state = v,
                "code" => params.code = v,
                "error" => params.error = v,
                "error_description" => params.error_description = v,
                "iss" => params.iss = v,
                _ => {}
            }
        }
    }
    let state_ok = state.is_some_and(|s| {
        use subtle::ConstantTimeEq;
        bool::from(s.as_bytes().ct_eq(expected_state.as_bytes()))
    });
    if state_ok {
        Ok(params)
    } else {
        Err(Rejected::State)
    }
}

async fn handle(
    shared: &Shared,
    conn_valid: &AtomicBool,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let mut r = respond(shared, conn_valid, req).await;
    if conn_valid.load(Ordering::SeqCst) {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

async fn respond(
    shared: &Shared,
    conn_valid: &AtomicBool,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    use crate::pages;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let request = CallbackRequest {
        host,
        port: shared.port,
        get: req.method() == hyper::Method::GET,
        path: req.uri().path(),
        query: req.uri().query(),
    };
    let params = match read_request(&request, &shared.state) {
        Ok(p) => p,
        Err(Rejected::Host) => {
            return page_response(
                StatusCode::BAD_REQUEST,
                pages::problem("Bad request", "This address only answers to 127.0.0.1."),
            );
        }
        Err(Rejected::NotFound) => {
            return page_response(
                StatusCode::NOT_FOUND,
                pages::problem("Not found", "There is nothing at this address."),
            );
        }
        Err(Rejected::State) => {
            return page_response(
                StatusCode::BAD_REQUEST,
                pages::problem(
                    "Not your login",
                    "This sign-in response does not belong to the login waiting in your terminal (its state does not match). Nothing was done; the terminal keeps waiting.",
                ),
            );
        }
    };
    shared.received.store(true, Ordering::SeqCst);
    conn_valid.store(true, Ordering::SeqCst);
    let _ = shared.tx.try_send(params);
    let mut outcome = shared.outcome.clone();
    let page = tokio::time::timeout(Duration::from_secs(20), outcome.wait_for(Option::is_some))
        .await
        .ok()
        .and_then(|r| r.ok().and_then(|p| p.clone()));
    match page {
        Some(Page::SignedIn { user }) => {
            page_response(StatusCode::OK, pages::callback_signed_in(&user))
        }
        Some(Page::Denied) => {
            page_response(StatusCode::OK, pages::outcome(pages::Decision::Denied, ""))
        }
        Some(Page::Failed { message }) => page_response(
            StatusCode::OK,
            pages::problem(
                "Sign-in did not complete",
                &format!("{message} See your terminal for what to do next."),
            ),
        ),
        None => page_response(
            StatusCode::OK,
            pages::problem(
                "Return to your terminal",
                "The browser part is done; your terminal shows how the login ended.",
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_with_our_port_only() {
        assert!(host_is_loopback("127.0.0.1:5000", 5000));
        assert!(host_is_loopback("localhost:5000", 5000));
        assert!(host_is_loopback("[::1]:5000", 5000));
        assert!(!host_is_loopback("127.0.0.1:5001", 5000));
        assert!(!host_is_loopback("evil.example:5000", 5000));
        assert!(!host_is_loopback("", 5000));
    }

    #[test]
    fn states_are_long_and_distinct() {
        let a = random_state();
        assert!(a.len() >= 43);
        assert_ne!(a, random_state());
    }

    #[tokio::test]
    async fn wrong_state_is_rejected_and_right_state_gets_the_outcome_page() {
        let mut cb = Callback::bind(0).await.unwrap();
        let client = reqwest::Client::new();
        let base = cb.redirect_uri().clone();
        let mut forged = base.clone();
        forged.set_query(Some("state=forged"));
        let r = client.get(forged).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(!cb.received());
        let mut good = base.clone();
        good.query_pairs_mut().append_pair("state", cb.state());
        let req = tokio::spawn(client.get(good).send());
        assert_eq!(cb.next().await.unwrap(), Params::default());
        cb.finish(Page::SignedIn {
            user: "alice".into(),
        });
        let body = req.await.unwrap().unwrap().text().await.unwrap();
        assert!(body.contains("Signed in as alice"), "{body}");
        let mut other = base.clone();
        other.set_path("/other");
        assert_eq!(client.get(other).send().await.unwrap().status(), 404);
    }

    #[tokio::test]
    async fn a_rebinding_host_is_refused() {
        let cb = Callback::bind(0).await.unwrap();
        let mut u = cb.redirect_uri().clone();
        u.query_pairs_mut().append_pair("state", cb.state());
        let r = reqwest::Client::new()
            .get(u)
            .header("Host", "attacker.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(!cb.received());
    }

    #[tokio::test]
    async fn a_busy_port_names_the_port_and_the_flag() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let Err(e) = Callback::bind(port).await else {
            panic!("bind should fail")
        };
        assert!(e.message.contains(&port.to_string()));
        assert!(e.hint.unwrap().contains("--port"));
    }
}
