//! The reference server's challenges: created by the generator, viewed once and decided on the
//! approval page, collected once by the poller. [`ChallengeState`] is what the handlers see;
//! [`Challenges`] keeps them in this process's memory (the embedded default), and
//! [`super::redis_state::RedisState`] in Redis, shared by replicas. Waiting long-polls
//! subscribe to a per-challenge `watch` channel, so thousands of them cost a task each and no
//! busy loop.

use rand::Rng;
use rand::distr::Alphanumeric;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Approved,
    Denied,
}

/// What the approver decided; an approval carries the groups the session's JWT gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve { groups: Vec<String> },
    Deny,
}

#[derive(Debug)]
pub struct Challenge {
    pub user: String,
    pub ip: IpAddr,
    pub created: SystemTime,
    pub expires: SystemTime,
    pub user_code: String,
    pub redirect_uri: Option<Url>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub status: Status,
    /// The approver's groups, set when approved.
    pub groups: Vec<String>,
    changed: watch::Sender<()>,
}

impl Challenge {
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.expires
    }
}

/// A read-only copy of what a page needs to show.
#[derive(Debug, Clone)]
pub struct View {
    pub user: String,
    pub ip: IpAddr,
    pub created: SystemTime,
    pub user_code: String,
    pub status: Status,
    pub expired: bool,
    pub redirect_uri: Option<Url>,
    pub state: Option<String>,
}

#[derive(Debug)]
pub enum Poll {
    Unknown,
    Expired,
    Unauthorized,
    /// Still waiting (to wait for the decision, [`ChallengeState::watch`] it); it expires at
    /// `expires`.
    Pending {
        expires: SystemTime,
    },
    Denied,
    Collected {
        user: String,
        groups: Vec<String>,
    },
}

/// A pending challenge someone may wait on: `changed` fires when it is decided.
#[derive(Debug)]
pub struct Watch {
    pub changed: watch::Receiver<()>,
    pub expires: SystemTime,
}

/// The shared state could not be reached (Redis down or restarting): the request gets 503
/// with `Retry-After`, and nothing is lost that was not already in the store.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);

/// What creating a challenge came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    New {
        token: String,
        code: String,
    },
    /// `--max-pending` challenges are pending (across replicas, with Redis).
    Full,
    /// This address has `--max-pending-per-ip` pending already.
    IpFull,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_pending: usize,
    /// 0: no limit.
    pub max_per_ip: usize,
}

/// The challenges, wherever they are kept. The handlers see only this.
#[async_trait::async_trait]
pub trait ChallengeState: Send + Sync {
    async fn create(&self, new: NewChallenge, limits: Limits) -> Result<Created, StateError>;
    async fn view(&self, token: &str, now: SystemTime) -> Result<Option<View>, StateError>;
    /// The one view ConsoleMe allows: the nonce a decision must carry; `None` if viewed before.
    async fn take_nonce(&self, token: &str) -> Result<Option<String>, StateError>;
    /// Records the decision if the nonce matches and the challenge is pending and unexpired.
    async fn decide(
        &self,
        token: &str,
        nonce: &str,
        decision: Decision,
        now: SystemTime,
    ) -> Result<bool, StateError>;
    /// The poller's view; an approved challenge is collected (removed) exactly once.
    async fn poll(
        &self,
        token: &str,
        ip: Option<IpAddr>,
        now: SystemTime,
    ) -> Result<Poll, StateError>;
    /// Looks without touching: `Some` if the challenge is pending, unexpired and (with `ip`)
    /// polled from its address. Collects nothing; a parked long-poll waits on it.
    async fn watch(
        &self,
        token: &str,
        ip: Option<IpAddr>,
        now: SystemTime,
    ) -> Result<Option<Watch>, StateError>;
    /// Whether the state can serve requests (`/readyz`).
    async fn health(&self) -> Result<(), StateError> {
        Ok(())
    }
    /// Drops what expired (memory; Redis expires keys itself).
    fn purge(&self, _now: SystemTime) -> usize {
        0
    }
    fn describe(&self) -> &'static str;
}

