//! The agent's socket file: in a directory only this user can enter (created 0700, refused if
//! it is a link or another user's), mode 0600. A socket left by an agent that died is
//! replaced; anything else at the path is refused rather than removed.

use sesame_login::error::Error;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The longest socket path every Unix takes (`sun_path` is 104 bytes on macOS, 108 on Linux).
const MAX_PATH: usize = 103;

/// A bound socket, and what identifies its file so that only this agent's own is removed.
pub struct Bound {
    pub listener: std::os::unix::net::UnixListener,
    pub path: PathBuf,
    inode: (u64, u64),
}

impl Bound {
    /// The socket for tokio; inside the runtime.
    pub fn tokio_listener(&self) -> Result<tokio::net::UnixListener, Error> {
        let failed =
            |e: std::io::Error| Error::other(format!("The socket {}: {e}", self.path.display()));
        let std = self.listener.try_clone().map_err(failed)?;
        std.set_nonblocking(true).map_err(failed)?;
        tokio::net::UnixListener::from_std(std).map_err(failed)
    }

    /// Removes the socket file if it is still the one this agent bound.
    pub fn remove(&self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.inode
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Characters a socket path may hold: it is printed for shells to evaluate.
pub fn check_path(path: &Path) -> Result<(), Error> {
    let text = path.to_str().unwrap_or_default();
    let shell_safe = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c);
    if !path.is_absolute() || text.is_empty() || !text.chars().all(shell_safe) {
        return Err(Error::usage(format!(
            "The agent's socket path {:?} must be absolute and hold only letters, digits and / . _ - + , : @ % =, since shells evaluate it.",
            path.display()
        )));
    }
    if text.len() > MAX_PATH {
        return Err(Error::usage(format!(
            "The agent's socket path is {} bytes long; a Unix socket path can hold {MAX_PATH}.",
            text.len()
        ))
        .hint("Pick a shorter one with --socket PATH."));
    }
    Ok(())
}

/// The directory of the socket at `path`, made (0700) or checked to be this user's alone.
pub fn private_dir(path: &Path) -> Result<&Path, Error> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    sesame_login::private_file::ensure_dir(dir).map_err(|e| {
        Error::other(format!(
            "Cannot keep the agent's socket in {}: {e}.",
            dir.display()
        ))
        .hint("Pick a directory of yours with --socket PATH.")
    })?;
    Ok(dir)
}

/// Binds the socket at `path`, after making its directory private.
pub fn bind(path: &Path) -> Result<Bound, Error> {
    check_path(path)?;
    private_dir(path)?;
    clear_stale(path)?;
    let listener = std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| Error::other(format!("Cannot listen on {}: {e}.", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::other(format!("Cannot make {} private: {e}.", path.display())))?;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| Error::other(format!("{}: {e}", path.display())))?;
    Ok(Bound {
        listener,
        path: path.to_path_buf(),
        inode: (meta.dev(), meta.ino()),
    })
}

/// Removes a socket of this user's that nobody listens on; refuses anything else.
fn clear_stale(path: &Path) -> Result<(), Error> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let ours = meta.uid() == sesame_login::private_file::effective_uid();
    if !meta.file_type().is_socket() || !ours {
        return Err(Error::usage(format!(
            "{} exists and is not a socket of yours; sesame leaves it alone.",
            path.display()
        ))
        .hint("Remove it yourself if it is not needed, or pick another path with --socket PATH."));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(Error::usage(format!(
            "Another process already listens on {}.",
            path.display()
        ))),
        Err(_) => std::fs::remove_file(path)
            .map_err(|e| Error::other(format!("Cannot remove the stale {}: {e}.", path.display()))),
    }
}
