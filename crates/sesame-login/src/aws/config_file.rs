//! `~/.aws/config` edited in place for `sesame aws configure`: one `[profile NAME]` section per
//! role whose `credential_process` runs sesame. Every other line of the file stays as it was
//! (comments, other profiles, other keys of the same profile); a section that exists gets its
//! `credential_process` line replaced, a missing one is appended.

/// What happened to one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The section was appended.
    Added(String),
    /// The section existed and its `credential_process` was set.
    Updated(String),
    /// The section already said exactly this.
    Unchanged(String),
}

/// Which of the two AWS files: `config` names its sections `[profile NAME]` (but
/// `[default]`), `credentials` names them `[NAME]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `~/.aws/config`.
    Config,
    /// `~/.aws/credentials`.
    Credentials,
}

impl FileKind {
    fn header(self, name: &str) -> String {
        match self {
            FileKind::Config if name != "default" => format!("[profile {name}]"),
            _ => format!("[{name}]"),
        }
    }

    /// Whether `line` opens the section of profile `name`.
    fn opens(self, line: &str, name: &str) -> bool {
        let Some(inner) = line
            .trim()
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
        else {
            return false;
        };
        let inner = inner.trim();
        match self {
            FileKind::Credentials => inner == name,
            FileKind::Config if name == "default" => inner == "default",
            FileKind::Config => inner
                .strip_prefix("profile")
                .is_some_and(|rest| rest.starts_with(char::is_whitespace) && rest.trim() == name),
        }
    }
}

fn is_section(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

fn is_key(line: &str, key: &str) -> bool {
    line.split_once('=')
        .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(key))
}

/// `lines` with `key = value` set for each of `keys` in profile `name`'s section (added at the
/// end when missing); every other line kept.
pub fn set_keys(
    lines: &mut Vec<String>,
    kind: FileKind,
    name: &str,
    keys: &[(&str, &str)],
) -> Change {
    let Some(start) = lines.iter().position(|l| kind.opens(l, name)) else {
        if lines.last().is_some_and(|l| !l.trim().is_empty()) {
            lines.push(String::new());
        }
        lines.push(kind.header(name));
        lines.extend(keys.iter().map(|(k, v)| format!("{k} = {v}")));
        return Change::Added(name.to_string());
    };
    let mut changed = false;
    for (key, value) in keys {
        let wanted = format!("{key} = {value}");
        let end = lines[start + 1..]
            .iter()
            .position(|l| is_section(l))
            .map_or(lines.len(), |i| start + 1 + i);
        match (start + 1..end).find(|&i| is_key(&lines[i], key)) {
            Some(i) if lines[i].trim() == wanted => {}
            Some(i) => {
                lines[i] = wanted;
                changed = true;
            }
            None => {
                lines.insert(start + 1, wanted);
                changed = true;
            }
        }
    }
    if changed {
        Change::Updated(name.to_string())
    } else {
        Change::Unchanged(name.to_string())
    }
}

/// `text` with `credential_process = COMMAND` set in each `(name, command)` profile of a config
/// file.
pub fn set_credential_processes(
    text: &str,
    profiles: &[(String, String)],
) -> (String, Vec<Change>) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let changes = profiles
        .iter()
        .map(|(name, command)| {
            set_keys(
                &mut lines,
                FileKind::Config,
                name,
                &[("credential_process", command)],
            )
        })
        .collect();
    (joined(&lines), changes)
}

/// `text` (a credentials file) with the credentials in profile `name`.
pub fn set_credentials(text: &str, name: &str, creds: &super::Credentials) -> (String, Change) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let expiration = crate::clock::rfc3339_utc(creds.expiration()).unwrap_or_default();
    let change = set_keys(
        &mut lines,
        FileKind::Credentials,
        name,
        &[
            ("aws_access_key_id", creds.access_key_id()),
            ("aws_secret_access_key", creds.secret_access_key()),
            ("aws_session_token", creds.session_token()),
            ("x_security_token_expires", &expiration),
        ],
    );
    (joined(&lines), change)
}

