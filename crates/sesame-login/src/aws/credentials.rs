//! Short-lived AWS credentials, checked where they enter (a ConsoleMe reply, an STS reply, the
//! cache) and written out in the forms AWS tools read: the `credential_process` JSON, shell
//! exports, the ECS container provider's JSON and the EC2 metadata service's JSON.
//!
//! The three values go into shell code (`export`) and JSON, so each is held to the characters
//! such values are made of: an access key ID of letters and digits, a secret key and a session
//! token of base64 and URL-safe characters. A value with a quote, a space, a `$` or a line
//! break cannot be a [`Credentials`], whatever a server sends.

use crate::clock::rfc3339_utc;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fmt;

/// An access key ID, a secret access key and a session token, valid until `expiration`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Secret,
    expiration: i64,
}

/// Why a value cannot be a credential; says which field, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCredentials(pub String);

impl fmt::Display for BadCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadCredentials {}

/// The longest credentials are believed to last: STS grants at most 12 hours (36 for some
/// role chains); a week leaves room for other STS-compatible services and still refuses an
/// `Expiration` sent in milliseconds, which would otherwise be cached for millennia.
pub const MAX_LIFETIME: i64 = 7 * 24 * 3600;

/// The longest session token accepted: STS's are under 2 KB; this leaves room for other
/// STS-compatible services.
pub const MAX_TOKEN: usize = 8192;

fn check(
    field: &str,
    value: &str,
    max: usize,
    allowed: fn(u8) -> bool,
) -> Result<(), BadCredentials> {
    if value.is_empty() {
        return Err(BadCredentials(format!("the {field} is empty")));
    }
    if value.len() > max {
        return Err(BadCredentials(format!(
            "the {field} is longer than {max} characters"
        )));
    }
    if !value.bytes().all(allowed) {
        return Err(BadCredentials(format!(
            "the {field} holds characters an AWS credential does not"
        )));
    }
    Ok(())
}

fn key_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn secret_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_' | b'.' | b'~')
}

impl Credentials {
    /// Checks the three values; `expiration` is in Unix seconds.
    pub fn new(
        access_key_id: &str,
        secret_access_key: &str,
        session_token: &str,
        expiration: i64,
    ) -> Result<Credentials, BadCredentials> {
        check("access key ID", access_key_id, 128, key_id_char)?;
        check("secret access key", secret_access_key, 256, secret_char)?;
        check("session token", session_token, MAX_TOKEN, secret_char)?;
        if rfc3339_utc(expiration).is_none() {
            return Err(BadCredentials("the expiration is not a date".into()));
        }
        Ok(Credentials {
            access_key_id: access_key_id.to_string(),
            secret_access_key: Secret::new(secret_access_key),
            session_token: Secret::new(session_token),
            expiration,
        })
    }

    /// The access key ID (not a secret: it names the key).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key. Every caller is a place where the secret leaves the type.
    pub fn secret_access_key(&self) -> &str {
        self.secret_access_key.expose()
    }

    /// The session token. Every caller is a place where the secret leaves the type.
    pub fn session_token(&self) -> &str {
        self.session_token.expose()
    }

    /// When they expire, in Unix seconds.
    pub fn expiration(&self) -> i64 {
        self.expiration
    }

    /// These credentials if at least a minute of them is left at `now`, else why not: a server
    /// that hands out expired credentials (or a clock far off) is reported, not cached.
    pub fn usable_at(self, now: i64) -> Result<Credentials, BadCredentials> {
        if self.expiration.saturating_sub(now) > MAX_LIFETIME {
            return Err(BadCredentials(format!(
                "they would last until {}, longer than any AWS session (is the server's Expiration in milliseconds?)",
                crate::clock::format_utc(self.expiration)
            )));
        }
        if self.expiration.saturating_sub(now) < 60 {
            return Err(BadCredentials(format!(
                "they expire at {} (this machine's clock says {}): check the clock here and on the server",
                crate::clock::format_utc(self.expiration),
                crate::clock::format_utc(now)
            )));
        }
        Ok(self)
    }

