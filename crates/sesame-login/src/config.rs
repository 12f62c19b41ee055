//! The config file: `$XDG_CONFIG_HOME/sesame/config.toml` (or `SESAME_CONFIG`), one table per
//! profile. Unknown keys are an error, so a typo does not silently do nothing.

use crate::error::Error;
use crate::store::StoreKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// The profile used when neither --profile nor SESAME_PROFILE names one.
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileConfig>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfileConfig {
    pub server: Option<String>,
    pub user: Option<String>,
    pub store: Option<StoreKind>,
    pub no_browser: Option<bool>,
    pub timeout: Option<u64>,
    pub poll_interval: Option<u64>,
    pub allow_http: Option<bool>,
    pub port: Option<u16>,
    pub qr: Option<bool>,
    pub flow: Option<FlowChoice>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<crate::secret::Secret>,
    pub scope: Option<String>,
    /// Scopes added to the default (or given) scope.
    #[serde(default)]
    pub scopes: Vec<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub device_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    /// How the credential is presented: bearer, basic, cookie:NAME, query:NAME, header:NAME.
    pub use_as: Option<crate::present::UseAs>,
    /// Where `status --remote` asks who the credential belongs to.
    pub whoami_url: Option<String>,
    /// A PEM file of extra CA certificates to trust (a corporate TLS-intercepting proxy).
    pub ca_cert: Option<std::path::PathBuf>,
    // A JSON login API (docs/direct-login.md).
    pub login_url: Option<String>,
    pub login_body: Option<serde_json::Value>,
    pub token_pointer: Option<String>,
    pub refresh_token_pointer: Option<String>,
    pub expires_in_pointer: Option<String>,
    pub expires_at_pointer: Option<String>,
    pub error_pointer: Option<String>,
    pub mfa_pointer: Option<String>,
    pub mfa_url: Option<String>,
    pub mfa_body: Option<serde_json::Value>,
    pub refresh_url: Option<String>,
    pub refresh_body: Option<serde_json::Value>,
}

/// How to log in: chosen by `--flow`, `SESAME_FLOW` or the profile's `flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowChoice {
    /// Challenge for a challenge server, password for a `login-url`; for an issuer, browser if
    /// one can be opened, else device.
    #[default]
    Auto,
    /// The ConsoleMe/Weep challenge.
    Challenge,
    /// OAuth authorization code with PKCE on a loopback redirect.
    Browser,
    /// OAuth device authorization (RFC 8628), for machines without a browser.
    Device,
    /// User name and password (and a one-time code if asked): a JSON login API or the OAuth
    /// password grant.
    Password,
    /// OAuth client credentials, for CI and service accounts.
    ClientCredentials,
    /// A user name and password kept for HTTP Basic.
    Basic,
}

/// The largest config file read.
const MAX_CONFIG_FILE: u64 = 1024 * 1024;

impl ConfigFile {
    /// Reads the file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<ConfigFile, Error> {
        // A config of a few profiles is a few KiB; `SESAME_CONFIG=/dev/zero` is refused, not read.
        let bytes = match crate::private_file::read_capped(path, MAX_CONFIG_FILE) {
            Ok(b) => b,
            Err(crate::private_file::ReadError::NotFound) => return Ok(Self::default()),
            Err(e) => {
                return Err(Error::usage(format!(
                    "Could not read the config file {}: {e}",
                    path.display()
                )));
            }
        };
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::usage(format!(
                "The config file {} is not UTF-8 text.",
                path.display()
            ))
        })?;
        Self::parse(&text).map_err(|e| {
            Error::usage(format!(
                "The config file {} is invalid: {e}",
                path.display()
            ))
            .hint("Fix the file (see `docs/configuration.md`) or move it aside.")
        })
    }

    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_profiles() {
        let c = ConfigFile::parse(
            "default-profile = \"work\"\n[profiles.work]\nserver = \"https://c.example\"\nstore = \"file\"\npoll-interval = 3\n",
        )
        .unwrap();
        assert_eq!(c.default_profile.as_deref(), Some("work"));
        let w = &c.profiles["work"];
        assert_eq!(w.server.as_deref(), Some("https://c.example"));
        assert_eq!(w.store, Some(StoreKind::File));
        assert_eq!(w.poll_interval, Some(3));
    }

    #[test]
    fn parses_a_json_login_profile() {
        let c = ConfigFile::parse(
            r#"[profiles.konekt]
flow = "password"
login-url = "https://dashboard.konekt.example/api/1/auth/session"
login-body = { email = "{user}", password = "{password}", remember = true }
token-pointer = "/data/sesskey"
use-as = "query:sesskey"
"#,
        )
        .unwrap();
        let k = &c.profiles["konekt"];
        assert_eq!(k.flow, Some(FlowChoice::Password));
        assert_eq!(k.login_body.as_ref().unwrap()["remember"], true);
        assert_eq!(
            k.use_as,
            Some(crate::present::UseAs::Query(
                crate::present::Name::new("sesskey").unwrap()
            ))
        );
        assert!(ConfigFile::parse("[profiles.a]\nuse-as = \"cookie\"\n").is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = ConfigFile::parse("[profiles.a]\nsrever = \"x\"\n").unwrap_err();
        assert!(e.contains("srever"), "{e}");
    }
}
