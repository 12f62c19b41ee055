//! Refreshing an OAuth session (RFC 6749 §6) without losing it. Concurrent `sesame token` calls
//! that all find the access token stale must not each refresh: with refresh-token rotation the
//! losers would present a spent token and the provider would end the whole grant. So a refresh
//! happens under a per-profile file lock, and whoever gets the lock second re-reads the session
//! and finds it fresh.

use crate::error::{Error, ErrorKind};
use crate::json_api::JsonApi;
use crate::login_error::LoginError;
use crate::oidc::{self, HttpAdapter, Provider, idtoken};
use crate::secret::Secret;
use crate::session::{Flow, OAuthInfo, Session};
use crate::store::TokenStore;
use oauth2::RefreshToken;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// The session cannot go on (no refresh token, or the provider refused it): exit 3, kind
/// [`ErrorKind::Expired`], so that callers log in again.
fn session_over(message: String) -> Error {
    Error::no_session(message).kind_of(ErrorKind::Expired)
}

/// The skew for this session: the configured one, but never more than half the token's
/// lifetime, so that a token that lives less than the skew (providers with 1-minute access
/// tokens) is not refreshed the moment it arrives, by every caller (dex #1976).
pub fn effective_skew(session: &Session, skew: i64) -> i64 {
    match session.expires_at {
        Some(exp) => skew.min((exp.saturating_sub(session.obtained_at) / 2).max(0)),
        None => skew,
    }
}

/// Where the refresh lock of `profile` lives: `<data>/locks/refresh/<profile>.lock`, a
/// directory of its own so that no profile name can make it another lock's file.
pub fn lock_path(data_dir: &Path, profile: &str) -> std::path::PathBuf {
    data_dir
        .join("locks")
        .join("refresh")
        .join(format!("{profile}.lock"))
}

/// An exclusive lock on the profile's refresh lock file, released on drop.
pub struct ProfileLock {
    _file: File,
}

/// How long a caller waits for another process's refresh before giving up on the lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

impl ProfileLock {
    /// Waits (asynchronously: the runtime's other tasks go on) until the lock is free, at most
    /// `wait`. `Ok(None)`: another process held it all that time.
    pub async fn acquire(
        data_dir: &Path,
        profile: &str,
        wait: Duration,
    ) -> Result<Option<ProfileLock>, Error> {
        ProfileLock::acquire_at(&lock_path(data_dir, profile), profile, wait).await
    }

    /// As [`acquire`](Self::acquire), for the lock file at `path` (another of the profile's
    /// locks, such as the AWS credentials').
    pub async fn acquire_at(
        path: &Path,
        profile: &str,
        wait: Duration,
    ) -> Result<Option<ProfileLock>, Error> {
        let fail = |e: std::io::Error| {
            Error::other(format!(
                "Could not lock the session of profile {profile}: {e}."
            ))
        };
        let file = crate::private_file::open_lock(path).map_err(fail)?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(ProfileLock { _file: file })),
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(e)) => return Err(fail(e)),
            }
        }
    }
}

/// Gets the session's next token and returns the new session (not yet saved): with the
/// refresh token (OAuth, or a JSON login API's `refresh-url`), or, for client credentials, a
/// new grant. A refusal means the session is over: exit 3 with "log in again".
pub async fn refresh(
    session: &Session,
    client_secret: Option<&Secret>,
    cache_dir: &Path,
    now: i64,
) -> Result<Session, Error> {
    if session.flow == Flow::ClientCredentials {
        return renew_client_credentials(session, client_secret, now).await;
    }
    if let Some(api) = &session.json_api {
        return refresh_json(session, api, now).await;
    }
    refresh_oauth(session, client_secret, cache_dir, now).await
}

