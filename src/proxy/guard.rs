//! Which requests `sesame proxy` serves: a Host that names this machine (a page on another
//! site that rebinds its DNS name to 127.0.0.1 sends its own name), and no Origin or Referer
//! from another site (a page in the browser cannot make the proxy add the credential to a
//! request it sends). kubectl proxy and weep refuse the same.

use hyper::HeaderMap;
use hyper::header::{HOST, HeaderName, ORIGIN, REFERER};
use std::net::{IpAddr, SocketAddr};

/// Why a request is refused, for the 403 page.
pub type Refusal = String;

/// Checks a request's headers; `listen` is the proxy's own address.
pub fn check(headers: &HeaderMap, listen: SocketAddr) -> Result<(), Refusal> {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or("the request has no Host header")?;
    if !names_this_machine(host, listen) {
        return Err(format!(
            "the Host header {:?} does not name this machine; sesame proxy answers only requests for localhost or {}",
            sesame_login::text::Shown::of(host).as_str(),
            listen.ip()
        ));
    }
    // Browsers say where a request comes from even when they send no Origin (an image on
    // another site's page); programs send no Sec-Fetch-Site at all.
    let fetch_site = headers
        .get(HeaderName::from_static("sec-fetch-site"))
        .map(|v| v.to_str().unwrap_or("(not text)"));
    if let Some(site) = fetch_site.filter(|s| !matches!(*s, "same-origin" | "none")) {
        return Err(format!(
            "the request comes from a page in a browser (Sec-Fetch-Site: {}); sesame proxy adds the credential only for programs",
            sesame_login::text::Shown::of(site).as_str()
        ));
    }
    for (name, header) in [("Origin", ORIGIN), ("Referer", REFERER)] {
        let Some(value) = headers.get(&header) else {
            continue;
        };
        let same_site = value
            .to_str()
            .ok()
            .and_then(|v| url::Url::parse(v).ok())
            .is_some_and(|u| {
                u.scheme() == "http"
                    && u.port_or_known_default() == Some(listen.port())
                    && u.host_str().is_some_and(|h| names_this_machine(h, listen))
            });
        if !same_site {
            return Err(format!(
                "the request comes from another site ({name} {:?}); sesame proxy adds the credential only for programs, not for pages in a browser",
                sesame_login::text::Shown::of(value.to_str().unwrap_or("(not text)")).as_str()
            ));
        }
    }
    Ok(())
}

/// Whether `host` (a Host header: a name or address, with an optional port) names this
/// machine: localhost, a loopback address, or the address the proxy listens on.
fn names_this_machine(host: &str, listen: SocketAddr) -> bool {
    let Ok(url) = url::Url::parse(&format!("http://{host}/")) else {
        return false;
    };
    if url.port().is_some_and(|p| p != listen.port()) {
        return false;
    }
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || IpAddr::V4(ip) == listen.ip(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || IpAddr::V6(ip) == listen.ip(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&hyper::header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_this_machine_and_no_other_site() {
        let listen: SocketAddr = "127.0.0.1:8001".parse().unwrap();
        for ok in [
            "localhost:8001",
            "127.0.0.1:8001",
            "LOCALHOST",
            "[::1]:8001",
            "127.0.0.2:8001",
        ] {
            assert!(check(&headers(&[(&HOST, ok)]), listen).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "evil.example.com:8001",
            "localhost.evil.com",
            "10.0.0.1:8001",
            "localhost:9999",
            "",
        ] {
            assert!(check(&headers(&[(&HOST, bad)]), listen).is_err(), "{bad}");
        }
        assert!(check(&HeaderMap::new(), listen).is_err(), "no Host");
        let ours = [
            (&HOST, "localhost:8001"),
            (&ORIGIN, "http://localhost:8001"),
        ];
        assert!(check(&headers(&ours), listen).is_ok());
        for bad_origin in [
            "https://evil.example.com",
            "http://localhost:3000",
            "null",
            "http://evil.localhost.example:8001",
        ] {
            let h = headers(&[(&HOST, "localhost:8001"), (&ORIGIN, bad_origin)]);
            assert!(check(&h, listen).is_err(), "{bad_origin}");
        }
        let fetch = HeaderName::from_static("sec-fetch-site");
        for (site, ok) in [
            ("cross-site", false),
            ("same-site", false),
            ("same-origin", true),
            ("none", true),
        ] {
            let h = headers(&[(&HOST, "localhost:8001"), (&fetch, site)]);
            assert_eq!(check(&h, listen).is_ok(), ok, "{site}");
        }
        let h = headers(&[
            (&HOST, "localhost:8001"),
            (&REFERER, "https://evil.example.com/page"),
        ]);
        assert!(check(&h, listen).unwrap_err().contains("another site"));
        // Listening on a LAN address (told to), its own address is this machine too.
        let lan: SocketAddr = "10.0.0.5:8001".parse().unwrap();
        assert!(check(&headers(&[(&HOST, "10.0.0.5:8001")]), lan).is_ok());
    }
}
