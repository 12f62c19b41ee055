//! The plaintext fallback: one JSON file per profile, mode 0600 in a 0700 directory, replaced
//! atomically (write a temporary file, fsync, rename) so a crash never leaves half a session.

use super::{Extra, StoreError, TokenStore};
use crate::private_file::{self, ReadError};
use crate::session::Session;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Sessions as files: `PROFILE.json`, mode 0600, in a 0700 directory, replaced atomically.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// A file store in `dir`; the directory is created when the first session is saved.
    pub fn new(dir: PathBuf) -> Self {
        FileStore { dir }
    }

    /// The file store of a data directory: its `sessions` folder.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        FileStore::new(data_dir.join("sessions"))
    }

    /// The directory the session files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The session file of `profile` (`PROFILE.json` in the store's directory), whether or not it
    /// exists.
    pub fn path(&self, profile: &str) -> PathBuf {
        self.dir.join(format!("{profile}.json"))
    }

    /// The file of the profile's `extra` (`PROFILE#NAME.json`), whether or not it exists.
    pub fn extra_path(&self, profile: &str, extra: Extra) -> PathBuf {
        self.dir.join(format!("{}.json", extra.key(profile)))
    }
}

/// The largest session file sesame reads: tokens are at most 32 KiB each
/// ([`crate::secret::MAX_TOKEN_LEN`]); anything near a megabyte is not a session.
const MAX_SESSION_FILE: u64 = 1024 * 1024;

