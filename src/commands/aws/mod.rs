//! `sesame aws`: AWS credentials from the profile's session, in the forms AWS tools read.
//! weep's commands for ConsoleMe users (`credential-process`, `export`, `roles`); the same
//! commands give an OpenID Connect session credentials through STS.

mod configure;
mod console;
mod file;
mod serve;

use crate::cli::{AwsCommand, AwsRoleArgs, OutputFormat};
use sesame_login::aws::{self, AwsSettings, Credentials, RoleArn, Shell, WebToken};
use sesame_login::clock::unix_seconds;
use sesame_login::current::{IfNone, session_or_login};
use sesame_login::error::Error;
use sesame_login::output::{Printer, stdout};
use sesame_login::session::Session;
use sesame_login::settings::{Common, Env, LoginSettings};
use std::time::{Duration, SystemTime};

/// Runs one `sesame aws` command.
pub async fn run(
    command: AwsCommand,
    common: &Common,
    login: Result<LoginSettings, Error>,
    env: Env<'_>,
    printer: &Printer,
) -> Result<(), Error> {
    match command {
        AwsCommand::CredentialProcess(args) => {
            let creds = credentials(&args, common, login, env, printer).await?;
            stdout(&format!("{}\n", creds.process_json()))
        }
        AwsCommand::Export(args) => {
            let shell = args
                .shell
                .map(Into::into)
                .or_else(|| env("SHELL").and_then(|s| Shell::from_path(&s)))
                .unwrap_or(Shell::Bash);
            let creds = credentials(&args.role, common, login, env, printer).await?;
            stdout(&creds.exports(shell))
        }
        AwsCommand::Configure(args) => {
            let settings = settings(common, None, env)?;
            let session = session(common, login, env, printer).await?;
            let roles = aws::source::roles(&session, &settings).await?;
            configure::run(&args, common, &roles, env, printer)
        }
        AwsCommand::File(args) => {
            let creds = credentials(&args.role, common, login, env, printer).await?;
            file::run(&args, creds, common, env, printer).await
        }
        AwsCommand::Serve(args) => {
            let settings = settings(common, None, env)?;
            let secret = common.client_secret(env);
            serve::run(&args, common, settings, secret, printer).await
        }
        AwsCommand::Console { role, no_open } => {
            let settings = settings(common, None, env)?;
            let session = session(common, login, env, printer).await?;
            let roles = aws::source::roles(&session, &settings).await?;
            let opener = sesame_login::browser::SystemBrowser;
            console::run(&session, &role, &roles, (no_open, &opener), printer)
        }
        AwsCommand::Roles { output } => {
            let settings = settings(common, None, env)?;
            let session = session(common, login, env, printer).await?;
            let roles = aws::source::roles(&session, &settings).await?;
            stdout(&roles_text(&roles, output))
        }
    }
}

/// The role's credentials, from the cache while enough is left, else from the session's
/// source; `login` is used when there is no session and a person is at the terminal.
pub(crate) async fn credentials(
    args: &AwsRoleArgs,
    common: &Common,
    login: Result<LoginSettings, Error>,
    env: Env<'_>,
    printer: &Printer,
) -> Result<Credentials, Error> {
    let settings = settings(common, Some(args), env)?;
    let refresh_before = refresh_before(common)?;
    let session = session(common, login, env, printer).await?;
    credentials_with(&session, &args.role, common, (&settings, refresh_before)).await
}

/// [`credentials`] for a session already at hand.
pub(crate) async fn credentials_with(
    session: &Session,
    role: &str,
    common: &Common,
    (settings, refresh_before): (&AwsSettings, u64),
) -> Result<Credentials, Error> {
    let key = aws::source::cache_key(session, role, settings)?;
    let opened = common.open_store()?;
    let now = || unix_seconds(SystemTime::now());
    aws::cache::get_or_fetch(
        &*opened.store,
        &common.paths.data_dir,
        session,
        (&key, refresh_before),
        now,
        || aws::source::credentials(session, role, settings),
    )
    .await
}

