//! What `sesame aws serve` answers, and whom it refuses: the ECS container credentials provider
//! (`GET /ecs/ROLE`, for `AWS_CONTAINER_CREDENTIALS_FULL_URI`) and the EC2 instance metadata
//! service's credentials, IMDSv2 only (`PUT /latest/api/token`, then
//! `GET /latest/meta-data/iam/security-credentials/[NAME]` with the token). The HTTP plumbing
//! is the command's; this module decides, from the method, the path and the headers.
//!
//! The filter is weep's, against a web page that makes the browser call the port (DNS
//! rebinding, cross-site requests) and against being reached through a proxy: a browser's
//! User-Agent, any `Referer`, `Origin`, `X-Forwarded-For`, `Forwarded` or `Via`, and a Host
//! other than `localhost`, `127.0.0.1`, `[::1]` or `169.254.169.254` are refused.
//!
//! Beyond weep, the ECS path needs the `Authorization` token that the server wrote to a file
//! only its user can read (the SDKs send it from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`), so
//! another user of the machine, or a request forged through some local service (SSRF), gets
//! nothing. The IMDS path needs its PUT-issued token, which a forged GET cannot obtain.

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The ECS provider: credentials for this role (an ARN, or a part of one), from the path.
    Ecs(String),
    /// IMDSv2: a session token valid for this many seconds.
    ImdsToken(u32),
    /// IMDS: the name of the instance's role (what follows `security-credentials/`).
    ImdsRoleName,
    /// IMDS: the credentials of the named role.
    ImdsCredentials(String),
}

/// Why a request is refused, with the status to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 403: the request failed the filter.
    Forbidden(&'static str),
    /// 401: an IMDS request without a valid token (IMDSv1 is not served).
    NoToken,
    /// 401: an ECS request without the server's Authorization token.
    NoAuthorization,
    /// 400: a malformed request.
    BadRequest(&'static str),
    /// 404: no such path.
    NotFound,
    /// 405: the path exists for another method.
    Method,
}

impl Refusal {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Forbidden(_) => 403,
            Refusal::NoToken | Refusal::NoAuthorization => 401,
            Refusal::BadRequest(_) => 400,
            Refusal::NotFound => 404,
            Refusal::Method => 405,
        }
    }

    /// A short reason for the body.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Forbidden(r) | Refusal::BadRequest(r) => r,
            Refusal::NoToken => "an IMDSv2 token is required (PUT /latest/api/token)",
            Refusal::NoAuthorization => {
                "the Authorization token is required (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)"
            }
            Refusal::NotFound => "not found",
            Refusal::Method => "method not allowed",
        }
    }
}

/// The IMDS token header and the TTL header of the token request.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// The TTL of a requested IMDSv2 token, in seconds (1 to 21600).
pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The path prefix of the IMDS credentials.
pub const IMDS_CREDENTIALS: &str = "/latest/meta-data/iam/security-credentials/";

/// A new IMDSv2 session token: 32 random bytes, base64url.
pub fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The server's secrets a request must show, as checks.
pub struct Checks<'a> {
    /// Whether an IMDS token is one this server issued and still valid.
    pub imds_token: &'a dyn Fn(&str) -> bool,
    /// Whether an `Authorization` value is the ECS token of this server.
    pub ecs_authorization: &'a dyn Fn(&str) -> bool,
}

/// Applies the filter, then routes. `header` gives a request header's value by lower-case
/// name (any header present, even with bytes that are not text).
pub fn route(
    method: &str,
    path: &str,
    header: &dyn Fn(&str) -> Option<String>,
    checks: &Checks<'_>,
) -> Result<Route, Refusal> {
    filter(header)?;
    if let Some(role) = path.strip_prefix("/ecs/") {
        if method != "GET" {
            return Err(Refusal::Method);
        }
        if !header("authorization").is_some_and(|a| (checks.ecs_authorization)(&a)) {
            return Err(Refusal::NoAuthorization);
        }
        let role = percent_encoding::percent_decode_str(role)
            .decode_utf8()
            .map_err(|_| Refusal::BadRequest("the role in the path is not valid UTF-8"))?;
        if role.is_empty() || role.len() > super::MAX_ARN || role.chars().any(char::is_control) {
            return Err(Refusal::BadRequest("no role in the path"));
        }
        return Ok(Route::Ecs(role.into_owned()));
    }
    if path == "/latest/api/token" {
        if method != "PUT" {
            return Err(Refusal::Method);
        }
        let ttl = header(TTL_HEADER)
            .and_then(|t| t.trim().parse::<u32>().ok())
            .filter(|t| (1..=21_600).contains(t))
            .ok_or(Refusal::BadRequest(
                "X-aws-ec2-metadata-token-ttl-seconds must be 1 to 21600",
            ))?;
        return Ok(Route::ImdsToken(ttl));
    }
    let name = if path == IMDS_CREDENTIALS.trim_end_matches('/') {
        ""
    } else if let Some(name) = path.strip_prefix(IMDS_CREDENTIALS) {
        name
    } else {
        return Err(Refusal::NotFound);
    };
    if name.contains('/') {
        return Err(Refusal::NotFound);
    }
    if method != "GET" {
        return Err(Refusal::Method);
    }
    if !header(TOKEN_HEADER).is_some_and(|t| (checks.imds_token)(&t)) {
        return Err(Refusal::NoToken);
    }
    match name {
        "" => Ok(Route::ImdsRoleName),
        name => Ok(Route::ImdsCredentials(name.to_string())),
    }
}

