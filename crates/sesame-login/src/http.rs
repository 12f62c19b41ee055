//! The HTTP client and the rules every request follows: https unless the server is on this
//! machine (or the user said `--allow-http`), no redirects, bounded bodies.

use crate::error::Error;
use crate::login_error::LoginError;
use std::net::IpAddr;
use std::time::Duration;
use url::{Host, Url};

/// Replies larger than this are refused: no protocol message here is near it.
pub const MAX_BODY: usize = 64 * 1024;

/// The client for talking to `url`'s host. Proxies from the environment (`HTTPS_PROXY`, ...)
/// apply except to servers on this machine: a corporate proxy cannot reach our loopback, and
/// `NO_PROXY` rarely lists it.
pub fn client_for(url: &Url) -> Result<reqwest::Client, Error> {
    builder_for(url)?.build().map_err(|e| {
        Error::other(format!(
            "Could not set up the HTTP client: {}.",
            describe(&e)
        ))
        .hint("Check HTTPS_PROXY, HTTP_PROXY and NO_PROXY in your environment.")
    })
}

/// [`client_for`]'s settings, for a caller that adds its own (`sesame proxy`: HTTP/1.1 only).
pub fn builder_for(url: &Url) -> Result<reqwest::ClientBuilder, Error> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("sesame/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    if is_loopback(url) {
        b = b.no_proxy();
    }
    if let Some(path) = CA_CERT.get() {
        for cert in read_ca_file(path)? {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b)
}

/// The PEM file of extra trusted roots (`--ca-cert`, `SESAME_CA_CERT`, `ca-cert`), set once
/// at startup; read when a client is made, so `sesame token` with a valid session never reads it.
static CA_CERT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// The CA file in use, if any (for `doctor`).
pub fn ca_file() -> Option<&'static std::path::Path> {
    CA_CERT.get().map(|p| p.as_path())
}

/// Trust the certificates in `path` too (added to the platform's roots), for every request.
pub fn trust_ca_file(path: std::path::PathBuf) {
    let _ = CA_CERT.set(path);
}

/// The largest CA bundle read (Debian's whole ca-certificates.crt is about 200 KiB).
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// A CA file's bytes, at most `MAX_CA_FILE`: `SESAME_CA_CERT=/dev/zero` is refused.
pub fn read_ca_bytes(path: &std::path::Path) -> Result<Vec<u8>, crate::private_file::ReadError> {
    crate::private_file::read_capped(path, MAX_CA_FILE)
}

fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, Error> {
    let bad = |why: String| {
        Error::usage(format!("The CA certificate file {}: {why}.", path.display()))
            .hint("Give a PEM file with your organisation's CA certificate(s) with --ca-cert, SESAME_CA_CERT or `ca-cert` in the profile.")
    };
    let pem = read_ca_bytes(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| bad(format!("not PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// Whether `url` names this machine: `localhost` or a loopback address (an IPv4-mapped one
/// included). The one loopback rule of the client, the callback and the reference server.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => is_loopback_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_loopback_ip(IpAddr::V6(ip)),
        None => false,
    }
}

/// Whether `ip` is a loopback address, an IPv4-mapped IPv6 one (`::ffff:127.0.0.1`) included.
pub fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

/// Parses a server URL and applies the transport rule.
pub fn check_server_url(text: &str, allow_http: bool) -> Result<Url, Error> {
    let url = Url::parse(text.trim()).map_err(|e| {
        Error::usage(format!("{text:?} is not a valid URL ({e})."))
            .hint("Give the full URL, e.g. --server https://consoleme.example.com")
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) || allow_http => {}
        "http" => {
            return Err(Error::usage(format!(
                "Refusing plain http to {}: tokens would cross the network unencrypted; https is required for a server that is not on this machine.",
                url.host_str().unwrap_or_default()
            ))
            .hint("Use the https URL, or pass --allow-http if you are sure (e.g. a test network)."));
        }
        other => {
            return Err(Error::usage(format!(
                "Unsupported URL scheme {other:?} in {text:?}: use https (or http for a server on this machine)."
            )));
        }
    }
    if url.host().is_none() {
        return Err(Error::usage(format!("{text:?} has no host.")));
    }
    Ok(url)
}

/// Same scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// Why a request failed, sorted by what the caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Connection refused or reset, timeout, a reply cut short: worth another try.
    #[error("{0}")]
    Transient(String),
    /// HTTP 5xx or 429: the server is there but cannot answer now; worth another try, after
    /// `retry_after` if it said (`Retry-After` in seconds, at most [`MAX_RETRY_AFTER`]).
    #[error("the server answered HTTP {status}{}", message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Unavailable {
        /// The HTTP status code: 5xx or 429.
        status: u16,
        /// What the server's JSON said (`message`, `error_description` or `error`), made safe
        /// to print.
        message: Option<String>,
        /// How long the server asked to wait (`Retry-After`), capped at [`MAX_RETRY_AFTER`].
        retry_after: Option<Duration>,
    },
    /// Any other HTTP status.
    #[error("the server answered HTTP {status} for {url}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The URL asked, with secret-looking path segments and the query elided.
        url: String,
    },
    /// A body over the limit; no protocol message here is near it.
    #[error("the reply from {url} is larger than {limit} bytes")]
    TooLarge {
        /// The URL asked, with secret-looking path segments and the query elided.
        url: String,
        /// The limit in bytes ([`MAX_BODY`]).
        limit: usize,
    },
}

