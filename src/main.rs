#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
//! The thin binary: parse, resolve settings, run one command, map the error to an exit code.

use clap::{CommandFactory, Parser};
use sesame::cli::{Cli, Command, CredentialCommand, LogFormat};
use sesame::commands;
use sesame::commands::status::Remote;
use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::settings::{Common, Env, process_env};
use sesame_login::vars;
use std::process::ExitCode;

fn main() -> ExitCode {
    let printer = Printer::stderr();
    // The hot path, before every command that uses sesame: its usual forms skip building clap's
    // tree of every command (src/token_argv.rs).
    if let Some(argv) = sesame::token_argv::recognize(std::env::args_os().skip(1)) {
        init_logging(false, None, &printer);
        return exit_code(token(argv, None, &printer), &printer);
    }
    let cli = Cli::parse();
    let serve_log = match &cli.command {
        Command::Serve(args) if !args.quiet => Some(args.log_format),
        _ => None,
    };
    init_logging(cli.verbose, serve_log, &printer);
    exit_code(run(cli, &printer), &printer)
}

/// The exit code of a command's result, after saying what went wrong.
fn exit_code(result: Result<(), Error>, printer: &Printer) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.exit == sesame_login::error::Exit::Success => ExitCode::SUCCESS,
        Err(e) => {
            printer.error(&e);
            ExitCode::from(e.exit as u8)
        }
    }
}

/// `sesame token`, however its command line was read.
fn token(
    argv: sesame::token_argv::TokenArgv,
    ca_cert: Option<std::path::PathBuf>,
    printer: &Printer,
) -> Result<(), Error> {
    let common = common(argv.profile, argv.store, ca_cert)?;
    commands::token::run(&common, argv.id_token, &process_env, printer)
}

/// `--verbose` or `SESAME_LOG=debug`: sesame's debug log on stderr. `SESAME_LOG` also takes a
/// tracing filter with `=` (e.g. `sesame=debug,reqwest=debug`) for digging into a dependency.
/// `serve_log`: `sesame serve`'s request and decision lines, in that format.
fn init_logging(verbose: bool, serve_log: Option<LogFormat>, printer: &Printer) {
    use tracing_subscriber::prelude::*;
    let debug = debug_filter(verbose, printer).map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .without_time()
            .with_target(false)
            .with_ansi(false)
            .with_filter(filter)
    });
    if debug.is_none() && serve_log.is_none() {
        // No subscriber at all: every `tracing` call stays a no-op on the `token` hot path.
        return;
    }
    let _ = tracing_subscriber::registry()
        .with(debug)
        .with(serve_log_layer(serve_log))
        .try_init();
}

/// `sesame serve`'s log layer, in the format asked for.
#[cfg(feature = "server")]
fn serve_log_layer(format: Option<LogFormat>) -> Option<sesame::serve_log::ServeLog> {
    format.map(sesame::serve_log::ServeLog::new)
}

/// Without the server there is no `sesame serve` to log for.
#[cfg(not(feature = "server"))]
fn serve_log_layer(_: Option<LogFormat>) -> Option<tracing_subscriber::layer::Identity> {
    None
}

