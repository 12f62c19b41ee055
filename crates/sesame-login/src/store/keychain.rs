//! The OS keychain through keyring-core: macOS Keychain, Windows Credential Manager, or the
//! Secret Service on Linux and the BSDs. One entry per profile, service `sesame`, account =
//! profile name, secret = the session as JSON. A profile's [`Extra`]s (cached AWS credentials)
//! are entries of their own, account `PROFILE#NAME`, written the same way.
//!
//! Windows Credential Manager refuses a secret over 2,560 bytes, and an OpenID Connect session
//! (access, ID and refresh tokens) is larger. There the session is split: parts under accounts
//! `PROFILE#GEN.I` (no profile name holds `#`), then the profile's own entry is replaced by a
//! small manifest naming the generation `GEN`. That one write switches from the old session to
//! the new, so a reader sees one or the other, never a mix; the old generation's parts are
//! removed afterwards.
//!
//! Every call runs on its own thread with a deadline: a locked keychain can wait for an unlock
//! prompt that nobody sees, and `sesame token` must never hang a script.

use super::{Extra, SERVICE, StoreError, TokenStore};
use crate::session::Session;
use keyring_core::{CredentialStore, Entry, Error as KError};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// Sessions in the OS keychain: one entry per profile, split into parts where one entry cannot hold
/// a session, and every call bounded in time.
pub struct KeychainStore {
    inner: Arc<CredentialStore>,
    name: &'static str,
    /// The entries' service name: [`SERVICE`], or a program's own when it embeds this crate.
    service: String,
    timeout: Duration,
    /// The largest secret one entry takes, in bytes of UTF-8 (the session is split above it).
    max_entry: usize,
}

/// Windows Credential Manager: 2,560 bytes a secret (CRED_MAX_CREDENTIAL_BLOB_SIZE), which a
/// store may spend as UTF-16; 1,200 bytes of UTF-8 are at most 2,400 bytes either way.
pub const WINDOWS_MAX_ENTRY: usize = 1200;

/// What the profile's entry holds when the session is split.
#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    sesame_parts: usize,
    generation: String,
    bytes: usize,
}

fn part_account(profile: &str, generation: &str, i: usize) -> String {
    format!("{profile}#{generation}.{i}")
}

/// Splits `text` into pieces of at most `max` bytes, at character boundaries.
fn split(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max.max(4));
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (head, tail) = rest.split_at(end);
        parts.push(head);
        rest = tail;
    }
    parts
}

impl KeychainStore {
    /// The platform's keychain, or `Unavailable` saying why not.
    pub fn open_platform(timeout: Duration) -> Result<Self, StoreError> {
        let (name, store) = bounded(timeout, "connecting to the keychain", platform_store)?;
        let inner = store.map_err(|e| StoreError::Unavailable {
            why: unreachable_reason(name, &e),
            source: Some(e),
        })?;
        Ok(KeychainStore {
            inner,
            name,
            service: SERVICE.into(),
            timeout,
            max_entry: if cfg!(windows) {
                WINDOWS_MAX_ENTRY
            } else {
                usize::MAX
            },
        })
    }

    /// Any keyring-core store; tests use `keyring_core::mock::Store`. `max_entry` is the size
    /// above which a session is split across entries.
    pub fn with_store(inner: Arc<CredentialStore>, name: &'static str, max_entry: usize) -> Self {
        KeychainStore {
            inner,
            name,
            service: SERVICE.into(),
            timeout: Duration::from_secs(10),
            max_entry,
        }
    }

    /// The same keychain, its entries under `service` instead of [`SERVICE`]: a program that
    /// embeds this crate keeps its sessions apart from the `sesame` command's.
    pub fn with_service(mut self, service: &str) -> Self {
        self.service = service.into();
        self
    }

    fn read(&self, account: &str) -> Result<String, StoreError> {
        self.call("reading the session", account, |e| e.get_password())
    }

    fn write(&self, account: &str, text: String) -> Result<(), StoreError> {
        self.call("saving the session", account, move |e| {
            e.set_password(&text)
        })
    }

