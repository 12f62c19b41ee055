//! `sesame exec -- CMD ARGS`: runs CMD with the session's token in an environment variable,
//! refreshed first if it is due. On Unix sesame becomes CMD (execve), as aws-vault does, so the
//! exit status, Ctrl-C and SIGTERM are the child's own and sesame adds nothing; elsewhere it
//! waits for the child and passes its exit code on.

use sesame_login::error::{Error, Exit};
use sesame_login::output::Printer;
use sesame_login::settings::{Common, Env};
use std::ffi::OsString;
use std::process::Command;

/// An environment variable name a shell can use: letters, digits and `_`, not starting with a
/// digit.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn run(
    common: &Common,
    var: &str,
    command: &[OsString],
    env: Env,
    printer: &Printer,
) -> Result<(), Error> {
    if !valid_name(var) {
        return Err(Error::usage(format!(
            "--env {var:?} is not an environment variable name: use letters, digits and _."
        )));
    }
    let Some((program, args)) = command.split_first() else {
        return Err(Error::usage("No command to run.")
            .hint("Give it after --: `sesame exec -- kubectl get pods`."));
    };
    let session = super::fresh_session(common, env, printer)?;
    let mut cmd = Command::new(program);
    cmd.args(args).env(var, session.token.expose());
    let shown = program.to_string_lossy();
    let failed = |e: std::io::Error| {
        let (exit, what, hint) = match e.kind() {
            std::io::ErrorKind::NotFound => (
                Exit::CommandNotFound,
                "not found",
                "Check the command's name and your PATH.",
            ),
            std::io::ErrorKind::PermissionDenied => (
                Exit::CannotExecute,
                "permission denied",
                "Check that the file is executable (chmod +x) and not on a noexec mount.",
            ),
            _ => (
                Exit::CannotExecute,
                "could not be started",
                "Check that it is a program for this machine.",
            ),
        };
        Error::new(exit, format!("Could not run {shown}: {what} ({e}).")).hint(hint)
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Only returns on failure.
        Err(failed(cmd.exec()))
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().map_err(failed)?;
        std::process::exit(status.code().unwrap_or(1));
    }
}