    /// Seconds left at `now` (negative once expired).
    pub fn seconds_left(&self, now: i64) -> i64 {
        self.expiration.saturating_sub(now)
    }

    fn expiration_rfc3339(&self) -> String {
        // Checked in `new`.
        rfc3339_utc(self.expiration).unwrap_or_default()
    }

    /// What a `credential_process` prints (the AWS CLI and SDKs read it): version 1, the
    /// expiration in RFC 3339, one line.
    pub fn process_json(&self) -> String {
        json!({
            "Version": 1,
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key.expose(),
            "SessionToken": self.session_token.expose(),
            "Expiration": self.expiration_rfc3339(),
        })
        .to_string()
    }

    /// The ECS container credentials provider's answer (`AWS_CONTAINER_CREDENTIALS_FULL_URI`).
    pub fn ecs_json(&self, role_arn: &str) -> String {
        json!({
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key.expose(),
            "Token": self.session_token.expose(),
            "Expiration": self.expiration_rfc3339(),
            "RoleArn": role_arn,
        })
        .to_string()
    }

    /// The EC2 instance metadata service's answer for a role's security credentials.
    pub fn imds_json(&self, last_updated: i64) -> String {
        json!({
            "Code": "Success",
            "LastUpdated": rfc3339_utc(last_updated).unwrap_or_default(),
            "Type": "AWS-HMAC",
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key.expose(),
            "Token": self.session_token.expose(),
            "Expiration": self.expiration_rfc3339(),
        })
        .to_string()
    }

    /// Shell code that sets the standard variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_CREDENTIAL_EXPIRATION`) in `shell`.
    /// The values hold no quote (see the module), so single quotes keep them literal.
    pub fn exports(&self, shell: Shell) -> String {
        let expiration = self.expiration_rfc3339();
        let vars = [
            ("AWS_ACCESS_KEY_ID", self.access_key_id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.expose()),
            ("AWS_SESSION_TOKEN", self.session_token.expose()),
            ("AWS_CREDENTIAL_EXPIRATION", expiration.as_str()),
        ];
        vars.iter()
            .map(|(name, value)| match shell {
                Shell::Bash | Shell::Zsh => format!("export {name}='{value}'\n"),
                Shell::Fish => format!("set -gx {name} '{value}';\n"),
                Shell::Csh => format!("setenv {name} '{value}';\n"),
                Shell::Powershell => format!("$Env:{name} = '{value}'\n"),
            })
            .collect()
    }
}

#[cfg(test)]
mod lifetime_tests {
    use super::*;

