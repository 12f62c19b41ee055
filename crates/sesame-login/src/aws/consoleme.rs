//! ConsoleMe's credential API, as weep calls it: `POST /api/v1/get_credentials` with the
//! session's cookie and `{"requested_role", "no_ip_restrictions"}`, answered with
//! `{"Credentials": {...}}` or an error object whose `code` says what went wrong (899–906), and
//! `GET /api/v1/get_roles?all=true` (an array of role ARNs) or `/api/v2/get_roles?all=true`
//! (`{"data": {"roles": [{"arn", "account_id", "account_friendly_name", "role_name"}]}}`).
//!
//! Everything the server says is checked here: credentials become [`Credentials`], role names
//! are bounded and shown through [`Shown`], and each error code becomes a sentence with the
//! next step.

use super::credentials::Credentials;
use super::{Role, query_error};
use crate::error::{Error, ErrorKind};
use crate::http::{self, JsonAnswer};
use crate::session::Session;
use crate::text::Shown;
use serde_json::{Value, json};
use url::Url;

/// The credentials endpoint, under the session's server.
pub const CREDENTIALS_PATH: &str = "api/v1/get_credentials";
/// The roles endpoint that answers with details (account names).
pub const ROLES_V2_PATH: &str = "api/v2/get_roles?all=true";
/// The roles endpoint of older servers: an array of ARNs.
pub const ROLES_V1_PATH: &str = "api/v1/get_roles?all=true";

/// The most roles listed from one reply; a user eligible for more is not plausible.
const MAX_ROLES: usize = 10_000;

/// The largest roles reply read: 10,000 entries of v2's about 200 bytes each.
const MAX_ROLES_BODY: usize = 4 * 1024 * 1024;

fn endpoint(session: &Session, path: &str) -> Result<Url, Error> {
    let mut base = Url::parse(&session.server).map_err(|e| {
        Error::other(format!(
            "The session's server {:?} is not a URL ({e}).",
            session.server
        ))
    })?;
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(path)
        .map_err(|e| Error::other(format!("Could not build the URL for {path}: {e}.")))
}

/// Credentials for `role` (an ARN or a search string the server matches), from the server the
/// challenge session came from.
pub async fn get_credentials(session: &Session, role: &str) -> Result<Credentials, Error> {
    let url = endpoint(session, CREDENTIALS_PATH)?;
    let client = http::client_for(&url)?;
    let body = json!({ "requested_role": role, "no_ip_restrictions": false });
    let request = session
        .use_as()
        .apply(client.post(url.clone()), &session.user, &session.token)
        .json(&body);
    let answer = http::send_for_json(request, &url, "credentials request")
        .await
        .map_err(query_error)?;
    let now = crate::clock::unix_seconds(std::time::SystemTime::now());
    credentials_from(&answer, role, session, now)
}

/// Reads a `get_credentials` reply.
pub fn credentials_from(
    answer: &JsonAnswer,
    role: &str,
    session: &Session,
    now: i64,
) -> Result<Credentials, Error> {
    if let Some(code) = answer.json.get("code") {
        return Err(coded_error(code, &answer.json, role, session));
    }
    if !(200..300).contains(&answer.status) {
        return Err(status_error(answer, session));
    }
    let c = answer.json.get("Credentials").ok_or_else(|| {
        Error::other("The server's reply to the credentials request has no `Credentials`.")
            .kind_of(ErrorKind::Protocol)
            .hint("Is --server a ConsoleMe (or `sesame serve`)? Its /api/v1/get_credentials answers with them.")
    })?;
    let field = |name: &str| c.get(name).and_then(Value::as_str).unwrap_or_default();
    let expiration = match c.get("Expiration") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp()),
        _ => None,
    }
    .ok_or_else(|| {
        Error::other("The server's credentials have no readable `Expiration`.")
            .kind_of(ErrorKind::Protocol)
    })?;
    Credentials::new(
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
        expiration,
    )
    .and_then(|c| c.usable_at(now))
    .map_err(|e| {
        Error::other(format!(
            "The server sent credentials that cannot be used: {e}."
        ))
        .kind_of(ErrorKind::Protocol)
    })
}

/// A reply with no `code` and an error status.
fn status_error(answer: &JsonAnswer, session: &Session) -> Error {
    match answer.status {
        401 | 403 => session_refused(session),
        429 | 500..=599 => Error::other(format!(
            "The server could not give credentials now (HTTP {}).",
            answer.status
        ))
        .kind_of(ErrorKind::Unavailable)
        .hint("Try again in a moment; your session is kept."),
        s => Error::other(format!(
            "The server answered the credentials request with HTTP {s}{}.",
            server_says(&answer.json)
        ))
        .kind_of(ErrorKind::Protocol),
    }
}

