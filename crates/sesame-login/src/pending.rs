//! One pending login per profile. Two `sesame login` for one profile at once (two terminals, or
//! tools that call sesame in parallel, as kubectl does with credential plugins) must not each
//! request a challenge and open a tab (kubelogin #904, "hundreds of Okta tabs"): the second joins
//! the first, shows the same URL and code, and ends with its outcome.
//!
//! The first login holds an exclusive lock on `<data>/locks/login/PROFILE.lock` for its whole
//! life and publishes what it shows (and, at the end, its outcome) in `PROFILE.json` beside it,
//! replaced atomically. (Refresh locks live in `locks/refresh/`: one directory per kind of lock,
//! so that no profile name can make one lock's file another's.) A login joins only a pending
//! login with the same settings (`purpose`): one for bob does not end as alice's. The OS releases the lock when its holder dies, so a login that was
//! killed never blocks the next one; a joiner that finds the lock free with no outcome
//! recorded knows its owner died.

use crate::error::{Error, Exit};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// How often a joiner looks at the owner's state.
const TICK: Duration = Duration::from_millis(100);

/// What the owner of a pending login publishes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Info {
    /// Tells one owner's login from the next.
    pub id: String,
    /// The owner's process ID, shown to a joiner.
    pub pid: u32,
    /// What the login is for (flow, user, server), to tell whether another may join it.
    #[serde(default)]
    pub purpose: String,
    /// The approval URL, once the owner has shown it.
    #[serde(default)]
    pub url: Option<String>,
    /// The verification code the owner shows, if the flow has one.
    #[serde(default)]
    pub code: Option<String>,
    /// Unix seconds after which the owner gives up.
    #[serde(default)]
    pub deadline: Option<i64>,
    /// How the login ended; `None` while it runs.
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

/// How the owner's login ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// The owner's exit code: 0 when the login succeeded.
    pub exit: i32,
    /// The error message, empty on success.
    pub message: String,
    /// What to do next, when the error said.
    #[serde(default)]
    pub hint: Option<String>,
}

#[derive(Clone)]
struct Paths {
    lock: PathBuf,
    info: PathBuf,
}

impl Paths {
    fn new(data_dir: &Path, profile: &str) -> Paths {
        let dir = data_dir.join("locks").join("login");
        Paths {
            lock: dir.join(format!("{profile}.lock")),
            info: dir.join(format!("{profile}.json")),
        }
    }

    fn read(&self) -> Option<Info> {
        crate::private_file::read_own(&self.info, 64 * 1024)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Replaces the info file atomically, so a joiner reads the old or the new, never half.
    fn write(&self, info: &Info) {
        if let Ok(bytes) = serde_json::to_vec(info) {
            let _ = crate::private_file::write_atomically(&self.info, &bytes);
        }
    }
}

fn open_lock(paths: &Paths, profile: &str) -> Result<File, Error> {
    crate::private_file::open_lock(&paths.lock).map_err(|e| {
        Error::other(format!(
            "Could not coordinate logins for profile {profile}: {e}."
        ))
    })
}

/// The login that runs: it holds the lock until [`Owner::finish`] (or until it dies).
pub struct Owner {
    _lock: File,
    paths: Paths,
    info: Info,
}

/// Another login for the profile is under way.
pub struct Busy {
    paths: Paths,
    profile: String,
    purpose: String,
}

/// What [`claim`] found.
pub enum Claim {
    /// No other login is pending: this one runs, holding the lock.
    Owner(Owner),
    /// Another login for the profile holds the lock; [`Busy::join`] waits for it.
    Busy(Busy),
}

/// Becomes the profile's pending login, or learns that another one is. `purpose` says what
/// this login is for; [`Busy::join`] joins only a login with the same.
pub fn claim(data_dir: &Path, profile: &str, purpose: &str) -> Result<Claim, Error> {
    claim_paths(Paths::new(data_dir, profile), profile, purpose)
}

impl Owner {
    fn start(lock: File, paths: Paths, purpose: &str) -> Owner {
        let info = Info {
            id: format!("{:016x}", rand::random::<u64>()),
            pid: std::process::id(),
            purpose: purpose.to_string(),
            url: None,
            code: None,
            deadline: None,
            outcome: None,
        };
        paths.write(&info);
        Owner {
            _lock: lock,
            paths,
            info,
        }
    }