/// A JSON login API's refresh: `refresh-body` to `refresh-url`, the reply read with the
/// login's pointers.
async fn refresh_json(session: &Session, api: &JsonApi, now: i64) -> Result<Session, Error> {
    let login_again = crate::hints::login_hint(&session.profile);
    let Some(refresh_token) = &session.refresh_token else {
        return Err(session_over(format!(
            "The session of profile {} cannot be refreshed: it has no refresh token.",
            session.profile
        ))
        .hint(login_again));
    };
    let url = api.refresh_url.as_deref().unwrap_or_default();
    let url = url::Url::parse(url).map_err(|e| {
        Error::other(format!("The saved refresh URL is not a URL ({e}).")).hint(login_again.clone())
    })?;
    let client = crate::http::client_for(&url)?;
    let tokens = crate::json_api::refresh(&client, api, &session.user, refresh_token, now)
        .await
        .map_err(|e| match e {
            LoginError::Credentials(m) => session_over(format!(
                "Your session for profile {} has ended: {m}.",
                session.profile
            ))
            .hint(login_again.clone()),
            other => Error::from(other)
                .hint("The saved session is unchanged; try again, or log in again."),
        })?;
    Ok(Session {
        token: tokens.token,
        refresh_token: tokens.refresh_token,
        expires_at: tokens.expires_at,
        obtained_at: now,
        ..session.clone()
    })
}

/// Client credentials have no refresh token: the client asks again with its secret (the one
/// in the environment or config if set, else the one kept with the session).
async fn renew_client_credentials(
    session: &Session,
    client_secret: Option<&Secret>,
    now: i64,
) -> Result<Session, Error> {
    let login_again = crate::hints::login_hint(&session.profile);
    let (Some(info), Some(secret)) = (
        &session.oauth,
        client_secret.or(session.client_secret.as_ref()),
    ) else {
        return Err(session_over(format!(
            "The client-credentials session of profile {} has no client secret to get a new token with.",
            session.profile
        ))
        .hint(login_again));
    };
    let endpoint = url::Url::parse(&info.token_endpoint).map_err(|e| {
        Error::other(format!("The saved token endpoint is not a URL ({e})."))
            .hint(login_again.clone())
    })?;
    let client = crate::http::client_for(&endpoint)?;
    let tc = crate::oidc::grants::TokenClient {
        http: &client,
        endpoint: &endpoint,
        client_id: &info.client_id,
        client_secret: Some(secret),
    };
    let resp = tc
        .client_credentials(&info.scopes, &info.extra)
        .await
        .map_err(|e| match e {
            LoginError::Credentials(m) | LoginError::Refused(m) => session_over(format!(
                "The provider no longer gives profile {} a token: {m}.",
                session.profile
            ))
            .hint(login_again.clone()),
            other => Error::from(other).hint("The saved session is unchanged; try again."),
        })?;
    let provider = Provider::from_saved(info);
    let grant = oidc::Grant {
        profile: &session.profile,
        provider: &provider,
        client_id: &info.client_id,
        scopes: &info.scopes,
        flow: Flow::ClientCredentials,
    };
    let new = oidc::session_from(&grant, &resp, None, &session.user, now)?;
    Ok(Session {
        token: new.token,
        expires_at: new.expires_at,
        obtained_at: now,
        ..session.clone()
    })
}

