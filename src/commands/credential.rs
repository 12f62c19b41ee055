//! `sesame credential git|kubectl`: the session handed to programs through their own
//! credential-helper protocols, so the token never lands on a command line.
//!
//! - git: `git-credential(1)`: `key=value` lines on stdin; `get` answers `username=` and
//!   `password=`; `store` and `erase` are git telling us about its own bookkeeping, and we keep
//!   nothing, so they do nothing.
//! - kubectl: client-go's exec credential plugin: `KUBERNETES_EXEC_INFO` in, an
//!   `ExecCredential` with `status.token` and `status.expirationTimestamp` out.

use serde_json::{Value, json};
use sesame_login::clock::unix_seconds;
use sesame_login::error::Error;
use sesame_login::output::{Printer, stdout};
use sesame_login::session::{Flow, Session};
use sesame_login::settings::{Common, Env};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::time::SystemTime;

/// git's request: the `key=value` lines up to a blank line or the end of input.
pub fn read_git_request(input: impl BufRead) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for line in input.lines() {
        let line = line.map_err(|e| Error::other(format!("Could not read git's request: {e}.")))?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.insert(k.to_string(), v.to_string());
        }
        if out.len() > 64 {
            return Err(Error::other("git's request is longer than any git sends."));
        }
    }
    Ok(out)
}

/// The `get` answer: the user name (`--username`, else the session's user for HTTP Basic
/// sessions and those that have one) and the token as the password.
pub fn git_answer(session: &Session, username: Option<&str>) -> String {
    // `--username` comes from git's own config; a line break in it would add lines too.
    let user = username
        .filter(|u| !u.is_empty() && sesame_login::text::is_clean(u))
        .or_else(|| (!session.user.is_empty()).then(|| session.user.as_str()))
        .unwrap_or("sesame");
    let mut out = format!("username={user}\npassword={}\n", session.token.expose());
    if let Some(exp) = session.expires_at
        && session.flow != Flow::Basic
    {
        // git 2.41+: do not reuse the password after this (Unix seconds).
        out.push_str(&format!("password_expiry_utc={exp}\n"));
    }
    out
}

pub fn git(
    common: &Common,
    action: &str,
    username: Option<&str>,
    env: Env,
    printer: &Printer,
) -> Result<(), Error> {
    // git may add actions; a helper ignores those it does not know.
    if action != "get" {
        return Ok(());
    }
    let request = read_git_request(std::io::stdin().lock())?;
    let protocol = request
        .get("protocol")
        .map(String::as_str)
        .unwrap_or("https");
    let host = request.get("host").map(String::as_str).unwrap_or_default();
    // git's host is HOST, HOST:PORT, [V6] or [V6]:PORT.
    let loopback = url::Url::parse(&format!("http://{host}/"))
        .is_ok_and(|u| sesame_login::http::is_loopback(&u));
    if protocol != "https" && !loopback {
        // Saying nothing lets git ask elsewhere; the reason goes to the person.
        printer.warn(&format!(
            "sesame does not give git a token for {protocol}://{host}: it would cross the network unencrypted. Use an https remote."
        ));
        return Ok(());
    }
    let session = super::fresh_session(common, env, printer)?;
    stdout(&git_answer(&session, username))
}

/// The `ExecCredential` for client-go, in the API version it asked for.
pub fn exec_credential(api_version: &str, session: &Session) -> Value {
    let mut status = json!({ "token": session.token.expose() });
    if let Some(ts) = session
        .expires_at
        .and_then(sesame_login::clock::rfc3339_utc)
    {
        status["expirationTimestamp"] = json!(ts);
    }
    json!({
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "status": status,
    })
}

