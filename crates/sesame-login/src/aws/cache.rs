//! AWS credentials cached per profile and role in the session's store (the keychain, or the
//! 0600 file beside the session: [`Extra::AwsCredentials`]), so that the AWS CLI's many calls
//! cost one request. Cached credentials are reused until fewer than `refresh_before` seconds
//! are left (10 minutes by default, as weep). They belong to the session they were obtained
//! with: a login as someone else, or to another server, ignores them, and `sesame logout`
//! deletes them with the session. Concurrent callers take the profile's AWS lock, so N calls
//! for one role make one request: the first fetches and saves, the others find it cached.

use super::credentials::Credentials;
use crate::error::Error;
use crate::refresh::ProfileLock;
use crate::session::Session;
use crate::store::{Extra, TokenStore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Reuse cached credentials until fewer than this many seconds are left, unless the profile
/// says otherwise.
pub const DEFAULT_REFRESH_BEFORE: u64 = 600;

/// The most roles kept per profile; the oldest entries go first.
const MAX_ROLES: usize = 64;

/// How long a caller waits for another process's fetch of the same profile's credentials.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// What is kept: whose session the credentials came from, and the credentials by role.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cache {
    server: String,
    user: String,
    #[serde(default)]
    roles: BTreeMap<String, Credentials>,
}

/// The lock that makes concurrent fetches for a profile one: `<data>/locks/aws/PROFILE.lock`.
pub fn lock_path(data_dir: &Path, profile: &str) -> PathBuf {
    data_dir
        .join("locks")
        .join("aws")
        .join(format!("{profile}.lock"))
}

/// The cache of `session`'s profile, empty when there is none, it is damaged, or it belongs to
/// another user or server.
fn load(store: &dyn TokenStore, session: &Session) -> Cache {
    store
        .load_extra(&session.profile, Extra::AwsCredentials)
        .ok()
        .flatten()
        .and_then(|text| serde_json::from_str::<Cache>(&text).ok())
        .filter(|c| c.server == session.server && c.user == session.user.as_str())
        .unwrap_or_else(|| Cache {
            server: session.server.clone(),
            user: session.user.as_str().to_string(),
            roles: BTreeMap::new(),
        })
}

/// The role's cached credentials if more than `refresh_before` seconds of them are left at
/// `now`.
pub fn cached(
    store: &dyn TokenStore,
    session: &Session,
    role: &str,
    refresh_before: u64,
    now: i64,
) -> Option<Credentials> {
    let mut cache = load(store, session);
    let creds = cache.roles.remove(role)?;
    (creds.seconds_left(now) > i64::try_from(refresh_before).unwrap_or(i64::MAX)).then_some(creds)
}

/// Keeps `creds` for `role`, dropping expired entries (and the oldest, over 64 roles).
/// A store that cannot save is not an error: the credentials are still good for this call.
pub fn keep(store: &dyn TokenStore, session: &Session, role: &str, creds: &Credentials, now: i64) {
    let mut cache = load(store, session);
    cache.roles.retain(|_, c| c.seconds_left(now) > 0);
    cache.roles.insert(role.to_string(), creds.clone());
    while cache.roles.len() > MAX_ROLES {
        let oldest = cache
            .roles
            .iter()
            .min_by_key(|(_, c)| c.expiration())
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => cache.roles.remove(&k),
            None => break,
        };
    }
    if let Ok(text) = serde_json::to_string(&cache)
        && let Err(e) = store.save_extra(&session.profile, Extra::AwsCredentials, &text)
    {
        tracing::debug!("could not cache the AWS credentials: {e:?}");
    }
}

/// The role's credentials: cached if enough is left, else fetched by `fetch` and kept, with
/// the profile's AWS lock held across the check and the fetch so that concurrent callers make
/// one request.
pub async fn get_or_fetch<F, Fut>(
    store: &dyn TokenStore,
    data_dir: &Path,
    session: &Session,
    (role, refresh_before): (&str, u64),
    now: impl Fn() -> i64,
    fetch: F,
) -> Result<Credentials, Error>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Credentials, Error>>,
{
    if let Some(c) = cached(store, session, role, refresh_before, now()) {
        return Ok(c);
    }
    let path = lock_path(data_dir, &session.profile);
    let _lock = ProfileLock::acquire_at(&path, &session.profile, LOCK_WAIT).await?;
    // Another caller may have fetched while we waited.
    if let Some(c) = cached(store, session, role, refresh_before, now()) {
        return Ok(c);
    }
    let creds = fetch().await?;
    keep(store, session, role, &creds, now());
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::sample;
    use crate::store::MemoryStore;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn creds(expiration: i64) -> Credentials {
        Credentials::new("ASIA1", "secret", "token", expiration).unwrap()
    }

    #[tokio::test]
    async fn fresh_credentials_are_reused_and_near_expiry_ones_are_not() {
        let store = MemoryStore::default();
        let dir = tempfile::tempdir().unwrap();
        let session = sample("work", "jwt", None);
        let calls = AtomicUsize::new(0);
        let fetch = |exp| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(creds(exp)) }
        };
        let at = |now: i64| move || now;
        let role = ("dev", 600);
        let got = get_or_fetch(&store, dir.path(), &session, role, at(1000), || fetch(5000))
            .await
            .unwrap();
        assert_eq!(got.expiration(), 5000);
        // 4000 s left: cached.
        get_or_fetch(&store, dir.path(), &session, role, at(1000), || fetch(9000))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // 500 s left, under the 600 asked for: fetched again.
        let got = get_or_fetch(&store, dir.path(), &session, role, at(4500), || fetch(9000))
            .await
            .unwrap();
        assert_eq!((got.expiration(), calls.load(Ordering::SeqCst)), (9000, 2));
        // Another role is another entry.
        get_or_fetch(&store, dir.path(), &session, ("ops", 600), at(4500), || {
            fetch(9000)
        })
        .await
        .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn another_users_cache_is_ignored_and_logout_deletes_it() {
        let store = MemoryStore::default();
        let dir = tempfile::tempdir().unwrap();
        let alice = sample("work", "jwt", None);
        store.save(&alice).unwrap();
        keep(&store, &alice, "dev", &creds(5000), 1000);
        assert!(cached(&store, &alice, "dev", 600, 1000).is_some());
        let mut bob = alice.clone();
        bob.user = crate::session::UserName::new("bob").unwrap();
        assert!(cached(&store, &bob, "dev", 600, 1000).is_none());
        // A failed fetch caches nothing.
        let failed = get_or_fetch(
            &store,
            dir.path(),
            &bob,
            ("dev", 600),
            || 1000,
            || async { Err(Error::other("no")) },
        )
        .await;
        assert!(failed.is_err());
        assert!(cached(&store, &alice, "dev", 600, 1000).is_some());
        store.delete("work").unwrap();
        assert!(cached(&store, &alice, "dev", 600, 1000).is_none());
    }
}