/// Reuse cached credentials until fewer than this many seconds are left: the profile's
/// `refresh-before`, else 10 minutes.
pub(crate) fn refresh_before(common: &Common) -> Result<u64, Error> {
    let secs = common
        .config
        .aws
        .as_ref()
        .and_then(|a| a.refresh_before)
        .unwrap_or(aws::cache::DEFAULT_REFRESH_BEFORE);
    if secs > aws::sts::DURATION_RANGE.1 {
        return Err(Error::usage(format!(
            "`refresh-before` in the profile's [aws] table is {secs}: at most {} seconds.",
            aws::sts::DURATION_RANGE.1
        )));
    }
    Ok(secs)
}

/// The session, logging in first when a person is at the terminal (as `aws` runs us with
/// stderr inherited); otherwise no session is exit 3 with what to run.
async fn session(
    common: &Common,
    login: Result<LoginSettings, Error>,
    env: Env<'_>,
    printer: &Printer,
) -> Result<Session, Error> {
    let if_none = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        IfNone::LogIn
    } else {
        IfNone::Fail
    };
    if let Some(session) = sesame_login::current::from_agent(common, env, printer)? {
        return Ok(session);
    }
    let secret = common.client_secret(env);
    session_or_login(
        common,
        login,
        secret.as_ref(),
        (if_none, "sesame aws"),
        printer,
    )
    .await
}

/// The profile's `[aws]` table, the flags and the AWS environment, checked.
pub(crate) fn settings(
    common: &Common,
    args: Option<&AwsRoleArgs>,
    env: Env,
) -> Result<AwsSettings, Error> {
    let cfg = common.config.aws.clone().unwrap_or_default();
    let roles = cfg
        .roles
        .iter()
        .map(|r| RoleArn::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::usage(format!("In the profile's [aws] roles: {e}.")))?;
    let web_token = match cfg.token.as_deref() {
        None | Some("id") => WebToken::Id,
        Some("access") => WebToken::Access,
        Some(other) => {
            return Err(Error::usage(format!(
                "The profile's [aws] token is {other:?}: it is \"id\" or \"access\"."
            )));
        }
    };
    let duration = args.and_then(|a| a.duration).map(|d| (d, "--duration"));
    let duration = duration.or(cfg
        .duration
        .map(|d| (d, "`duration` in the profile's [aws] table")));
    let (lo, hi) = aws::sts::DURATION_RANGE;
    if let Some((d, source)) = duration
        && !(lo..=hi).contains(&d)
    {
        return Err(Error::usage(format!(
            "{source} is {d}: STS credentials last from {lo} to {hi} seconds."
        )));
    }
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(AwsSettings {
        sts_endpoint: nonempty(env("AWS_ENDPOINT_URL_STS"))
            .or_else(|| nonempty(env("AWS_ENDPOINT_URL")))
            .or(cfg.sts_endpoint),
        region: args
            .and_then(|a| a.region.clone())
            .or_else(|| nonempty(env("AWS_REGION")))
            .or_else(|| nonempty(env("AWS_DEFAULT_REGION")))
            .or(cfg.region),
        allow_http: common.config.allow_http.unwrap_or(false),
        web_token,
        duration: duration.map(|(d, _)| Duration::from_secs(d)),
        roles,
        session_name: cfg.session_name,
    })
}

/// `sesame aws roles`: one ARN a line with its account's name, or JSON.
fn roles_text(roles: &[aws::Role], output: OutputFormat) -> String {
    match output {
        OutputFormat::Json => {
            let list: Vec<serde_json::Value> = roles
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "arn": r.arn(),
                        "account_id": r.account_id(),
                        "account_name": r.account_name(),
                        "role_name": r.name(),
                    })
                })
                .collect();
            format!("{}\n", serde_json::Value::Array(list))
        }
        OutputFormat::Text => roles
            .iter()
            .map(|r| match r.account_name() {
                Some(name) if name != r.account_id() => format!("{}  ({name})\n", r.arn()),
                _ => format!("{}\n", r.arn()),
            })
            .collect(),
    }
}
