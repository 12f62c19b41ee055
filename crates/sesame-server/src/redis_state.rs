//! Challenges in Redis, shared by every replica of `sesame serve` (as ConsoleMe keeps them).
//!
//! Each challenge is a hash `sesame:ch:TOKEN` that expires with the challenge (plus a grace
//! period, so late polls see `expired`), so nothing needs purging. Every check-and-set is one
//! Lua script, run atomically by Redis: the view is handed out once (`HSETNX`), a decision is
//! recorded once, and an approved challenge is collected once (`DEL` in the same script), even
//! when two replicas are asked at the same instant. Pending challenges are counted in sorted
//! sets scored by expiry, across replicas and per client address.
//!
//! A decision is published on one channel; each replica holds one subscription and wakes its
//! own waiting long-polls through a local `watch` per challenge, so a decision on replica B
//! answers a long-poll held by replica A at once, with no polling of Redis.

use super::state::{
    ChallengeState, Created, Decision, Limits, NewChallenge, Poll, StateError, Status, View, Watch,
    random_token, user_code,
};
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

const PREFIX: &str = "sesame:ch:";
const PENDING: &str = "sesame:pending";
const IP_PREFIX: &str = "sesame:ip:";
const CHANNEL: &str = "sesame:decided";
/// Kept past expiry so that late polls see `expired` or `denied` rather than `unknown`.
const GRACE: Duration = Duration::from_secs(300);

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn from_ms(v: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(v.max(0).unsigned_abs())
}

/// A Redis URL for messages: the password replaced.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("…"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Local waiters: one `watch` per challenge someone here long-polls.
#[derive(Default)]
struct Waiters(Mutex<HashMap<String, watch::Sender<()>>>);

impl Waiters {
    fn subscribe(&self, token: &str) -> watch::Receiver<()> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(token.to_string())
            .or_insert_with(|| watch::channel(()).0)
            .subscribe()
    }

    fn wake(&self, token: &str) {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = map.get(token) {
            tx.send_replace(());
        }
    }

    /// After the subscription was lost, decisions may have been missed: everyone looks again.
    fn wake_all(&self) {
        let map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for tx in map.values() {
            tx.send_replace(());
        }
    }

    fn prune(&self) -> usize {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = map.len();
        map.retain(|_, tx| tx.receiver_count() > 0);
        before - map.len()
    }
}

