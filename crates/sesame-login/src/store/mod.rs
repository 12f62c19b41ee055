//! Where sessions live. One trait, [`TokenStore`], with keychain, file and in-memory backends; the
//! error says whether the caller may fall back (`Unavailable`) or explain (`NotFound`).

mod auto;
mod file;
mod keychain;
mod memory;

pub use auto::Fallback;
pub use file::FileStore;
pub use keychain::KeychainStore;
pub use memory::MemoryStore;

use crate::error::{Error, ErrorKind};
use crate::session::Session;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// The service name of every keychain entry; the account is the profile name.
pub const SERVICE: &str = "sesame";

/// Why a store could not do what was asked; [`StoreError::into_error`] says it to the person,
/// with this error as its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No session is saved for the profile.
    #[error("no session is stored for this profile")]
    NotFound,
    /// The backend cannot be used here at all: no keychain service, locked, timed out. The
    /// `auto` store falls back to files on this one.
    #[error("{why}")]
    Unavailable {
        /// Why, in words a person can act on.
        why: String,
        /// The keychain's own error, when it gave one.
        #[source]
        source: Option<keyring_core::Error>,
    },
    /// What is stored for the profile is not a whole session: damaged, cut short, not the
    /// user's own file, or written by something else. Forgetting the session and logging in
    /// again replaces it.
    #[error("{what} {problem}")]
    Damaged {
        /// What was read ("the session file PATH", "the keychain entry for this profile").
        what: String,
        /// What is wrong with it ("is damaged (...)").
        problem: String,
    },
    /// A file or directory could not be read, written or removed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done: `read`, `write`, `create`, `remove`.
        action: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The keychain failed in a way that falling back would not mend.
    #[error("{keychain} failed while {doing}: {}", keychain::one_line(source))]
    Keychain {
        /// Which keychain ("the Secret Service").
        keychain: &'static str,
        /// What was being done ("reading the session").
        doing: String,
        /// The keychain's error.
        #[source]
        source: keyring_core::Error,
    },
}

impl StoreError {
    /// What the person is told, for a store opened as `kind`; this error is its source.
    pub fn into_error(self, kind: StoreKind) -> Error {
        let error_kind = match self {
            StoreError::NotFound => ErrorKind::NotLoggedIn,
            _ => ErrorKind::Store,
        };
        self.described(kind).kind_of(error_kind).caused_by(self)
    }

    /// [`StoreError::into_error`] for the session of `profile`: a damaged one's hint names the
    /// command that clears it for that profile.
    pub fn into_error_for(self, kind: StoreKind, profile: &str) -> Error {
        let damaged = matches!(self, StoreError::Damaged { .. });
        let e = self.into_error(kind);
        if damaged {
            e.hint(crate::hints::logout_hint(profile))
        } else {
            e
        }
    }

    fn described(&self, kind: StoreKind) -> Error {
        match self {
            StoreError::Unavailable { why, .. } if kind == StoreKind::Keychain => {
                Error::other(format!("The OS keychain is not available: {why}."))
                    .hint("Unlock or start your keychain (on Linux, a Secret Service such as gnome-keyring), or use --store file.")
            }
            StoreError::Unavailable { why, .. } => Error::other(format!("The session store is not available: {why}."))
                .hint("Unlock the keychain and try again, or use --store file."),
            StoreError::NotFound => Error::no_session("No session is stored for this profile.")
                .hint("Run `sesame login`."),
            StoreError::Damaged { .. } => Error::other(format!("The saved session cannot be used: {self}."))
                .hint("Run `sesame logout` for this profile, then log in again: that replaces it."),
            StoreError::Io { .. } | StoreError::Keychain { .. } => {
                Error::other(format!("Session store error: {self}."))
            }
        }
    }
}

/// Where sessions are saved, one per profile: the OS keychain, session files, or memory.
pub trait TokenStore: Send + Sync {
    /// For messages: "Secret Service keychain", "file ~/.local/share/sesame/sessions/x.json".
    fn describe(&self, profile: &str) -> String;
    /// The profile's session, checked as [`Session::from_json`] checks it; [`StoreError::NotFound`]
    /// when there is none.
    fn load(&self, profile: &str) -> Result<Session, StoreError>;
    /// Saves `session` under its profile, replacing any earlier one.
    fn save(&self, session: &Session) -> Result<(), StoreError>;
    /// Deletes the profile's session and its [`Extra`]s; Ok(false) when there was no session.
    fn delete(&self, profile: &str) -> Result<bool, StoreError>;