/// Exchanges an OAuth session's refresh token (RFC 6749 §6). `invalid_grant` means the SSO
/// session is over.
async fn refresh_oauth(
    session: &Session,
    client_secret: Option<&Secret>,
    cache_dir: &Path,
    now: i64,
) -> Result<Session, Error> {
    let login_again = crate::hints::login_hint(&session.profile);
    let (Some(info), Some(refresh)) = (&session.oauth, &session.refresh_token) else {
        return Err(session_over(format!(
            "The session of profile {} cannot be refreshed: it has no refresh token.",
            session.profile
        ))
        .hint(login_again));
    };
    let provider = Provider::from_saved(info);
    let oauth = oidc::oauth_client(&provider, &info.client_id, client_secret, None)?;
    let endpoint = url::Url::parse(&info.token_endpoint).map_err(|e| {
        Error::other(format!("The saved token endpoint is not a URL ({e})."))
            .hint(login_again.clone())
    })?;
    let client = &crate::http::client_for(&endpoint)?;
    let http = HttpAdapter {
        client,
        retry_server_errors: false,
        events: None,
        last_status: Default::default(),
    };
    let refresh_token = RefreshToken::new(refresh.expose().to_string());
    let resp = oauth
        .exchange_refresh_token(&refresh_token)
        .request_async(&http)
        .await
        .map_err(|e| {
            let status = http.last_status.load(std::sync::atomic::Ordering::Relaxed);
            if oidc::error_code(&e).as_deref() == Some("invalid_grant") {
                session_over(format!(
                    "Your SSO session for profile {} has ended: the provider refused the refresh token (invalid_grant).",
                    session.profile
                ))
                .hint(login_again.clone())
            } else if matches!(status, 400 | 401) {
                // RFC 6749 §5.2 says 400 with an error code; some providers send a revoked
                // refresh token a bare 400 or 401 with no body. Either way it will not work
                // again: the session is over, and it is kept until the person logs in.
                session_over(format!(
                    "Your SSO session for profile {} has ended: the provider refused the refresh token (HTTP {status}{}).",
                    session.profile,
                    oidc::error_code(&e).map(|c| format!(", {c}")).unwrap_or_default()
                ))
                .hint(login_again.clone())
            } else {
                Error::from(oidc::request_error(e, "token refresh"))
                    .hint("The saved session is unchanged; try again, or log in again.")
            }
        })?;
    if let Some(id) = &resp.extra_fields().id_token {
        check_refreshed_id_token(client, info, cache_dir, session, id).await?;
    }
    let grant = oidc::Grant {
        profile: &session.profile,
        provider: &provider,
        client_id: &info.client_id,
        scopes: &info.scopes,
        flow: session.flow,
    };
    let new = oidc::session_from(&grant, &resp, Some(refresh), &session.user, now)?;
    Ok(carry_over(session, new))
}

/// Verifies the ID token of a refresh and checks that it is about the session's subject.
async fn check_refreshed_id_token(
    client: &reqwest::Client,
    info: &OAuthInfo,
    cache_dir: &Path,
    session: &Session,
    id: &Secret,
) -> Result<(), Error> {
    let claims = idtoken::verify(
        client,
        info.jwks_uri.as_deref(),
        cache_dir,
        id.expose(),
        &idtoken::Expected {
            issuer: &info.issuer,
            client_id: &info.client_id,
            nonce: None,
        },
    )
    .await?;
    // OIDC Core §12.2: a refreshed ID token must be about the same subject.
    let old_sub = session
        .id_token
        .as_ref()
        .and_then(|t| crate::jwt::claims(t.expose()))
        .and_then(|c| c.get("sub").and_then(|s| s.as_str()).map(str::to_owned));
    let new_sub = claims.get("sub").and_then(|s| s.as_str());
    if let (Some(old), Some(new)) = (old_sub.as_deref(), new_sub)
        && old != new
    {
        return Err(Error::other(format!(
            "The provider's refreshed ID token is for subject {new:?}, not {old:?}; refusing it. The saved session is unchanged."
        ))
        .hint(crate::hints::login_hint(&session.profile)));
    }
    Ok(())
}

/// The refreshed session with what a token reply does not carry kept from the old one: its ID
/// token (when no new one came), user, how it is sent, whoami URL and extra parameters.
fn carry_over(session: &Session, mut new: Session) -> Session {
    if new.id_token.is_none() {
        new.id_token = session.id_token.clone();
    }
    new.user = session.user.clone();
    new.use_as = session.use_as.clone();
    new.whoami_url = session.whoami_url.clone();
    if let Some(info) = &mut new.oauth {
        info.extra = session
            .oauth
            .as_ref()
            .map(|i| i.extra.clone())
            .unwrap_or_default();
    }
    new
}