/// What a reqwest error means to a person.
pub fn describe(e: &reqwest::Error) -> String {
    let mut cause = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let tls = ["certificate", "UnknownIssuer", "CaUsedAsEndEntity"]
        .iter()
        .any(|w| cause.contains(w));
    let advice = if tls && CA_CERT.get().is_none() {
        crate::login_error::OWN_CA
    } else {
        ""
    };
    if cause.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {cause}{advice}")
    }
}

/// GETs `url` and returns at most `MAX_BODY` bytes of body.
pub async fn get_limited(
    client: &reqwest::Client,
    url: &Url,
    timeout: Duration,
) -> Result<Vec<u8>, FetchError> {
    get_with_headers(client, url, timeout).await.map(|(b, _)| b)
}

/// As [`get_limited`], with the reply's headers (for `Cache-Control`).
pub async fn get_with_headers(
    client: &reqwest::Client,
    url: &Url,
    timeout: Duration,
) -> Result<(Vec<u8>, reqwest::header::HeaderMap), FetchError> {
    let mut resp = send(
        client
            .get(url.clone())
            .header("Accept", "application/json")
            .timeout(timeout),
    )
    .await
    .map_err(|e| FetchError::Transient(describe(&e)))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    if status.is_server_error() || status.as_u16() == 429 {
        let message = read_body(&mut resp)
            .await
            .ok()
            .and_then(|b| server_message(&b));
        return Err(FetchError::Unavailable {
            status: status.as_u16(),
            message,
            retry_after: retry_after(&headers),
        });
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            status: status.as_u16(),
            url: redact(url),
        });
    }
    match read_body(&mut resp).await {
        Ok(body) => Ok((body, headers)),
        Err(BodyError::TooLarge) => Err(FetchError::TooLarge {
            url: redact(url),
            limit: MAX_BODY,
        }),
        Err(BodyError::Read(reason)) => Err(FetchError::Transient(reason)),
    }
}

/// The longest `Retry-After` honoured: a server asking for more is waited for this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A `Retry-After` in seconds (the HTTP-date form is not used by login servers and is ignored),
/// at most [`MAX_RETRY_AFTER`]: a number too large to hold is taken as that.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?)
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = digits.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// The explanation in an error reply's JSON (`message`, `error_description`, or `error`), on
/// one line without control characters and at most 200 characters: it is the server's text.
pub fn server_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = ["message", "error_description", "error"]
        .iter()
        .find_map(|k| v.get(k)?.as_str().filter(|t| !t.trim().is_empty()))?;
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    Some(clean.trim().to_string())
}

/// A JSON reply, read within the rules.
#[derive(Debug)]
pub struct JsonAnswer {
    /// The HTTP status code; any status is read, so the caller decides what it means.
    pub status: u16,
    /// The reply's headers (`Set-Cookie`, `Retry-After`, ...).
    pub headers: reqwest::header::HeaderMap,
    /// `Null` for an empty body.
    pub json: serde_json::Value,
}

/// Sends a request that carries credentials and reads its JSON reply, whatever the status.
/// Refused: a redirect (it would take the credentials elsewhere; sesame follows none), an HTML
/// page (a web login page is not an API), a body over [`MAX_BODY`], and anything not JSON.
/// `what` names the step for messages ("login", "token request").
pub async fn send_for_json(
    request: reqwest::RequestBuilder,
    url: &Url,
    what: &str,
) -> Result<JsonAnswer, LoginError> {
    send_for_json_up_to(request, url, what, MAX_BODY).await
}