/// How long an expired or decided challenge is kept so that polls see `expired` or `denied`
/// rather than `unknown`.
const GRACE: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub struct Challenges {
    map: Mutex<HashMap<String, Challenge>>,
    /// When a full map was last purged (seconds since the epoch): at most once a second, or
    /// every generator request at the cap would scan the whole map.
    purged_when_full: std::sync::atomic::AtomicU64,
}

/// Letters a person cannot confuse (no vowels, so no words; no 0/O, 1/I), as RFC 8628 §6.1
/// suggests for user codes.
const CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

pub fn random_token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

pub fn user_code() -> String {
    let mut rng = rand::rng();
    let mut code = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            code.push('-');
        }
        code.push(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char);
    }
    code
}

pub struct NewChallenge {
    pub user: String,
    pub ip: IpAddr,
    pub now: SystemTime,
    pub ttl: Duration,
    pub redirect_uri: Option<Url>,
    pub state: Option<String>,
}

impl Challenges {
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty()
    }

    /// Creates a challenge within the limits: its token and user code, or which limit it hit.
    fn create_limited(&self, new: NewChallenge, limits: Limits) -> Created {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= limits.max_pending {
            use std::sync::atomic::Ordering;
            let second = sesame_login::clock::unix_seconds(new.now)
                .max(0)
                .unsigned_abs();
            if self.purged_when_full.swap(second, Ordering::Relaxed) != second {
                Self::purge_locked(&mut map, new.now);
            }
            if map.len() >= limits.max_pending {
                return Created::Full;
            }
        }
        if limits.max_per_ip > 0 {
            let from_ip = map
                .values()
                .filter(|c| c.ip == new.ip && c.status == Status::Pending && !c.is_expired(new.now))
                .count();
            if from_ip >= limits.max_per_ip {
                return Created::IpFull;
            }
        }
        let token = random_token();
        let code = user_code();
        let (changed, _) = watch::channel(());
        map.insert(
            token.clone(),
            Challenge {
                user: new.user,
                ip: new.ip,
                created: new.now,
                expires: new.now + new.ttl,
                user_code: code.clone(),
                redirect_uri: new.redirect_uri,
                state: new.state,
                nonce: None,
                status: Status::Pending,
                groups: Vec::new(),
                changed,
            },
        );
        Created::New { token, code }
    }

    pub fn view(&self, token: &str, now: SystemTime) -> Option<View> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(token).map(|c| View {
            user: c.user.clone(),
            ip: c.ip,
            created: c.created,
            user_code: c.user_code.clone(),
            status: c.status,
            expired: c.is_expired(now),
            redirect_uri: c.redirect_uri.clone(),
            state: c.state.clone(),
        })
    }

    /// The one view ConsoleMe allows: hands out the nonce the decision must carry. `None` when
    /// the challenge was viewed before.
    pub fn take_nonce(&self, token: &str) -> Option<String> {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = map.get_mut(token)?;
        if c.nonce.is_some() {
            return None;
        }
        let nonce = random_token();
        c.nonce = Some(nonce.clone());
        Some(nonce)
    }

    /// Records the decision if `nonce` matches (compared in constant time) and the challenge is
    /// still pending and unexpired.
    pub fn decide(&self, token: &str, nonce: &str, decision: Decision, now: SystemTime) -> bool {
        use subtle::ConstantTimeEq;
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(c) = map.get_mut(token) else {
            return false;
        };
        let nonce_ok = c
            .nonce
            .as_deref()
            .is_some_and(|n| bool::from(n.as_bytes().ct_eq(nonce.as_bytes())));
        if !nonce_ok || c.status != Status::Pending || c.is_expired(now) {
            return false;
        }
        c.status = match decision {
            Decision::Approve { groups } => {
                c.groups = groups;
                Status::Approved
            }
            Decision::Deny => Status::Denied,
        };
        c.changed.send_replace(());
        true
    }

    /// The poller's view. An approved challenge is removed as it is collected: one-time.
    pub fn poll(&self, token: &str, ip: Option<IpAddr>, now: SystemTime) -> Poll {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(c) = map.get(token) else {
            return Poll::Unknown;
        };
        if c.is_expired(now) && c.status == Status::Pending {
            return Poll::Expired;
        }
        if ip.is_some_and(|ip| ip != c.ip) {
            return Poll::Unauthorized;
        }
        match c.status {
            Status::Pending => Poll::Pending { expires: c.expires },
            Status::Denied => Poll::Denied,
            Status::Approved => match map.remove(token) {
                Some(c) => Poll::Collected {
                    user: c.user,
                    groups: c.groups,
                },
                None => Poll::Unknown,
            },
        }
    }

    pub fn watch(&self, token: &str, ip: Option<IpAddr>, now: SystemTime) -> Option<Watch> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = map.get(token)?;
        (c.status == Status::Pending && !c.is_expired(now) && ip.is_none_or(|ip| ip == c.ip)).then(
            || Watch {
                changed: c.changed.subscribe(),
                expires: c.expires,
            },
        )
    }

    /// Drops challenges past their expiry plus a grace period.
    pub fn purge(&self, now: SystemTime) -> usize {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Self::purge_locked(&mut map, now)
    }

    fn purge_locked(map: &mut HashMap<String, Challenge>, now: SystemTime) -> usize {
        let before = map.len();
        map.retain(|_, c| now < c.expires + GRACE);
        before - map.len()
    }
}