/// What client-go told us in `KUBERNETES_EXEC_INFO`: the API version to answer in, and
/// whether a person is at the terminal.
pub fn read_exec_info(text: Option<&str>) -> Result<(String, bool), Error> {
    const V1: &str = "client.authentication.k8s.io/v1";
    const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";
    let Some(text) = text else {
        // Run by hand, or by a client-go that sends no exec info: v1, interactive if we can see
        // a terminal.
        return Ok((
            V1.into(),
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ));
    };
    let info: Value = serde_json::from_str(text)
        .map_err(|e| Error::usage(format!("KUBERNETES_EXEC_INFO is not JSON ({e}).")))?;
    let version = info.get("apiVersion").and_then(Value::as_str).unwrap_or(V1);
    if version != V1 && version != V1BETA1 {
        return Err(Error::usage(format!(
            "kubectl asked for an ExecCredential in {version:?}; sesame answers in {V1} and {V1BETA1}."
        ))
        .hint("Set `apiVersion: client.authentication.k8s.io/v1` in the kubeconfig's exec stanza."));
    }
    let interactive = info
        .pointer("/spec/interactive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok((version.to_string(), interactive))
}

pub async fn kubectl(
    common: &Common,
    login: Result<sesame_login::settings::LoginSettings, Error>,
    env: Env<'_>,
    printer: &Printer,
) -> Result<(), Error> {
    use sesame_login::current::{IfNone, session_or_login};
    let (version, interactive) = read_exec_info(env("KUBERNETES_EXEC_INFO").as_deref())?;
    let if_none = if interactive {
        IfNone::LogIn
    } else {
        IfNone::Fail
    };
    if let Some(session) = sesame_login::current::from_agent(common, env, printer)? {
        return stdout(&format!("{}\n", exec_credential(&version, &session)));
    }
    let secret = common.client_secret(env);
    let session = session_or_login(
        common,
        login,
        secret.as_ref(),
        (if_none, "kubectl"),
        printer,
    )
    .await?;
    let now = unix_seconds(SystemTime::now());
    if session.expires_at.is_some_and(|e| e <= now) {
        return Err(Error::no_session(
            "The session expired while kubectl waited.",
        ));
    }
    stdout(&format!("{}\n", exec_credential(&version, &session)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_login::present::Name;
    use sesame_login::secret::Token;
    use sesame_login::session::{Flow, UserName};

    /// A challenge session of user alice holding `token`.
    fn sample(profile: &str, token: &str, expires_at: Option<i64>) -> Session {
        let user = UserName::new("alice").unwrap();
        let token = Token::issued(token).unwrap();
        let server = "http://127.0.0.1:1".to_string();
        Session {
            cookie_name: Name::new("consoleme_auth").ok(),
            expires_at,
            ..Session::new(profile, server, user, Flow::Challenge, token, 1_000)
        }
    }

    #[test]
    fn git_request_and_answer() {
        let req = read_git_request(
            &b"protocol=https\nhost=git.example.com\ncapability[]=authtype\n\nignored=1\n"[..],
        )
        .unwrap();
        assert_eq!(req["host"], "git.example.com");
        assert!(!req.contains_key("ignored"));
        let s = sample("p", "tok", Some(1_900_000_000));
        assert_eq!(
            git_answer(&s, None),
            "username=alice\npassword=tok\npassword_expiry_utc=1900000000\n"
        );
        assert!(git_answer(&s, Some("x-access-token")).starts_with("username=x-access-token\n"));
    }

    #[test]
    fn loopback_hosts_in_every_form_git_sends() {
        for host in [
            "localhost",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:8080",
            "localhost:3000",
        ] {
            assert!(
                url::Url::parse(&format!("http://{host}/"))
                    .is_ok_and(|u| sesame_login::http::is_loopback(&u)),
                "{host}"
            );
        }
        assert!(
            !url::Url::parse("http://git.example.com/")
                .is_ok_and(|u| sesame_login::http::is_loopback(&u))
        );
    }

    #[test]
    fn exec_credential_in_the_asked_version() {
        let s = sample("p", "tok", Some(1_900_000_000));
        let v = exec_credential("client.authentication.k8s.io/v1beta1", &s);
        assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1beta1");
        assert_eq!(v["status"]["token"], "tok");
        assert_eq!(v["status"]["expirationTimestamp"], "2030-03-17T17:46:40Z");
        let (ver, interactive) = read_exec_info(Some(
            r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true}}"#,
        ))
        .unwrap();
        assert_eq!(
            (ver.as_str(), interactive),
            ("client.authentication.k8s.io/v1", true)
        );
        assert!(
            read_exec_info(Some(r#"{"apiVersion":"client.authentication.k8s.io/v2"}"#)).is_err()
        );
        assert!(read_exec_info(Some("not json")).is_err());
    }
}
