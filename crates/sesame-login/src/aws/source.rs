//! Which service gives a session its AWS credentials, and the settings each needs: a challenge
//! session asks its ConsoleMe-compatible server; a session from an OpenID Connect provider
//! trades its ID token (or access token) at STS.

use super::credentials::Credentials;
use super::{Role, RoleArn, consoleme, sts};
use crate::error::{Error, ErrorKind};
use crate::session::{Flow, Session};
use crate::text::Shown;
use std::time::Duration;

/// Which token of an OpenID Connect session STS is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebToken {
    /// The ID token (the usual choice: its `aud` is the client ID).
    #[default]
    Id,
    /// The access token, for providers whose access tokens are JWTs meant for AWS.
    Access,
}

/// What getting AWS credentials needs beyond the session: the profile's `[aws]` table, the
/// flags and the AWS environment, resolved.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// The STS endpoint (`AWS_ENDPOINT_URL_STS`, the profile's `sts-endpoint`).
    pub sts_endpoint: Option<String>,
    /// The region, for the regional STS endpoint (`AWS_REGION`, the profile's `region`).
    pub region: Option<String>,
    /// Plain http to a non-loopback STS endpoint (`--allow-http`).
    pub allow_http: bool,
    /// Which token STS is given.
    pub web_token: WebToken,
    /// How long STS credentials last (`--duration`, the profile's `duration`).
    pub duration: Option<Duration>,
    /// The roles an OpenID Connect profile may assume (the profile's `roles`).
    pub roles: Vec<RoleArn>,
    /// The STS role session name; unset, made from the session's user.
    pub session_name: Option<String>,
}

impl AwsSettings {
    /// The STS endpoint these settings name ([`sts::endpoint`]).
    pub fn endpoint(&self) -> Result<url::Url, Error> {
        sts::endpoint(
            self.sts_endpoint.as_deref(),
            self.region.as_deref(),
            self.allow_http,
        )
    }
}

/// Where a session's AWS credentials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The ConsoleMe-compatible server the challenge session came from.
    ConsoleMe,
    /// STS `AssumeRoleWithWebIdentity` with a token of an OpenID Connect session.
    Sts,
}

/// The source for `session`, or why it has none.
pub fn source(session: &Session) -> Result<Source, Error> {
    match session.flow {
        Flow::Challenge => Ok(Source::ConsoleMe),
        _ if session.oauth.is_some() => Ok(Source::Sts),
        other => Err(Error::usage(format!(
            "A {other} session cannot get AWS credentials: they come from a ConsoleMe (challenge) session or an OpenID Connect session."
        ))
        .hint("Use a profile that logs in with --server (ConsoleMe) or --issuer (OpenID Connect); see docs/aws.md.")),
    }
}

/// Credentials for `role` from the session's source.
pub async fn credentials(
    session: &Session,
    role: &str,
    settings: &AwsSettings,
) -> Result<Credentials, Error> {
    match source(session)? {
        Source::ConsoleMe => consoleme::get_credentials(session, role).await,
        Source::Sts => {
            let arn = resolve_role(role, &settings.roles)?;
            let endpoint = settings.endpoint()?;
            let token = match settings.web_token {
                WebToken::Id => session.id_token.as_ref().ok_or_else(|| {
                    Error::usage("This session has no ID token for STS.")
                        .hint("Log in with the `openid` scope, or set `token = \"access\"` in the profile's [aws] table if the access token is a JWT for AWS.")
                })?,
                WebToken::Access => &session.token,
            };
            // STS refuses an expired token with ExpiredTokenException; say so before asking.
            // (A provider may send no new ID token on refresh, so the one kept can be older
            // than the access token.)
            let now = crate::clock::unix_seconds(std::time::SystemTime::now());
            if let Some(exp) = crate::jwt::expiry(token.expose())
                && exp <= now + 30
            {
                return Err(Error::no_session(format!(
                    "The session's {} token expired at {}, and STS would refuse it.",
                    match settings.web_token {
                        WebToken::Id => "ID",
                        WebToken::Access => "access",
                    },
                    crate::clock::format_utc(exp)
                ))
                .kind_of(ErrorKind::Expired)
                .hint(crate::hints::login_hint(&session.profile)));
            }
            let name = settings
                .session_name
                .clone()
                .unwrap_or_else(|| sts::session_name(&session.user));
            sts::assume_role_with_web_identity(&sts::Request {
                endpoint: &endpoint,
                role: &arn,
                session_name: &name,
                token: token.expose(),
                duration: settings.duration,
            })
            .await
        }
    }
}

/// What cached credentials for `role` are filed under: for ConsoleMe the role as asked (the
/// server resolves it; the cache is already the server's and the user's); for STS the
/// resolved ARN with the endpoint, the token given and the duration, so that credentials
/// from another STS (a local emulator) or of another duration are never handed out for these.
pub fn cache_key(session: &Session, role: &str, settings: &AwsSettings) -> Result<String, Error> {
    match source(session)? {
        Source::ConsoleMe => Ok(role.to_string()),
        Source::Sts => {
            let arn = resolve_role(role, &settings.roles)?;
            let endpoint = settings.endpoint()?;
            Ok(format!(
                "{} {} {:?} {}",
                arn.as_str(),
                endpoint,
                settings.web_token,
                settings.duration.map_or(0, |d| d.as_secs())
            ))
        }
    }
}

/// The roles the session may ask for: the server's list (ConsoleMe), or the profile's.
pub async fn roles(session: &Session, settings: &AwsSettings) -> Result<Vec<Role>, Error> {
    match source(session)? {
        Source::ConsoleMe => consoleme::roles(session).await,
        Source::Sts => Ok(settings
            .roles
            .iter()
            .filter_map(|r| Role::new(r.as_str(), None))
            .collect()),
    }
}

/// A full ARN as given, else the one profile role that contains `text` (case-insensitive).
pub fn resolve_role(text: &str, roles: &[RoleArn]) -> Result<RoleArn, Error> {
    if let Ok(arn) = RoleArn::parse(text) {
        return Ok(arn);
    }
    let wanted = text.to_lowercase();
    let found: Vec<&RoleArn> = roles
        .iter()
        .filter(|r| r.as_str().to_lowercase().contains(&wanted))
        .collect();
    let shown = Shown::new(text, 80);
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] if roles.is_empty() => Err(Error::usage(format!(
            "{:?} is not a role ARN, and the profile lists no roles to match it against.",
            shown.as_str()
        ))
        .hint("Give the full ARN (arn:aws:iam::ACCOUNT:role/NAME), or list the roles in the profile's [aws] table: roles = [\"arn:...\"].")),
        [] => Err(Error::usage(format!("No role of this profile matches {:?}.", shown.as_str()))
            .hint("List them with `sesame aws roles`.")),
        several => Err(Error::usage(format!(
            "{:?} matches more than one of this profile's roles:{}",
            shown.as_str(),
            several.iter().map(|r| format!("\n  {}", r.as_str())).collect::<String>()
        ))
        .hint("Give one of them in full, or a longer part of its name.")
        .kind_of(ErrorKind::Config)),
    }
}
