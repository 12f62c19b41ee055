//! `sesame import weep`: a sesame profile from weep's configuration, so that a weep user's
//! first step is one command. weep's `consoleme_url` becomes the profile's `server`, its
//! `challenge_settings.user` the profile's `user`. The sesame config file is edited with
//! toml_edit, so its comments and other profiles stay as they were.

use crate::cli::ImportWeepArgs;
use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::settings::Common;
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

/// The largest weep config read: a few lines are expected.
const MAX_FILE: u64 = 256 * 1024;

/// What sesame takes from weep's config.
#[derive(Debug, PartialEq, Eq)]
pub struct WeepSettings {
    /// `consoleme_url`, checked as `--server` is.
    pub server: String,
    /// `challenge_settings.user`.
    pub user: Option<String>,
}

/// Reads weep's YAML: `consoleme_url` is required, `authentication_method` must be `challenge`
/// (weep's mTLS has no sesame equivalent).
pub fn parse_weep(text: &str, file: &Path) -> Result<WeepSettings, Error> {
    let bad = |what: String| Error::usage(format!("{}: {what}.", file.display()));
    // The YAML parser copies an alias's node each time it is used, so a few nested anchors
    // make a file of a few lines fill the memory. weep's config has no use for them.
    let anchor_or_alias = text.split_whitespace().any(|w| {
        let mut c = w.trim_start_matches(['[', '{', '-', ',']).chars();
        matches!(c.next(), Some('&' | '*')) && c.next().is_some_and(|n| n.is_alphanumeric())
    });
    if anchor_or_alias {
        return Err(bad(
            "YAML anchors and aliases (&name, *name) are not read".into()
        ));
    }
    let docs = YamlLoader::load_from_str(text).map_err(|e| bad(format!("not YAML ({e})")))?;
    let doc = docs.first().ok_or_else(|| bad("empty".into()))?;
    if let Some(method) = doc["authentication_method"].as_str()
        && method != "challenge"
    {
        return Err(bad(format!(
            "authentication_method is {method:?}; sesame logs in to ConsoleMe with the challenge only"
        ))
        .hint("Ask your ConsoleMe's operators for the challenge URL, or set authentication_method: challenge."));
    }
    let url = doc["consoleme_url"]
        .as_str()
        .ok_or_else(|| bad("there is no consoleme_url".into()))?;
    let server = sesame_login::http::check_server_url(url, false)?.to_string();
    let user = match &doc["challenge_settings"]["user"] {
        Yaml::String(u) if !u.trim().is_empty() => Some(
            sesame_login::session::UserName::new(u.trim())
                .map_err(|e| bad(format!("challenge_settings.user: {e}")))?
                .as_str()
                .to_string(),
        ),
        _ => None,
    };
    Ok(WeepSettings { server, user })
}

/// Where weep looks for its config, in weep's order.
fn weep_files() -> Vec<PathBuf> {
    let home = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf());
    let mut files = Vec::new();
    if let Some(h) = home {
        files.push(h.join(".weep.yaml"));
        files.push(h.join(".config").join("weep").join("weep.yaml"));
    }
    files.push(PathBuf::from("/etc/weep/weep.yaml"));
    files
}

/// `text` (sesame's config) with `[profiles.PROFILE]` given weep's server and user.
pub fn with_profile(
    text: &str,
    profile: &str,
    weep: &WeepSettings,
    force: bool,
) -> Result<String, Error> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| Error::usage(format!("The sesame config file is not valid TOML: {e}")))?;
    let profiles = doc
        .entry("profiles")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| Error::usage("`profiles` in the sesame config file is not a table."))?;
    let table = profiles
        .entry(profile)
        .or_insert_with(toml_edit::table)
        .as_table_mut()
        .ok_or_else(|| Error::usage(format!("`profiles.{profile}` is not a table.")))?;
    let mut wanted = vec![("server", weep.server.clone())];
    if let Some(u) = &weep.user {
        wanted.push(("user", u.clone()));
    }
    for (key, value) in wanted {
        match table.get(key).and_then(|v| v.as_str()) {
            Some(old) if old != value && !force => {
                return Err(Error::usage(format!(
                    "Profile {profile} already has {key} = {old:?}, not weep's {value:?}."
                ))
                .hint("Pass --force to replace it, or import into another profile with --profile NAME."));
            }
            _ => {
                table.insert(key, toml_edit::value(value));
            }
        }
    }
    Ok(doc.to_string())
}

