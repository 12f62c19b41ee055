//! The ConsoleMe/Weep challenge protocol's wire types, shared by the client flow and the
//! reference server. Fields marked "extension" are sesame's; ConsoleMe ignores them and
//! clients that do not know them still work (see docs/protocol.md).

use crate::present::Name;
use crate::secret::{Secret, Token};
use crate::session::UserName;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a challenge is requested: `GET {server}/noauth/v1/challenge_generator/{user}`.
pub const GENERATOR_PATH: &str = "/noauth/v1/challenge_generator/";
/// Where a challenge's outcome is polled for: `GET {server}/noauth/v1/challenge_poller/{token}`.
pub const POLLER_PATH: &str = "/noauth/v1/challenge_poller/";
/// The approval page the person opens: `{server}/challenge_validator/{token}`.
pub const VALIDATOR_PAGE_PATH: &str = "/challenge_validator/";
/// The approval API ConsoleMe's UI uses: GET for the one view, POST for the decision.
pub const VALIDATOR_API_PATH: &str = "/api/v2/challenge_validator/";
/// Who the session's cookie belongs to (ConsoleMe's user profile endpoint).
pub const WHOAMI_PATH: &str = "/api/v2/user_profile";
pub use crate::present::DEFAULT_COOKIE_NAME;

/// Server-side extensions a generator reply may advertise.
pub const EXT_CALLBACK: &str = "callback";
/// Extension: the poller holds a `?wait=SECS` poll until the status changes (at most
/// [`MAX_LONG_POLL_SECS`]).
pub const EXT_LONG_POLL: &str = "long_poll";
/// Extension: the reply carries a `user_code` to compare with the approval page.
pub const EXT_USER_CODE: &str = "user_code";
/// Extension: the approval can be a denial, and the poller answers `denied`.
pub const EXT_DENY: &str = "deny";

/// Longest `?wait=` the reference server honours, in seconds.
pub const MAX_LONG_POLL_SECS: u64 = 25;

/// The challenge generator's reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeneratorResponse {
    /// Where the person approves the login; the client resolves it against the server.
    pub challenge_url: String,
    /// Where the client polls for the outcome; the client resolves it against the server and polls
    /// only its origin.
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
    /// `pending`, `success`, `expired`, `unknown`, `unauthorized`, or `denied` (extension).
    pub status: String,
    /// With `success`: the cookie the token is presented as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_name: Option<String>,
    /// Unix seconds. ConsoleMe sends an integer; a float or a numeric string is accepted too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Value>,
    /// With `success`: the session token (a JWT from ConsoleMe and `sesame serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_jwt: Option<Secret>,
    /// With `success`: the user the session belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// What a poll reply means, its fields checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollStatus {
    /// Not decided yet: keep polling.
    Pending,
    /// Approved; the server hands the token out this once.
    Success(Approval),
    /// The challenge outlived its lifetime before it was approved.
    Expired,
    /// The server never issued this challenge, or its token was already collected.
    Unknown,
    /// The poll came from another address than the challenge request.
    Unauthorized,
    /// Extension: the user pressed Deny.
    Denied,
}

/// A success reply, every field checked: a token that fits a cookie, a cookie name that is
/// one, a printable user name, an expiry in the future and within ten years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The cookie to present the token as; `None` when the server named none (the session then uses
    /// the default name).
    pub cookie_name: Option<Name>,
    /// When the session ends, in Unix seconds; `None` when the server did not say.
    pub expiration: Option<i64>,
    /// The session token.
    pub jwt: Token,
    /// The user the server says the session is for; `None` when it did not say.
    pub user: Option<UserName>,
}

/// The longest session a server may hand out; beyond it, an expiry is nonsense (1e308).
pub const MAX_LIFETIME_SECS: i64 = 10 * 365 * 86_400;

/// A reply's `expiration`: ConsoleMe sends an integer; a float or a numeric string is accepted
/// too. It must be after `now` and at most ten years on, or the reply is refused: a session
/// that is already over (0, -1, "nan") must not replace one that works.
fn expiration(value: Option<Value>, now: i64) -> Result<Option<i64>, String> {
    let secs = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    let shown = |f: f64| crate::text::Shown::new(&f.to_string(), 40).into_string();
    match secs {
        Some(f)
            if f.is_finite() && f > now as f64 && f - (now as f64) <= MAX_LIFETIME_SECS as f64 =>
        {
            Ok(Some(f as i64))
        }
        Some(f) if f.is_finite() && f <= now as f64 => Err(format!(
            "the server approved the login with a session that has already expired (expiration {})",
            shown(f)
        )),
        Some(f) if f.is_finite() => Err(format!(
            "the server approved the login with a session that would last over ten years (expiration {})",
            shown(f)
        )),
        _ => Err("the server approved the login with an expiration that is not a time".into()),
    }
}

