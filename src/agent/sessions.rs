//! The sessions the agent holds: each loaded from its store on first use, handed out from
//! memory while it has more than the refresh skew left, and refreshed ahead of expiry by a task
//! of its own (between 65% and 75% of its lifetime), so that no caller waits for a refresh. A
//! refreshed session is saved to the store by the refresh itself, under the profile's lock.

use rand::Rng;
use sesame_login::agent::protocol::{Held, Refusal, Where};
use sesame_login::clock::unix_seconds;
use sesame_login::error::Error;
use sesame_login::refresh::{self, Due, Refresh};
use sesame_login::session::Session;
use sesame_login::store::{Keychain, StoreError, TokenStore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

/// Most sessions held at once; a request for another is refused (the client reads the store).
pub const MAX_HELD: usize = 64;

/// The wait before trying a failed refresh again, at most.
const RETRY_MAX: Duration = Duration::from_secs(60);

/// A refusal to send back: why, and the message.
pub type Refused = (Refusal, String);

/// What the agent holds, shared by the connections and the refresh tasks.
pub struct Sessions {
    held: Mutex<HashMap<Where, Arc<Entry>>>,
    /// Refresh a token when at most this many seconds are left (`SESAME_REFRESH_SKEW`).
    skew: i64,
    /// Which keychain entries, and how long a keychain call may take.
    keychain_timeout: Duration,
}

/// One held session and what works on it.
struct Entry {
    at: Where,
    /// The session, secrets included; `None` until loaded, or once over.
    current: RwLock<Option<Session>>,
    /// One load or refresh at a time; readers of `current` never wait for it.
    work: tokio::sync::Mutex<()>,
    store: tokio::sync::OnceCell<Arc<dyn TokenStore>>,
    /// When the refresh task will refresh (Unix seconds), and the task.
    refresher: Mutex<Option<(i64, tokio::task::AbortHandle)>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some((_, task)) = self
            .refresher
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

fn now() -> i64 {
    unix_seconds(SystemTime::now())
}

/// The session as handed out: without the refresh token and client secret, which never leave
/// the agent.
fn handout(s: &Session) -> Session {
    Session {
        refresh_token: None,
        client_secret: None,
        ..s.clone()
    }
}

/// When to refresh a session obtained at `obtained` that expires at `expires`: at 75% of its
/// lifetime less up to 10% (`jitter` in 0..1, so that sessions obtained together are not
/// refreshed together), and before callers with `skew` would find it due; never before
/// `now + 1`.
pub fn refresh_at(obtained: i64, expires: i64, skew: i64, jitter: f64, now: i64) -> i64 {
    let life = expires.saturating_sub(obtained).max(0);
    let spread = (life as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as i64;
    let planned = obtained.saturating_add(life / 4 * 3).saturating_sub(spread);
    let callers_due = expires
        .saturating_sub(skew.min(life / 2))
        .saturating_sub((life / 10).min(5));
    planned.min(callers_due).max(now.saturating_add(1))
}

impl Sessions {
    /// Nothing held yet; `skew` and the keychain's timeout as the command resolved them.
    pub fn new(skew: i64, keychain_timeout: Duration) -> Arc<Sessions> {
        Arc::new(Sessions {
            held: Mutex::new(HashMap::new()),
            skew,
            keychain_timeout,
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<Where, Arc<Entry>>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session at `at`, fit to use (more than the skew left), without its secrets.
    pub async fn get(self: &Arc<Self>, at: &Where) -> Result<Session, Refused> {
        if let Err(e) = sesame_login::settings::validate_profile(&at.profile) {
            return Err((Refusal::BadRequest, e.message));
        }
        let entry = {
            let mut held = self.held();
            if !held.contains_key(at) && held.len() >= MAX_HELD {
                return Err((
                    Refusal::Unavailable,
                    format!("the agent holds {MAX_HELD} sessions already"),
                ));
            }
            held.entry(at.clone())
                .or_insert_with(|| Arc::new(Entry::new(at.clone())))
                .clone()
        };
        if let Some(s) = entry.usable(self.skew) {
            return Ok(s);
        }
        let _working = entry.work.lock().await;
        if let Some(s) = entry.usable(self.skew) {
            return Ok(s);
        }
        let loaded = self.load(&entry).await;
        match loaded {
            Ok(s) => {
                let handed = handout(&s);
                self.keep(&entry, s);
                Ok(handed)
            }
            Err(refused) => {
                self.drop_entry(&entry);
                Err(refused)
            }
        }
    }

    /// Reads the store (and refreshes what is due, as a command would).
    async fn load(&self, entry: &Arc<Entry>) -> Result<Session, Refused> {
        let store = self.store(entry).await?;
        let profile = entry.at.profile.clone();
        let read = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.load(&profile))
                .await
                .map_err(|e| (Refusal::Unavailable, e.to_string()))?
        };
        let session = match read {
            Ok(s) => s,
            Err(StoreError::NotFound) => {
                return Err((
                    Refusal::NotLoggedIn,
                    format!("not logged in (profile {})", entry.at.profile),
                ));
            }
            Err(e) => return Err((Refusal::Unavailable, e.into_error(entry.at.store).message)),
        };
        match refresh::due(session, None, self.skew, Refresh::IfDue) {
            Due::Fresh(s) => Ok(s),
            Due::Stale => Err((
                Refusal::Expired,
                format!("the session of profile {} is over", entry.at.profile),
            )),
            Due::Refresh(s) => {
                let fresh = refresh::refresh_locked(
                    &*store,
                    s,
                    &entry.at.data_dir,
                    None,
                    (self.skew, Refresh::IfDue),
                    refresh::LOCK_WAIT,
                )
                .await
                .map_err(refusal)?;
                Ok(fresh.session)
            }
        }
    }

    /// The entry's store, opened once.
    async fn store(&self, entry: &Arc<Entry>) -> Result<Arc<dyn TokenStore>, Refused> {
        let at = entry.at.clone();
        let timeout = self.keychain_timeout;
        entry
            .store
            .get_or_try_init(|| async move {
                let kind = at.store;
                tokio::task::spawn_blocking(move || {
                    let keychain = Keychain {
                        service: at.keychain_service.clone(),
                        timeout,
                    };
                    sesame_login::store::open(at.store, &at.data_dir, &keychain)
                        .map(|o| Arc::<dyn TokenStore>::from(o.store))
                        .map_err(|e| (Refusal::Unavailable, e.into_error(kind).message))
                })
                .await
                .map_err(|e| (Refusal::Unavailable, e.to_string()))?
            })
            .await
            .cloned()
    }

    /// Holds `session` and plans its refresh, if it can be refreshed.
    fn keep(self: &Arc<Self>, entry: &Arc<Entry>, session: Session) {
        let plan = match session.expires_at {
            Some(exp) if session.renewable() => Some(refresh_at(
                session.obtained_at,
                exp,
                self.skew,
                rand::rng().random::<f64>(),
                now(),
            )),
            _ => None,
        };
        *entry
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(session);
        if let Some(at) = plan {
            self.plan_refresh(entry, at);
        }
    }

    /// Starts the task that refreshes `entry` at `when` (Unix seconds), replacing any other.
    fn plan_refresh(self: &Arc<Self>, entry: &Arc<Entry>, when: i64) {
        let sessions = Arc::downgrade(self);
        let weak = Arc::downgrade(entry);
        let wait = Duration::from_secs(when.saturating_sub(now()).max(0).unsigned_abs());
        let task = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let (Some(sessions), Some(entry)) = (sessions.upgrade(), weak.upgrade()) {
                sessions.refresh(&entry).await;
            }
        });
        let old = entry
            .refresher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace((when, task.abort_handle()));
        if let Some((_, old)) = old {
            old.abort();
        }
    }

    /// The planned refresh: the new session is held (and was saved by the refresh); a failure
    /// keeps a token that still works and tries again later, and drops one that does not.
    async fn refresh(self: &Arc<Self>, entry: &Arc<Entry>) {
        let _working = entry.work.lock().await;
        let Some(current) = entry
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            return;
        };
        let Ok(store) = self.store(entry).await else {
            return self.retry(entry, &current);
        };
        let refreshed = refresh::refresh_locked(
            &*store,
            current.clone(),
            &entry.at.data_dir,
            None,
            (self.skew, Refresh::Now),
            refresh::LOCK_WAIT,
        )
        .await;
        match refreshed {
            Ok(fresh) if fresh.warning.is_none() => {
                tracing::debug!("agent: refreshed profile {}", entry.at.profile);
                self.keep(entry, fresh.session);
            }
            Ok(fresh) => {
                tracing::debug!("agent: {}", fresh.warning.unwrap_or_default());
                self.retry(entry, &current);
            }
            Err(e) if e.needs_login() => {
                tracing::debug!("agent: profile {}: {}", entry.at.profile, e.message);
                self.drop_entry(entry);
            }
            Err(e) => {
                tracing::debug!(
                    "agent: refreshing profile {}: {}",
                    entry.at.profile,
                    e.message
                );
                self.retry(entry, &current);
            }
        }
    }

    /// After a failed refresh: try again in half the time left (at most a minute) while the
    /// token works; forget it once it does not.
    fn retry(self: &Arc<Self>, entry: &Arc<Entry>, current: &Session) {
        let left = current.expires_at.unwrap_or_default().saturating_sub(now());
        if left <= 1 {
            return self.drop_entry(entry);
        }
        let wait = (left / 2).clamp(1, RETRY_MAX.as_secs() as i64);
        self.plan_refresh(entry, now() + wait);
    }

    /// Forgets `entry` (if it is still the one held).
    fn drop_entry(&self, entry: &Arc<Entry>) {
        let mut held = self.held();
        if held.get(&entry.at).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            held.remove(&entry.at);
        }
    }

    /// Forgets what is held for `at`'s profile, whichever store it came from (a `logout
    /// --store file` forgets a session the agent read through `auto`); the next request reads
    /// the store.
    pub fn forget(&self, at: &Where) {
        self.held().retain(|held, _| held.profile != at.profile);
    }

    /// What is held, for `Op::Status`.
    pub fn status(&self) -> Vec<Held> {
        let held = self.held();
        let mut list: Vec<Held> = held
            .values()
            .filter_map(|e| {
                let current = e.current.read().unwrap_or_else(PoisonError::into_inner);
                let s = current.as_ref()?;
                Some(Held {
                    profile: e.at.profile.clone(),
                    store: e.at.store,
                    expires_at: s.expires_at,
                    refresh_at: e
                        .refresher
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .as_ref()
                        .map(|(at, _)| *at),
                })
            })
            .collect();
        list.sort_by(|a, b| a.profile.cmp(&b.profile));
        list
    }
}