fn io_error(action: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A file that was not read as a session: not the user's own, too large, a link.
fn not_read(path: &Path, e: ReadError) -> StoreError {
    StoreError::Damaged {
        what: format!("the file {}", path.display()),
        problem: format!("was not read: {e}"),
    }
}

impl TokenStore for FileStore {
    fn describe(&self, profile: &str) -> String {
        format!("file {}", self.path(profile).display())
    }

    fn load(&self, profile: &str) -> Result<Session, StoreError> {
        let path = self.path(profile);
        let bytes = match private_file::read_own(&path, MAX_SESSION_FILE) {
            Ok(b) => b,
            Err(ReadError::NotFound) => return Err(StoreError::NotFound),
            Err(ReadError::Io(e)) => return Err(io_error("read", &path, e)),
            Err(e) => return Err(not_read(&path, e)),
        };
        let text = String::from_utf8_lossy(&bytes);
        Session::from_json(&text).map_err(|e| StoreError::Damaged {
            what: format!("the session file {}", path.display()),
            problem: format!("is damaged ({e})"),
        })
    }

    fn save(&self, session: &Session) -> Result<(), StoreError> {
        private_file::ensure_dir(&self.dir).map_err(|e| io_error("create", &self.dir, e))?;
        let path = self.path(&session.profile);
        private_file::write_atomically(&path, session.to_json().as_bytes())
            .map_err(|e| io_error("write", &path, e))
    }

    #[cfg(unix)]
    fn audit(&self, profile: &str) -> Vec<String> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(profile);
        let mode = |p: &Path| fs::metadata(p).ok().map(|m| m.permissions().mode() & 0o777);
        let mut warnings = Vec::new();
        if let Some(m) = mode(&path).filter(|m| m & 0o077 != 0) {
            warnings.push(format!(
                "The session file {} can be read or changed by other users (mode {m:04o}); run `chmod 600 {}`.",
                path.display(),
                path.display()
            ));
        }
        if mode(&path).is_some()
            && let Some(m) = mode(&self.dir).filter(|m| m & 0o077 != 0)
        {
            warnings.push(format!(
                "The session directory {} is open to other users (mode {m:04o}); run `chmod 700 {}`.",
                self.dir.display(),
                self.dir.display()
            ));
        }
        warnings
    }

    fn load_extra(&self, profile: &str, extra: Extra) -> Result<Option<String>, StoreError> {
        let path = self.extra_path(profile, extra);
        match private_file::read_own(&path, MAX_SESSION_FILE) {
            Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
            Err(ReadError::NotFound) => Ok(None),
            Err(ReadError::Io(e)) => Err(io_error("read", &path, e)),
            Err(e) => Err(not_read(&path, e)),
        }
    }

    fn save_extra(&self, profile: &str, extra: Extra, text: &str) -> Result<(), StoreError> {
        private_file::ensure_dir(&self.dir).map_err(|e| io_error("create", &self.dir, e))?;
        let path = self.extra_path(profile, extra);
        private_file::write_atomically(&path, text.as_bytes())
            .map_err(|e| io_error("write", &path, e))
    }

    fn delete(&self, profile: &str) -> Result<bool, StoreError> {
        for extra in Extra::ALL {
            let path = self.extra_path(profile, extra);
            private_file::remove_leftovers(&path);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", &path, e)),
            }
        }
        let path = self.path(profile);
        // A save killed mid-way (kill -9) leaves its temporary file, which holds the token.
        private_file::remove_leftovers(&path);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("remove", &path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::sample;

    #[test]
    fn round_trip_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("a/sessions"));
        assert!(matches!(store.load("p"), Err(StoreError::NotFound)));
        store.save(&sample("p", "one", Some(10))).unwrap();
        store.save(&sample("p", "two", Some(10))).unwrap();
        assert_eq!(store.load("p").unwrap().token.expose(), "two");
        assert!(store.delete("p").unwrap());
        assert!(!store.delete("p").unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn file_is_0600_and_dir_is_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("sessions"));
        store.save(&sample("p", "t", None)).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.path("p")), 0o600);
        assert_eq!(mode(store.dir()), 0o700);
        let leftovers: Vec<_> = fs::read_dir(store.dir()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_reported_as_ssh_does() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("sessions"));
        assert!(store.audit("p").is_empty(), "no session, nothing to say");
        store.save(&sample("p", "t", None)).unwrap();
        assert!(store.audit("p").is_empty(), "0600 in 0700 is fine");
        fs::set_permissions(store.path("p"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o755)).unwrap();
        let w = store.audit("p");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("mode 0644") && w[0].contains("chmod 600"),
            "{w:?}"
        );
        assert!(
            w[1].contains("mode 0755") && w[1].contains("chmod 700"),
            "{w:?}"
        );
    }

    /// Regression (issue 17, items 6 and 11): the temporary file had a fixed name
    /// (`.p.json.PID.tmp`) opened with create+truncate, so a link planted there received the
    /// session; and a save killed mid-way left a temporary file holding the token.
    #[cfg(unix)]
    #[test]
    fn a_planted_link_does_not_receive_the_session_and_logout_clears_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("sessions"));
        store.save(&sample("p", "old", None)).unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"").unwrap();
        let planted = store
            .dir()
            .join(format!(".p.json.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        store.save(&sample("p", "new", None)).unwrap();
        assert_eq!(
            fs::read(&victim).unwrap(),
            b"",
            "nothing written through the link"
        );
        assert_eq!(store.load("p").unwrap().token.expose(), "new");

        fs::write(
            store.dir().join(".p.json.x1y2z3.tmp"),
            b"{\"token\":\"leak\"}",
        )
        .unwrap();
        assert!(store.delete("p").unwrap());
        let left: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") && !n.contains(&std::process::id().to_string()))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// Regression (issue 17, items 6 and 12): a session file that is a link, or huge, was read.
    #[cfg(unix)]
    #[test]
    fn a_linked_or_huge_session_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("sessions"));
        store.save(&sample("p", "t", None)).unwrap();
        let elsewhere = dir.path().join("elsewhere.json");
        fs::rename(store.path("p"), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, store.path("p")).unwrap();
        let err = store.load("p").unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        fs::remove_file(store.path("p")).unwrap();
        let f = fs::File::create(store.path("p")).unwrap();
        f.set_len(300 * 1024 * 1024).unwrap();
        let err = store.load("p").unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn damaged_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().to_path_buf());
        fs::write(store.path("p"), "{not json").unwrap();
        let err = store.load("p").unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
        assert!(err.to_string().contains("damaged"), "{err}");
        let shown = err.into_error(super::super::StoreKind::File);
        let hint = shown.hint.clone().unwrap_or_default();
        assert!(hint.contains("sesame logout"), "{hint}");
    }
}
