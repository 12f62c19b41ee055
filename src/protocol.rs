//! The ConsoleMe/Weep challenge protocol's wire types, shared by the client flow and the
//! reference server. Fields marked "extension" are sesame's; ConsoleMe ignores them and
//! clients that do not know them still work (see docs/protocol.md).

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const GENERATOR_PATH: &str = "/noauth/v1/challenge_generator/";
pub const POLLER_PATH: &str = "/noauth/v1/challenge_poller/";
pub const VALIDATOR_PAGE_PATH: &str = "/challenge_validator/";
pub const VALIDATOR_API_PATH: &str = "/api/v2/challenge_validator/";
/// Who the session's cookie belongs to (ConsoleMe's user profile endpoint).
pub const WHOAMI_PATH: &str = "/api/v2/user_profile";
/// The cookie ConsoleMe sends its JWT in, when the poll reply names none.
pub const DEFAULT_COOKIE_NAME: &str = "consoleme_auth";

/// Server-side extensions a generator reply may advertise.
pub const EXT_CALLBACK: &str = "callback";
pub const EXT_LONG_POLL: &str = "long_poll";
pub const EXT_USER_CODE: &str = "user_code";
pub const EXT_DENY: &str = "deny";

/// Longest `?wait=` the reference server honours, in seconds.
pub const MAX_LONG_POLL_SECS: u64 = 25;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeneratorResponse {
    pub challenge_url: String,
    pub polling_url: String,
    /// Extension: a short code the approval page shows, to compare with the terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_code: Option<String>,
    /// Extension: what this server supports beyond ConsoleMe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
}

/// The poller's reply as it is on the wire; [`PollResponse::interpret`] makes sense of it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PollResponse {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_name: Option<String>,
    /// Unix seconds. ConsoleMe sends an integer; a float or a numeric string is accepted too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_jwt: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollStatus {
    Pending,
    Success(Approval),
    Expired,
    Unknown,
    Unauthorized,
    /// Extension: the user pressed Deny.
    Denied,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub cookie_name: Option<String>,
    pub expiration: Option<i64>,
    pub jwt: Secret,
    pub user: Option<String>,
}

impl PollResponse {
    pub fn interpret(self) -> Result<PollStatus, String> {
        Ok(match self.status.as_str() {
            "pending" => PollStatus::Pending,
            "expired" => PollStatus::Expired,
            "unknown" => PollStatus::Unknown,
            "unauthorized" => PollStatus::Unauthorized,
            "denied" => PollStatus::Denied,
            "success" => {
                let jwt = self
                    .encoded_jwt
                    .filter(|t| !t.expose().trim().is_empty())
                    .ok_or("the server reported success but sent no token (encoded_jwt)")?;
                let expiration = match self.expiration {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                    Some(Value::String(s)) => s.trim().parse::<f64>().ok().map(|f| f as i64),
                    Some(other) => return Err(format!("the expiration {other} is not a time")),
                };
                PollStatus::Success(Approval {
                    cookie_name: self.cookie_name,
                    expiration,
                    jwt,
                    user: self.user,
                })
            }
            other => return Err(format!("the server sent an unknown status {other:?}")),
        })
    }
}

/// `GET /api/v2/challenge_validator/{token}`: what the approval page shows. ConsoleMe answers
/// the first view only; later views get `show_approve_button: false` and no nonce.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidatorView {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub show_approve_button: bool,
    /// Extension fields, for clients that render their own page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_code: Option<String>,
}

/// `POST /api/v2/challenge_validator/{token}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidatorDecision {
    pub nonce: String,
    /// Extension: `"deny"` denies; absent or `"approve"` approves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<PollStatus, String> {
        serde_json::from_str::<PollResponse>(json)
            .map_err(|e| e.to_string())?
            .interpret()
    }

    #[test]
    fn statuses() {
        assert_eq!(parse(r#"{"status":"pending"}"#), Ok(PollStatus::Pending));
        assert_eq!(parse(r#"{"status":"expired"}"#), Ok(PollStatus::Expired));
        assert_eq!(parse(r#"{"status":"unknown"}"#), Ok(PollStatus::Unknown));
        assert_eq!(
            parse(r#"{"status":"unauthorized"}"#),
            Ok(PollStatus::Unauthorized)
        );
        assert_eq!(parse(r#"{"status":"denied"}"#), Ok(PollStatus::Denied));
        assert!(
            parse(r#"{"status":"weird"}"#)
                .unwrap_err()
                .contains("weird")
        );
    }

    #[test]
    fn success_needs_a_token_and_reads_expiration_leniently() {
        let ok = parse(r#"{"status":"success","cookie_name":"c","expiration":1700000000,"encoded_jwt":"a.b.c","user":"alice"}"#).unwrap();
        let PollStatus::Success(a) = ok else { panic!() };
        assert_eq!(a.expiration, Some(1_700_000_000));
        assert_eq!(a.jwt.expose(), "a.b.c");
        let PollStatus::Success(a) =
            parse(r#"{"status":"success","expiration":"1700000000.5","encoded_jwt":"t"}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(a.expiration, Some(1_700_000_000));
        assert!(
            parse(r#"{"status":"success"}"#)
                .unwrap_err()
                .contains("no token")
        );
        assert!(parse(r#"{"status":"success","encoded_jwt":""}"#).is_err());
        assert!(parse(r#"{"status":"success","encoded_jwt":"t","expiration":[1]}"#).is_err());
    }
}