    /// The profile's `extra`, as saved; `Ok(None)` when there is none.
    fn load_extra(&self, profile: &str, extra: Extra) -> Result<Option<String>, StoreError>;
    /// Saves the profile's `extra`, replacing any earlier one, with the session's protection
    /// (the keychain, or a 0600 file).
    fn save_extra(&self, profile: &str, extra: Extra, text: &str) -> Result<(), StoreError>;

    /// Whether what is saved is kept encrypted by the OS (a keychain), rather than in a plain
    /// file: only then may a session carry a client secret.
    fn encrypted(&self) -> bool {
        false
    }

    /// Warnings about how the profile's session is kept (a session file others can read), as
    /// ssh warns about a private key with loose permissions.
    fn audit(&self, _profile: &str) -> Vec<String> {
        Vec::new()
    }
}

/// Data kept beside a profile's session, in the same store, and deleted with it (`sesame
/// logout`): what was obtained with the session and must not outlive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// AWS credentials obtained with the session, by role (`sesame aws`).
    AwsCredentials,
}

impl Extra {
    /// Every kind, for deleting them all.
    pub const ALL: [Extra; 1] = [Extra::AwsCredentials];

    /// Its name in keys and file names: letters only.
    pub fn name(self) -> &'static str {
        match self {
            Extra::AwsCredentials => "aws",
        }
    }

    /// The key of the profile's extra: the profile, `#` (which no profile name holds) and the
    /// name.
    pub fn key(self, profile: &str) -> String {
        format!("{profile}#{}", self.name())
    }
}

/// Which store to use (`--store`, `SESAME_STORE`, the profile's `store`); [`open`] opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The keychain when it answers, else the session files, with a warning.
    #[default]
    Auto,
    /// The OS keychain only: an error when it is unavailable.
    Keychain,
    /// The session files only.
    File,
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreKind::Auto => "auto",
            StoreKind::Keychain => "keychain",
            StoreKind::File => "file",
        })
    }
}

impl std::str::FromStr for StoreKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(StoreKind::Auto),
            "keychain" => Ok(StoreKind::Keychain),
            "file" => Ok(StoreKind::File),
            _ => Err(format!(
                "unknown store {s:?}: expected auto, keychain or file"
            )),
        }
    }
}

/// Which keychain entries a store uses, and how long a keychain call may take.
#[derive(Debug, Clone)]
pub struct Keychain {
    /// The entries' service name ([`SERVICE`] for the `sesame` command); the account is the
    /// profile.
    pub service: String,
    /// A locked keychain can wait forever for a prompt nobody sees: every call is bounded.
    pub timeout: Duration,
}

/// A store ready to use, and the warning to show when `auto` had to fall back.
pub struct Opened {
    /// The store to use.
    pub store: Box<dyn TokenStore>,
    /// Set when `auto` found no keychain and fell back to the files: why, and where they are.
    pub warning: Option<String>,
}

/// Opens the store the settings ask for. `keychain` never falls back; `file` never touches the
/// keychain; `auto` uses the keychain when it answers, reading the file store too, and falls
/// back to the file store with a warning when it does not.
pub fn open(kind: StoreKind, data_dir: &Path, keychain: &Keychain) -> Result<Opened, StoreError> {
    let keychain_store = || {
        KeychainStore::open_platform(keychain.timeout).map(|k| k.with_service(&keychain.service))
    };
    let file = FileStore::in_data_dir(data_dir);
    tracing::debug!("store: {kind:?} requested");
    match kind {
        StoreKind::File => Ok(Opened {
            store: Box::new(file),
            warning: None,
        }),
        StoreKind::Keychain => Ok(Opened {
            store: Box::new(keychain_store()?),
            warning: None,
        }),
        StoreKind::Auto => match keychain_store() {
            Ok(keychain) => {
                tracing::debug!("store: auto uses the OS keychain (it answered)");
                Ok(Opened {
                    store: Box::new(Fallback::new(keychain, file)),
                    warning: None,
                })
            }
            Err(StoreError::Unavailable { why, .. }) => {
                tracing::debug!("store: auto falls back to the file store: {why}");
                let warning = format!(
                    "{}{}, so the session is kept in a file only you can read, under {} (--store file chooses this; --store keychain requires a keychain).",
                    why.get(..1).unwrap_or_default().to_uppercase(),
                    why.get(1..).unwrap_or_default(),
                    file.dir().display()
                );
                Ok(Opened {
                    store: Box::new(file),
                    warning: Some(warning),
                })
            }
            Err(e) => Err(e),
        },
    }
}
