#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
//! The thin binary: parse, resolve settings, run one command, map the error to an exit code.

use clap::{CommandFactory, Parser};
use sesame::cli::{Cli, Command, CredentialCommand};
use sesame::commands;
use sesame::error::Error;
use sesame::output::Printer;
use sesame::settings::{Common, LoginSettings, process_env};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::stderr();
    match run(cli, &printer) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.exit == sesame::error::Exit::Success => ExitCode::SUCCESS,
        Err(e) => {
            printer.error(&e);
            ExitCode::from(e.exit as u8)
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

fn run(cli: Cli, printer: &Printer) -> Result<(), Error> {
    let env = &process_env;
    match cli.command {
        // The hot path: no async runtime, no network for a valid session.
        Command::Token(args) => {
            let common = Common::resolve(cli.profile, cli.store, env)?;
            commands::token::run(&common, args.id_token, env, printer)
        }
        Command::Refresh => {
            let common = Common::resolve(cli.profile, cli.store, env)?;
            commands::refresh::run(&common, env, printer)
        }
        Command::Status(args) => {
            let common = Common::resolve(cli.profile, cli.store, env)?;
            commands::status::run(&common, args.output, args.remote, env, printer)
        }
        Command::Logout(args) => {
            let common = Common::resolve(cli.profile, cli.store, env)?;
            commands::logout::run(&common, args.revoke, env, printer)
        }
        Command::Login(args) => {
            let common = Common::resolve(cli.profile, cli.store, env)?;
            let settings = LoginSettings::resolve(common, &args, env)?;
            runtime()?.block_on(commands::login::run(
                &settings,
                &sesame::browser::SystemBrowser,
                printer,
            ))
        }
        Command::Exec(args) => {
            let common = Common::resolve(cli.profile, cli.store, env)?;
            commands::exec::run(&common, &args.env, &args.command, env, printer)
        }
        Command::Header => {
            let common = Common::resolve(cli.profile, cli.store, env)?;
            commands::header::run(&common, env, printer)
        }
        Command::Credential(CredentialCommand::Git(args)) => {
            let common = Common::resolve(cli.profile, cli.store, env)?;
            commands::credential::git(
                &common,
                &args.action,
                args.username.as_deref(),
                env,
                printer,
            )
        }
        Command::Credential(CredentialCommand::Kubectl) => {
            let common = Common::resolve(cli.profile, cli.store, env)?;
            // Login settings are resolved only if a login turns out to be needed.
            let login = LoginSettings::resolve(common.clone(), &Default::default(), env).ok();
            runtime()?.block_on(commands::credential::kubectl(
                &common,
                login.as_ref(),
                env,
                printer,
            ))
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "sesame", &mut out);
            sesame::output::stdout(&String::from_utf8_lossy(&out))
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| Error::other(format!("Could not render the man page: {e}")))?;
            sesame::output::stdout(&String::from_utf8_lossy(&out))
        }
        Command::Serve(args) => runtime()?.block_on(commands::serve::run(&args, env, printer)),
        Command::Demo(args) => {
            let profile = cli.profile.or_else(|| Some("demo".into()));
            let common = Common::resolve(profile, cli.store, env)?;
            runtime()?.block_on(commands::demo::run(common, &args, env, printer))
        }
    }
}