/// `sesame import weep`.
pub fn weep(args: &ImportWeepArgs, common: &Common, printer: &Printer) -> Result<(), Error> {
    let file = match &args.file {
        Some(f) => f.clone(),
        None => weep_files().into_iter().find(|f| f.is_file()).ok_or_else(|| {
            Error::usage("No weep config found (~/.weep.yaml, ~/.config/weep/weep.yaml, /etc/weep/weep.yaml).")
                .hint("Give it with --file FILE.")
        })?,
    };
    let bytes = sesame_login::private_file::read_capped(&file, MAX_FILE)
        .map_err(|e| Error::usage(format!("Could not read {}: {e}.", file.display())))?;
    let settings = parse_weep(&String::from_utf8_lossy(&bytes), &file)?;
    let config = &common.paths.config_file;
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Error::other(format!(
                "Could not read {}: {e}.",
                config.display()
            )));
        }
    };
    let new = with_profile(&text, &common.profile, &settings, args.force)?;
    let fail =
        |e: std::io::Error| Error::other(format!("Could not write {}: {e}.", config.display()));
    if let Some(dir) = config.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    sesame_login::private_file::write_atomically(config, new.as_bytes()).map_err(fail)?;
    printer.success(&format!(
        "Profile {} now logs in to {}{} (from {}); written to {}.",
        common.profile,
        settings.server,
        settings
            .user
            .as_deref()
            .map(|u| format!(" as {u}"))
            .unwrap_or_default(),
        file.display(),
        config.display()
    ));
    let flag = match common.profile.as_str() {
        "default" => String::new(),
        p => format!(" --profile {p}"),
    };
    printer.info(&format!(
        "Next: `sesame login{flag}`, then `sesame aws roles{flag}` (weep list) and `sesame aws configure{flag}` (weep credential_process -g)."
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEP: &str = "consoleme_url: https://consoleme.example.com:8081\nauthentication_method: challenge\nchallenge_settings:\n  user: alice@example.com\nserver:\n  port: 9091\n";

    #[test]
    fn weeps_config_becomes_a_profile_and_the_rest_of_the_file_stays() {
        let w = parse_weep(WEEP, Path::new("w.yaml")).unwrap();
        assert_eq!(w.server, "https://consoleme.example.com:8081/");
        assert_eq!(w.user.as_deref(), Some("alice@example.com"));
        let before = "# my config\ndefault-profile = \"work\"\n\n[profiles.other]\nissuer = \"https://sso\" # keep\n";
        let after = with_profile(before, "work", &w, false).unwrap();
        assert!(after.starts_with(before), "{after}");
        assert!(after.contains("[profiles.work]\nserver = \"https://consoleme.example.com:8081/\"\nuser = \"alice@example.com\"\n"), "{after}");
        let parsed: sesame_login::config::ConfigFile = toml::from_str(&after).unwrap();
        assert!(parsed.profiles.contains_key("other"));
        // Again: the same values are no conflict.
        assert_eq!(with_profile(&after, "work", &w, false).unwrap(), after);
    }

    #[test]
    fn conflicts_and_bad_weep_configs_are_clear() {
        let w = parse_weep(WEEP, Path::new("w.yaml")).unwrap();
        let e = with_profile(
            "[profiles.work]\nserver = \"https://other\"\n",
            "work",
            &w,
            false,
        )
        .unwrap_err();
        assert!(e.message.contains("already has server"), "{}", e.message);
        assert!(
            with_profile(
                "[profiles.work]\nserver = \"https://other\"\n",
                "work",
                &w,
                true
            )
            .is_ok()
        );
        for (text, needle) in [
            ("consoleme_url: http://consoleme.example.com\n", "https"),
            (
                "authentication_method: mtls\nconsoleme_url: https://c\n",
                "challenge only",
            ),
            ("challenge_settings:\n  user: a\n", "no consoleme_url"),
            ("consoleme_url: [unclosed\n", "not YAML"),
            (
                "a: &x [1]\nb: [*x, *x]\nconsoleme_url: https://c\n",
                "anchors",
            ),
            (
                "consoleme_url: https://c\nchallenge_settings:\n  user: \"a\\nb\"\n",
                "challenge_settings.user",
            ),
        ] {
            let e = parse_weep(text, Path::new("w.yaml")).unwrap_err();
            let all = format!("{} {}", e.message, e.hint.unwrap_or_default());
            assert!(all.contains(needle), "{text:?}: {all}");
        }
    }
}