/// [`send_for_json`] for a reply that may be larger than [`MAX_BODY`], up to `limit` bytes (a
/// list of roles, for instance).
pub async fn send_for_json_up_to(
    request: reqwest::RequestBuilder,
    url: &Url,
    what: &str,
    limit: usize,
) -> Result<JsonAnswer, LoginError> {
    let shown = redact(url);
    let mut resp = send(
        request
            .header("Accept", "application/json")
            .timeout(Duration::from_secs(30)),
    )
    .await
    .map_err(|e| LoginError::Unreachable {
        url: shown.clone(),
        reason: describe(&e),
    })?;
    let status = resp.status().as_u16();
    if resp.status().is_redirection() {
        let to = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok());
        let target = match &to {
            Some(t) if t.host_str() != url.host_str() => {
                format!("another host, {}", t.host_str().unwrap_or("?"))
            }
            Some(t) => redact(t),
            None => "somewhere it did not say".into(),
        };
        return Err(LoginError::Protocol(format!(
            "the {what} URL {shown} redirected (HTTP {status}) to {target}; sesame does not follow redirects with credentials. Set the URL to where the API really is"
        )));
    }
    let headers = resp.headers().clone();
    let html = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().contains("html"));
    let bytes = read_body_up_to(&mut resp, limit).await.map_err(|e| match e {
        BodyError::TooLarge => LoginError::Protocol(format!(
            "the reply to the {what} from {shown} is larger than {} KiB; that is not a login API's answer",
            limit / 1024
        )),
        BodyError::Read(reason) => LoginError::Unreachable {
            url: shown.clone(),
            reason,
        },
    })?;
    let looks_html = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<');
    if html || looks_html {
        return Err(LoginError::Protocol(format!(
            "the {what} URL {shown} answered with an HTML page (HTTP {status}), not JSON: is it the API endpoint rather than a web login page?"
        )));
    }
    let json = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            LoginError::Protocol(format!(
                "the reply to the {what} from {shown} (HTTP {status}) is not JSON ({e})"
            ))
        })?
    };
    Ok(JsonAnswer {
        status,
        headers,
        json,
    })
}

/// Why a reply's body could not be read.
pub enum BodyError {
    /// Over [`MAX_BODY`]: no protocol message here is near it.
    TooLarge,
    /// The connection failed mid-body.
    Read(String),
}

/// Reads a reply's body, refusing one over [`MAX_BODY`] before it is all in memory.
pub async fn read_body(resp: &mut reqwest::Response) -> Result<Vec<u8>, BodyError> {
    read_body_up_to(resp, MAX_BODY).await
}

