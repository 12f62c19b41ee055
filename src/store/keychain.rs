//! The OS keychain through keyring-core: macOS Keychain, Windows Credential Manager, or the
//! Secret Service on Linux and the BSDs. One entry per profile, service `sesame`, account =
//! profile name, secret = the session as JSON.
//!
//! Every call runs on its own thread with a deadline: a locked keychain can wait for an unlock
//! prompt that nobody sees, and `sesame token` must never hang a script.

use super::{SERVICE, StoreError, TokenStore};
use crate::session::Session;
use keyring_core::{CredentialStore, Entry, Error as KError};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

pub struct KeychainStore {
    inner: Arc<CredentialStore>,
    name: &'static str,
    timeout: Duration,
}

impl KeychainStore {
    /// The platform's keychain, or `Unavailable` saying why not.
    pub fn open_platform(timeout: Duration) -> Result<Self, StoreError> {
        let (name, store) = bounded(timeout, "connecting to the keychain", platform_store)?;
        let inner = store.map_err(|e| StoreError::Unavailable(unreachable_reason(name, &e)))?;
        Ok(KeychainStore {
            inner,
            name,
            timeout,
        })
    }

    /// Any keyring-core store; tests use `keyring_core::mock::Store`.
    pub fn with_store(inner: Arc<CredentialStore>, name: &'static str) -> Self {
        KeychainStore {
            inner,
            name,
            timeout: Duration::from_secs(10),
        }
    }

    fn entry(&self, profile: &str) -> Result<Entry, StoreError> {
        self.inner
            .build(SERVICE, profile, None)
            .map_err(|e| StoreError::Other(format!("{}: {}", self.name, one_line(&e))))
    }

    fn call<T: Send + 'static>(
        &self,
        what: &str,
        profile: &str,
        f: impl FnOnce(&Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let entry = self.entry(profile)?;
        let result = bounded(self.timeout, what, move || f(&entry))?;
        result.map_err(|e| map_error(self.name, what, e))
    }
}

#[cfg(target_os = "linux")]
fn platform_store() -> (&'static str, keyring_core::Result<Arc<CredentialStore>>) {
    (
        "the Secret Service",
        zbus_secret_service_keyring_store::Store::new().map(|s| s as Arc<CredentialStore>),
    )
}

#[cfg(target_os = "macos")]
fn platform_store() -> (&'static str, keyring_core::Result<Arc<CredentialStore>>) {
    (
        "the macOS Keychain",
        apple_native_keyring_store::keychain::Store::new().map(|s| s as Arc<CredentialStore>),
    )
}

#[cfg(target_os = "windows")]
fn platform_store() -> (&'static str, keyring_core::Result<Arc<CredentialStore>>) {
    (
        "the Windows Credential Manager",
        windows_native_keyring_store::Store::new().map(|s| s as Arc<CredentialStore>),
    )
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn platform_store() -> (&'static str, keyring_core::Result<Arc<CredentialStore>>) {
    (
        "a keychain",
        Err(KError::NotSupportedByStore(
            "sesame has no keychain backend for this platform".into(),
        )),
    )
}

/// Runs `f` on a helper thread and gives up after `timeout`.
fn bounded<T: Send + 'static>(
    timeout: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("keychain".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| StoreError::Other(format!("could not start a thread: {e}")))?;
    rx.recv_timeout(timeout).map_err(|_| {
        StoreError::Unavailable(format!(
            "the keychain did not answer within {}s while {what} (is it locked, or waiting for a prompt?)",
            timeout.as_secs_f64()
        ))
    })
}

/// Why the keychain cannot be reached, in words a person can act on. A missing D-Bus session
/// (SSH, containers, CI) or a session without a Secret Service is the common case on Linux,
/// and zbus's own message for it names sockets and addresses.
fn unreachable_reason(name: &str, e: &KError) -> String {
    let text = e.to_string();
    let no_service = [
        "Failed to connect",
        "no secret service provider or dbus session",
        "ServiceUnknown",
        "DBUS_SESSION_BUS_ADDRESS",
    ];
    if cfg!(target_os = "linux") && no_service.iter().any(|n| text.contains(n)) {
        "no Secret Service on this session's D-Bus".to_string()
    } else {
        format!("{name} is not reachable: {}", one_line(e))
    }
}

fn one_line(e: &KError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

fn map_error(name: &str, what: &str, e: KError) -> StoreError {
    match e {
        KError::NoEntry => StoreError::NotFound,
        KError::NoStorageAccess(_) => StoreError::Unavailable(format!(
            "{name} refused access while {what} (it may be locked): {}",
            one_line(&e)
        )),
        KError::PlatformFailure(_) => {
            StoreError::Unavailable(format!("{name} failed while {what}: {}", one_line(&e)))
        }
        other => StoreError::Other(format!("{name} failed while {what}: {}", one_line(&other))),
    }
}

impl TokenStore for KeychainStore {
    fn describe(&self, _profile: &str) -> String {
        format!("keychain ({})", self.name.trim_start_matches("the "))
    }

    fn load(&self, profile: &str) -> Result<Session, StoreError> {
        let text = self.call("reading the session", profile, |e| e.get_password())?;
        Session::from_json(&text).map_err(|e| {
            StoreError::Other(format!(
                "the keychain entry for this profile is not a sesame session ({e}); run `sesame logout` and log in again"
            ))
        })
    }

    fn save(&self, session: &Session) -> Result<(), StoreError> {
        let json = session.to_json();
        self.call("saving the session", &session.profile, move |e| {
            e.set_password(&json)
        })
    }

    fn delete(&self, profile: &str) -> Result<bool, StoreError> {
        match self.call("deleting the session", profile, |e| e.delete_credential()) {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::sample;
    use keyring_core::mock;

    fn store() -> KeychainStore {
        KeychainStore::with_store(mock::Store::new().unwrap(), "the mock keychain")
    }

    #[test]
    fn round_trip_through_keyring_core() {
        let s = store();
        assert!(matches!(s.load("p"), Err(StoreError::NotFound)));
        s.save(&sample("p", "jwt", Some(1))).unwrap();
        assert_eq!(s.load("p").unwrap().token.expose(), "jwt");
        assert!(s.delete("p").unwrap());
        assert!(!s.delete("p").unwrap());
    }

    #[test]
    fn platform_failures_are_unavailable_and_not_found_is_not_found() {
        let e = map_error("k", "x", KError::NoEntry);
        assert!(matches!(e, StoreError::NotFound));
        let e = map_error("k", "x", KError::NoStorageAccess("locked".into()));
        assert!(matches!(e, StoreError::Unavailable(m) if m.contains("locked")));
        let e = map_error("k", "x", KError::PlatformFailure("dbus".into()));
        assert!(matches!(e, StoreError::Unavailable(_)));
        let e = map_error("k", "x", KError::TooLong("secret".into(), 10));
        assert!(matches!(e, StoreError::Other(_)));
    }

    #[test]
    fn a_call_that_hangs_times_out_as_unavailable() {
        let r = bounded(Duration::from_millis(50), "testing", || {
            std::thread::sleep(Duration::from_secs(2))
        });
        assert!(matches!(r, Err(StoreError::Unavailable(m)) if m.contains("did not answer")));
    }

    #[test]
    fn a_garbage_entry_is_a_clear_error() {
        let s = store();
        s.entry("p").unwrap().set_password("garbage").unwrap();
        let e = s.load("p").unwrap_err().to_string();
        assert!(e.contains("not a sesame session"), "{e}");
    }
}