fn server_says(json: &Value) -> String {
    json.get("message")
        .and_then(Value::as_str)
        .map(|m| format!(": {}", Shown::of(m).as_str()))
        .unwrap_or_default()
}

/// The session is no longer accepted (`invalid_jwt`, or a bare 401/403).
fn session_refused(session: &Session) -> Error {
    Error::no_session(format!(
        "The server no longer accepts the session of profile {}.",
        session.profile
    ))
    .kind_of(ErrorKind::Expired)
    .hint(crate::hints::session_hint(session))
}

/// One of ConsoleMe's error codes as a sentence and a next step.
fn coded_error(code: &Value, json: &Value, role: &str, session: &Session) -> Error {
    let code = match code {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let role = Shown::of(role);
    let role = role.as_str();
    let says = server_says(json);
    let list = "List the roles you may use with `sesame aws roles`.";
    match code.as_str() {
        "invalid_jwt" => session_refused(session),
        "899" => Error::usage(format!(
            "The server wants a full role ARN (arn:aws:iam::ACCOUNT:role/NAME), not {role:?}."
        ))
        .hint(list),
        "900" => Error::usage(format!("No role you may use matches {role:?}.")).hint(list),
        "901" => {
            let matches = json
                .get("matching roles")
                .or_else(|| json.get("matching_roles"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .take(20)
                        .map(|r| format!("\n  {}", Shown::of(r).as_str()))
                        .collect::<String>()
                })
                .unwrap_or_default();
            Error::usage(format!(
                "{role:?} matches more than one of your roles:{matches}"
            ))
            .hint("Give one of them in full (its ARN), or a longer part of its name.")
        }
        "902" => Error::other(format!(
            "The server could not get credentials for {role:?}{says}."
        ))
        .kind_of(ErrorKind::Unavailable)
        .hint("Try again; if it keeps failing, tell the server's operators. Your session is kept."),
        "903" => Error::usage(format!("{role:?} is not one of the roles you may use.")).hint(list),
        "904" => Error::other(format!("The server could not read sesame's request{says}."))
            .kind_of(ErrorKind::Protocol)
            .hint("This is a bug in sesame or the server: please report it."),
        "905" => Error::other(format!(
            "The server refused credentials for {role:?}{says}."
        ))
        .kind_of(ErrorKind::Denied)
        .hint("The role requires a newer client certificate; renew it, then try again."),
        "906" => Error::usage(format!("No account matches the one asked for{says}.")).hint(list),
        other => Error::other(format!(
            "The server refused the credentials request (code {}){says}.",
            Shown::new(other, 32).as_str()
        ))
        .kind_of(ErrorKind::Denied),
    }
}

/// The roles the session's user may use: v2 (with account names) first, v1 when the server
/// has no v2.
pub async fn roles(session: &Session) -> Result<Vec<Role>, Error> {
    let v2 = get_json(session, ROLES_V2_PATH).await?;
    if v2.status == 404 {
        let v1 = get_json(session, ROLES_V1_PATH).await?;
        return roles_from(&v1, session);
    }
    roles_from(&v2, session)
}

async fn get_json(session: &Session, path: &str) -> Result<JsonAnswer, Error> {
    let url = endpoint(session, path)?;
    let client = http::client_for(&url)?;
    let request = session
        .use_as()
        .apply(client.get(url.clone()), &session.user, &session.token);
    http::send_for_json_up_to(request, &url, "roles request", MAX_ROLES_BODY)
        .await
        .map_err(query_error)
}

/// Reads a `get_roles` reply, v1 (an array of ARNs) or v2.
pub fn roles_from(answer: &JsonAnswer, session: &Session) -> Result<Vec<Role>, Error> {
    if answer.json.get("code").and_then(Value::as_str) == Some("invalid_jwt") {
        return Err(session_refused(session));
    }
    if !(200..300).contains(&answer.status) {
        return Err(status_error(answer, session));
    }
    let items = match &answer.json {
        Value::Array(a) => a,
        v => v
            .pointer("/data/roles")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                Error::other("The server's list of roles is neither an array nor {\"data\": {\"roles\": [...]}}.")
                    .kind_of(ErrorKind::Protocol)
            })?,
    };
    let roles: Vec<Role> = items
        .iter()
        .take(MAX_ROLES)
        .filter_map(|item| match item {
            Value::String(arn) => Role::new(arn, None),
            v => Role::new(
                v.get("arn").and_then(Value::as_str)?,
                v.get("account_friendly_name").and_then(Value::as_str),
            ),
        })
        .collect();
    Ok(roles)
}