/// [`read_body`] with another cap than [`MAX_BODY`].
pub async fn read_body_up_to(
    resp: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BodyError::Read(describe(&e)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Sends a request, logging the exchange at debug level (`--verbose`): method, URL with its
/// secrets elided, status, time taken. Never headers or bodies, which carry the credentials.
pub async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, reqwest::Error> {
    let (client, request) = request.build_split();
    let request = request?;
    let (method, url) = (request.method().clone(), redact_for_log(request.url()));
    let started = std::time::Instant::now();
    let result = client.execute(request).await;
    let took = started.elapsed();
    match &result {
        Ok(resp) => {
            tracing::debug!(target: "sesame::http", "{method} {url} -> {} in {took:.0?}", resp.status().as_u16())
        }
        Err(e) => {
            tracing::debug!(target: "sesame::http", "{method} {url} failed after {took:.0?}: {}", describe(e))
        }
    }
    result
}

/// [`redact`], keeping the query's parameter names (their values elided): `?wait=…&code=…`.
pub fn redact_for_log(url: &Url) -> String {
    let names: Vec<String> = url.query_pairs().map(|(k, _)| format!("{k}=…")).collect();
    if names.is_empty() {
        redact(url)
    } else {
        format!("{}?{}", redact(url), names.join("&"))
    }
}

/// An error reply's body for a log line: JSON with the values of token-like keys (`*token*`,
/// `*secret*`, `code`, `password`) elided, anything else at most 500 characters without
/// control characters.
pub fn body_for_log(body: &[u8]) -> String {
    fn scrub(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    let k = k.to_ascii_lowercase();
                    if k.contains("token")
                        || k.contains("secret")
                        || k.contains("password")
                        || k == "code"
                        || k == "device_code"
                    {
                        *val = serde_json::Value::String("…".into());
                    } else {
                        scrub(val);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    if body.is_empty() {
        return "(empty)".into();
    }
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut v) => {
            scrub(&mut v);
            v.to_string()
        }
        Err(_) => "(not JSON, not shown: it may hold a token)".into(),
    };
    crate::text::Shown::new(&text, 500).into_string()
}

/// A URL fit for a message or a log: path segments that look like tokens (over 16 characters,
/// with a digit, a capital or anything but lowercase letters and `-_.`) and the query are
/// elided. `.well-known/openid-configuration` and `device_authorization` stay readable.
pub fn redact(url: &Url) -> String {
    let looks_secret = |seg: &str| {
        seg.len() > 16
            && !seg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || matches!(b, b'-' | b'_' | b'.'))
    };
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| {
            s.map(|seg| {
                if looks_secret(seg) {
                    "…".to_string()
                } else {
                    seg.to_string()
                }
            })
            .collect()
        })
        .unwrap_or_default();
    format!(
        "{}/{}",
        url.origin().ascii_serialization(),
        segments.join("/")
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn retry_after_is_whole_seconds_capped_at_a_minute() {
        let d = |v: &str| parse_retry_after(v).map(|d| d.as_secs());
        assert_eq!(d("2"), Some(2));
        assert_eq!(d(" 7 "), Some(7));
        assert_eq!(d("0"), Some(0));
        assert_eq!(d("600"), Some(60));
        assert_eq!(d("99999999999999999999999"), Some(60));
        for ignored in ["", "-1", "1.5", "+3", "Wed, 21 Oct 2015 07:28:00 GMT"] {
            assert_eq!(d(ignored), None, "{ignored:?}");
        }
    }

    #[test]
    fn a_server_message_is_one_short_printable_line() {
        assert_eq!(
            server_message(br#"{"message":"down\u001b[2J\nnow"}"#).as_deref(),
            Some("down [2J now")
        );
        assert_eq!(
            server_message(br#"{"error":"x","error_description":"why"}"#).as_deref(),
            Some("why")
        );
        assert_eq!(
            server_message(br#"{"error":"busy"}"#).as_deref(),
            Some("busy")
        );
        assert_eq!(server_message(br#"{"message":"  "}"#), None);
        assert_eq!(server_message(b"<html>busy</html>"), None);
        let long = format!(r#"{{"message":"{}"}}"#, "a".repeat(1000));
        assert_eq!(server_message(long.as_bytes()).unwrap().len(), 200);
    }

    use super::*;

    #[test]
    fn loopback_http_is_fine_remote_http_is_not() {
        assert!(check_server_url("http://127.0.0.1:8080", false).is_ok());
        assert!(check_server_url("http://localhost:1", false).is_ok());
        assert!(check_server_url("http://[::1]:1", false).is_ok());
        assert!(check_server_url("http://example.com", false).is_err());
        assert!(check_server_url("http://example.com", true).is_ok());
        assert!(check_server_url("https://example.com", false).is_ok());
        assert!(check_server_url("ftp://example.com", true).is_err());
        assert!(check_server_url("not a url", true).is_err());
    }

    #[test]
    fn origins() {
        let a = Url::parse("http://127.0.0.1:8080/x").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("http://127.0.0.1:8080/y/z").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://127.0.0.1:8081/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://127.0.0.1:8080/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://evil.example:8080/x").unwrap()
        ));
    }

    #[test]
    fn logs_keep_query_names_not_values() {
        let u = Url::parse("https://h/cb?code=SECRETCODE&state=SECRETSTATE").unwrap();
        let shown = redact_for_log(&u);
        assert_eq!(shown, "https://h/cb?code=…&state=…");
    }

    #[test]
    fn redacts_tokens_in_paths() {
        let u =
            Url::parse("https://h/noauth/v1/challenge_poller/0123456789abcdef0123?wait=5").unwrap();
        assert_eq!(redact(&u), "https://h/noauth/v1/challenge_poller/…");
    }

    /// Regression (issue 17, item 18): `-v` showed discovery and device endpoints as `…`.
    #[test]
    fn endpoint_names_are_not_mistaken_for_tokens() {
        for (url, shown) in [
            (
                "https://idp/.well-known/openid-configuration",
                "https://idp/.well-known/openid-configuration",
            ),
            (
                "https://idp/oauth2/device_authorization",
                "https://idp/oauth2/device_authorization",
            ),
            ("https://idp/t/aB3dE5gH7jK9mN1pQ", "https://idp/t/…"),
        ] {
            assert_eq!(redact(&Url::parse(url).unwrap()), shown);
        }
    }

    #[test]
    fn error_bodies_are_logged_without_tokens() {
        let b =
            br#"{"error":"invalid_grant","refresh_token":"r-123","nested":{"access_token":"a"}}"#;
        let shown = body_for_log(b);
        assert!(shown.contains("invalid_grant"), "{shown}");
        assert!(
            !shown.contains("r-123") && !shown.contains("\"a\""),
            "{shown}"
        );
        assert_eq!(body_for_log(b""), "(empty)");
        assert!(!body_for_log(b"tok=secret").contains("secret"));
    }
}
