//! `sesame token`'s usual command lines, recognized without clap.
//!
//! `sesame token` runs before every command that uses sesame, and building clap's tree of every
//! command and flag is a measurable part of its start (docs/performance.md, "`sesame agent`").
//! [`recognize`] accepts only the plain forms: `token`, with `--profile NAME`, `--store KIND`
//! and `--id-token`, before or after `token`, with a space or `=`. Anything else (help, a
//! repeated or unknown flag, a value that starts with `-`, bytes that are not UTF-8) returns
//! `None` and goes through clap as before, errors included. The tests check that whatever is
//! recognized parses to the same thing through clap.

use crate::cli::StoreArg;
use clap::ValueEnum;
use sesame_login::store::StoreKind;
use std::ffi::OsString;

/// A `sesame token` command line, as clap would have parsed it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TokenArgv {
    /// `--profile NAME`.
    pub profile: Option<String>,
    /// `--store KIND`.
    pub store: Option<StoreKind>,
    /// `--id-token`.
    pub id_token: bool,
}

/// `args` (without the program name) as a plain `sesame token` command line, or `None`.
pub fn recognize(args: impl IntoIterator<Item = OsString>) -> Option<TokenArgv> {
    let mut found = TokenArgv::default();
    let mut token = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg.into_string().ok()?;
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || match inline.clone() {
            Some(v) => Some(v),
            None => args.next()?.into_string().ok(),
        };
        match flag {
            "token" if !token && inline.is_none() => token = true,
            "--id-token" if token && !found.id_token && inline.is_none() => found.id_token = true,
            "--profile" if found.profile.is_none() => found.profile = Some(plain(value()?)?),
            "--store" if found.store.is_none() => {
                let kind = StoreArg::from_str(&plain(value()?)?, false).ok()?;
                found.store = Some(kind.into());
            }
            _ => return None,
        }
    }
    token.then_some(found)
}

/// A flag's value as clap would take it without complaint: not empty, not another flag.
fn plain(value: String) -> Option<String> {
    (!value.is_empty() && !value.starts_with('-')).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn argv(line: &str) -> Vec<OsString> {
        line.split(' ')
            .filter(|a| !a.is_empty())
            .map(OsString::from)
            .collect()
    }

    /// What clap makes of the same line, in the same shape.
    fn through_clap(line: &str) -> Option<TokenArgv> {
        let cli = Cli::try_parse_from(std::iter::once("sesame".into()).chain(argv(line))).ok()?;
        match cli.command {
            Command::Token(args) if !cli.verbose && cli.ca_cert.is_none() => Some(TokenArgv {
                profile: cli.profile,
                store: cli.store.map(Into::into),
                id_token: args.id_token,
            }),
            _ => None,
        }
    }

    #[test]
    fn the_plain_forms_are_recognized_as_clap_parses_them() {
        let lines = [
            "token",
            "token --profile work",
            "--profile work token",
            "--profile=work token",
            "token --profile=work",
            "token --store keychain",
            "--store=file token --profile a.b-c_d",
            "token --id-token",
            "--profile work token --id-token --store auto",
            "token --profile=with=equals",
        ];
        for line in lines {
            let fast = recognize(argv(line));
            assert!(fast.is_some(), "{line:?} is a plain form");
            assert_eq!(fast, through_clap(line), "{line:?}");
        }
    }

    /// Everything else goes to clap, which gives the help, the error or the other command.
    #[test]
    fn anything_else_goes_through_clap() {
        let lines = [
            "",
            "token --help",
            "token -h",
            "--version",
            "token token",
            "token --profile",
            "token --profile --store file",
            "token --profile=",
            "token --profile a --profile b",
            "token --store nowhere",
            "token --store",
            "token --id-token --id-token",
            "--id-token token",
            "token --id-token=yes",
            "token -v",
            "token --verbose",
            "token --ca-cert /tmp/ca.pem",
            "token extra",
            "token --",
            "status",
            "--profile work",
            "token= ",
            "header",
        ];
        for line in lines {
            assert_eq!(recognize(argv(line)), None, "{line:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn arguments_that_are_not_utf8_go_through_clap() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![0x66, 0xff]);
        let args = vec![OsString::from("token"), OsString::from("--profile"), bad];
        assert_eq!(recognize(args), None);
    }
}