/// A session fit to use, and what the caller should tell the person about it.
pub struct Fresh {
    /// The session to use: the one found valid, the refreshed one (already saved), or the current
    /// one when the refresh failed but its token still works.
    pub session: Session,
    /// Set when the refresh failed but the current token still works.
    pub warning: Option<String>,
}

impl From<Session> for Fresh {
    fn from(session: Session) -> Fresh {
        Fresh {
            session,
            warning: None,
        }
    }
}

/// What a session needs before it is handed out.
pub enum Due {
    /// Fit to use as it is.
    Fresh(Session),
    /// Out of time and not renewable: the person must log in.
    Stale,
    /// To be refreshed (under the lock): [`refresh_locked`].
    Refresh(Session),
}

fn unix_now() -> i64 {
    crate::clock::unix_seconds(std::time::SystemTime::now())
}

/// When to refresh a session that can be refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Only when it is within the skew of its expiry (or past it).
    IfDue,
    /// Now, however long it has left (`sesame refresh`).
    Now,
}

/// Whether `session` can be used now, needs a refresh, or is over. No I/O: the hot path of
/// `sesame token` decides here without an async runtime.
pub fn due(session: Session, client_secret: Option<&Secret>, skew: i64, when: Refresh) -> Due {
    let refreshable = session.renewable_with(client_secret.is_some());
    let first_skew = if refreshable {
        effective_skew(&session, skew)
    } else {
        0
    };
    if when == Refresh::IfDue && session.is_valid_at(unix_now(), first_skew) {
        Due::Fresh(session)
    } else if refreshable {
        Due::Refresh(session)
    } else {
        Due::Stale
    }
}

/// The valid session for `profile`, refreshing (under the lock) if it is within `skew` seconds
/// of expiry (or at once, with [`Refresh::Now`]) and can be refreshed. `None` when it is stale
/// and cannot be refreshed. For
/// callers outside any async runtime: a runtime is started only if a refresh is due. Inside a
/// runtime, use [`due`] and [`refresh_locked`].
pub fn ensure_fresh(
    store: &dyn TokenStore,
    session: Session,
    data_dir: &Path,
    client_secret: Option<&Secret>,
    skew: i64,
    when: Refresh,
) -> Result<Option<Fresh>, Error> {
    match due(session, client_secret, skew, when) {
        Due::Fresh(s) => Ok(Some(s.into())),
        Due::Stale => Ok(None),
        Due::Refresh(s) => crate::blocking::block_on(refresh_locked(
            store,
            s,
            data_dir,
            client_secret,
            (skew, when),
            LOCK_WAIT,
        ))
        .map(Some),
    }
}

