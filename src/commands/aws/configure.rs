//! `sesame aws configure`: `[profile NAME]` sections in the AWS config file whose
//! `credential_process` runs sesame for a role, so that `AWS_PROFILE=NAME aws ...` just works
//! (weep's `credential_process -g`). The file is edited in place, every other line kept, and
//! replaced atomically.

use crate::cli::AwsConfigureArgs;
use sesame_login::aws::Role;
use sesame_login::aws::config_file::{Change, profile_names, set_credential_processes};
use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::settings::{Common, Env};
use std::path::PathBuf;

/// Writes the profiles for the roles asked for (all of `available` when none are).
pub fn run(
    args: &AwsConfigureArgs,
    common: &Common,
    available: &[Role],
    env: Env,
    printer: &Printer,
) -> Result<(), Error> {
    let roles = chosen(&args.roles, available)?;
    if roles.is_empty() {
        return Err(Error::usage("You may ask for no role, so there is nothing to configure.")
            .hint("Check `sesame aws roles`; for an OpenID Connect profile, list its roles in the [aws] table (docs/aws.md)."));
    }
    let mut names = profile_names(&roles);
    if let Some(name) = &args.aws_profile {
        if names.len() != 1 {
            return Err(Error::usage(
                "--aws-profile names one profile: give exactly one ROLE.",
            ));
        }
        names[0].0 = name.clone();
    }
    for (name, _) in &names {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(Error::usage(format!(
                "{name:?} cannot be an AWS profile name here: letters, digits, `-`, `_` and `.` only."
            )));
        }
    }
    let program = program();
    let profile_flag = match common.profile.as_str() {
        "default" => String::new(),
        p => format!(" --profile {p}"),
    };
    let sections: Vec<(String, String)> = names
        .iter()
        .map(|(name, role)| {
            (
                name.clone(),
                format!(
                    "{program} aws credential-process {}{profile_flag}",
                    role.arn()
                ),
            )
        })
        .collect();
    let path = config_path(args, env)?;
    let (text, path) = read_aws_file(&path)?;
    let (new, changes) = set_credential_processes(&text, &sections);
    if new != text {
        write(&path, &new)?;
    }
    for (change, (_, role)) in changes.iter().zip(&names) {
        let (verb, name) = match change {
            Change::Added(n) => ("Added", n),
            Change::Updated(n) => ("Updated", n),
            Change::Unchanged(n) => ("Already set:", n),
        };
        printer.success(&format!("{verb} AWS profile {name} for {}", role.arn()));
    }
    printer.info(&format!(
        "In {}. Use one with: AWS_PROFILE={} aws sts get-caller-identity",
        path.display(),
        names[0].0
    ));
    Ok(())
}

/// The roles named by `asked` (an ARN, or a part of exactly one available role), or all.
pub(super) fn chosen(asked: &[String], available: &[Role]) -> Result<Vec<Role>, Error> {
    if asked.is_empty() {
        return Ok(available.to_vec());
    }
    asked
        .iter()
        .map(|text| {
            if let Some(r) = Role::new(text, None) {
                return Ok(available
                    .iter()
                    .find(|a| a.arn() == r.arn())
                    .cloned()
                    .unwrap_or(r));
            }
            let wanted = text.to_lowercase();
            let found: Vec<&Role> = available
                .iter()
                .filter(|r| r.arn().to_lowercase().contains(&wanted))
                .collect();
            match found.as_slice() {
                [one] => Ok((*one).clone()),
                [] => Err(
                    Error::usage(format!("No role you may ask for matches {text:?}."))
                        .hint("List them with `sesame aws roles`."),
                ),
                several => Err(Error::usage(format!(
                    "{text:?} matches more than one role:{}",
                    several
                        .iter()
                        .map(|r| format!("\n  {}", r.arn()))
                        .collect::<String>()
                ))
                .hint("Give one of them in full.")),
            }
        })
        .collect()
}

/// How the AWS CLI should run sesame: `sesame` when that is this program on PATH, else this
/// program's full path (quoted when it holds a space).
fn program() -> String {
    let me = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| {
                d.join(if cfg!(windows) {
                    "sesame.exe"
                } else {
                    "sesame"
                })
            })
            .find(|p| p.is_file())
            .and_then(|p| p.canonicalize().ok())
    });
    match me {
        Some(me) if on_path.as_ref() == Some(&me) => "sesame".into(),
        Some(me) if me.to_string_lossy().contains(' ') => format!("\"{}\"", me.display()),
        Some(me) => me.display().to_string(),
        None => "sesame".into(),
    }
}

/// `--aws-config`, else `AWS_CONFIG_FILE`, else `~/.aws/config`.
fn config_path(args: &AwsConfigureArgs, env: Env) -> Result<PathBuf, Error> {
    aws_file_path(
        (args.aws_config.as_ref(), "--aws-config"),
        "AWS_CONFIG_FILE",
        "config",
        env,
    )
}

/// One of the AWS files: the flag's path, else the variable's, else `~/.aws/NAME`.
pub(super) fn aws_file_path(
    (flag, flag_name): (Option<&PathBuf>, &str),
    var: &str,
    name: &str,
    env: Env,
) -> Result<PathBuf, Error> {
    if let Some(p) = flag {
        return Ok(p.clone());
    }
    if let Some(p) = env(var).filter(|p| !p.is_empty()) {
        return Ok(p.into());
    }
    let home = directories::BaseDirs::new()
        .map(|b| b.home_dir().to_path_buf())
        .ok_or_else(|| {
            Error::other(format!("No home directory to find ~/.aws/{name} in."))
                .hint(format!("Give the file with {flag_name} FILE."))
        })?;
    Ok(home.join(".aws").join(name))
}

/// Replaces the file atomically (a temporary file beside it, then a rename).
fn write(path: &std::path::Path, text: &str) -> Result<(), Error> {
    let fail =
        |e: std::io::Error| Error::other(format!("Could not write {}: {e}.", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    sesame_login::private_file::write_atomically(path, text.as_bytes()).map_err(fail)
}

/// Reads an AWS file (config or credentials) to edit it: "" when it does not exist, else a
/// regular file of at most 1 MiB. Returns the path to write: a link's target, so that a
/// dotfiles link stays a link.
pub(super) fn read_aws_file(path: &std::path::Path) -> Result<(String, PathBuf), Error> {
    const MAX: u64 = 1024 * 1024;
    let fail = |e: std::io::Error| Error::other(format!("Could not read {}: {e}.", path.display()));
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok((String::new(), path.to_path_buf()))
        }
        Err(e) => Err(fail(e)),
        Ok(m) if !m.is_file() => Err(Error::usage(format!(
            "{} is not a regular file.",
            path.display()
        ))),
        Ok(m) if m.len() > MAX => Err(Error::usage(format!(
            "{} is larger than 1 MiB; that is not an AWS config file.",
            path.display()
        ))),
        Ok(_) => {
            let target = std::fs::canonicalize(path).map_err(fail)?;
            let text = std::fs::read_to_string(&target).map_err(fail)?;
            Ok((text, target))
        }
    }
}
