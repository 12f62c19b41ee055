//! The plaintext fallback: one JSON file per profile, mode 0600 in a 0700 directory, replaced
//! atomically (write a temporary file, fsync, rename) so a crash never leaves half a session.

use super::{StoreError, TokenStore};
use crate::session::Session;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn new(dir: PathBuf) -> Self {
        FileStore { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, profile: &str) -> PathBuf {
        self.dir.join(format!("{profile}.json"))
    }

    fn ensure_dir(&self) -> io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&self.dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if fs::metadata(&self.dir)?.permissions().mode() & 0o777 != 0o700 {
                fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(())
    }

    fn write_atomically(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(format!(
            ".{}.{}.tmp",
            path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let result = (|| {
            let mut file = options.open(&tmp)?;
            file.write_all(contents)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

fn io_error(action: &str, path: &Path, e: io::Error) -> StoreError {
    StoreError::Other(format!("could not {action} {}: {e}", path.display()))
}

impl TokenStore for FileStore {
    fn describe(&self, profile: &str) -> String {
        format!("file {}", self.path(profile).display())
    }

    fn load(&self, profile: &str) -> Result<Session, StoreError> {
        let path = self.path(profile);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StoreError::NotFound),
            Err(e) => return Err(io_error("read", &path, e)),
        };
        Session::from_json(&text).map_err(|e| {
            StoreError::Other(format!(
                "the session file {} is damaged ({e}); run `sesame logout` and log in again",
                path.display()
            ))
        })
    }

    fn save(&self, session: &Session) -> Result<(), StoreError> {
        self.ensure_dir()
            .map_err(|e| io_error("create", &self.dir, e))?;
        let path = self.path(&session.profile);
        self.write_atomically(&path, session.to_json().as_bytes())
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

    fn delete(&self, profile: &str) -> Result<bool, StoreError> {
        let path = self.path(profile);
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

    #[test]
    fn damaged_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().to_path_buf());
        fs::write(store.path("p"), "{not json").unwrap();
        let err = store.load("p").unwrap_err().to_string();
        assert!(
            err.contains("damaged") && err.contains("sesame logout"),
            "{err}"
        );
    }
}