    /// Tells joiners what to show: the URL, the code, and until when.
    pub fn publish(&mut self, url: &Url, code: Option<&str>, deadline: i64) {
        self.info.url = Some(url.to_string());
        self.info.code = code.map(str::to_owned);
        self.info.deadline = Some(deadline);
        self.paths.write(&self.info);
    }

    /// Records the outcome for joiners, then lets the next login run.
    pub fn finish(mut self, result: &Result<(), Error>) {
        self.info.outcome = Some(match result {
            Ok(()) => Outcome {
                exit: 0,
                message: String::new(),
                hint: None,
            },
            Err(e) => Outcome {
                exit: e.exit as i32,
                message: e.message.clone(),
                hint: e.hint.clone(),
            },
        });
        self.paths.write(&self.info);
    }
}

/// A login this one joined: what it shows.
pub struct Joined {
    /// What the other login published: its URL, code and deadline.
    pub info: Info,
    paths: Paths,
}

/// What [`Busy::join`] came to.
pub enum Joining {
    /// The other login published its URL.
    Joined(Joined),
    /// It ended before it showed anything; this login may run after all.
    Owner(Owner),
}

impl Busy {
    /// Waits until the running login has shown its URL (or has ended, and this one takes over).
    pub async fn join(self) -> Result<Joining, Error> {
        let mut waited = Duration::ZERO;
        loop {
            if let Claim::Owner(owner) =
                claim_paths(self.paths.clone(), &self.profile, &self.purpose)?
            {
                return Ok(Joining::Owner(owner));
            }
            // An info file with an outcome while the lock is held is a dead owner's: the new
            // owner has not written its own yet.
            if let Some(info) = self.paths.read()
                && info.outcome.is_none()
                && info.url.is_some()
            {
                if info.purpose != self.purpose {
                    return Err(Error::other(format!(
                        "Another sesame login for profile {} is pending: a {} (process {}). This one, a {}, cannot join it.",
                        self.profile,
                        crate::text::Shown::of(&info.purpose),
                        info.pid,
                        self.purpose
                    ))
                    .hint("Wait for that login to finish (or stop it), or log in with another --profile."));
                }
                return Ok(Joining::Joined(Joined {
                    info,
                    paths: self.paths,
                }));
            }
            if waited > Duration::from_secs(60) {
                return Err(Error::other(format!(
                    "Another sesame login for profile {} holds its lock but has shown no login URL for a minute.",
                    self.profile
                ))
                .hint("Look for a stuck `sesame login` and stop it, then try again."));
            }
            tokio::time::sleep(TICK).await;
            waited += TICK;
        }
    }
}

fn claim_paths(paths: Paths, profile: &str, purpose: &str) -> Result<Claim, Error> {
    let file = open_lock(&paths, profile)?;
    match file.try_lock() {
        Ok(()) => Ok(Claim::Owner(Owner::start(file, paths, purpose))),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Claim::Busy(Busy {
            paths,
            profile: profile.to_string(),
            purpose: purpose.to_string(),
        })),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::other(format!(
            "Could not coordinate logins for profile {profile}: {e}."
        ))),
    }
}

impl Joined {
    /// Waits until the joined login ends, and returns how. A login whose process died without
    /// recording an outcome is reported as such.
    pub async fn outcome(&self) -> Result<(), Error> {
        loop {
            let free = crate::private_file::open_lock(&self.paths.lock)
                .ok()
                .is_some_and(|f| f.try_lock().is_ok());
            if free {
                break;
            }
            tokio::time::sleep(TICK).await;
        }
        let pid = self.info.pid;
        let info = self.paths.read().filter(|i| i.id == self.info.id);
        match info.and_then(|i| i.outcome) {
            Some(o) if o.exit == 0 => Ok(()),
            Some(o) if o.exit == Exit::Interrupted as i32 => Err(Error::incomplete(format!(
                "The login this one joined (sesame process {pid}) was interrupted."
            ))
            .hint("Run `sesame login` again.")),
            Some(o) => {
                let e = Error::new(exit_from(o.exit), o.message);
                Err(match o.hint {
                    Some(hint) => e.hint(hint),
                    None => e,
                })
            }
            None => Err(Error::incomplete(format!(
                "The login this one joined (sesame process {pid}) stopped without a result."
            ))
            .hint("Run `sesame login` again.")),
        }
    }
}

