//! The config file: `$XDG_CONFIG_HOME/sesame/config.toml` (or `SESAME_CONFIG`), one table per
//! profile. Unknown keys are an error, so a typo does not silently do nothing.

use crate::error::Error;
use crate::store::StoreKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The whole config file: the default profile and one [`ProfileConfig`] per `[profiles.NAME]`
/// table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// The profile used when neither --profile nor SESAME_PROFILE names one.
    pub default_profile: Option<String>,
    /// The `[profiles.NAME]` tables, by profile name.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileConfig>,
}

/// One `[profiles.NAME]` table. Every key is optional, and a flag or `SESAME_*` variable for the
/// same setting wins over it (docs/configuration.md).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfileConfig {
    /// The challenge server's URL (`--server`).
    pub server: Option<String>,
    /// The user to log in as (`--user`); when no source gives one, the OS user.
    pub user: Option<String>,
    /// Where sessions are kept (`--store`); `auto` when unset.
    pub store: Option<StoreKind>,
    /// Never open a browser, only show the URL (`--no-browser`).
    pub no_browser: Option<bool>,
    /// How long a login waits for the person, in seconds: 1 to 86400, default 120.
    pub timeout: Option<u64>,
    /// Seconds between polls of the challenge server: 1 to 300, default 2.
    pub poll_interval: Option<u64>,
    /// Allow plain http to a server that is not on this machine (`--allow-http`).
    pub allow_http: Option<bool>,
    /// The loopback callback's port; 0 (the default) takes any free port.
    pub port: Option<u16>,
    /// Whether to draw the URL as a QR code; unset, one is drawn when no browser opened and stdout
    /// is a terminal.
    pub qr: Option<bool>,
    /// How to log in (`--flow`); `auto` when unset.
    pub flow: Option<FlowChoice>,
    /// The OpenID Connect issuer URL, whose discovery document names the endpoints.
    pub issuer: Option<String>,
    /// The OAuth client ID registered with the provider.
    pub client_id: Option<String>,
    /// A confidential client's secret; unset for a public client.
    pub client_secret: Option<crate::secret::Secret>,
    /// The space-separated scopes to ask for (`--scope`); default `openid offline_access`.
    pub scope: Option<String>,
    /// Scopes added to the default (or given) scope.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// An `audience` parameter added to the OAuth requests that start a grant (`--audience`).
    pub audience: Option<String>,
    /// A `resource` parameter added to the OAuth requests that start a grant (`--resource`).
    pub resource: Option<String>,
    /// The authorization endpoint, instead of the discovered one.
    pub authorization_endpoint: Option<String>,
    /// The token endpoint, instead of the discovered one.
    pub token_endpoint: Option<String>,
    /// The device authorization endpoint, instead of the discovered one.
    pub device_endpoint: Option<String>,
    /// Where the provider's signing keys are, instead of the discovered `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// How the credential is presented: bearer, basic, cookie:NAME, query:NAME, header:NAME.
    pub use_as: Option<crate::present::UseAs>,
    /// Where `status --remote` asks who the credential belongs to.
    pub whoami_url: Option<String>,
    /// A PEM file of extra CA certificates to trust (a corporate TLS-intercepting proxy).
    pub ca_cert: Option<std::path::PathBuf>,
    // A JSON login API (docs/direct-login.md).
    /// Where a JSON login API takes the login body; setting it selects the JSON login.
    pub login_url: Option<String>,
    /// The login body template, with `{user}` and `{password}` (default
    /// `{ username = "{user}", password = "{password}" }`).
    pub login_body: Option<serde_json::Value>,
    /// The JSON pointer (RFC 6901) to the token in the reply; not needed with
    /// `use-as = "cookie:NAME"`.
    pub token_pointer: Option<String>,
    /// The JSON pointer to the refresh token in the reply.
    pub refresh_token_pointer: Option<String>,
    /// The JSON pointer to the session's lifetime in seconds; not with `expires-at-pointer`.
    pub expires_in_pointer: Option<String>,
    /// The JSON pointer to the session's expiry in Unix seconds; not with `expires-in-pointer`.
    pub expires_at_pointer: Option<String>,
    /// The JSON pointer to the server's message; unset, the usual places (`/message`, `/error`,
    /// ...) are tried.
    pub error_pointer: Option<String>,
    /// The JSON pointer to a value that, found in the login reply, means a one-time code is needed.
    pub mfa_pointer: Option<String>,
    /// Where the one-time code body is POSTed; required with `mfa-pointer`.
    pub mfa_url: Option<String>,
    /// The one-time code body template, with `{user}`, `{password}`, `{mfa}` and `{otp}`.
    pub mfa_body: Option<serde_json::Value>,
    /// Where the refresh body is POSTed to renew the session; unset, an expired session means
    /// logging in again.
    pub refresh_url: Option<String>,
    /// The refresh body template, with `{user}` and `{refresh_token}`.
    pub refresh_body: Option<serde_json::Value>,
    /// `[profiles.NAME.aws]`: how `sesame aws` gets credentials from this profile's session.
    pub aws: Option<AwsProfile>,
    /// Whether this profile's access token may be handed to SSH hosts through a forwarded agent
    /// (`sesame ssh`, docs/agent.md); off unless set.
    pub forward: Option<bool>,
    /// Whether the first use from each SSH connection waits for a yes at the terminal of
    /// `sesame ssh` (default); `false` for automation.
    pub forward_confirm: Option<bool>,
}

/// `[profiles.NAME.aws]` (docs/aws.md). A ConsoleMe (challenge) session needs none of it; an
/// OpenID Connect session needs the roles it may assume, and may set the rest.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AwsProfile {
    /// The role ARNs an OpenID Connect session may assume; `sesame aws roles` lists them and a
    /// ROLE argument may be a part of one.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The region of the STS endpoint (`--region`, `AWS_REGION`).
    pub region: Option<String>,
    /// The STS endpoint (`AWS_ENDPOINT_URL_STS` wins).
    pub sts_endpoint: Option<String>,
    /// Which token STS is given: `id` (default) or `access`.
    pub token: Option<String>,
    /// The role session name; unset, made from the session's user.
    pub session_name: Option<String>,
    /// Seconds STS credentials last (`--duration`), 900 to 43200.
    pub duration: Option<u64>,
    /// Reuse cached credentials until fewer than this many seconds are left (default 600).
    pub refresh_before: Option<u64>,
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

    /// Parses the text of a config file; the error is TOML's message (an unknown key is one).
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