/// The filter of the debug log, if one is asked for.
fn debug_filter(verbose: bool, printer: &Printer) -> Option<tracing_subscriber::EnvFilter> {
    let spec = match process_env(vars::LOG) {
        Some(s) if s.contains('=') => s,
        Some(level) => format!("sesame={level}"),
        None if verbose => "sesame=debug".into(),
        None => return None,
    };
    // `sesame serve`'s request and decision events have their own layer (serve_log.rs).
    #[cfg(feature = "server")]
    let filter = format!(
        "{spec},{}=off,{}=off",
        sesame_server::ACCESS_LOG,
        sesame_server::DECISION_LOG
    );
    #[cfg(not(feature = "server"))]
    let filter = spec.clone();
    match tracing_subscriber::EnvFilter::try_new(filter) {
        Ok(f) => Some(f),
        Err(e) => {
            printer.warn(&format!(
                "SESAME_LOG={spec:?} is not a log filter ({e}); logging stays off."
            ));
            None
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::other(format!("Could not start the async runtime: {e}")))
}

/// The settings every session command shares; the CA file (flag > env > profile) is trusted
/// from here on.
fn common(
    profile: Option<String>,
    store: Option<sesame_login::store::StoreKind>,
    ca_cert: Option<std::path::PathBuf>,
) -> Result<Common, Error> {
    let common = Common::resolve(profile, store, &process_env)?;
    if let Some(path) = ca_cert
        .or_else(|| process_env(vars::CA_CERT).map(Into::into))
        .or_else(|| common.config.ca_cert.clone())
    {
        sesame_login::http::trust_ca_file(path);
    }
    Ok(common)
}

fn run(cli: Cli, printer: &Printer) -> Result<(), Error> {
    let env = &process_env;
    let ca = cli.ca_cert.clone();
    if let Some(path) = ca
        .clone()
        .or_else(|| process_env(vars::CA_CERT).map(Into::into))
    {
        sesame_login::http::trust_ca_file(path);
    }
    let (profile, store) = (cli.profile.clone(), cli.store.map(Into::into));
    // The settings every session command shares, resolved only by the commands that use them.
    let session = || common(profile.clone(), store, ca.clone());
    match cli.command {
        // The hot path: no async runtime, no network for a valid session.
        Command::Token(args) => token(
            sesame::token_argv::TokenArgv {
                profile,
                store,
                id_token: args.id_token,
            },
            ca,
            printer,
        ),
        Command::Refresh => commands::refresh::run(&session()?, env, printer),
        Command::Status(args) => {
            let common = session()?;
            let remote = if args.remote {
                Remote::Ask
            } else {
                Remote::Skip
            };
            commands::status::run(&common, args.output, remote, env, printer)
        }
        Command::Logout(args) => commands::logout::run(&session()?, args.revoke, env, printer),
        Command::Login(args) => commands::login::from_cli(session()?, &args, env, printer),
        Command::Exec(args) => {
            commands::exec::run(&session()?, &args.env, &args.command, env, printer)
        }
        Command::Header => commands::header::run(&session()?, env, printer),
        command @ (Command::Credential(_) | Command::Aws(_)) => {
            for_programs(command, session()?, printer)
        }
        Command::Agent(args) => agent(&args, session()?, printer),
        Command::Ssh(args) => ssh(&args),
        Command::Proxy(args) => commands::proxy::run(&args, session()?, printer),
        Command::Import(sesame::cli::ImportCommand::Weep(args)) => {
            commands::import::weep(&args, &session()?, printer)
        }
        Command::Completions { shell } => completions(shell),
        Command::Doctor { output } => doctor(cli.profile, cli.store.map(Into::into), output, env),
        Command::Man { dir } => man(dir, printer),
        #[cfg(feature = "server")]
        Command::Serve(args) => runtime()?.block_on(commands::serve::run(&args, env, printer)),
        #[cfg(feature = "server")]
        Command::Demo(args) => {
            let profile = cli.profile.or_else(|| Some("demo".into()));
            let common = common(profile, cli.store.map(Into::into), ca)?;
            runtime()?.block_on(commands::demo::run(common, &args, env, printer))
        }
        #[cfg(not(feature = "server"))]
        Command::Serve(_) | Command::Demo(_) => Err(commands::without_server()),
    }
}

/// `sesame agent`, on Unix.
#[cfg(unix)]
fn agent(args: &sesame::cli::AgentArgs, common: Common, printer: &Printer) -> Result<(), Error> {
    commands::agent::run(args, &common, &process_env, printer)
}

/// `sesame ssh`, on Unix.
#[cfg(unix)]
fn ssh(args: &sesame::cli::SshArgs) -> Result<(), Error> {
    commands::ssh::run(args, &process_env)
}

/// `sesame ssh` elsewhere: not yet.
#[cfg(not(unix))]
fn ssh(_: &sesame::cli::SshArgs) -> Result<(), Error> {
    Err(Error::usage(
        "sesame ssh needs Unix sockets, which this build of sesame does not use on Windows yet.",
    ))
}

/// `sesame agent` elsewhere: not yet.
#[cfg(not(unix))]
fn agent(_: &sesame::cli::AgentArgs, _: Common, _: &Printer) -> Result<(), Error> {
    Err(Error::usage(
        "sesame agent needs Unix sockets, which this build of sesame does not use on Windows yet.",
    ))
}

/// The commands that hand the session to other programs through their own protocols: git's
/// and kubectl's credential helpers, and AWS credentials.
fn for_programs(command: Command, common: Common, printer: &Printer) -> Result<(), Error> {
    let env = &process_env;
    // A bad login setting matters only if a login turns out to be needed.
    let login = || sesame::login_args::resolve(common.clone(), &Default::default(), env);
    match command {
        Command::Credential(CredentialCommand::Git(args)) => commands::credential::git(
            &common,
            &args.action,
            args.username.as_deref(),
            env,
            printer,
        ),
        Command::Credential(CredentialCommand::Kubectl) => runtime()?.block_on(
            commands::credential::kubectl(&common, login(), env, printer),
        ),
        Command::Aws(command) => {
            runtime()?.block_on(commands::aws::run(command, &common, login(), env, printer))
        }
        _ => Err(Error::other("not a command for other programs")),
    }
}

/// `sesame completions SHELL`: the shell's completion script on stdout.
fn completions(shell: clap_complete::Shell) -> Result<(), Error> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sesame", &mut out);
    sesame_login::output::stdout(&String::from_utf8_lossy(&out))
}

/// `sesame doctor`, trusting the CA file the profile names first.
fn doctor(
    profile: Option<String>,
    store: Option<sesame_login::store::StoreKind>,
    output: sesame::cli::OutputFormat,
    env: Env,
) -> Result<(), Error> {
    // The CA file the profile names too, as every other command would use it.
    if let Ok(c) = Common::resolve(profile.clone(), store, env)
        && let Some(path) = c.config.ca_cert
    {
        sesame_login::http::trust_ca_file(path);
    }
    commands::doctor::run(profile, store, output, env)
}

/// `sesame man`: the man pages written into `dir`, or the main one on stdout.
fn man(dir: Option<std::path::PathBuf>, printer: &Printer) -> Result<(), Error> {
    match dir {
        Some(dir) => {
            clap_mangen::generate_to(Cli::command(), &dir).map_err(|e| {
                Error::other(format!(
                    "Could not write the man pages into {}: {e}",
                    dir.display()
                ))
                .hint("Give --dir an existing directory you can write to.")
            })?;
            printer.success(&format!("Wrote the man pages into {}.", dir.display()));
            Ok(())
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| Error::other(format!("Could not render the man page: {e}")))?;
            sesame_login::output::stdout(&String::from_utf8_lossy(&out))
        }
    }
}
