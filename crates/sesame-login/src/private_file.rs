//! Files that hold secrets or coordinate sesame's processes, in directories another local user
//! might have planted links in (a shared `$HOME`, a `XDG_DATA_HOME` on a group-writable disk).
//! Every such file is written through here:
//!
//! - a directory is created 0700, and refused if it is a symbolic link or belongs to another
//!   user (chmod-ing through a planted link would open someone else's directory);
//! - a file is replaced by writing a temporary file with a random name, created with
//!   `O_CREAT|O_EXCL` and mode 0600 (`tempfile`: a planted link at that name makes the create
//!   fail instead of being followed), then renamed over the target (a rename replaces a link
//!   rather than writing through it);
//! - a file is read with `O_NOFOLLOW`, only if it is a regular file this user owns, and at most
//!   a size that fits its purpose: `/dev/zero` or a 300 MB "session" is refused, not read;
//! - a lock file is opened with `O_NOFOLLOW` and never truncated.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

/// The temporary files of [`write_atomically`] for `name` are `.NAME.XXXXXX.tmp`.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.")
}
const TEMP_SUFFIX: &str = ".tmp";

/// Creates `dir` (and its parents) if needed, and makes sure it is a real directory of this
/// user's, mode 0700.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    let meta = fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::other(format!(
            "{} is a symbolic link; sesame keeps sessions only in a real directory of yours",
            dir.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if meta.uid() != effective_uid() {
            return Err(io::Error::other(format!(
                "{} belongs to another user (uid {})",
                dir.display(),
                meta.uid()
            )));
        }
        if meta.permissions().mode() & 0o777 != 0o700 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    #[cfg(windows)]
    crate::owner_only::restrict(dir, crate::owner_only::Kind::Dir)?;
    Ok(())
}

/// Replaces `path` with `contents` atomically: a crash leaves the old file or the new one,
/// and at worst a `.NAME.XXXXXX.tmp` that [`remove_leftovers`] cleans up.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // tempfile creates the file O_EXCL with mode 0600 and a random name.
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(&name))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)?;
    // Windows has no mode bits: the file gets an owner-only DACL before it holds anything.
    #[cfg(windows)]
    crate::owner_only::restrict(tmp.path(), crate::owner_only::Kind::File)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Removes what a killed [`write_atomically`] of `path` left behind. Returns how many.
pub fn remove_leftovers(path: &Path) -> usize {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return 0;
    };
    let prefix = temp_prefix(&name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with(&prefix) && n.ends_with(TEMP_SUFFIX)
        })
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// No file at that path.
    NotFound,
    /// Larger than the limit: not the kind of file expected.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// A link, not a regular file, or another user's file.
    Refused(String),
    /// Any other failure to open or read the file.
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotFound => f.write_str("it does not exist"),
            ReadError::TooLarge { limit } => {
                write!(f, "it is larger than {} KiB", limit / 1024)
            }
            ReadError::Refused(why) => f.write_str(why),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reads a file of this user's that holds secrets (a session): no link, a regular file, owned
/// by this user, at most `limit` bytes.
pub fn read_own(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ReadError::NotFound,
        // O_NOFOLLOW on a link: ELOOP.
        _ if is_link_refusal(&e) => {
            ReadError::Refused(format!("{} is a symbolic link", path.display()))
        }
        _ => ReadError::Io(e),
    })?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::Refused(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != effective_uid() {
            return Err(ReadError::Refused(format!(
                "{} belongs to another user (uid {}); remove it",
                path.display(),
                meta.uid()
            )));
        }
    }
    read_limited(file, limit)
}

/// Who else may read `path`, for `sesame doctor`: empty when only this user can. On Unix, the
/// group and world bits of its mode (and another owner); on Windows, the SIDs its DACL lets in.
pub fn others_allowed(path: &Path) -> io::Result<Vec<String>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = fs::symlink_metadata(path)?;
        let mut others = Vec::new();
        if meta.uid() != effective_uid() {
            others.push(format!("its owner, uid {}", meta.uid()));
        }
        let mode = meta.permissions().mode();
        if mode & 0o070 != 0 {
            others.push(format!("group {} (mode {:o})", meta.gid(), mode & 0o777));
        }
        if mode & 0o007 != 0 {
            others.push(format!("every user (mode {:o})", mode & 0o777));
        }
        Ok(others)
    }
    #[cfg(windows)]
    {
        crate::owner_only::others_allowed(path)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = path;
        Ok(Vec::new())
    }
}

/// Reads a file that holds no secret of its own (a config file, a CA bundle, a key file the
/// person named) but must not be read without bound: `/dev/zero` is refused, not read.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ReadError::NotFound,
        _ => ReadError::Io(e),
    })?;
    read_limited(file, limit)
}

fn read_limited(file: File, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// Opens (creating if needed, mode 0600) a lock file, without following a link and without
/// truncating it.
pub fn open_lock(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        ensure_dir(dir)?;
    }
    let mut options = fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

fn is_link_refusal(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

#[cfg(unix)]
/// This process's effective user ID.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"theirs").unwrap();
        let path = dir.path().join("p.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomically(&path, b"secret").unwrap();
        assert_eq!(
            fs::read(&victim).unwrap(),
            b"theirs",
            "the link target is untouched"
        );
        assert!(
            !fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // The old fixed temporary name `.p.json.PID.tmp`, planted as a link, is not used.
        let planted = dir
            .path()
            .join(format!(".p.json.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_atomically(&path, b"secret2").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"theirs");
    }

    #[cfg(unix)]
    #[test]
    fn links_and_huge_files_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::write(&real, b"12345").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(matches!(read_own(&link, 100), Err(ReadError::Refused(_))));
        assert_eq!(read_own(&real, 100).unwrap(), b"12345");
        assert!(matches!(
            read_own(&real, 4),
            Err(ReadError::TooLarge { limit: 4 })
        ));
        assert!(matches!(
            read_capped(Path::new("/dev/zero"), 1024),
            Err(ReadError::TooLarge { .. })
        ));
        assert!(matches!(
            read_own(Path::new("/dev/null"), 10),
            Err(ReadError::Refused(_))
        ));
        assert!(matches!(
            read_own(&dir.path().join("none"), 10),
            Err(ReadError::NotFound)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_that_is_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = dir.path().join("sessions");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = ensure_dir(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        ensure_dir(&dir.path().join("a/b")).unwrap();
    }

    #[test]
    fn leftovers_of_a_killed_write_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        fs::write(dir.path().join(".p.json.abc123.tmp"), b"token").unwrap();
        fs::write(dir.path().join(".q.json.abc123.tmp"), b"other").unwrap();
        assert_eq!(remove_leftovers(&path), 1);
        assert!(dir.path().join(".q.json.abc123.tmp").exists());
    }
}
