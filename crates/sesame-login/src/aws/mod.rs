//! AWS credentials from a sesame session, weep's successor for ConsoleMe users and OIDC
//! federation for the rest: a challenge session asks its ConsoleMe-compatible server
//! ([`consoleme`]); an OpenID Connect session trades its ID token (or access token) at STS
//! `AssumeRoleWithWebIdentity` ([`sts`]), an unsigned call over the HTTP client sesame already
//! has. What either returns is [`Credentials`], checked where it enters.

pub mod cache;
pub mod config_file;
pub mod consoleme;
pub mod credentials;
pub mod metadata;
pub mod source;
pub mod sts;

pub use credentials::{Credentials, Shell};
pub use source::{AwsSettings, Source, WebToken};

use crate::error::{Error, ErrorKind};
use crate::login_error::LoginError;
use crate::text::Shown;

/// A role the user may ask for: its ARN and, when the server says, its account's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    arn: String,
    account_name: Option<String>,
}

/// The longest ARN accepted (IAM's own limit is 2048).
pub const MAX_ARN: usize = 2048;

impl Role {
    /// `arn` if it looks like an IAM role ARN (`arn:PARTITION:iam::ACCOUNT:role/NAME`), with
    /// the account's name cleaned for display; `None` otherwise.
    pub fn new(arn: &str, account_name: Option<&str>) -> Option<Role> {
        let arn = RoleArn::parse(arn).ok()?;
        Some(Role {
            arn: arn.0,
            account_name: account_name
                .filter(|n| !n.is_empty())
                .map(|n| Shown::new(n, 64).into_string()),
        })
    }

    /// The role's ARN.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The account ID in the ARN.
    pub fn account_id(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }

    /// The role's name: what follows `role/` (its path included).
    pub fn name(&self) -> &str {
        self.arn
            .split_once(":role/")
            .map(|(_, n)| n)
            .unwrap_or_default()
    }

    /// The account's friendly name, when the server gave one.
    pub fn account_name(&self) -> Option<&str> {
        self.account_name.as_deref()
    }
}

/// An IAM role ARN: `arn:PARTITION:iam::ACCOUNT:role/NAME`, ACCOUNT twelve digits, NAME (with
/// its path) of the characters IAM allows (letters, digits, `+=,.@_-/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn(String);

impl RoleArn {
    /// Checks `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<RoleArn, String> {
        let shown = || Shown::new(text, 80);
        if text.len() > MAX_ARN {
            return Err(format!("a role ARN is at most {MAX_ARN} characters"));
        }
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[1]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-')
            && parts[2] == "iam"
            && parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && parts[5].strip_prefix("role/").is_some_and(|name| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
            });
        if ok {
            Ok(RoleArn(text.to_string()))
        } else {
            Err(format!(
                "{:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                shown().as_str()
            ))
        }
    }

    /// The ARN.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request to a credentials endpoint that failed before an answer could be read.
pub(crate) fn query_error(e: LoginError) -> Error {
    match e {
        LoginError::Unreachable { url, reason } => {
            Error::other(format!("Could not reach {url}: {reason}."))
                .kind_of(ErrorKind::Unavailable)
                .hint("Check your network and that the server is up; your session is kept.")
        }
        other => {
            let kind = other.kind();
            Error::other(format!("{other}."))
                .kind_of(kind)
                .caused_by(other)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_checked() {
        let r = Role::new(
            "arn:aws:iam::123456789012:role/team/Dev",
            Some("prod\u{1b}[2J"),
        )
        .unwrap();
        assert_eq!(r.account_id(), "123456789012");
        assert_eq!(r.name(), "team/Dev");
        assert!(!r.account_name().unwrap().contains('\u{1b}'));
        for bad in [
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
            "arn:aws:iam::123456789012:role/a\nb",
            "dev",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RoleArn::parse("arn:aws-us-gov:iam::123456789012:role/x").is_ok());
    }
}
