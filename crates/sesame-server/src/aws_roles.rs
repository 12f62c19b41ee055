//! Who may have which AWS role: the role mapping file of `sesame serve --aws-roles FILE`.
//!
//! ```toml
//! duration = 3600                      # seconds the credentials last (900 to 43200)
//! [accounts]
//! "123456789012" = "sandbox"           # names shown by `sesame aws roles`
//! [[grant]]
//! users = ["alice@example.com"]        # the session's email (or sub)
//! groups = ["engineering"]             # or any of the session's groups (--groups-header)
//! roles = ["arn:aws:iam::123456789012:role/dev"]
//! ```
//!
//! Matching is ConsoleMe's: case-insensitive, an exact ARN first, else every eligible role
//! that contains the requested text.

use serde::Deserialize;
use sesame_login::aws::RoleArn;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The credentials' default lifetime when the file sets none.
pub const DEFAULT_DURATION: u64 = 3600;

/// The parsed, checked role mapping.
#[derive(Debug, Clone, Default)]
pub struct RoleMap {
    grants: Vec<Grant>,
    accounts: BTreeMap<String, String>,
    /// Seconds the credentials last.
    pub duration: u64,
}

#[derive(Debug, Clone)]
struct Grant {
    users: BTreeSet<String>,
    groups: BTreeSet<String>,
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default)]
    duration: Option<u64>,
    #[serde(default)]
    accounts: BTreeMap<String, String>,
    #[serde(default)]
    grant: Vec<GrantForm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantForm {
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    roles: Vec<String>,
}

impl RoleMap {
    /// Reads and checks the file; the error names the file and what is wrong.
    pub fn load(path: &Path) -> Result<RoleMap, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("could not read the role mapping {}: {e}", path.display()))?;
        RoleMap::parse(&text).map_err(|e| format!("the role mapping {}: {e}", path.display()))
    }

    /// Parses and checks the mapping's text.
    pub fn parse(text: &str) -> Result<RoleMap, String> {
        let form: FileForm = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let duration = form.duration.unwrap_or(DEFAULT_DURATION);
        let (lo, hi) = sesame_login::aws::sts::DURATION_RANGE;
        if !(lo..=hi).contains(&duration) {
            return Err(format!(
                "duration {duration} is not between {lo} and {hi} seconds"
            ));
        }
        let mut grants = Vec::new();
        for (i, g) in form.grant.into_iter().enumerate() {
            if g.users.is_empty() && g.groups.is_empty() {
                return Err(format!("grant {} names no users and no groups", i + 1));
            }
            let roles = g
                .roles
                .iter()
                .map(|r| RoleArn::parse(r).map(|a| a.as_str().to_string()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("grant {}: {e}", i + 1))?;
            grants.push(Grant {
                users: g.users.iter().map(|u| u.to_lowercase()).collect(),
                groups: g.groups.into_iter().collect(),
                roles,
            });
        }
        Ok(RoleMap {
            grants,
            accounts: form.accounts,
            duration,
        })
    }

    /// The roles `user` (or one of `groups`) may have, sorted, each once.
    pub fn eligible(&self, user: &str, groups: &[String]) -> Vec<String> {
        let user = user.to_lowercase();
        let set: BTreeSet<&String> = self
            .grants
            .iter()
            .filter(|g| g.users.contains(&user) || groups.iter().any(|x| g.groups.contains(x)))
            .flat_map(|g| &g.roles)
            .collect();
        set.into_iter().cloned().collect()
    }

    /// The groups the grants name, sorted, each once.
    pub fn granted_groups(&self) -> BTreeSet<&str> {
        self.grants
            .iter()
            .flat_map(|g| &g.groups)
            .map(String::as_str)
            .collect()
    }

    /// The account's friendly name, if the file gives one.
    pub fn account_name(&self, account_id: &str) -> Option<&str> {
        self.accounts.get(account_id).map(String::as_str)
    }
}

/// ConsoleMe's matching: an exact (case-insensitive) ARN, else every role containing the text.
pub fn matching(eligible: &[String], requested: &str) -> Vec<String> {
    let wanted = requested.to_lowercase();
    if let Some(exact) = eligible.iter().find(|r| r.to_lowercase() == wanted) {
        return vec![exact.clone()];
    }
    eligible
        .iter()
        .filter(|r| r.to_lowercase().contains(&wanted))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = r#"
duration = 1800
[accounts]
"123456789012" = "sandbox"
[[grant]]
users = ["Alice@example.com"]
roles = ["arn:aws:iam::123456789012:role/dev", "arn:aws:iam::123456789012:role/devops"]
[[grant]]
groups = ["admins"]
roles = ["arn:aws:iam::210987654321:role/admin"]
"#;

    #[test]
    fn users_and_groups_get_their_roles_and_matching_is_consolemes() {
        let m = RoleMap::parse(MAP).unwrap();
        assert_eq!(m.duration, 1800);
        let alice = m.eligible("alice@EXAMPLE.com", &[]);
        assert_eq!(alice.len(), 2);
        assert_eq!(
            m.eligible("bob", &["admins".into()]),
            ["arn:aws:iam::210987654321:role/admin"]
        );
        assert!(m.eligible("bob", &[]).is_empty());
        // exact wins over the substring it also is
        assert_eq!(
            matching(&alice, "ARN:AWS:IAM::123456789012:ROLE/DEV").len(),
            1
        );
        assert_eq!(matching(&alice, "dev").len(), 2);
        assert_eq!(
            matching(&alice, "devops"),
            ["arn:aws:iam::123456789012:role/devops"]
        );
        assert!(matching(&alice, "prod").is_empty());
        assert_eq!(m.account_name("123456789012"), Some("sandbox"));
    }

    #[test]
    fn a_bad_mapping_says_what_is_wrong() {
        assert!(
            RoleMap::parse("duration = 10")
                .unwrap_err()
                .contains("between")
        );
        assert!(
            RoleMap::parse("[[grant]]\nroles = []")
                .unwrap_err()
                .contains("no users")
        );
        let e = RoleMap::parse("[[grant]]\nusers=[\"a\"]\nroles = [\"arn:aws:iam::1:role/x\"]")
            .unwrap_err();
        assert!(
            e.contains("grant 1") && e.contains("not an IAM role ARN"),
            "{e}"
        );
        assert!(RoleMap::parse("colour = 1").is_err());
    }
}