impl PollResponse {
    /// Makes sense of the reply, checking every field of a success where it enters; `now` is
    /// Unix seconds.
    pub fn interpret(self, now: i64) -> Result<PollStatus, String> {
        let Some(status) = WireStatus::parse(&self.status) else {
            return Err(format!(
                "the server sent an unknown status {:?}",
                crate::text::Shown::new(&self.status, 40).as_str()
            ));
        };
        Ok(match status {
            WireStatus::Pending => PollStatus::Pending,
            WireStatus::Expired => PollStatus::Expired,
            WireStatus::Unknown => PollStatus::Unknown,
            WireStatus::Unauthorized => PollStatus::Unauthorized,
            WireStatus::Denied => PollStatus::Denied,
            // `sesame serve` sends `slow_down` only with a 429, to an address that guesses
            // tokens, which the poller retries before reading a body.
            WireStatus::SlowDown => {
                return Err(
                    "the server asked to slow down (slow_down) on a successful reply".into(),
                );
            }
            WireStatus::Success => {
                let jwt = self
                    .encoded_jwt
                    .filter(|t| !t.expose().trim().is_empty())
                    .ok_or("the server reported success but sent no token (encoded_jwt)")?;
                let jwt = Token::issued(jwt.expose())
                    .map_err(|e| format!("the server's token (encoded_jwt) is unusable: {e}"))?;
                let cookie_name = self
                    .cookie_name
                    .map(|n| Name::new(&n))
                    .transpose()
                    .map_err(|e| format!("the server's cookie_name is unusable: {e}"))?;
                let user = self
                    .user
                    .map(|u| UserName::new(&u))
                    .transpose()
                    .map_err(|e| format!("the server's user is unusable: {e}"))?;
                PollStatus::Success(Approval {
                    cookie_name,
                    expiration: expiration(self.expiration, now)?,
                    jwt,
                    user,
                })
            }
        })
    }
}

/// A poll answer's `status` word, as the server writes it and the client reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireStatus {
    /// `pending`: not decided yet.
    Pending,
    /// `success`: approved; the reply carries the token.
    Success,
    /// `unknown`: no such challenge, or its token was already collected.
    Unknown,
    /// `expired`: the challenge outlived its lifetime.
    Expired,
    /// `denied` (extension): the user pressed Deny.
    Denied,
    /// `unauthorized`: the poll came from another address than the challenge request.
    Unauthorized,
    /// `slow_down` (with HTTP 429): too many polls for unknown tokens from this address.
    SlowDown,
}

impl WireStatus {
    /// Every status, in the order of the metrics' labels.
    pub const ALL: [WireStatus; 7] = [
        WireStatus::Pending,
        WireStatus::Success,
        WireStatus::Unknown,
        WireStatus::Expired,
        WireStatus::Denied,
        WireStatus::Unauthorized,
        WireStatus::SlowDown,
    ];

    /// The word on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            WireStatus::Pending => "pending",
            WireStatus::Success => "success",
            WireStatus::Unknown => "unknown",
            WireStatus::Expired => "expired",
            WireStatus::Denied => "denied",
            WireStatus::Unauthorized => "unauthorized",
            WireStatus::SlowDown => "slow_down",
        }
    }

    /// The status `word` names, if it is one.
    pub fn parse(word: &str) -> Option<WireStatus> {
        WireStatus::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

/// `GET /api/v2/challenge_validator/{token}`: what the approval page shows. ConsoleMe answers
/// the first view only; later views get `show_approve_button: false` and no nonce.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidatorView {
    /// What the page says about the request.
    pub message: String,
    /// The one-time nonce that decides the request; only the first view carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// `true` on the first view only: later views cannot decide.
    pub show_approve_button: bool,
    /// Extension fields, for clients that render their own page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The code the terminal shows, to compare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_code: Option<String>,
}

/// `POST /api/v2/challenge_validator/{token}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidatorDecision {
    /// The nonce from the first view.
    pub nonce: String,
    /// Extension: `"deny"` denies; absent or `"approve"` approves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_600_000_000;

    fn parse(json: &str) -> Result<PollStatus, String> {
        serde_json::from_str::<PollResponse>(json)
            .map_err(|e| e.to_string())?
            .interpret(NOW)
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

    #[test]
    fn an_expiration_in_the_past_or_absurd_is_refused() {
        for exp in [
            "0",
            "-1",
            "\"nan\"",
            "1e308",
            "\"inf\"",
            "1599999999",
            "1600000000",
        ] {
            let json = format!(r#"{{"status":"success","encoded_jwt":"t","expiration":{exp}}}"#);
            let err = parse(&json).unwrap_err();
            assert!(err.contains("expir"), "{exp}: {err}");
        }
        assert!(parse(r#"{"status":"success","encoded_jwt":"t","expiration":1600000001}"#).is_ok());
    }

    #[test]
    fn hostile_strings_in_a_success_are_refused_where_they_enter() {
        for (field, value) in [
            ("encoded_jwt", "a.b.c\r\nX-Evil: 1"),
            ("encoded_jwt", "a;b"),
            ("cookie_name", "c=x; d"),
            ("cookie_name", "c\r\nSet"),
            ("user", "alice\nhost=evil.example"),
            ("user", "alice\u{1b}]52;c;ZXZpbA==\u{7}"),
        ] {
            let mut v = serde_json::json!({"status":"success","encoded_jwt":"a.b.c","cookie_name":"c","user":"u"});
            v[field] = serde_json::json!(value);
            let err = parse(&v.to_string()).unwrap_err();
            assert!(err.contains(field), "{field}={value:?}: {err}");
        }
    }
}