    fn remove(&self, account: &str) -> Result<bool, StoreError> {
        match self.call("deleting the session", account, |e| e.delete_credential()) {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The manifest the profile's entry holds now, if the session there is split.
    fn manifest(&self, profile: &str) -> Option<Manifest> {
        self.read(profile)
            .ok()
            .and_then(|t| serde_json::from_str::<Manifest>(&t).ok())
    }

    fn remove_parts(&self, profile: &str, m: &Manifest) {
        for i in 0..m.sesame_parts {
            let _ = self.remove(&part_account(profile, &m.generation, i));
        }
    }

    /// Reads a split session: every part of the manifest's generation, joined, and checked
    /// against the manifest's length.
    fn assemble(&self, profile: &str, m: &Manifest) -> Result<String, StoreError> {
        let mut text = String::with_capacity(m.bytes);
        for i in 0..m.sesame_parts {
            text.push_str(&self.read(&part_account(profile, &m.generation, i))?);
        }
        if text.len() == m.bytes {
            Ok(text)
        } else {
            Err(StoreError::Damaged {
                what: "the keychain entries for this profile".into(),
                problem: format!("are incomplete ({} of {} bytes)", text.len(), m.bytes),
            })
        }
    }

    fn entry(&self, profile: &str) -> Result<Entry, StoreError> {
        self.inner
            .build(&self.service, profile, None)
            .map_err(|source| StoreError::Keychain {
                keychain: self.name,
                doing: "opening the profile's entry".into(),
                source,
            })
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
        .map_err(|source| StoreError::Io {
            action: "start a thread for",
            path: "the keychain".into(),
            source,
        })?;
    rx.recv_timeout(timeout).map_err(|_| StoreError::Unavailable {
        why: format!(
            "the keychain did not answer within {}s while {what} (is it locked, or waiting for a prompt?)",
            timeout.as_secs_f64()
        ),
        source: None,
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

/// The first line of a keychain error: some span several.
pub(super) fn one_line(e: &KError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

fn map_error(name: &'static str, what: &str, e: KError) -> StoreError {
    match e {
        KError::NoEntry => StoreError::NotFound,
        KError::NoStorageAccess(_) => StoreError::Unavailable {
            why: format!(
                "{name} refused access while {what} (it may be locked): {}",
                one_line(&e)
            ),
            source: Some(e),
        },
        KError::PlatformFailure(_) => StoreError::Unavailable {
            why: format!("{name} failed while {what}: {}", one_line(&e)),
            source: Some(e),
        },
        source => StoreError::Keychain {
            keychain: name,
            doing: what.to_owned(),
            source,
        },
    }
}

impl TokenStore for KeychainStore {
    fn describe(&self, _profile: &str) -> String {
        format!("keychain ({})", self.name.trim_start_matches("the "))
    }

    fn encrypted(&self) -> bool {
        true
    }

    fn load(&self, profile: &str) -> Result<Session, StoreError> {
        let text = self.read_text(profile)?;
        Session::from_json(&text).map_err(|e| StoreError::Damaged {
            what: "the keychain entry for this profile".into(),
            problem: format!("is not a sesame session ({e})"),
        })
    }

    fn save(&self, session: &Session) -> Result<(), StoreError> {
        self.write_text(&session.profile, session.to_json())
    }

    fn delete(&self, profile: &str) -> Result<bool, StoreError> {
        for extra in Extra::ALL {
            self.delete_text(&extra.key(profile))?;
        }
        self.delete_text(profile)
    }

    fn load_extra(&self, profile: &str, extra: Extra) -> Result<Option<String>, StoreError> {
        match self.read_text(&extra.key(profile)) {
            Ok(text) => Ok(Some(text)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn save_extra(&self, profile: &str, extra: Extra, text: &str) -> Result<(), StoreError> {
        self.write_text(&extra.key(profile), text.to_string())
    }
}

impl KeychainStore {
    /// The text under `key` (a profile, or an extra's key), reassembled if it was split.
    fn read_text(&self, key: &str) -> Result<String, StoreError> {
        let mut text = self.read(key)?;
        // A writer may replace the text between our reading its manifest and its parts
        // (and then remove those parts): read the manifest again, a few times.
        for attempt in 0..3 {
            let Ok(m) = serde_json::from_str::<Manifest>(&text) else {
                break;
            };
            match self.assemble(key, &m) {
                Ok(whole) => return Ok(whole),
                Err(e) if attempt == 2 => return Err(e),
                Err(_) => text = self.read(key)?,
            }
        }
        Ok(text)
    }

    /// Writes `json` under `key`, split into parts above the entry limit (module docs).
    fn write_text(&self, key: &str, json: String) -> Result<(), StoreError> {
        let old = self.manifest(key);
        if json.len() <= self.max_entry {
            self.write(key, json)?;
        } else {
            let mut generation = format!("{:08x}", rand::random::<u32>());
            while old.as_ref().is_some_and(|o| o.generation == generation) {
                generation = format!("{:08x}", rand::random::<u32>());
            }
            let parts = split(&json, self.max_entry);
            let manifest = Manifest {
                sesame_parts: parts.len(),
                generation,
                bytes: json.len(),
            };
            for (i, part) in parts.iter().enumerate() {
                let written = self.write(
                    &part_account(key, &manifest.generation, i),
                    part.to_string(),
                );
                if let Err(e) = written {
                    // The previous text is untouched; leave no half-written generation.
                    self.remove_parts(key, &manifest);
                    return Err(e);
                }
            }
            let text = serde_json::to_string(&manifest).map_err(|e| StoreError::Io {
                action: "encode",
                path: "the keychain manifest".into(),
                source: std::io::Error::other(e),
            })?;
            if let Err(e) = self.write(key, text) {
                self.remove_parts(key, &manifest);
                return Err(e);
            }
        }
        if let Some(old) = old {
            self.remove_parts(key, &old);
        }
        Ok(())
    }

    /// Removes `key` and its parts; Ok(false) when there was nothing.
    fn delete_text(&self, key: &str) -> Result<bool, StoreError> {
        let old = self.manifest(key);
        let removed = self.remove(key)?;
        if let Some(old) = old {
            self.remove_parts(key, &old);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::sample;
    use keyring_core::mock;

    fn store() -> KeychainStore {
        KeychainStore::with_store(mock::Store::new().unwrap(), "the mock keychain", usize::MAX)
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
        assert!(
            matches!(e, StoreError::Unavailable { ref why, source: Some(_) } if why.contains("locked"))
        );
        let e = map_error("k", "x", KError::PlatformFailure("dbus".into()));
        assert!(matches!(
            e,
            StoreError::Unavailable {
                source: Some(_),
                ..
            }
        ));
        let e = map_error("k", "x", KError::TooLong("secret".into(), 10));
        assert!(matches!(e, StoreError::Keychain { .. }));
        // The keychain's own error stays reachable through the source chain.
        let shown = e.into_error(super::super::StoreKind::Keychain);
        let source = std::error::Error::source(&shown).and_then(|s| s.source());
        assert!(source.is_some_and(|s| s.is::<KError>()), "{shown:?}");
    }

    #[test]
    fn a_call_that_hangs_times_out_as_unavailable() {
        let r = bounded(Duration::from_millis(50), "testing", || {
            std::thread::sleep(Duration::from_secs(2))
        });
        assert!(
            matches!(r, Err(StoreError::Unavailable { why, .. }) if why.contains("did not answer"))
        );
    }

    #[test]
    fn a_garbage_entry_is_a_clear_error() {
        let s = store();
        s.entry("p").unwrap().set_password("garbage").unwrap();
        let e = s.load("p").unwrap_err().to_string();
        assert!(e.contains("not a sesame session"), "{e}");
    }

    /// A keyring-core store that behaves as Windows Credential Manager does about size: it
    /// refuses a secret over 2,560 bytes (counted as UTF-16, the worst case), and it can be told
    /// to fail every write after the first `n`.
    mod limited {
        use keyring_core::api::{CredentialApi, CredentialStoreApi};
        use keyring_core::{Credential, CredentialStore, Entry, Error, Result, mock};
        use std::any::Any;
        use std::collections::HashMap;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        pub const LIMIT: usize = 2560;

        #[derive(Debug)]
        pub struct Store {
            inner: Arc<CredentialStore>,
            pub writes_left: Arc<AtomicUsize>,
        }

        impl Store {
            pub fn new() -> Arc<Store> {
                Arc::new(Store {
                    inner: mock::Store::new().unwrap(),
                    writes_left: Arc::new(AtomicUsize::new(usize::MAX)),
                })
            }
        }

        #[derive(Debug)]
        struct Cred {
            entry: Entry,
            writes_left: Arc<AtomicUsize>,
        }

        impl CredentialApi for Cred {
            fn set_secret(&self, secret: &[u8]) -> Result<()> {
                let utf16 = String::from_utf8_lossy(secret).encode_utf16().count() * 2;
                if utf16 > LIMIT {
                    return Err(Error::TooLong("secret".into(), LIMIT as u32));
                }
                if self
                    .writes_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_err()
                {
                    return Err(Error::PlatformFailure("injected write failure".into()));
                }
                self.entry.set_secret(secret)
            }
            fn get_secret(&self) -> Result<Vec<u8>> {
                self.entry.get_secret()
            }
            fn delete_credential(&self) -> Result<()> {
                self.entry.delete_credential()
            }
            fn get_credential(&self) -> Result<Option<Arc<Credential>>> {
                Ok(None)
            }
            fn get_specifiers(&self) -> Option<(String, String)> {
                self.entry.get_specifiers()
            }
            fn as_any(&self) -> &dyn Any {
                self
            }
        }

        impl CredentialStoreApi for Store {
            fn vendor(&self) -> String {
                "sesame test store with Windows' size limit".into()
            }
            fn id(&self) -> String {
                "limited".into()
            }
            fn build(
                &self,
                service: &str,
                user: &str,
                mods: Option<&HashMap<&str, &str>>,
            ) -> Result<Entry> {
                let entry = self.inner.build(service, user, mods)?;
                Ok(Entry::new_with_credential(Arc::new(Cred {
                    entry,
                    writes_left: self.writes_left.clone(),
                })))
            }
            fn as_any(&self) -> &dyn Any {
                self
            }
        }
    }

    fn big_session(profile: &str, fill: char) -> Session {
        let mut s = sample(profile, &fill.to_string().repeat(6000), Some(2_000_000_000));
        s.refresh_token = Some(crate::secret::Secret::new("r".repeat(5000)));
        s.id_token = crate::secret::Token::issued(&"i".repeat(5000)).ok();
        s.user = crate::session::UserName::new("Zoë 🚀 Ålesund").unwrap();
        s
    }

    fn windows_like() -> (KeychainStore, Arc<limited::Store>) {
        let limited = limited::Store::new();
        let store = KeychainStore::with_store(
            limited.clone() as Arc<CredentialStore>,
            "the limited keychain",
            WINDOWS_MAX_ENTRY,
        );
        (store, limited)
    }

    fn raw(store: &KeychainStore, account: &str) -> Option<String> {
        store.entry(account).unwrap().get_password().ok()
    }

    #[test]
    fn a_16_kb_session_round_trips_under_windows_size_limit() {
        let session = big_session("p", 'a');
        assert!(session.to_json().len() > 16_000);
        let (limited_unsplit, _) = {
            let l = limited::Store::new();
            (
                KeychainStore::with_store(l.clone() as Arc<CredentialStore>, "x", usize::MAX),
                l,
            )
        };
        assert!(
            limited_unsplit.save(&session).is_err(),
            "the store really refuses a whole OIDC session"
        );

        let (store, _) = windows_like();
        store.save(&session).unwrap();
        let back = store.load("p").unwrap();
        assert_eq!(
            back.to_json(),
            session.to_json(),
            "reassembled byte for byte"
        );
        assert_eq!(back.user.as_str(), "Zoë 🚀 Ålesund");
        let manifest: Manifest = serde_json::from_str(&raw(&store, "p").unwrap()).unwrap();
        assert!(
            manifest.sesame_parts >= 14,
            "{} parts",
            manifest.sesame_parts
        );
    }

    #[test]
    fn replacing_a_split_session_switches_at_once_and_leaves_no_parts() {
        let (store, _) = windows_like();
        store.save(&big_session("p", 'a')).unwrap();
        let first: Manifest = serde_json::from_str(&raw(&store, "p").unwrap()).unwrap();
        store.save(&big_session("p", 'b')).unwrap();
        assert!(store.load("p").unwrap().token.expose().starts_with('b'));
        for i in 0..first.sesame_parts {
            assert_eq!(raw(&store, &part_account("p", &first.generation, i)), None);
        }
        // A small session replaces a split one, and delete removes every part.
        let second: Manifest = serde_json::from_str(&raw(&store, "p").unwrap()).unwrap();
        store.save(&sample("p", "small", None)).unwrap();
        assert_eq!(store.load("p").unwrap().token.expose(), "small");
        assert_eq!(raw(&store, &part_account("p", &second.generation, 0)), None);
        store.save(&big_session("p", 'c')).unwrap();
        let third: Manifest = serde_json::from_str(&raw(&store, "p").unwrap()).unwrap();
        assert!(store.delete("p").unwrap());
        assert!(matches!(store.load("p"), Err(StoreError::NotFound)));
        assert_eq!(raw(&store, &part_account("p", &third.generation, 0)), None);
    }

    #[test]
    fn a_write_that_fails_midway_keeps_the_previous_session() {
        let (store, limited) = windows_like();
        store.save(&big_session("p", 'a')).unwrap();
        limited
            .writes_left
            .store(3, std::sync::atomic::Ordering::SeqCst);
        assert!(store.save(&big_session("p", 'b')).is_err());
        let kept = store.load("p").unwrap();
        assert!(
            kept.token.expose().starts_with('a'),
            "the old session is intact"
        );
    }

    #[test]
    fn split_cuts_at_character_boundaries() {
        let text = "é".repeat(1000);
        let parts = split(&text, 7);
        assert!(parts.iter().all(|p| p.len() <= 7));
        assert_eq!(parts.concat(), text);
        assert!(split("", 5).is_empty());
    }
}