pub struct RedisState {
    conn: ConnectionManager,
    waiters: Arc<Waiters>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for RedisState {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn scripts() -> &'static Scripts {
    static S: OnceLock<Scripts> = OnceLock::new();
    S.get_or_init(|| Scripts {
        create: Script::new(
            r"
            redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
            if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 'full' end
            if tonumber(ARGV[5]) > 0 then
              redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
              if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return 'ipfull' end
            end
            redis.call('HSET', KEYS[1], 'user', ARGV[6], 'ip', ARGV[7], 'created', ARGV[1],
              'expires', ARGV[2], 'code', ARGV[8], 'redirect', ARGV[9], 'state', ARGV[10],
              'status', 'pending')
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
            redis.call('ZADD', KEYS[2], ARGV[2], ARGV[11])
            redis.call('ZADD', KEYS[3], ARGV[2], ARGV[11])
            redis.call('PEXPIRE', KEYS[3], ARGV[3])
            return 'ok'
            ",
        ),
        take_nonce: Script::new(
            r"
            if redis.call('EXISTS', KEYS[1]) == 0 then return false end
            if redis.call('HSETNX', KEYS[1], 'nonce', ARGV[1]) == 1 then return ARGV[1] end
            return false
            ",
        ),
        decide: Script::new(
            r"
            local h = redis.call('HMGET', KEYS[1], 'nonce', 'status', 'expires', 'ip')
            if not h[1] or h[1] ~= ARGV[1] then return 0 end
            if h[2] ~= 'pending' then return 0 end
            if tonumber(h[3]) <= tonumber(ARGV[3]) then return 0 end
            redis.call('HSET', KEYS[1], 'status', ARGV[2], 'groups', ARGV[7])
            redis.call('ZREM', KEYS[2], ARGV[4])
            redis.call('ZREM', ARGV[6] .. h[4], ARGV[4])
            redis.call('PUBLISH', ARGV[5], ARGV[4])
            return 1
            ",
        ),
        poll: Script::new(
            r"
            local h = redis.call('HMGET', KEYS[1], 'status', 'expires', 'ip', 'user', 'groups')
            if not h[1] then return {'unknown'} end
            if h[1] == 'pending' and tonumber(h[2]) <= tonumber(ARGV[1]) then return {'expired'} end
            if ARGV[2] ~= '' and ARGV[2] ~= h[3] then return {'unauthorized'} end
            if h[1] == 'approved' then
              redis.call('DEL', KEYS[1])
              return {'collected', h[4], h[5] or '[]'}
            end
            if h[1] == 'denied' then return {'denied'} end
            return {'pending', h[2]}
            ",
        ),
    })
}

struct Scripts {
    create: Script,
    take_nonce: Script,
    decide: Script,
    poll: Script,
}

fn failed(e: redis::RedisError) -> StateError {
    StateError(format!("Redis: {e}"))
}

/// Runs a request on the shared connection (`|conn| request`), and once more if that
/// connection had dropped: after Redis restarts, the first request on the old connection is the
/// one to find out, and the manager reconnects for the second. A request whose reply alone was
/// lost runs twice; each is safe to repeat (a second `create` leaves one more pending challenge,
/// a second `decide` or collecting `poll` finds the challenge decided or collected). A macro,
/// as an async closure's future cannot be shown to be `Send` for every borrow.
macro_rules! once_more {
    ($state:expr, |$conn:ident| $request:expr) => {{
        let mut $conn = $state.conn.clone();
        match $request.await {
            Err(e) if e.is_connection_dropped() => $request.await.map_err(failed),
            done => done.map_err(failed),
        }
    }};
}

impl RedisState {
    /// Sets up the connection (made lazily: a Redis that is down now makes requests answer 503
    /// until it is up, not the server refuse to start) and the decision subscription.
    pub fn connect(url: &str) -> Result<RedisState, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| e.to_string())?;
        let waiters = Arc::new(Waiters::default());
        let listener = tokio::spawn(listen(client, waiters.clone()));
        Ok(RedisState {
            conn,
            waiters,
            listener,
        })
    }
}

