//! Logging in to a JSON login API from configuration alone: a body template with `{user}`,
//! `{password}`, `{mfa}`, `{otp}` and `{refresh_token}`, RFC 6901 pointers into the reply for
//! the token, the refresh token, the expiry, the server's message and the "second factor
//! needed" marker. Nothing here knows any particular service.

use crate::http;
use crate::login_error::LoginError;
use crate::secret::{Secret, Token};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use url::Url;

/// Longest `expires_in` taken from a server: ten years. More is a bug, not a session.
pub const MAX_LIFETIME_SECS: i64 = 10 * 365 * 86_400;

/// The recipe for one API, from the profile's config. It holds templates and pointers, never
/// a secret, so it is kept with the session for refreshing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonApi {
    /// Where the login body is POSTed (`login-url`).
    pub login_url: String,
    /// The login body template (`login-body`), with `{user}` and `{password}`.
    pub login_body: Value,
    /// The token's place in the reply (`token-pointer`); may be unset when a cookie carries the
    /// token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_pointer: Option<String>,
    /// The refresh token's place in the reply (`refresh-token-pointer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_pointer: Option<String>,
    /// The place of the session's lifetime in seconds (`expires-in-pointer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_pointer: Option<String>,
    /// The place of the session's expiry in Unix seconds (`expires-at-pointer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_pointer: Option<String>,
    /// The place of the server's message (`error-pointer`); unset, the usual places are tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_pointer: Option<String>,
    /// A value here in the login reply means a one-time code is needed (`mfa-pointer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_pointer: Option<String>,
    /// Where the one-time code body is POSTed (`mfa-url`); required with `mfa_pointer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_url: Option<String>,
    /// The one-time code body template (`mfa-body`), with `{user}`, `{password}`, `{mfa}` and
    /// `{otp}`.
    pub mfa_body: Value,
    /// Where the refresh body is POSTed (`refresh-url`); unset, the session cannot be refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_url: Option<String>,
    /// The refresh body template (`refresh-body`), with `{user}` and `{refresh_token}`.
    pub refresh_body: Value,
    /// The cookie the credential is presented as (`use-as = "cookie:NAME"`): a `Set-Cookie`
    /// of that name in the reply is the credential when `token-pointer` finds none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

/// `{"username": "{user}", "password": "{password}"}`: the login body when the profile gives none.
pub fn default_login_body() -> Value {
    json!({ "username": "{user}", "password": "{password}" })
}

/// `{"mfa": "{mfa}", "otp": "{otp}"}`: the one-time code body when the profile gives none.
pub fn default_mfa_body() -> Value {
    json!({ "mfa": "{mfa}", "otp": "{otp}" })
}

/// `{"refresh_token": "{refresh_token}"}`: the refresh body when the profile gives none.
pub fn default_refresh_body() -> Value {
    json!({ "refresh_token": "{refresh_token}" })
}

/// Which placeholders each template may use.
const LOGIN_VARS: &[&str] = &["user", "password"];
const MFA_VARS: &[&str] = &["user", "password", "mfa", "otp"];
const REFRESH_VARS: &[&str] = &["user", "refresh_token"];

/// Where the server's own message is looked for when `error-pointer` is not set.
const ERROR_POINTERS: &[&str] = &[
    "/error_description",
    "/message",
    "/error/message",
    "/error",
    "/errors/0/message",
    "/detail",
];