#[async_trait::async_trait]
impl ChallengeState for Challenges {
    async fn create(&self, new: NewChallenge, limits: Limits) -> Result<Created, StateError> {
        Ok(self.create_limited(new, limits))
    }
    async fn view(&self, token: &str, now: SystemTime) -> Result<Option<View>, StateError> {
        Ok(Challenges::view(self, token, now))
    }
    async fn take_nonce(&self, token: &str) -> Result<Option<String>, StateError> {
        Ok(Challenges::take_nonce(self, token))
    }
    async fn decide(
        &self,
        token: &str,
        nonce: &str,
        decision: Decision,
        now: SystemTime,
    ) -> Result<bool, StateError> {
        Ok(Challenges::decide(self, token, nonce, decision, now))
    }
    async fn poll(
        &self,
        token: &str,
        ip: Option<IpAddr>,
        now: SystemTime,
    ) -> Result<Poll, StateError> {
        Ok(Challenges::poll(self, token, ip, now))
    }
    async fn watch(
        &self,
        token: &str,
        ip: Option<IpAddr>,
        now: SystemTime,
    ) -> Result<Option<Watch>, StateError> {
        Ok(Challenges::watch(self, token, ip, now))
    }
    fn purge(&self, now: SystemTime) -> usize {
        Challenges::purge(self, now)
    }
    fn describe(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::UNIX_EPOCH;

    impl Challenges {
        fn create(&self, new: NewChallenge, cap: usize) -> Option<(String, String)> {
            match self.create_limited(
                new,
                Limits {
                    max_pending: cap,
                    max_per_ip: 0,
                },
            ) {
                Created::New { token, code } => Some((token, code)),
                _ => None,
            }
        }
    }

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn new(now: SystemTime) -> NewChallenge {
        NewChallenge {
            user: "alice".into(),
            ip: IP,
            now,
            ttl: Duration::from_secs(120),
            redirect_uri: None,
            state: None,
        }
    }

    #[test]
    fn a_full_map_is_purged_at_most_once_a_second() {
        let s = Challenges::default();
        let start = UNIX_EPOCH + Duration::from_millis(1_000_000_500);
        assert!(s.create(new(start), 1).is_some());
        // Purgeable from start + ttl + GRACE, half-way through a second; `edge` is earlier in
        // that second.
        let purgeable = start + Duration::from_secs(120) + GRACE;
        let edge = purgeable - Duration::from_millis(300);
        assert!(
            s.create(new(edge), 1).is_none(),
            "full, nothing to purge yet"
        );
        let later_same_second = purgeable + Duration::from_millis(100);
        assert!(
            s.create(new(later_same_second), 1).is_none(),
            "no second scan within the same second"
        );
        assert!(s.create(new(edge + Duration::from_secs(1)), 1).is_some());
    }

    fn approve() -> Decision {
        Decision::Approve {
            groups: vec!["eng".into()],
        }
    }

    #[test]
    fn approve_then_collect_once() {
        let s = Challenges::default();
        let now = SystemTime::now();
        let (t, code) = s.create(new(now), 10).unwrap();
        assert_eq!(code.len(), 9);
        assert!(matches!(s.poll(&t, Some(IP), now), Poll::Pending { .. }));
        let nonce = s.take_nonce(&t).unwrap();
        assert!(s.take_nonce(&t).is_none(), "a second view is refused");
        assert!(!s.decide(&t, "wrong", approve(), now));
        assert!(s.decide(&t, &nonce, approve(), now));
        assert!(!s.decide(&t, &nonce, Decision::Deny, now), "decided once");
        match s.poll(&t, Some(IP), now) {
            Poll::Collected { user, groups } => {
                assert_eq!(user, "alice");
                assert_eq!(groups, ["eng"], "the approver's groups go to the JWT");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.poll(&t, Some(IP), now), Poll::Unknown));
    }

    #[test]
    fn expiry_ip_and_deny() {
        let s = Challenges::default();
        let now = SystemTime::now();
        let (t, _) = s.create(new(now), 10).unwrap();
        let other: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(matches!(s.poll(&t, Some(other), now), Poll::Unauthorized));
        assert!(matches!(s.poll(&t, None, now), Poll::Pending { .. }));
        let later = now + Duration::from_secs(121);
        assert!(matches!(s.poll(&t, Some(IP), later), Poll::Expired));
        let nonce = s.take_nonce(&t).unwrap();
        assert!(
            !s.decide(&t, &nonce, approve(), later),
            "expired cannot be approved"
        );
        let (t2, _) = s.create(new(now), 10).unwrap();
        let n2 = s.take_nonce(&t2).unwrap();
        assert!(s.decide(&t2, &n2, Decision::Deny, now));
        assert!(matches!(s.poll(&t2, Some(IP), now), Poll::Denied));
    }

    #[test]
    fn capped_and_purged() {
        let s = Challenges::default();
        let now = SystemTime::now();
        s.create(new(now), 2).unwrap();
        s.create(new(now), 2).unwrap();
        assert_eq!(s.create(new(now), 2), None);
        let much_later = now + Duration::from_secs(1000);
        assert!(
            s.create(new(much_later), 2).is_some(),
            "expired ones make room"
        );
        assert_eq!(s.purge(much_later + Duration::from_secs(1000)), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn per_address_limit() {
        let s = Challenges::default();
        let now = SystemTime::now();
        let limits = Limits {
            max_pending: 100,
            max_per_ip: 2,
        };
        assert!(matches!(
            s.create_limited(new(now), limits),
            Created::New { .. }
        ));
        assert!(matches!(
            s.create_limited(new(now), limits),
            Created::New { .. }
        ));
        assert_eq!(s.create_limited(new(now), limits), Created::IpFull);
        let other = NewChallenge {
            ip: "10.0.0.2".parse().unwrap(),
            ..new(now)
        };
        assert!(matches!(
            s.create_limited(other, limits),
            Created::New { .. }
        ));
    }

    #[test]
    fn user_codes_use_the_unambiguous_alphabet() {
        for _ in 0..50 {
            let c = user_code();
            assert_eq!(&c[4..5], "-");
            assert!(
                c.chars()
                    .filter(|&ch| ch != '-')
                    .all(|ch| CODE_ALPHABET.contains(&(ch as u8)))
            );
        }
    }
}