impl Entry {
    fn new(at: Where) -> Entry {
        Entry {
            at,
            current: RwLock::new(None),
            work: tokio::sync::Mutex::new(()),
            store: tokio::sync::OnceCell::new(),
            refresher: Mutex::new(None),
        }
    }

    /// The held session, without its secrets, if it has more than the skew left.
    fn usable(&self, skew: i64) -> Option<Session> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let s = current.as_ref()?;
        let skew = refresh::effective_skew(s, skew);
        s.is_valid_at(now(), skew).then(|| handout(s))
    }
}

/// A failed load's error as a refusal.
pub(crate) fn refusal(e: Error) -> Refused {
    let why = match e.kind() {
        sesame_login::ErrorKind::Expired => Refusal::Expired,
        sesame_login::ErrorKind::NotLoggedIn => Refusal::NotLoggedIn,
        _ => Refusal::Unavailable,
    };
    (why, e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_are_planned_ahead_of_callers_and_spread() {
        // An hour-long token: between 65% and 75% of its life.
        assert_eq!(refresh_at(0, 3600, 60, 0.0, 0), 2700);
        assert_eq!(refresh_at(0, 3600, 60, 1.0, 0), 2340);
        // A minute-long token with a 60 s skew: callers find it due at 30 s left, so the
        // agent refreshes before that.
        let at = refresh_at(0, 60, 60, 0.0, 0);
        assert!(at < 30, "{at}");
        assert!(at > 0, "{at}");
        // Never in the past, and never panics on odd numbers.
        assert_eq!(refresh_at(0, 3600, 60, 0.5, 5000), 5001);
        assert_eq!(refresh_at(100, 50, 60, 0.5, 0), 50);
        let _ = refresh_at(i64::MIN, i64::MAX, i64::MAX, f64::NAN, i64::MAX);
    }
}
