//! `sesame aws file ROLE`: the role's credentials in the AWS shared credentials file, for
//! tools that read only that file (weep's `file`). The profile's section is replaced and every
//! other line kept; the file is written atomically, mode 0600. With `--refresh` it stays
//! running and writes new credentials before these run out, until Ctrl-C.

use super::{credentials_with, refresh_before, settings};
use crate::cli::AwsFileArgs;
use sesame_login::aws::Credentials;
use sesame_login::aws::config_file::set_credentials;
use sesame_login::clock::{format_utc, unix_seconds};
use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::settings::{Common, Env};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// After a failed refresh, the next try is this much later.
const RETRY: Duration = Duration::from_secs(60);

/// Writes `creds`; with `--refresh`, keeps writing fresh ones until Ctrl-C.
pub async fn run(
    args: &AwsFileArgs,
    creds: Credentials,
    common: &Common,
    env: Env<'_>,
    printer: &Printer,
) -> Result<(), Error> {
    let path = credentials_path(args, env)?;
    let name = match &args.aws_profile {
        Some(n) => n.clone(),
        None => args
            .role
            .role
            .rsplit(['/', ':'])
            .next()
            .unwrap_or("default")
            .to_string(),
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(Error::usage(format!(
            "{name:?} cannot be an AWS profile name here: letters, digits, `-`, `_` and `.` only."
        ))
        .hint("Choose one with --aws-profile NAME."));
    }
    write(&path, &name, &creds, printer)?;
    if !args.refresh {
        return Ok(());
    }
    let settings = settings(common, Some(&args.role), env)?;
    let before = refresh_before(common)?;
    let secret = common.client_secret(env);
    let mut ctrl_c = sesame_login::interrupt::CtrlC::install();
    let mut expiration = creds.expiration();
    loop {
        let wait = next_refresh(expiration, unix_seconds(SystemTime::now()), before);
        let at = unix_seconds(SystemTime::now())
            .saturating_add(i64::try_from(wait.as_secs()).unwrap_or(i64::MAX));
        printer.info(&format!(
            "Next refresh at {} (Ctrl-C stops).",
            format_utc(at)
        ));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = ctrl_c.wait() => return Ok(()),
        }
        let fetched = async {
            let session =
                sesame_login::current::fresh_session_with(common, secret.as_ref(), printer).await?;
            credentials_with(&session, &args.role.role, common, (&settings, before)).await
        };
        match fetched.await {
            Ok(c) => {
                write(&path, &name, &c, printer)?;
                expiration = c.expiration();
            }
            Err(e) if e.needs_login() => return Err(e),
            Err(e) => {
                printer.error(&e);
                let retry = i64::try_from(RETRY.as_secs() + before).unwrap_or(i64::MAX);
                expiration = unix_seconds(SystemTime::now()).saturating_add(retry);
            }
        }
    }
}

/// How long to wait before fetching again: until `refresh_before` seconds before
/// `expiration`, and at least 10 seconds.
pub fn next_refresh(expiration: i64, now: i64, refresh_before: u64) -> Duration {
    let at = expiration.saturating_sub(i64::try_from(refresh_before).unwrap_or(i64::MAX));
    Duration::from_secs(u64::try_from(at.saturating_sub(now)).unwrap_or(0).max(10))
}

fn write(path: &Path, name: &str, creds: &Credentials, printer: &Printer) -> Result<(), Error> {
    let fail =
        |e: std::io::Error| Error::other(format!("Could not write {}: {e}.", path.display()));
    let (text, path) = super::configure::read_aws_file(path)?;
    let path = path.as_path();
    let (new, _) = set_credentials(&text, name, creds);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    sesame_login::private_file::write_atomically(path, new.as_bytes()).map_err(fail)?;
    printer.success(&format!(
        "Wrote credentials to profile {name} in {}, valid until {}.",
        path.display(),
        format_utc(creds.expiration())
    ));
    Ok(())
}

/// `--credentials-file`, else `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
fn credentials_path(args: &AwsFileArgs, env: Env) -> Result<PathBuf, Error> {
    super::configure::aws_file_path(
        (args.credentials_file.as_ref(), "--credentials-file"),
        "AWS_SHARED_CREDENTIALS_FILE",
        "credentials",
        env,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_refresh_before_the_end_and_never_in_a_busy_loop() {
        assert_eq!(next_refresh(10_000, 1_000, 600), Duration::from_secs(8_400));
        assert_eq!(next_refresh(1_500, 1_000, 600), Duration::from_secs(10));
        assert_eq!(
            next_refresh(i64::MIN, 1_000, u64::MAX),
            Duration::from_secs(10)
        );
    }
}
