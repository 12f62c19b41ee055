//! STS `AssumeRoleWithWebIdentity`: an OpenID Connect token traded for a role's credentials.
//! The call needs no AWS signature (the token is the proof), so it is a form POST over the
//! HTTP client sesame already has, and the XML reply is read with quick-xml: no AWS SDK in
//! the build.

use super::credentials::Credentials;
use super::{RoleArn, query_error};
use crate::error::{Error, ErrorKind};
use crate::http;
use crate::text::Shown;
use std::time::Duration;
use url::Url;

/// STS's global endpoint, used when no region or endpoint is configured.
pub const GLOBAL_ENDPOINT: &str = "https://sts.amazonaws.com/";

/// The shortest and longest sessions STS grants (15 minutes to 12 hours).
pub const DURATION_RANGE: (u64, u64) = (900, 43_200);

/// Where STS is: `AWS_ENDPOINT_URL_STS` (or `AWS_ENDPOINT_URL`) if set, else the region's
/// endpoint, else the global one. `allow_http` lets a non-loopback endpoint be plain http.
pub fn endpoint(
    explicit: Option<&str>,
    region: Option<&str>,
    allow_http: bool,
) -> Result<Url, Error> {
    if let Some(url) = explicit.filter(|u| !u.is_empty()) {
        return http::check_server_url(url, allow_http);
    }
    match region.filter(|r| !r.is_empty()) {
        Some(r) if r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            let host = if r.starts_with("cn-") {
                format!("https://sts.{r}.amazonaws.com.cn/")
            } else {
                format!("https://sts.{r}.amazonaws.com/")
            };
            http::check_server_url(&host, false)
        }
        Some(r) => Err(Error::usage(format!(
            "{:?} is not an AWS region.",
            Shown::new(r, 40).as_str()
        ))),
        None => http::check_server_url(GLOBAL_ENDPOINT, false),
    }
}

/// A session name STS accepts (2 to 64 of letters, digits and `+=,.@_-`) made from `user`.
pub fn session_name(user: &str) -> String {
    let mut name: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.len() < 2 {
        name = format!("sesame-{name}");
    }
    name
}

/// What to ask STS for. No `Debug`: it holds the token.
pub struct Request<'a> {
    /// The STS endpoint ([`endpoint`]).
    pub endpoint: &'a Url,
    /// The role to assume.
    pub role: &'a RoleArn,
    /// The role session name ([`session_name`]).
    pub session_name: &'a str,
    /// The web identity token: the ID token, or the access token where the profile says so.
    pub token: &'a str,
    /// How long the credentials last, within [`DURATION_RANGE`]; `None`: the role's default.
    pub duration: Option<Duration>,
}

/// Asks STS for the role's credentials.
pub async fn assume_role_with_web_identity(req: &Request<'_>) -> Result<Credentials, Error> {
    let client = http::client_for(req.endpoint)?;
    let mut form = vec![
        ("Action", "AssumeRoleWithWebIdentity".to_string()),
        ("Version", "2011-06-15".to_string()),
        ("RoleArn", req.role.as_str().to_string()),
        ("RoleSessionName", req.session_name.to_string()),
        ("WebIdentityToken", req.token.to_string()),
    ];
    if let Some(d) = req.duration {
        form.push(("DurationSeconds", d.as_secs().to_string()));
    }
    let request = client
        .post(req.endpoint.clone())
        .form(&form)
        .timeout(Duration::from_secs(30));
    let shown = http::redact(req.endpoint);
    let mut resp = http::send(request).await.map_err(|e| {
        query_error(crate::login_error::LoginError::Unreachable {
            url: shown.clone(),
            reason: http::describe(&e),
        })
    })?;
    let status = resp.status().as_u16();
    let body = http::read_body(&mut resp).await.map_err(|e| match e {
        http::BodyError::TooLarge => Error::other(format!(
            "STS at {shown} answered with more than {} KiB: not an STS reply.",
            http::MAX_BODY / 1024
        ))
        .kind_of(ErrorKind::Protocol),
        http::BodyError::Read(reason) => query_error(crate::login_error::LoginError::Unreachable {
            url: shown.clone(),
            reason,
        }),
    })?;
    let reply = Reply::parse(&body);
    if (200..300).contains(&status) {
        let now = crate::clock::unix_seconds(std::time::SystemTime::now());
        return reply
            .credentials()
            .and_then(|c| c.usable_at(now).map_err(|e| e.to_string()))
            .map_err(|e| {
                Error::other(format!(
                    "STS at {shown} (HTTP {status}) sent no usable credentials: {e}."
                ))
                .kind_of(ErrorKind::Protocol)
            });
    }
    Err(reply.error(status, req))
}

