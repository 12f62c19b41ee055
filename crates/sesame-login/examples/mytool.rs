//! A small command line built on sesame-login: what a tool adds to log in at its company's
//! OpenID Connect provider, keep the session in the OS keychain and call its API with a fresh
//! token.
//!
//! ```sh
//! export MYTOOL_ISSUER=https://id.example.com MYTOOL_CLIENT_ID=mytool-cli
//! cargo run -p sesame-login --example mytool -- login
//! cargo run -p sesame-login --example mytool -- token     # prints a fresh access token
//! cargo run -p sesame-login --example mytool -- logout
//! ```
//!
//! With `MYTOOL_SERVER` instead, it logs in at a ConsoleMe-compatible challenge server
//! (`sesame serve`, for one).

use sesame_login::{Auth, ErrorKind};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    match run(&command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mytool: {e}");
            if let Some(hint) = &e.hint {
                eprintln!("  {hint}");
            }
            // Scripts tell "log in first" from other failures by the exit code.
            match e.kind() {
                ErrorKind::NotLoggedIn | ErrorKind::Expired => ExitCode::from(3),
                ErrorKind::Config => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

async fn run(command: &str) -> Result<(), sesame_login::Error> {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let mut builder = Auth::builder("mytool");
    if !var("MYTOOL_SERVER").is_empty() {
        builder = builder.challenge(&var("MYTOOL_SERVER"));
    } else {
        builder = builder.oidc(&var("MYTOOL_ISSUER"), &var("MYTOOL_CLIENT_ID"));
    }
    let auth = builder.build()?;
    match command {
        "login" => {
            let session = auth.login().await?;
            eprintln!("Logged in as {}.", session.user.as_str());
        }
        // Logs in only when there is no session to use, then prints the token.
        "token" => println!("{}", auth.token_or_login().await?.expose()),
        "logout" => {
            let had = auth.logout()?;
            eprintln!("{}", if had { "Logged out." } else { "Not logged in." });
        }
        _ => {
            eprintln!("usage: mytool login | token | logout");
            return Err(sesame_login::Error::usage("Unknown command."));
        }
    }
    Ok(())
}