fn joined(lines: &[String]) -> String {
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// AWS profile names for `roles` (ARNs): the role's name (its last path segment); where two
/// roles would share one, `ACCOUNT-PATH-NAME` for each of them; never `default` (that is the
/// user's own profile: `ACCOUNT-default`). Only letters, digits, `-`, `_` and `.`: anything
/// else becomes `-`.
pub fn profile_names(roles: &[super::Role]) -> Vec<(String, &super::Role)> {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let short = |r: &super::Role| clean(r.name().rsplit('/').next().unwrap_or_default());
    let long = |r: &super::Role| clean(&format!("{}-{}", r.account_id(), r.name()));
    roles
        .iter()
        .map(|r| {
            let name = short(r);
            let clash =
                name == "default" || roles.iter().any(|o| o.arn() != r.arn() && short(o) == name);
            (if clash { long(r) } else { name }, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# my settings\n[default]\nregion = eu-west-1\n\n[profile dev]\nregion = us-east-1\ncredential_process = weep credential_process dev\noutput = json\n\n[profile other]\nsso_start_url = https://x\n";

    #[test]
    fn other_lines_are_kept_and_sections_updated_or_added() {
        let (out, changes) = set_credential_processes(
            FILE,
            &[
                (
                    "dev".into(),
                    "sesame aws credential-process arn:aws:iam::1:role/dev".into(),
                ),
                (
                    "ops".into(),
                    "sesame aws credential-process arn:aws:iam::1:role/ops".into(),
                ),
            ],
        );
        assert_eq!(
            changes,
            [Change::Updated("dev".into()), Change::Added("ops".into())]
        );
        assert_eq!(
            out,
            "# my settings\n[default]\nregion = eu-west-1\n\n[profile dev]\nregion = us-east-1\ncredential_process = sesame aws credential-process arn:aws:iam::1:role/dev\noutput = json\n\n[profile other]\nsso_start_url = https://x\n\n[profile ops]\ncredential_process = sesame aws credential-process arn:aws:iam::1:role/ops\n"
        );
        // Running it again changes nothing.
        let (again, changes) = set_credential_processes(
            &out,
            &[(
                "dev".into(),
                "sesame aws credential-process arn:aws:iam::1:role/dev".into(),
            )],
        );
        assert_eq!(again, out);
        assert_eq!(changes, [Change::Unchanged("dev".into())]);
    }

    #[test]
    fn a_section_without_the_key_gets_it_and_names_do_not_match_by_prefix() {
        let (out, _) = set_credential_processes(
            "[profile devops]\nregion = x\n[profile dev]\nregion = y",
            &[("dev".into(), "c".into())],
        );
        assert_eq!(
            out,
            "[profile devops]\nregion = x\n[profile dev]\ncredential_process = c\nregion = y\n"
        );
        let (out, _) = set_credential_processes("", &[("dev".into(), "c".into())]);
        assert_eq!(out, "[profile dev]\ncredential_process = c\n");
    }

    #[test]
    fn credentials_go_in_a_plain_section_and_replace_the_old_ones() {
        let creds =
            super::super::Credentials::new("ASIA2", "sec/2", "tok+2", 1_800_000_000).unwrap();
        let before = "[default]\naws_access_key_id = AKIAOWN\n\n[dev]\naws_access_key_id = ASIA1\naws_secret_access_key = old\naws_session_token = old\n";
        let (out, change) = set_credentials(before, "dev", &creds);
        assert_eq!(change, Change::Updated("dev".into()));
        assert_eq!(
            out,
            "[default]\naws_access_key_id = AKIAOWN\n\n[dev]\nx_security_token_expires = 2027-01-15T08:00:00Z\naws_access_key_id = ASIA2\naws_secret_access_key = sec/2\naws_session_token = tok+2\n"
        );
    }

    #[test]
    fn names_are_unique_never_default_and_only_safe_characters() {
        use super::super::Role;
        let roles = [
            Role::new("arn:aws:iam::111111111111:role/dev", Some("Prod Account")).unwrap(),
            Role::new("arn:aws:iam::111111111111:role/team/dev", None).unwrap(),
            Role::new("arn:aws:iam::222222222222:role/dev", Some("Prod Account")).unwrap(),
            Role::new("arn:aws:iam::222222222222:role/ops", None).unwrap(),
            Role::new("arn:aws:iam::222222222222:role/default", None).unwrap(),
            Role::new("arn:aws:iam::222222222222:role/a+b@c", None).unwrap(),
        ];
        let names: Vec<String> = profile_names(&roles).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "111111111111-dev",
                "111111111111-team-dev",
                "222222222222-dev",
                "ops",
                "222222222222-default",
                "a-b-c"
            ]
        );
    }
}