/// weep's filter: no browser, no proxy, no other site, and only the local names.
fn filter(header: &dyn Fn(&str) -> Option<String>) -> Result<(), Refusal> {
    if header("user-agent").is_some_and(|ua| ua.contains("Mozilla")) {
        return Err(Refusal::Forbidden("requests from a browser are refused"));
    }
    for h in ["referer", "origin", "x-forwarded-for", "forwarded", "via"] {
        if header(h).is_some() {
            return Err(Refusal::Forbidden(
                "requests with Referer, Origin, X-Forwarded-For, Forwarded or Via are refused",
            ));
        }
    }
    let host = header("host").unwrap_or_default();
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => host.as_str(),
    };
    if !matches!(
        name,
        "localhost" | "127.0.0.1" | "[::1]" | "169.254.169.254"
    ) {
        return Err(Refusal::Forbidden(
            "the Host must be localhost, 127.0.0.1, [::1] or 169.254.169.254",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let list: Vec<(String, String)> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| list.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn ok(_: &str) -> bool {
        true
    }

    fn never(_: &str) -> bool {
        false
    }

    const YES: Checks<'static> = Checks {
        imds_token: &ok,
        ecs_authorization: &ok,
    };
    const NO: Checks<'static> = Checks {
        imds_token: &never,
        ecs_authorization: &never,
    };

    #[test]
    fn the_ecs_and_imds_routes() {
        let h = headers(&[
            ("host", "127.0.0.1:9091"),
            ("user-agent", "aws-cli/1.45"),
            ("authorization", "tok"),
        ]);
        assert_eq!(
            route(
                "GET",
                "/ecs/arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdev",
                &h,
                &YES
            ),
            Ok(Route::Ecs("arn:aws:iam::123456789012:role/dev".into()))
        );
        assert_eq!(
            route("GET", "/ecs/arn:aws:iam::1:role/a/b", &h, &YES),
            Ok(Route::Ecs("arn:aws:iam::1:role/a/b".into()))
        );
        let ttl = headers(&[("host", "169.254.169.254"), (TTL_HEADER, "21600")]);
        assert_eq!(
            route("PUT", "/latest/api/token", &ttl, &YES),
            Ok(Route::ImdsToken(21600))
        );
        let tok = headers(&[("host", "localhost"), (TOKEN_HEADER, "t")]);
        assert_eq!(
            route("GET", IMDS_CREDENTIALS, &tok, &YES),
            Ok(Route::ImdsRoleName)
        );
        assert_eq!(
            route(
                "GET",
                "/latest/meta-data/iam/security-credentials",
                &tok,
                &YES
            ),
            Ok(Route::ImdsRoleName)
        );
        assert_eq!(
            route(
                "GET",
                "/latest/meta-data/iam/security-credentials/dev",
                &tok,
                &YES
            ),
            Ok(Route::ImdsCredentials("dev".into()))
        );
        let v6 = headers(&[("host", "[::1]:9091"), ("authorization", "t")]);
        assert_eq!(
            route("GET", "/ecs/dev", &v6, &YES),
            Ok(Route::Ecs("dev".into()))
        );
    }

    #[test]
    fn weeps_filter_the_ecs_token_and_imdsv2_only() {
        for bad in [
            vec![("host", "127.0.0.1"), ("user-agent", "Mozilla/5.0")],
            vec![("host", "127.0.0.1"), ("origin", "https://evil.example")],
            vec![("host", "127.0.0.1"), ("referer", "https://evil.example/")],
            vec![("host", "127.0.0.1"), ("x-forwarded-for", "10.0.0.1")],
            vec![("host", "127.0.0.1"), ("forwarded", "for=10.0.0.1")],
            vec![("host", "127.0.0.1"), ("via", "1.1 proxy")],
            vec![("host", "evil.example:9091")],
            vec![("host", "127.0.0.1.evil.example")],
            vec![],
        ] {
            let r = route("GET", "/ecs/dev", &headers(&bad), &YES);
            assert!(matches!(r, Err(Refusal::Forbidden(_))), "{bad:?}: {r:?}");
        }
        let local = headers(&[("host", "localhost")]);
        assert_eq!(
            route("GET", "/ecs/dev", &local, &YES),
            Err(Refusal::NoAuthorization)
        );
        let forged = headers(&[("host", "localhost"), ("authorization", "guess")]);
        assert_eq!(
            route("GET", "/ecs/dev", &forged, &NO),
            Err(Refusal::NoAuthorization)
        );
        assert_eq!(
            route("GET", IMDS_CREDENTIALS, &local, &YES),
            Err(Refusal::NoToken)
        );
        let tok = headers(&[("host", "localhost"), (TOKEN_HEADER, "forged")]);
        assert_eq!(
            route("GET", IMDS_CREDENTIALS, &tok, &NO),
            Err(Refusal::NoToken)
        );
        assert_eq!(
            route("GET", "/latest/api/token", &tok, &YES),
            Err(Refusal::Method)
        );
        assert_eq!(
            route(
                "GET",
                "/latest/meta-data/iam/security-credentialsdev",
                &tok,
                &YES
            ),
            Err(Refusal::NotFound)
        );
        let zero = headers(&[("host", "localhost"), (TTL_HEADER, "0")]);
        assert!(matches!(
            route("PUT", "/latest/api/token", &zero, &YES),
            Err(Refusal::BadRequest(_))
        ));
        assert_eq!(route("GET", "/other", &local, &YES), Err(Refusal::NotFound));
        let auth = headers(&[("host", "localhost"), ("authorization", "t")]);
        assert!(matches!(
            route("GET", "/ecs/%FF", &auth, &YES),
            Err(Refusal::BadRequest(_))
        ));
    }
}
