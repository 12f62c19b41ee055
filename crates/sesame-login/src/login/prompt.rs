//! Asking for secrets: a password and a one-time code, from a prompt that does not echo (on
//! the controlling terminal, as ssh and sudo ask), or from stdin for scripts. Never from argv
//! or a config file, where others can read them.

use crate::error::Error;
use crate::secret::Secret;
use std::io::{BufRead, IsTerminal, Read};

/// Reads one line of stdin, without its line terminator (a password may begin or end with a
/// space). `None` at the
/// end of input. stdin is buffered process-wide, so a second call reads the next line.
fn stdin_line(what: &str) -> Result<Option<String>, Error> {
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .take(64 * 1024)
        .read_line(&mut line)
        .map_err(|e| Error::usage(format!("Could not read the {what} from stdin: {e}.")))?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

/// Asks on the terminal without echo.
fn hidden(prompt: &str, what: &str, instead: &str) -> Result<Secret, Error> {
    rpassword::prompt_password(prompt)
        .map(Secret::new)
        .map_err(|e| {
            Error::usage(format!(
                "Could not ask for the {what}: no terminal to prompt on ({e})."
            ))
            .hint(instead.to_string())
        })
}

/// The password: stdin's first line with `--password-stdin`, else a hidden prompt.
pub(super) fn password(user: &str, from_stdin: bool) -> Result<Secret, Error> {
    let secret = if from_stdin {
        let line = stdin_line("password")?.ok_or_else(|| {
            Error::usage("--password-stdin was given but stdin is empty.")
                .hint("Pipe the password in: `printf '%s\\n' \"$PASSWORD\" | sesame login --password-stdin`.")
        })?;
        Secret::new(line)
    } else {
        hidden(
            &format!("Password for {user}: "),
            "password",
            "Pipe it in with --password-stdin (first line of stdin).",
        )?
    };
    if secret.expose().is_empty() {
        return Err(Error::usage("The password is empty; nothing was sent."));
    }
    Ok(secret)
}

/// The one-time code: the next line of stdin when stdin is not a terminal, else a hidden
/// prompt. Spaces inside it ("123 456", as authenticator apps show it) are dropped.
pub(super) fn one_time_code() -> Result<Secret, Error> {
    let raw = if std::io::stdin().is_terminal() {
        hidden(
            "One-time code: ",
            "one-time code",
            "Pipe it in as the line after the password, with --password-stdin.",
        )?
    } else {
        let line = stdin_line("one-time code")?.ok_or_else(|| {
            Error::usage("The server asks for a one-time code, but stdin has no line left for it.")
                .hint("Pipe the code as the line after the password: `printf '%s\\n%s\\n' \"$PASSWORD\" \"$CODE\" | sesame login --password-stdin`.")
        })?;
        Secret::new(line)
    };
    let code: String = raw
        .expose()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if code.is_empty() {
        return Err(Error::usage(
            "The one-time code is empty; nothing was sent.",
        ));
    }
    Ok(Secret::new(code))
}

/// A static credential (an API key): stdin's first line when stdin is not a terminal, else a
/// hidden prompt.
pub(super) fn api_key() -> Result<crate::secret::Token, Error> {
    let key = if std::io::stdin().is_terminal() {
        hidden(
            "API key: ",
            "API key",
            "Pipe it in: `printf '%s\\n' \"$KEY\" | sesame login --api-key`.",
        )?
    } else {
        Secret::new(stdin_line("API key")?.unwrap_or_default())
    };
    let key = key.expose().trim();
    if key.is_empty() {
        return Err(Error::usage("No API key was given; nothing was saved.")
            .hint("Pipe it in: `printf '%s\\n' \"$KEY\" | sesame login --api-key`."));
    }
    crate::secret::Token::issued(key).map_err(|e| {
        Error::usage(format!(
            "That API key cannot be sent in a header or a cookie: {e}; nothing was saved."
        ))
    })
}