impl JsonApi {
    /// Checks what can be checked before anything is sent: pointers are pointers, templates
    /// use only the placeholders they can be given, MFA has somewhere to go. The error names
    /// the config key.
    pub fn check(&self) -> Result<(), String> {
        let pointers = [
            ("token-pointer", &self.token_pointer),
            ("refresh-token-pointer", &self.refresh_token_pointer),
            ("expires-in-pointer", &self.expires_in_pointer),
            ("expires-at-pointer", &self.expires_at_pointer),
            ("error-pointer", &self.error_pointer),
            ("mfa-pointer", &self.mfa_pointer),
        ];
        for (key, p) in pointers {
            if let Some(p) = p
                && !p.starts_with('/')
            {
                return Err(format!(
                    "`{key}` = {p:?} is not a JSON pointer (RFC 6901): it starts with /, e.g. \"/data/token\""
                ));
            }
        }
        if self.token_pointer.is_none() && self.cookie.is_none() {
            return Err(
                "a JSON login needs `token-pointer` (where the token is in the reply), or `use-as = \"cookie:NAME\"` for a session cookie".into(),
            );
        }
        if self.mfa_pointer.is_some() && self.mfa_url.is_none() {
            return Err(
                "`mfa-pointer` is set but `mfa-url` is not: where should the one-time code go?"
                    .into(),
            );
        }
        if self.expires_in_pointer.is_some() && self.expires_at_pointer.is_some() {
            return Err("set `expires-in-pointer` or `expires-at-pointer`, not both".into());
        }
        for (key, body, allowed) in [
            ("login-body", &self.login_body, LOGIN_VARS),
            ("mfa-body", &self.mfa_body, MFA_VARS),
            ("refresh-body", &self.refresh_body, REFRESH_VARS),
        ] {
            let mut used = Vec::new();
            placeholders(body, &mut used);
            if let Some(bad) = used.iter().find(|v| !allowed.contains(&v.as_str())) {
                let allowed: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
                return Err(format!(
                    "`{key}` uses {{{bad}}}, which it cannot be given; it may use {}",
                    allowed.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Whether sessions from this API can be refreshed: it has a `refresh-url` and a
    /// `refresh-token-pointer`.
    pub fn can_refresh(&self) -> bool {
        self.refresh_url.is_some() && self.refresh_token_pointer.is_some()
    }
}

/// The `{name}` placeholders in a template's strings.
fn placeholders(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find('{') {
                let after = &rest[start + 1..];
                match after.find('}') {
                    Some(end)
                        if !after[..end].is_empty()
                            && after[..end]
                                .bytes()
                                .all(|b| b.is_ascii_lowercase() || b == b'_') =>
                    {
                        out.push(after[..end].to_string());
                        rest = &after[end + 1..];
                    }
                    _ => rest = after,
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| placeholders(v, out)),
        Value::Object(o) => o.values().for_each(|v| placeholders(v, out)),
        _ => {}
    }
}

/// The template with its placeholders filled, in one pass: a value is never searched for
/// placeholders itself, so a user name containing `{password}` cannot pull the password into
/// the body. Values go in as JSON strings, so quotes, backslashes and unicode arrive intact.
pub fn render(template: &Value, vars: &[(&str, &str)]) -> Value {
    match template {
        Value::String(s) => Value::String(fill(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|v| render(v, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), render(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn fill(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let found = after.find('}').and_then(|end| {
            let name = &after[..end];
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| (end, *value))
        });
        match found {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A server's reply, read within the limits.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The reply's JSON; `Null` for an empty body.
    pub json: Value,
    /// `Set-Cookie` names and values.
    pub cookies: Vec<(String, Secret)>,
}

/// POSTs a JSON body and reads the JSON reply, within [`http::send_for_json`]'s rules.
/// `what` names the step for messages: "login", "one-time code", "refresh".
pub async fn post(
    client: &reqwest::Client,
    url: &Url,
    body: &Value,
    what: &str,
) -> Result<Reply, LoginError> {
    let request = client.post(url.clone()).json(body);
    let answer = http::send_for_json(request, url, what).await?;
    let cookies = answer
        .headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .filter_map(|h| cookie::Cookie::parse(h).ok())
        .map(|c| (c.name().to_string(), Secret::new(c.value_trimmed())))
        .collect();
    Ok(Reply {
        status: answer.status,
        json: answer.json,
        cookies,
    })
}

/// What a login (or one-time code) reply amounts to.
#[derive(Debug)]
pub enum Step {
    /// The login is done: the tokens found in the reply.
    Done(Tokens),
    /// A second factor is needed; the value found at `mfa-pointer`.
    SecondFactor(Secret),
}

/// What a successful reply carried, each value checked.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The token, from `token-pointer` or else the session cookie.
    pub token: Token,
    /// The refresh token at `refresh-token-pointer`, if the reply had one.
    pub refresh_token: Option<Secret>,
    /// The expiry in Unix seconds: from the expiry pointers, else the token's `exp` if it is a JWT;
    /// `None` when unknown.
    pub expires_at: Option<i64>,
}

/// Whether a reply may ask for a second factor: only the first login reply may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mfa {
    /// The first login reply: a value at `mfa-pointer` asks for a one-time code.
    Allowed,
    /// Any other reply: `mfa-pointer` is not looked at.
    NotAllowed,
}

impl JsonApi {
    /// Makes sense of a reply. `mfa`: only the first login reply may ask for a second factor.
    /// HTTP 4xx (and a 2xx that carries no token but an error message) is a refusal with the
    /// server's own message.
    pub fn interpret(
        &self,
        reply: &Reply,
        what: &str,
        mfa: Mfa,
        now: i64,
    ) -> Result<Step, LoginError> {
        self.check_status(reply, what)?;
        if mfa == Mfa::Allowed
            && let Some(p) = &self.mfa_pointer
            && let Some(code) = string_at(&reply.json, p, "mfa-pointer")?
        {
            return Ok(Step::SecondFactor(Secret::new(code)));
        }
        let token = self.token_in(reply, what)?;
        let refresh_token = match &self.refresh_token_pointer {
            Some(p) => string_at(&reply.json, p, "refresh-token-pointer")?
                .filter(|t| !t.is_empty())
                .map(Secret::new),
            None => None,
        };
        let expires_at = self
            .expiry(&reply.json, now)?
            .or_else(|| crate::jwt::expiry(&token));
        let token = Token::issued(&token).map_err(|e| {
            LoginError::Protocol(format!(
                "the server's token for the {what} is unusable: {e}"
            ))
        })?;
        Ok(Step::Done(Tokens {
            token,
            refresh_token,
            expires_at,
        }))
    }

    /// A reply that is not a 2xx: a refusal (4xx) or a failure, with the server's own message.
    fn check_status(&self, reply: &Reply, what: &str) -> Result<(), LoginError> {
        if (400..500).contains(&reply.status) {
            let said = self
                .server_message(&reply.json)
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(LoginError::Credentials(format!(
                "the server refused the {what} (HTTP {}){said}",
                reply.status
            )));
        }
        if reply.status >= 500 || !(200..300).contains(&reply.status) {
            let said = self
                .server_message(&reply.json)
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(LoginError::Server(format!(
                "the server failed the {what} (HTTP {}){said}",
                reply.status
            )));
        }
        Ok(())
    }

    /// The token in a 2xx reply: at `token-pointer`, else in the session cookie. None there is
    /// a refusal if the server said why, else a misconfigured pointer.
    fn token_in(&self, reply: &Reply, what: &str) -> Result<String, LoginError> {
        let from_pointer = match &self.token_pointer {
            Some(p) => string_at(&reply.json, p, "token-pointer")?,
            None => None,
        };
        let from_cookie = || {
            let name = self.cookie.as_deref()?;
            reply
                .cookies
                .iter()
                .find(|(n, v)| n == name && !v.expose().is_empty())
                .map(|(_, v)| v.expose().to_string())
        };
        let Some(token) = from_pointer.filter(|t| !t.is_empty()).or_else(from_cookie) else {
            if let Some(m) = self.server_message(&reply.json) {
                return Err(LoginError::Credentials(format!(
                    "the server did not accept the {what}: {m}"
                )));
            }
            return Err(LoginError::Protocol(self.missing_token(&reply.json, what)));
        };
        Ok(token)
    }

    /// The expiry at `expires-in-pointer` or `expires-at-pointer`, within the allowed lifetime;
    /// `None` when neither is configured or the reply has no value there.
    fn expiry(&self, json: &Value, now: i64) -> Result<Option<i64>, LoginError> {
        Ok(match (&self.expires_in_pointer, &self.expires_at_pointer) {
            (Some(p), _) => match number_at(json, p, "expires-in-pointer")? {
                Some(secs) if (0..=MAX_LIFETIME_SECS).contains(&secs) => Some(now + secs),
                Some(secs) => {
                    return Err(LoginError::Protocol(format!(
                        "the server says the session lasts {secs} seconds (at {p}); expected 0 to {MAX_LIFETIME_SECS}"
                    )));
                }
                None => None,
            },
            (None, Some(p)) => match number_at(json, p, "expires-at-pointer")? {
                Some(at) if at > now && at - now <= MAX_LIFETIME_SECS => Some(at),
                Some(at) => {
                    return Err(LoginError::Protocol(format!(
                        "the server says the session expires at {at} (Unix seconds, at {p}), which is {}",
                        if at <= now {
                            "in the past"
                        } else {
                            "more than ten years away"
                        }
                    )));
                }
                None => None,
            },
            (None, None) => None,
        })
    }

    /// The server's own words about a failure, from `error-pointer` or the usual places.
    fn server_message(&self, json: &Value) -> Option<String> {
        let found = match &self.error_pointer {
            Some(p) => json.pointer(p),
            None => ERROR_POINTERS.iter().find_map(|p| {
                json.pointer(p)
                    .filter(|v| matches!(v, Value::String(s) if !s.is_empty()))
            }),
        }?;
        let text = match found {
            Value::String(s) => s.clone(),
            Value::Null | Value::Bool(false) => return None,
            other => other.to_string(),
        };
        // A message is for a person: one line, not a novel.
        let line: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
        (!line.trim().is_empty()).then_some(line)
    }

    fn missing_token(&self, json: &Value, what: &str) -> String {
        let pointer = self.token_pointer.as_deref().unwrap_or("(none)");
        let keys = match json {
            Value::Object(o) => describe_keys(o),
            Value::Null => "an empty body".into(),
            other => format!("a JSON {}, not an object", kind(other)),
        };
        let cookie = match &self.cookie {
            Some(c) => format!(" and no Set-Cookie {c}"),
            None => String::new(),
        };
        format!(
            "the reply to the {what} has no token at {pointer} (token-pointer){cookie}; the reply has {keys}. Fix token-pointer in the profile (see docs/direct-login.md)"
        )
    }
}

/// The top-level keys (never the values), as "keys success, data".
fn describe_keys(o: &Map<String, Value>) -> String {
    if o.is_empty() {
        return "no keys".into();
    }
    let keys: Vec<&str> = o.keys().map(String::as_str).take(20).collect();
    format!("the top-level keys {}", keys.join(", "))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The string (or number, as text) at `pointer`; `None` when absent or null. An object, an
/// array or a boolean there is a misconfigured pointer, said so with the keys below it.
fn string_at(json: &Value, pointer: &str, key: &str) -> Result<Option<String>, LoginError> {
    match json.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        // Only a whole number that JSON parsing kept exactly: 12345678901234567890123 would
        // come back as 1.2345678901234568e+22, another token.
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        Some(Value::Number(_)) => Err(LoginError::Protocol(format!(
            "{pointer} ({key}) points at a number that cannot be read exactly (too large, or a fraction); the server must send it as a string"
        ))),
        Some(Value::Object(o)) => Err(LoginError::Protocol(format!(
            "{pointer} ({key}) points at an object with {}, not at a string; point at the value inside it",
            describe_keys(o)
        ))),
        Some(other) => Err(LoginError::Protocol(format!(
            "{pointer} ({key}) points at a JSON {}, not at a string",
            kind(other)
        ))),
    }
}

/// A whole number of seconds at `pointer` (a number or a numeric string).
fn number_at(json: &Value, pointer: &str, key: &str) -> Result<Option<i64>, LoginError> {
    let bad = |what: String| {
        LoginError::Protocol(format!(
            "{pointer} ({key}) holds {what}, not a number of seconds"
        ))
    };
    match json.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            (None, Some(f)) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f as i64)),
            _ => Err(bad(format!("the number {n}"))),
        },
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| {
            bad(format!(
                "the string {:?}",
                s.chars().take(40).collect::<String>()
            ))
        }),
        Some(other) => Err(bad(format!("a JSON {}", kind(other)))),
    }
}

/// One login: the body rendered, posted, and the reply interpreted.
pub async fn login(
    client: &reqwest::Client,
    api: &JsonApi,
    user: &str,
    password: &Secret,
    now: i64,
) -> Result<Step, LoginError> {
    let url = parse_url(&api.login_url, "login-url")?;
    let body = render(
        &api.login_body,
        &[("user", user), ("password", password.expose())],
    );
    let reply = post(client, &url, &body, "login").await?;
    api.interpret(&reply, "login", Mfa::Allowed, now)
}

/// The second step: the value the login reply asked with, and the one-time code.
pub async fn second_factor(
    client: &reqwest::Client,
    api: &JsonApi,
    user: &str,
    password: &Secret,
    mfa: &Secret,
    otp: &Secret,
    now: i64,
) -> Result<Tokens, LoginError> {
    let Some(url) = &api.mfa_url else {
        return Err(LoginError::Protocol(
            "the server asks for a second factor but the profile has no mfa-url".into(),
        ));
    };
    let url = parse_url(url, "mfa-url")?;
    let body = render(
        &api.mfa_body,
        &[
            ("user", user),
            ("password", password.expose()),
            ("mfa", mfa.expose()),
            ("otp", otp.expose()),
        ],
    );
    let reply = post(client, &url, &body, "one-time code").await?;
    match api.interpret(&reply, "one-time code", Mfa::NotAllowed, now)? {
        Step::Done(tokens) => Ok(tokens),
        Step::SecondFactor(_) => Err(LoginError::Protocol(
            "the server asked for a second factor again".into(),
        )),
    }
}

/// Exchanges the refresh token at `refresh-url`. Without a new refresh token in the reply,
/// the old one is kept.
pub async fn refresh(
    client: &reqwest::Client,
    api: &JsonApi,
    user: &str,
    refresh_token: &Secret,
    now: i64,
) -> Result<Tokens, LoginError> {
    let Some(url) = &api.refresh_url else {
        return Err(LoginError::Protocol(
            "the profile has no refresh-url".into(),
        ));
    };
    let url = parse_url(url, "refresh-url")?;
    let body = render(
        &api.refresh_body,
        &[("user", user), ("refresh_token", refresh_token.expose())],
    );
    let reply = post(client, &url, &body, "refresh").await?;
    match api.interpret(&reply, "refresh", Mfa::NotAllowed, now)? {
        Step::Done(mut tokens) => {
            if tokens.refresh_token.is_none() {
                tokens.refresh_token = Some(refresh_token.clone());
            }
            Ok(tokens)
        }
        Step::SecondFactor(_) => Err(LoginError::Protocol(
            "the server asked for a second factor to refresh".into(),
        )),
    }
}

fn parse_url(text: &str, key: &str) -> Result<Url, LoginError> {
    Url::parse(text).map_err(|e| LoginError::Protocol(format!("{key} {text:?} is not a URL ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> JsonApi {
        JsonApi {
            login_url: "https://api.example/auth".into(),
            login_body: default_login_body(),
            token_pointer: Some("/data/access_token".into()),
            refresh_token_pointer: Some("/data/refresh_token".into()),
            expires_in_pointer: Some("/data/expires_in".into()),
            expires_at_pointer: None,
            error_pointer: None,
            mfa_pointer: Some("/data/login_code".into()),
            mfa_url: Some("https://api.example/otp".into()),
            mfa_body: default_mfa_body(),
            refresh_url: Some("https://api.example/refresh".into()),
            refresh_body: default_refresh_body(),
            cookie: None,
        }
    }

    fn reply(status: u16, json: Value) -> Reply {
        Reply {
            status,
            json,
            cookies: vec![],
        }
    }

    #[test]
    fn renders_values_intact() {
        let pw = "p\"a\\ss wörd {user}";
        let body = render(
            &json!({"email": "{user}", "password": "{password}", "n": 3, "nested": ["x-{user}"]}),
            &[("user", "dana@example.com"), ("password", pw)],
        );
        assert_eq!(body["password"], pw);
        assert_eq!(body["email"], "dana@example.com");
        assert_eq!(body["n"], 3);
        assert_eq!(body["nested"][0], "x-dana@example.com");
        let text = serde_json::to_string(&body).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["password"], pw);
    }

    #[test]
    fn values_are_not_searched_for_placeholders() {
        let body = render(
            &json!({"u": "{user}", "p": "{password}", "both": "{user}:{password}", "odd": "{x} {user"}),
            &[("user", "{password}"), ("password", "pw{user}")],
        );
        assert_eq!(body["u"], "{password}");
        assert_eq!(body["p"], "pw{user}");
        assert_eq!(body["both"], "{password}:pw{user}");
        assert_eq!(body["odd"], "{x} {user");
    }

    #[test]
    fn check_names_the_key_at_fault() {
        let mut a = api();
        assert_eq!(a.check(), Ok(()));
        a.token_pointer = Some("data.token".into());
        assert!(a.check().unwrap_err().contains("token-pointer"));
        let mut a = api();
        a.login_body = json!({"code": "{otp}"});
        let e = a.check().unwrap_err();
        assert!(e.contains("`login-body` uses {otp}"), "{e}");
        let mut a = api();
        a.mfa_url = None;
        assert!(a.check().unwrap_err().contains("mfa-url"));
        let mut a = api();
        a.token_pointer = None;
        assert!(a.check().unwrap_err().contains("token-pointer"));
        a.cookie = Some("sid".into());
        assert_eq!(a.check(), Ok(()));
    }

    #[test]
    fn finds_tokens_expiry_and_second_factor() {
        let a = api();
        let r = reply(
            200,
            json!({"data": {"access_token": "at", "refresh_token": "rt", "expires_in": 900}}),
        );
        let Step::Done(t) = a.interpret(&r, "login", Mfa::Allowed, 1_000).unwrap() else {
            panic!()
        };
        assert_eq!(t.token.expose(), "at");
        assert_eq!(t.refresh_token.unwrap().expose(), "rt");
        assert_eq!(t.expires_at, Some(1_900));
        let r = reply(200, json!({"data": {"login_code": "lc-1"}}));
        let Step::SecondFactor(code) = a.interpret(&r, "login", Mfa::Allowed, 0).unwrap() else {
            panic!()
        };
        assert_eq!(code.expose(), "lc-1");
        // The one-time code's reply may not ask again.
        assert!(
            a.interpret(&r, "one-time code", Mfa::NotAllowed, 0)
                .is_err()
        );
    }

    #[test]
    fn refusals_carry_the_server_message_and_nothing_else() {
        let a = api();
        let e = a
            .interpret(
                &reply(401, json!({"message": "Invalid email or password"})),
                "login",
                Mfa::Allowed,
                0,
            )
            .unwrap_err();
        assert!(
            matches!(&e, LoginError::Credentials(m) if m.contains("Invalid email or password") && m.contains("401")),
            "{e}"
        );
        let e = a
            .interpret(
                &reply(200, json!({"success": false, "error": "bad key"})),
                "login",
                Mfa::Allowed,
                0,
            )
            .unwrap_err();
        assert!(
            matches!(&e, LoginError::Credentials(m) if m.contains("bad key")),
            "{e}"
        );
        let e = a
            .interpret(
                &reply(
                    200,
                    json!({"success": true, "payload": {"token": "SECRET-VALUE"}}),
                ),
                "login",
                Mfa::Allowed,
                0,
            )
            .unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("/data/access_token") && m.contains("keys payload, success"),
            "{m}"
        );
        assert!(!m.contains("SECRET-VALUE"), "{m}");
    }

    #[test]
    fn bad_shapes_are_clear_errors() {
        let a = api();
        let e = a
            .interpret(
                &reply(200, json!({"data": {"access_token": {"value": "x"}}})),
                "login",
                Mfa::Allowed,
                0,
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("points at an object") && e.contains("value"),
            "{e}"
        );
        for bad in [
            json!(-5),
            json!(1e300),
            json!("soon"),
            json!(MAX_LIFETIME_SECS + 1),
        ] {
            let r = reply(
                200,
                json!({"data": {"access_token": "t", "expires_in": bad}}),
            );
            assert!(a.interpret(&r, "login", Mfa::Allowed, 0).is_err(), "{bad}");
        }
        let mut b = api();
        b.expires_in_pointer = None;
        b.expires_at_pointer = Some("/exp".into());
        let r = reply(200, json!({"exp": 10, "data": {"access_token": "t"}}));
        assert!(
            b.interpret(&r, "login", Mfa::Allowed, 100)
                .unwrap_err()
                .to_string()
                .contains("in the past")
        );
        assert!(
            a.interpret(&reply(200, json!([1, 2])), "login", Mfa::Allowed, 0)
                .unwrap_err()
                .to_string()
                .contains("array")
        );
    }

    #[test]
    fn a_named_cookie_is_the_credential_when_no_pointer_finds_one() {
        let mut a = api();
        a.token_pointer = None;
        a.mfa_pointer = None;
        a.cookie = Some("sesskey".into());
        let r = Reply {
            status: 200,
            json: json!({"success": true}),
            cookies: vec![
                ("other".into(), Secret::new("x")),
                ("sesskey".into(), Secret::new("abc")),
            ],
        };
        let Step::Done(t) = a.interpret(&r, "login", Mfa::Allowed, 0).unwrap() else {
            panic!()
        };
        assert_eq!(t.token.expose(), "abc");
    }
}