/// The elements of an STS reply that matter, first occurrence of each. No `Debug`: it holds
/// the secret key and the session token.
#[derive(Default)]
struct Reply {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    expiration: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

impl Reply {
    /// Reads what it can; a body that is not XML leaves every field empty.
    fn parse(body: &[u8]) -> Reply {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_reader(body);
        let mut reply = Reply::default();
        let mut current: Vec<u8> = Vec::new();
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e)) => current = e.local_name().as_ref().to_vec(),
                Ok(Event::End(_)) => current.clear(),
                Ok(Event::Text(t)) => {
                    let Ok(text) = t.decode() else { continue };
                    let slot = match current.as_slice() {
                        b"AccessKeyId" => &mut reply.access_key_id,
                        b"SecretAccessKey" => &mut reply.secret_access_key,
                        b"SessionToken" => &mut reply.session_token,
                        b"Expiration" => &mut reply.expiration,
                        b"Code" => &mut reply.code,
                        b"Message" => &mut reply.message,
                        _ => continue,
                    };
                    if slot.is_none() {
                        *slot = Some(text.trim().to_string());
                    }
                }
                Ok(Event::Eof) | Err(_) => break,
                Ok(_) => {}
            }
            buf.clear();
        }
        reply
    }

    fn credentials(&self) -> Result<Credentials, String> {
        let expiration = self
            .expiration
            .as_deref()
            .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
            .ok_or("no readable Expiration")?
            .timestamp();
        Credentials::new(
            self.access_key_id.as_deref().unwrap_or_default(),
            self.secret_access_key.as_deref().unwrap_or_default(),
            self.session_token.as_deref().unwrap_or_default(),
            expiration,
        )
        .map_err(|e| e.to_string())
    }

    /// STS's error code as a sentence and a next step.
    fn error(&self, status: u16, req: &Request<'_>) -> Error {
        let message = self
            .message
            .as_deref()
            .map(|m| format!(": {}", Shown::of(m).as_str()))
            .unwrap_or_default();
        let role = req.role.as_str();
        let trust = "Check the role's trust policy: the IAM OIDC provider must be your issuer, and its `aud` (and any `sub`) conditions must match the token (docs/aws.md).";
        match self.code.as_deref() {
            Some("ExpiredTokenException") => Error::no_session(format!(
                "STS found the identity token expired{message}."
            ))
            .kind_of(ErrorKind::Expired)
            .hint("Run `sesame login` again (or `sesame refresh`) for a fresh token."),
            Some("InvalidIdentityToken" | "IDPRejectedClaim") => Error::other(format!(
                "STS did not accept the identity token for {role}{message}."
            ))
            .kind_of(ErrorKind::Denied)
            .hint(trust),
            Some("AccessDenied") => Error::other(format!(
                "STS refused to let this session assume {role}{message}."
            ))
            .kind_of(ErrorKind::Denied)
            .hint(trust),
            Some("IDPCommunicationError" | "Throttling" | "ServiceUnavailable") => {
                Error::other(format!("STS could not answer now{message}."))
                    .kind_of(ErrorKind::Unavailable)
                    .hint("Try again in a moment.")
            }
            Some("ValidationError") => Error::usage(format!("STS rejected the request{message}."))
                .hint("Check the role ARN and --duration (at most the role's maximum session duration)."),
            Some(code) => Error::other(format!(
                "STS refused the request ({}){message}.",
                Shown::new(code, 64).as_str()
            ))
            .kind_of(ErrorKind::Denied),
            None if status >= 500 => Error::other(format!("STS answered HTTP {status}."))
                .kind_of(ErrorKind::Unavailable)
                .hint("Try again in a moment."),
            None => Error::other(format!(
                "STS at {} answered HTTP {status} with no STS error: is it an STS endpoint?",
                http::redact(req.endpoint)
            ))
            .kind_of(ErrorKind::Protocol),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>alice</SubjectFromWebIdentityToken>
    <Credentials>
      <SessionToken>FQoGZXIvYXdzEXAMPLE==</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2027-01-15T08:00:00Z</Expiration>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"#;

    #[test]
    fn a_reply_is_read_into_credentials() {
        let c = Reply::parse(OK.as_bytes()).credentials().unwrap();
        assert_eq!(c.access_key_id(), "ASIAIOSFODNN7EXAMPLE");
        assert_eq!(c.expiration(), 1_800_000_000);
    }

    #[test]
    fn an_error_reply_gives_its_code_and_message() {
        let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>No OpenIDConnect provider found\u{1b}[2J</Message></Error></ErrorResponse>";
        let r = Reply::parse(xml.as_bytes());
        assert_eq!(r.code.as_deref(), Some("InvalidIdentityToken"));
        let endpoint = Url::parse("https://sts.amazonaws.com/").unwrap();
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/dev").unwrap();
        let req = Request {
            endpoint: &endpoint,
            role: &role,
            session_name: "al",
            token: "t",
            duration: None,
        };
        let e = r.error(400, &req);
        assert_eq!(e.kind(), ErrorKind::Denied);
        assert!(e.message.contains("No OpenIDConnect provider found"));
        assert!(!crate::text::message(&e.message).contains('\u{1b}'));
    }

    #[test]
    fn garbage_is_no_credentials() {
        for body in [
            "",
            "<html><body>Sign in</body></html>",
            "{\"Credentials\":{}}",
            "<a><AccessKeyId>A'B</AccessKeyId></a>",
        ] {
            assert!(
                Reply::parse(body.as_bytes()).credentials().is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn endpoints_and_session_names() {
        assert_eq!(
            endpoint(None, Some("eu-west-1"), false).unwrap().as_str(),
            "https://sts.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint(None, None, false).unwrap().as_str(),
            GLOBAL_ENDPOINT
        );
        assert!(endpoint(None, Some("eu west"), false).is_err());
        assert!(endpoint(Some("http://sts.example.com"), None, false).is_err());
        assert!(endpoint(Some("http://127.0.0.1:5000"), None, false).is_ok());
        assert_eq!(
            session_name("alice smith@example.com"),
            "alice-smith@example.com"
        );
        assert_eq!(session_name("a"), "sesame-a");
        assert_eq!(session_name(&"x".repeat(100)).len(), 64);
    }
}
