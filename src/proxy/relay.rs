//! One request through `sesame proxy`: the upstream URL (its path and query below the
//! upstream's), the headers without hop-by-hop ones and with the credential as the session's
//! `use-as` says, the bodies streamed both ways, and a WebSocket (or other) upgrade spliced
//! through once both sides have switched protocols.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use sesame_login::present::UseAs;
use sesame_login::session::Session;
use url::Url;

/// Any body the proxy answers with.
pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Hop-by-hop headers (RFC 9110 §7.6.1): they concern one connection and are never passed on.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A short text answer from the proxy itself.
pub fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(format!("sesame proxy: {message}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The upstream URL for a request: the upstream's path with the request's path below it, and
/// the request's query.
pub fn upstream_url(base: &Url, uri: &hyper::Uri) -> Url {
    let mut url = base.clone();
    let path = format!("{}{}", base.path().trim_end_matches('/'), uri.path());
    url.set_path(&path);
    url.set_query(uri.query());
    url
}

/// Removes the hop-by-hop headers and those `Connection` names; with `upgrade`, keeps
/// `Upgrade` and says `Connection: upgrade`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        if !(upgrade && n == header::UPGRADE) {
            headers.remove(n);
        }
    }
    for n in HOP_BY_HOP {
        if !(upgrade && n == "upgrade") {
            headers.remove(n);
        }
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Whether the request asks to switch protocols (a WebSocket handshake).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Puts the session's credential where its `use-as` says, replacing what the client sent there.
pub fn add_credential(
    headers: &mut HeaderMap,
    url: &mut Url,
    session: &Session,
) -> Result<(), String> {
    let token = session.token.expose();
    let sensitive = |text: &str| {
        HeaderValue::from_str(text)
            .map(|mut v| {
                v.set_sensitive(true);
                v
            })
            .map_err(|_| "the credential cannot be put in a header".to_string())
    };
    match session.use_as() {
        UseAs::Cookie(name) => {
            let mut pairs: Vec<String> = headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .map(str::trim)
                .filter(|p| !p.is_empty() && p.split('=').next() != Some(name.as_str()))
                .map(str::to_string)
                .collect();
            pairs.push(format!("{name}={token}"));
            headers.insert(header::COOKIE, sensitive(&pairs.join("; "))?);
        }
        UseAs::Query(name) => {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != name.as_str())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair(name.as_str(), token);
        }
        // Bearer, Basic and a named header: the line `sesame header` prints.
        use_as => {
            let line = use_as.header_line(&session.user, &session.token)?;
            let (name, value) = line.split_once(": ").ok_or("a malformed header line")?;
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
            headers.insert(name, sensitive(value)?);
        }
    }
    Ok(())
}

/// Sends `req` upstream with the credential and answers with what came back.
pub async fn relay(
    mut req: Request<Incoming>,
    base: &Url,
    client: &reqwest::Client,
    session: &Session,
) -> Response<Body> {
    let upgrade = is_upgrade(req.headers());
    let on_client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let mut url = upstream_url(base, req.uri());
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers, upgrade);
    headers.remove(header::HOST);
    if let Err(e) = add_credential(&mut headers, &mut url, session) {
        return text(StatusCode::BAD_GATEWAY, &e);
    }
    let upstream = reqwest::Request::new(parts.method, url);
    let mut upstream =
        reqwest::RequestBuilder::from_parts(client.clone(), upstream).headers(headers);
    if !upgrade {
        upstream = upstream.body(reqwest::Body::wrap(body));
    }
    let response = match upstream.send().await {
        Ok(r) => r,
        Err(e) => {
            return text(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "the upstream did not answer: {}",
                    sesame_login::http::describe(&e)
                ),
            );
        }
    };
    match on_client_upgrade {
        Some(on_client) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
            switched(response, on_client)
        }
        _ => passed_back(response),
    }
}

/// The upstream's answer, its body streamed.
fn passed_back(response: reqwest::Response) -> Response<Body> {
    let response: Response<reqwest::Body> = response.into();
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    Response::from_parts(parts, body.map_err(Into::into).boxed())
}

/// A 101 from upstream: the same to the client, then the two connections spliced.
fn switched(response: reqwest::Response, on_client: hyper::upgrade::OnUpgrade) -> Response<Body> {
    let mut answer = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *answer.headers_mut() = response.headers().clone();
    tokio::spawn(async move {
        let (Ok(mut upstream), Ok(client)) = (response.upgrade().await, on_client.await) else {
            tracing::debug!("proxy: an upgrade did not complete");
            return;
        };
        let mut client = hyper_util::rt::TokioIo::new(client);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    });
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_upstreams_path_and_the_requests_query() {
        let base = Url::parse("https://api.example.com/v1/").unwrap();
        let uri: hyper::Uri = "/pods?watch=1".parse().unwrap();
        assert_eq!(
            upstream_url(&base, &uri).as_str(),
            "https://api.example.com/v1/pods?watch=1"
        );
        let bare = Url::parse("https://api.example.com").unwrap();
        assert_eq!(
            upstream_url(&bare, &"/".parse().unwrap()).as_str(),
            "https://api.example.com/"
        );
    }

    #[test]
    fn hop_by_hop_headers_go_and_upgrades_keep_theirs() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-kept", HeaderValue::from_static("1"));
        let mut plain = h.clone();
        strip_hop_by_hop(&mut plain, false);
        assert_eq!(
            plain.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["x-kept"]
        );
        let mut up = h;
        up.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!is_upgrade(&up), "Connection does not say upgrade");
        up.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        assert!(is_upgrade(&up));
        strip_hop_by_hop(&mut up, true);
        assert_eq!(up[header::UPGRADE], "websocket");
        assert_eq!(up[header::CONNECTION], "upgrade");
    }

    #[test]
    fn the_credential_replaces_what_the_client_sent_there() {
        use sesame_login::present::Name;
        use sesame_login::secret::Token;
        use sesame_login::session::{Flow, UserName};
        let mut s = Session::new(
            "p",
            "https://x".into(),
            UserName::new("alice").unwrap(),
            Flow::Challenge,
            Token::issued("tok").unwrap(),
            0,
        );
        s.cookie_name = Name::new("auth").ok();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; auth=forged; b=2"),
        );
        let mut url = Url::parse("https://api/x?auth=1").unwrap();
        add_credential(&mut h, &mut url, &s).unwrap();
        assert_eq!(h[header::COOKIE], "a=1; b=2; auth=tok");
        assert!(h[header::COOKIE].is_sensitive());
        s.use_as = Some("query:auth".parse().unwrap());
        add_credential(&mut h, &mut url, &s).unwrap();
        assert_eq!(url.as_str(), "https://api/x?auth=tok");
        s.use_as = Some(UseAs::Bearer);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer forged"),
        );
        add_credential(&mut h, &mut url, &s).unwrap();
        assert_eq!(h[header::AUTHORIZATION], "Bearer tok");
        s.use_as = Some(UseAs::Basic);
        add_credential(&mut h, &mut url, &s).unwrap();
        assert_eq!(h[header::AUTHORIZATION], "Basic YWxpY2U6dG9r");
    }
}
