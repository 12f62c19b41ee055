//! What a request says, read once where it enters: the client's address (behind a trusted
//! proxy), a query parameter, a loopback redirect URI.

use crate::config::Config;
use std::net::{IpAddr, SocketAddr};
use url::Url;

/// `forwarded`: the value of the trusted proxy header, if one is configured and was sent.
pub(crate) fn client_ip(config: &Config, peer: SocketAddr, forwarded: Option<&str>) -> IpAddr {
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

pub(crate) fn query_param(uri: &hyper::Uri, name: &str) -> Option<String> {
    let q = uri.query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Accepts a redirect URI only if it is plain http to a loopback host with a port: the browser
/// is sent there after the decision, and anything else would be an open redirect.
pub(crate) fn loopback_redirect(text: &str) -> Option<Url> {
    let url = Url::parse(text).ok()?;
    (url.scheme() == "http"
        && sesame_login::http::is_loopback(&url)
        && url.port().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none())
    .then_some(url)
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
}