/// Refreshes a session that [`due`] found due, under the per-profile lock, waiting at most
/// `lock_wait` for another process's refresh. `(skew, when)` as for [`ensure_fresh`].
pub async fn refresh_locked(
    store: &dyn TokenStore,
    session: Session,
    data_dir: &Path,
    client_secret: Option<&Secret>,
    (skew, when): (i64, Refresh),
    lock_wait: Duration,
) -> Result<Fresh, Error> {
    let Some(_lock) = ProfileLock::acquire(data_dir, &session.profile, lock_wait).await? else {
        // Another process has been refreshing for a minute (stuck on a slow provider?). A
        // token that still works is handed out with a warning; the next call tries again.
        if session.is_valid_at(unix_now(), 0) && when == Refresh::IfDue {
            let warning = format!(
                "Another sesame process has been refreshing profile {} for over {}s; using the current token, which expires in {}s.",
                session.profile,
                lock_wait.as_secs(),
                session
                    .expires_at
                    .unwrap_or_default()
                    .saturating_sub(unix_now())
            );
            return Ok(Fresh {
                session,
                warning: Some(warning),
            });
        }
        return Err(Error::other(format!(
            "Another sesame process has been refreshing profile {} for over {}s.",
            session.profile,
            lock_wait.as_secs()
        ))
        .hint("Try again; if it persists, look for a stuck `sesame` process."));
    };
    // Someone may have refreshed while we waited for the lock (and time went by).
    let now = unix_now();
    let current = store
        .load(&session.profile)
        .map_err(|e| e.into_error(crate::store::StoreKind::Auto))?;
    // A caller that waited while another refreshed uses that caller's token: it is newer than
    // the one found stale, and refreshing again would spend a rotated refresh token twice.
    let replaced = current.token != session.token || current.refresh_token != session.refresh_token;
    if replaced && current.is_valid_at(now, 0) {
        return Ok(current.into());
    }
    if when == Refresh::IfDue && current.is_valid_at(now, effective_skew(&current, skew)) {
        return Ok(current.into());
    }
    let new = match refresh(&current, client_secret, &data_dir.join("cache"), now).await {
        Ok(new) => new,
        // A provider that cannot be reached does not make a token that still works useless:
        // hand it out and say so; the next call tries again.
        Err(e) if !e.needs_login() && current.is_valid_at(now, 0) && when == Refresh::IfDue => {
            let warning = format!(
                "Could not refresh the session of profile {} ({}); using the current token, which expires in {}s.",
                current.profile,
                e.message,
                current.expires_at.unwrap_or_default().saturating_sub(now)
            );
            return Ok(Fresh {
                session: current,
                warning: Some(warning),
            });
        }
        Err(e) => return Err(e),
    };
    store.save(&new).map_err(|e| {
        e.into_error(crate::store::StoreKind::Auto)
            .hint("The refresh worked but the new session could not be saved.")
    })?;
    Ok(new.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::OAuthInfo;
    use crate::store::MemoryStore;

    /// A refused refresh is a session that is over: exit 3 for the CLI, `Expired` for a
    /// program, and a login is what helps (the agent drops the session, `Auth` logs in).
    #[test]
    fn a_session_that_cannot_go_on_calls_for_a_login() {
        let e = session_over("refused".into());
        assert_eq!(e.exit, crate::error::Exit::NoSession);
        assert_eq!(e.kind(), ErrorKind::Expired);
        assert!(e.needs_login());
        assert!(!Error::other("unreachable").needs_login());
    }

    /// A renewable OAuth session that expires in `left` seconds.
    fn renewable(left: i64) -> Session {
        let now = unix_now();
        let mut s = crate::session::sample("p", "access", Some(now + left));
        s.flow = Flow::Browser;
        s.obtained_at = now - 3600;
        s.refresh_token = Some(Secret::new("refresh"));
        s.oauth = Some(OAuthInfo {
            issuer: "http://127.0.0.1:1".into(),
            client_id: "cli".into(),
            token_endpoint: "http://127.0.0.1:1/token".into(),
            jwks_uri: None,
            scopes: Vec::new(),
            userinfo_endpoint: None,
            revocation_endpoint: None,
            extra: Vec::new(),
        });
        s
    }

    /// Regression (issue 17, item 10): a refresh that timed out waiting for the lock failed,
    /// although the current token still had time left (docs promised a fallback).
    #[tokio::test]
    async fn a_lock_held_too_long_falls_back_to_a_token_that_still_works() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryStore::default();
        let _held = ProfileLock::acquire(dir.path(), "p", Duration::ZERO)
            .await
            .unwrap()
            .expect("the lock is free");
        let wait = Duration::from_millis(60);
        let fresh = refresh_locked(
            &store,
            renewable(30),
            dir.path(),
            None,
            (60, Refresh::IfDue),
            wait,
        )
        .await
        .expect("the current token is handed out");
        assert_eq!(fresh.session.token.expose(), "access");
        assert!(fresh.warning.unwrap().contains("using the current token"));
        let err = refresh_locked(
            &store,
            renewable(-5),
            dir.path(),
            None,
            (60, Refresh::IfDue),
            wait,
        )
        .await
        .err()
        .expect("an expired token is not handed out");
        assert!(
            err.message.contains("refreshing profile p"),
            "{}",
            err.message
        );
    }
}