/// The replica's one subscription to decisions, re-made whenever it drops.
async fn listen(client: redis::Client, waiters: Arc<Waiters>) {
    loop {
        if let Ok(mut pubsub) = client.get_async_pubsub().await
            && pubsub.subscribe(CHANNEL).await.is_ok()
        {
            waiters.wake_all();
            let mut messages = pubsub.on_message();
            while let Some(msg) = messages.next().await {
                if let Ok(token) = msg.get_payload::<String>() {
                    waiters.wake(&token);
                }
            }
            waiters.wake_all();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[async_trait::async_trait]
impl ChallengeState for RedisState {
    async fn create(&self, new: NewChallenge, limits: Limits) -> Result<Created, StateError> {
        let token = random_token();
        let code = user_code();
        let now = ms(new.now);
        let expires = ms(new.now + new.ttl);
        let keep = i64::try_from((new.ttl + GRACE).as_millis()).unwrap_or(i64::MAX);
        let ip = new.ip.to_string();
        let mut create = scripts().create.prepare_invoke();
        create
            .key(format!("{PREFIX}{token}"))
            .key(PENDING)
            .key(format!("{IP_PREFIX}{ip}"))
            .arg(now)
            .arg(expires)
            .arg(keep)
            .arg(limits.max_pending)
            .arg(limits.max_per_ip)
            .arg(&new.user)
            .arg(&ip)
            .arg(&code)
            .arg(
                new.redirect_uri
                    .as_ref()
                    .map(url::Url::as_str)
                    .unwrap_or(""),
            )
            .arg(new.state.as_deref().unwrap_or(""))
            .arg(&token);
        let outcome: String = once_more!(self, |c| create.invoke_async(&mut c))?;
        Ok(match outcome.as_str() {
            "ok" => Created::New { token, code },
            "ipfull" => Created::IpFull,
            _ => Created::Full,
        })
    }

    async fn view(&self, token: &str, now: SystemTime) -> Result<Option<View>, StateError> {
        let key = format!("{PREFIX}{token}");
        let h: HashMap<String, String> = once_more!(self, |c| c.hgetall(&key))?;
        let field = |k: &str| h.get(k).cloned().unwrap_or_default();
        let Some(ip) = h.get("ip").and_then(|i| i.parse::<IpAddr>().ok()) else {
            return Ok(None);
        };
        let number = |k: &str| h.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let status = match field("status").as_str() {
            "approved" => Status::Approved,
            "denied" => Status::Denied,
            _ => Status::Pending,
        };
        let (redirect, state) = (field("redirect"), field("state"));
        Ok(Some(View {
            user: field("user"),
            ip,
            created: from_ms(number("created")),
            user_code: field("code"),
            status,
            expired: ms(now) >= number("expires"),
            redirect_uri: url::Url::parse(&redirect).ok(),
            state: (!state.is_empty()).then_some(state),
        }))
    }

    async fn take_nonce(&self, token: &str) -> Result<Option<String>, StateError> {
        let mut take = scripts().take_nonce.prepare_invoke();
        take.key(format!("{PREFIX}{token}")).arg(random_token());
        once_more!(self, |c| take.invoke_async(&mut c))
    }

    async fn decide(
        &self,
        token: &str,
        nonce: &str,
        decision: Decision,
        now: SystemTime,
    ) -> Result<bool, StateError> {
        let (status, groups) = match &decision {
            Decision::Approve { groups } => ("approved", groups.as_slice()),
            Decision::Deny => ("denied", &[][..]),
        };
        let groups = serde_json::to_string(groups)
            .map_err(|e| StateError(format!("the approver's groups as JSON: {e}")))?;
        let mut decide = scripts().decide.prepare_invoke();
        decide
            .key(format!("{PREFIX}{token}"))
            .key(PENDING)
            .arg(nonce)
            .arg(status)
            .arg(ms(now))
            .arg(token)
            .arg(CHANNEL)
            .arg(IP_PREFIX)
            .arg(groups);
        let done: i64 = once_more!(self, |c| decide.invoke_async(&mut c))?;
        Ok(done == 1)
    }

    async fn poll(
        &self,
        token: &str,
        ip: Option<IpAddr>,
        now: SystemTime,
    ) -> Result<Poll, StateError> {
        let mut poll = scripts().poll.prepare_invoke();
        poll.key(format!("{PREFIX}{token}"))
            .arg(ms(now))
            .arg(ip.map(|i| i.to_string()).unwrap_or_default());
        let reply: Vec<String> = once_more!(self, |c| poll.invoke_async(&mut c))?;
        let second = reply.get(1).cloned().unwrap_or_default();
        Ok(match reply.first().map(String::as_str) {
            Some("expired") => Poll::Expired,
            Some("unauthorized") => Poll::Unauthorized,
            Some("denied") => Poll::Denied,
            Some("collected") => Poll::Collected {
                user: second,
                groups: serde_json::from_str(reply.get(2).map_or("[]", String::as_str)).map_err(
                    |e| {
                        StateError(format!(
                            "Redis holds a challenge whose groups are not JSON: {e}"
                        ))
                    },
                )?,
            },
            Some("pending") => Poll::Pending {
                expires: from_ms(second.parse().unwrap_or(0)),
            },
            _ => Poll::Unknown,
        })
    }

    async fn watch(
        &self,
        token: &str,
        ip: Option<IpAddr>,
        now: SystemTime,
    ) -> Result<Option<Watch>, StateError> {
        // Listen before looking, so a decision made in between is not missed. A read, so
        // nothing is collected.
        let changed = self.waiters.subscribe(token);
        let mut hmget = redis::cmd("HMGET");
        hmget
            .arg(format!("{PREFIX}{token}"))
            .arg(&["status", "expires", "ip"]);
        let (status, expires, owner): (Option<String>, Option<i64>, Option<String>) =
            once_more!(self, |c| hmget.query_async(&mut c))?;
        let expires = expires.unwrap_or(0);
        let pending = status.as_deref() == Some("pending") && expires > ms(now);
        let from_owner = ip.is_none_or(|ip| owner.as_deref() == Some(ip.to_string().as_str()));
        Ok((pending && from_owner).then(|| Watch {
            changed,
            expires: from_ms(expires),
        }))
    }

    async fn health(&self) -> Result<(), StateError> {
        let ping = redis::cmd("PING");
        let pong: String = once_more!(self, |c| ping.query_async(&mut c))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StateError(format!("Redis answered PING with {pong:?}")))
        }
    }

    fn purge(&self, _now: SystemTime) -> usize {
        self.waiters.prune()
    }

    fn describe(&self) -> &'static str {
        "redis"
    }
}