    #[test]
    fn an_expiration_in_milliseconds_or_the_past_is_refused() {
        let at = |exp| {
            Credentials::new("ASIA1", "s", "t", exp)
                .unwrap()
                .usable_at(1_800_000_000)
        };
        assert!(at(1_800_003_600).is_ok());
        assert!(at(1_800_000_030).unwrap_err().0.contains("clock"));
        assert!(
            at(1_800_000_000_000)
                .unwrap_err()
                .0
                .contains("milliseconds")
        );
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// The shells `sesame aws export` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// `export NAME='value'`.
    Bash,
    /// As bash.
    Zsh,
    /// `set -gx NAME 'value';`.
    Fish,
    /// `setenv NAME 'value';` (csh and tcsh).
    Csh,
    /// `$Env:NAME = 'value'`.
    Powershell,
}

impl Shell {
    /// The shell named by a `$SHELL` path (`/usr/bin/fish` → fish), if it is one of these.
    pub fn from_path(path: &str) -> Option<Shell> {
        match path.rsplit(['/', '\\']).next()?.trim_end_matches(".exe") {
            "bash" | "sh" | "dash" | "ksh" => Some(Shell::Bash),
            "zsh" => Some(Shell::Zsh),
            "fish" => Some(Shell::Fish),
            "csh" | "tcsh" => Some(Shell::Csh),
            "pwsh" | "powershell" => Some(Shell::Powershell),
            _ => None,
        }
    }
}

/// How credentials are kept in the cache: plain fields, checked again on the way back in.
#[derive(Serialize, Deserialize)]
struct Stored {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: i64,
}

impl TryFrom<Stored> for Credentials {
    type Error = BadCredentials;
    fn try_from(s: Stored) -> Result<Self, Self::Error> {
        Credentials::new(
            &s.access_key_id,
            &s.secret_access_key,
            &s.session_token,
            s.expiration,
        )
    }
}

impl From<Credentials> for Stored {
    fn from(c: Credentials) -> Self {
        Stored {
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key.expose().to_string(),
            session_token: c.session_token.expose().to_string(),
            expiration: c.expiration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credentials {
        Credentials::new(
            "ASIAEXAMPLE1234567",
            "abc/def+ghi=",
            "FQoG/ZXIvYXdz+Ez=",
            1_800_000_000,
        )
        .unwrap()
    }

    #[test]
    fn process_json_is_what_the_aws_cli_reads() {
        let v: serde_json::Value = serde_json::from_str(&sample().process_json()).unwrap();
        assert_eq!(v["Version"], 1);
        assert_eq!(v["AccessKeyId"], "ASIAEXAMPLE1234567");
        assert_eq!(v["SessionToken"], "FQoG/ZXIvYXdz+Ez=");
        assert_eq!(v["Expiration"], "2027-01-15T08:00:00Z");
    }

    #[test]
    fn values_that_could_break_out_of_shell_quotes_are_refused() {
        for bad in ["a'b", "a b", "a$b", "a\nb", "a;b", "a\"b", "a`b", ""] {
            assert!(Credentials::new("ASIA1", bad, "tok", 1).is_err(), "{bad:?}");
            assert!(Credentials::new("ASIA1", "sec", bad, 1).is_err(), "{bad:?}");
        }
        assert!(Credentials::new("ASIA-1", "sec", "tok", 1).is_err());
        let huge = "a".repeat(MAX_TOKEN + 1);
        assert!(Credentials::new("ASIA1", "sec", &huge, 1).is_err());
        assert!(Credentials::new("ASIA1", "sec", "tok", i64::MAX).is_err());
    }

    #[test]
    fn exports_for_each_shell() {
        let c = sample();
        assert!(
            c.exports(Shell::Bash)
                .contains("export AWS_SECRET_ACCESS_KEY='abc/def+ghi='\n")
        );
        assert!(
            c.exports(Shell::Fish)
                .contains("set -gx AWS_SESSION_TOKEN 'FQoG/ZXIvYXdz+Ez=';\n")
        );
        assert!(
            c.exports(Shell::Csh)
                .contains("setenv AWS_ACCESS_KEY_ID 'ASIAEXAMPLE1234567';\n")
        );
        assert!(
            c.exports(Shell::Powershell)
                .contains("$Env:AWS_CREDENTIAL_EXPIRATION = '2027-01-15T08:00:00Z'\n")
        );
        assert_eq!(Shell::from_path("/usr/bin/fish"), Some(Shell::Fish));
        assert_eq!(Shell::from_path("C:\\x\\pwsh.exe"), Some(Shell::Powershell));
        assert_eq!(Shell::from_path("/bin/nu"), None);
    }

    #[test]
    fn the_cache_form_is_checked_on_the_way_back() {
        let text = serde_json::to_string(&sample()).unwrap();
        let back: Credentials = serde_json::from_str(&text).unwrap();
        assert_eq!(back, sample());
        let tampered = text.replace("FQoG/ZXIvYXdz+Ez=", "x'; rm -rf ~; '");
        assert!(serde_json::from_str::<Credentials>(&tampered).is_err());
        assert!(!format!("{:?}", sample()).contains("abc/def"));
    }
}