fn exit_from(code: i32) -> Exit {
    match code {
        2 => Exit::Usage,
        3 => Exit::NoSession,
        4 => Exit::LoginIncomplete,
        130 => Exit::Interrupted,
        _ => Exit::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("http://127.0.0.1:1/challenge_validator/t").unwrap()
    }

    #[tokio::test]
    async fn a_second_claim_joins_and_gets_the_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let Claim::Owner(mut owner) = claim(dir.path(), "p", "challenge login as alice").unwrap()
        else {
            panic!("the first claim owns")
        };
        let Claim::Busy(busy) = claim(dir.path(), "p", "challenge login as alice").unwrap() else {
            panic!("the second claim is busy")
        };
        owner.publish(&url(), Some("ABCD-EFGH"), 100);
        let Joining::Joined(joined) = busy.join().await.unwrap() else {
            panic!("joins the published login")
        };
        assert_eq!(joined.info.url.as_deref(), Some(url().as_str()));
        assert_eq!(joined.info.code.as_deref(), Some("ABCD-EFGH"));
        owner.finish(&Err(Error::incomplete("denied").hint("again")));
        let e = joined.outcome().await.unwrap_err();
        assert_eq!(
            (e.exit, e.message.as_str()),
            (Exit::LoginIncomplete, "denied")
        );
        assert!(matches!(
            claim(dir.path(), "p", "challenge login as alice").unwrap(),
            Claim::Owner(_)
        ));
    }

    /// Regression (issue 17, item 9): a login for bob joined a pending login for alice and
    /// reported "Logged in as alice".
    #[tokio::test]
    async fn a_login_with_other_settings_does_not_join() {
        let dir = tempfile::tempdir().unwrap();
        let Claim::Owner(mut owner) =
            claim(dir.path(), "p", "challenge login as alice on http://a/").unwrap()
        else {
            panic!()
        };
        owner.publish(&url(), None, 100);
        let Claim::Busy(busy) =
            claim(dir.path(), "p", "challenge login as bob on http://a/").unwrap()
        else {
            panic!()
        };
        let e = busy.join().await.err().expect("no join");
        assert!(
            e.message.contains("as alice") && e.message.contains("as bob"),
            "{}",
            e.message
        );
        assert_eq!(e.exit, Exit::Error);
    }

    /// Regression (issue 17, item 10): profile X's login lock was `locks/X.login.lock`, the
    /// refresh lock of profile `X.login`.
    #[test]
    fn a_profile_name_cannot_make_a_login_lock_another_profiles_refresh_lock() {
        let data = Path::new("/d");
        let login = Paths::new(data, "x").lock;
        let refresh = crate::refresh::lock_path(data, "x.login");
        assert_ne!(login, refresh);
        assert!(login.starts_with("/d/locks/login"));
        assert!(refresh.starts_with("/d/locks/refresh"));
    }

    #[tokio::test]
    async fn a_dead_owner_does_not_block_and_its_joiner_learns_it() {
        let dir = tempfile::tempdir().unwrap();
        let Claim::Owner(mut owner) = claim(dir.path(), "p", "challenge login as alice").unwrap()
        else {
            panic!()
        };
        owner.publish(&url(), None, 100);
        let Claim::Busy(busy) = claim(dir.path(), "p", "challenge login as alice").unwrap() else {
            panic!()
        };
        let Joining::Joined(joined) = busy.join().await.unwrap() else {
            panic!()
        };
        drop(owner); // dies without finishing: the lock goes with it
        let e = joined.outcome().await.unwrap_err();
        assert!(
            e.message.contains("stopped without a result"),
            "{}",
            e.message
        );
        let Claim::Owner(next) = claim(dir.path(), "p", "challenge login as alice").unwrap() else {
            panic!("the next login runs")
        };
        next.finish(&Ok(()));
    }
}
