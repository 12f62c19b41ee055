//! The command line as clap sees it. Every field is optional here; `Common::resolve` and
//! [`crate::login_args`] resolve flags, environment, config file and defaults into validated settings.

use clap::{Args, Parser, Subcommand, ValueEnum};
use sesame_login::config::FlowChoice;
use sesame_login::store::StoreKind;
use std::net::SocketAddr;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 error, 2 usage, 3 no valid session, 4 login did not complete, 130 interrupted;
`exec` exits with its command's status (126 cannot run, 127 not found).
Configuration: flags > SESAME_* environment > config file ($XDG_CONFIG_HOME/sesame/config.toml) > defaults.";

#[derive(Debug, Parser)]
#[command(
    name = "sesame",
    version,
    about = "Log in to single sign-on from the command line and keep the session in the OS keychain",
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Profile to use [env: SESAME_PROFILE] [default: default]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Where sessions are kept [env: SESAME_STORE] [default: auto]
    #[arg(long, global = true, value_enum)]
    pub store: Option<StoreArg>,

    /// Log each HTTP exchange, the store and the flow chosen, and why, to stderr (secrets elided) [env: SESAME_LOG=debug]
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// PEM file of CA certificates to trust besides the system's, for every request [env: SESAME_CA_CERT]
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in through the browser and save the session
    Login(LoginArgs),
    /// Print the session's token, and nothing else, to stdout
    Token(TokenArgs),
    /// Show who is logged in, where, and until when
    Status(StatusArgs),
    /// Delete the saved session (with --revoke, revoke its tokens at the provider first)
    Logout(LogoutArgs),
    /// Get the session's next token now (refresh token, or a new client-credentials grant)
    Refresh,
    /// Run the reference challenge server (ConsoleMe-compatible endpoints)
    #[cfg_attr(not(feature = "server"), command(hide = true))]
    Serve(ServeArgs),
    /// Try sesame end to end against a throwaway local server
    #[cfg_attr(not(feature = "server"), command(hide = true))]
    Demo(DemoArgs),
    /// Run a command with the session's token in its environment (refreshed first)
    Exec(ExecArgs),
    /// Print the header line that presents the session, for `curl -H @<(sesame header)`
    Header,
    /// Credential helpers: kubectl's exec plugin and git's credential helper
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// AWS credentials from the session, for the AWS CLI and SDKs (weep's commands)
    #[command(subcommand)]
    Aws(AwsCommand),
    /// Keep sessions in memory, refreshed ahead of expiry, for the commands of this shell
    /// (`eval "$(sesame agent)"`; docs/agent.md)
    Agent(AgentArgs),
    /// ssh with this laptop's agent forwarded, restricted: on HOST, `sesame token` gets the
    /// access token of a `forward = true` profile from here, after a yes at this terminal
    Ssh(SshArgs),
    /// A local HTTP endpoint that forwards to UPSTREAM with the session's credential added, for
    /// tools that cannot add a header
    Proxy(ProxyArgs),
    /// Make a sesame profile from another tool's configuration
    #[command(subcommand)]
    Import(ImportCommand),
    /// Print a shell completion script (install.sh installs them)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory
    Man {
        /// Write sesame.1 and a page per subcommand (sesame-login.1, ...) into DIR, which must exist
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Check this machine for what logins need: config, keychain, browser, port, proxy, CA, clock, session
    Doctor {
        /// Output format
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Stay in the foreground (for systemd, launchd or a terminal) instead of detaching
    #[arg(long)]
    pub foreground: bool,

    /// Stop the agent on --socket, else SESAME_AUTH_SOCK's, else the default one
    #[arg(long, conflicts_with = "foreground")]
    pub stop: bool,

    /// The agent's socket [default: $XDG_RUNTIME_DIR/sesame/agent.sock, else
    /// $TMPDIR/sesame-UID/agent.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// The shell to write the lines for [default: from $SHELL, else sh]
    #[arg(long, value_enum)]
    pub shell: Option<ShellArg>,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Where requests go, e.g. https://api.example.com (https unless on this machine); a
    /// request for /x goes to UPSTREAM/x
    #[arg(long, value_name = "URL")]
    pub upstream: String,

    /// Where the proxy listens; port 0 picks a free one, printed on stdout. Another address
    /// than loopback lets others use your credential (it warns)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    /// ssh's options, HOST and the COMMAND, as ssh takes them (put `--` first if an option is
    /// also one of sesame's, such as -v)
    #[arg(value_name = "SSH ARGS", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args, Default)]
pub struct LogoutArgs {
    /// Revoke the refresh token, then the access token, at the provider's revocation endpoint
    /// (RFC 7009) before deleting the session
    #[arg(long)]
    pub revoke: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The environment variable that carries the token
    #[arg(long, value_name = "NAME", default_value = sesame_login::vars::TOKEN)]
    pub env: String,

    /// The command and its arguments, after --
    #[arg(value_name = "CMD", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Kubernetes client-go exec credential plugin (reads KUBERNETES_EXEC_INFO)
    Kubectl,
    /// git credential helper: `git config credential.https://HOST.helper '!sesame credential git'`
    Git(GitArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// weep's ~/.weep.yaml: its ConsoleMe URL and challenge user become the profile's server
    /// and user (--profile, default: default)
    Weep(ImportWeepArgs),
}

#[derive(Debug, Args)]
pub struct ImportWeepArgs {
    /// weep's config file [default: the first of ~/.weep.yaml, ~/.config/weep/weep.yaml,
    /// /etc/weep/weep.yaml, as weep looks]
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Replace the profile's server and user if it already has others
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Print the role's credentials for the AWS CLI and SDKs: in ~/.aws/config,
    /// `credential_process = sesame aws credential-process ROLE`
    CredentialProcess(AwsRoleArgs),
    /// Print shell code that sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN:
    /// `eval "$(sesame aws export ROLE)"`. It prints the secret credentials themselves: the one
    /// command that does, for the shell to evaluate; prefer credential-process
    Export(AwsExportArgs),
    /// Write profiles into ~/.aws/config whose credential_process is sesame, one per role (every
    /// role you may ask for, or those given); every other line of the file stays as it was
    Configure(AwsConfigureArgs),
    /// Serve credentials to AWS SDKs on this machine: the ECS container provider
    /// (AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9091/ecs/ROLE) and the EC2 metadata
    /// service, IMDSv2 only (AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9091/)
    Serve(AwsServeArgs),
    /// Write the role's credentials into ~/.aws/credentials, under the role's name (or
    /// --aws-profile); with --refresh, keep them fresh there until Ctrl-C
    File(AwsFileArgs),
    /// Open the role's page on your ConsoleMe, which signs the browser in to the AWS console
    /// as that role (weep console)
    Console {
        /// The role: its ARN, or a part of its name
        #[arg(value_name = "ROLE")]
        role: String,

        /// Print the URL instead of opening a browser
        #[arg(long, short = 'x')]
        no_open: bool,
    },
    /// List the roles you may ask for
    Roles {
        /// Output format
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

#[derive(Debug, Args, Clone)]
pub struct AwsRoleArgs {
    /// The role: its ARN, or (ConsoleMe, or a profile that lists roles) a part of its name
    #[arg(value_name = "ROLE")]
    pub role: String,

    /// Seconds STS credentials last, 900 to 43200 (OpenID Connect sessions) [default: the
    /// profile's, else the role's]
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,

    /// The AWS region of the STS endpoint [env: AWS_REGION]
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

#[derive(Debug, Args)]
pub struct AwsFileArgs {
    #[command(flatten)]
    pub role: AwsRoleArgs,

    /// The profile (section) to write [default: the role's name]
    #[arg(long, value_name = "NAME")]
    pub aws_profile: Option<String>,

    /// The credentials file [default: $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials]
    #[arg(long, value_name = "FILE")]
    pub credentials_file: Option<PathBuf>,

    /// Keep running, writing new credentials before these run out, until Ctrl-C
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct AwsServeArgs {
    /// The loopback address to listen on (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9091")]
    pub listen: SocketAddr,

    /// The role the metadata service serves (an instance has one); the ECS path names its own
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
}

#[derive(Debug, Args)]
pub struct AwsConfigureArgs {
    /// The roles to write profiles for: ARNs, or parts of their names [default: every role
    /// `sesame aws roles` lists]
    #[arg(value_name = "ROLE")]
    pub roles: Vec<String>,

    /// The AWS config file to edit [default: $AWS_CONFIG_FILE, else ~/.aws/config]
    #[arg(long, value_name = "FILE")]
    pub aws_config: Option<PathBuf>,

    /// The AWS profile's name, for a single ROLE [default: the role's name]
    #[arg(long, value_name = "NAME")]
    pub aws_profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct AwsExportArgs {
    #[command(flatten)]
    pub role: AwsRoleArgs,

    /// The shell to write for [default: from $SHELL, else bash]
    #[arg(long, value_enum)]
    pub shell: Option<ShellArg>,
}

/// The shells `sesame aws export` writes for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
    Csh,
    Powershell,
}

impl From<ShellArg> for sesame_login::aws::Shell {
    fn from(s: ShellArg) -> Self {
        use sesame_login::aws::Shell;
        match s {
            ShellArg::Bash => Shell::Bash,
            ShellArg::Zsh => Shell::Zsh,
            ShellArg::Fish => Shell::Fish,
            ShellArg::Csh => Shell::Csh,
            ShellArg::Powershell => Shell::Powershell,
        }
    }
}

#[derive(Debug, Args)]
pub struct GitArgs {
    /// The user name to give git [default: the session's user]
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,

    /// What git asks: get (answered), store and erase (nothing to do)
    pub action: String,
}

#[derive(Debug, Args, Default)]
pub struct LoginArgs {
    /// Challenge server URL, e.g. https://consoleme.example.com [env: SESAME_SERVER]
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,

    /// User to log in as [env: SESAME_USER] [default: the OS user name]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Do not open a browser; print the URL to open elsewhere [env: SESAME_NO_BROWSER]
    #[arg(long)]
    pub no_browser: bool,

    /// Give up after this many seconds, 1 to 86400 [env: SESAME_TIMEOUT] [default: 120]
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,

    /// Seconds between polls, 1 to 300 [env: SESAME_POLL_INTERVAL] [default: 2]
    #[arg(long, value_name = "SECS")]
    pub poll_interval: Option<u64>,

    /// Allow plain http to a server that is not on this machine [env: SESAME_ALLOW_HTTP]
    #[arg(long)]
    pub allow_http: bool,

    /// Read a token from stdin and save it as the session, without a login flow
    #[arg(long, conflicts_with = "api_key")]
    pub with_token: bool,

    /// Read an API key (stdin's first line, or a prompt that does not echo) and save it as the session
    #[arg(long, help_heading = "Direct credentials")]
    pub api_key: bool,

    /// Read the password from stdin's first line (a one-time code, if asked for, from the next) instead of prompting
    #[arg(long, help_heading = "Direct credentials")]
    pub password_stdin: bool,

    /// How the credential is presented: bearer, basic, cookie:NAME, query:NAME or header:NAME
    /// [env: SESAME_USE_AS] [default: the flow's: bearer; cookie for challenge; header:X-API-Key for --api-key]
    #[arg(long, value_name = "HOW", value_parser = parse_use_as, help_heading = "Direct credentials")]
    pub use_as: Option<sesame_login::present::UseAs>,

    /// Port of the local callback server, 0 for any free port [env: SESAME_PORT] [default: 0]
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,

    /// Draw a QR code of the URL [env: SESAME_QR] [default: when no browser opened and stdout is a terminal]
    #[arg(long, overrides_with = "no_qr")]
    pub qr: bool,

    /// Never draw a QR code
    #[arg(long)]
    pub no_qr: bool,

    /// How to log in [env: SESAME_FLOW] [default: auto: challenge for a --server, password for a
    /// `login-url`, else browser when one can be opened, else device]
    #[arg(long, value_enum, help_heading = "OpenID Connect")]
    pub flow: Option<FlowArg>,

    /// OpenID Connect issuer URL (discovery from /.well-known/openid-configuration) [env: SESAME_ISSUER]
    #[arg(long, value_name = "URL", help_heading = "OpenID Connect")]
    pub issuer: Option<String>,

    /// OAuth client ID [env: SESAME_CLIENT_ID]
    #[arg(long, value_name = "ID", help_heading = "OpenID Connect")]
    pub client_id: Option<String>,

    /// Read the client secret from stdin (never pass secrets as arguments; or SESAME_CLIENT_SECRET, or `client-secret` in config)
    #[arg(long, help_heading = "OpenID Connect")]
    pub client_secret_stdin: bool,

    /// Keep the client secret (client credentials) in the OS keychain with the session, so that `sesame token` renews without SESAME_CLIENT_SECRET. Never in the file store
    #[arg(long, help_heading = "OpenID Connect")]
    pub remember_secret: bool,

    /// Scopes, space-separated [env: SESAME_SCOPE] [default: "openid offline_access" plus the profile's `scopes`]
    #[arg(long, value_name = "SCOPES", help_heading = "OpenID Connect")]
    pub scope: Option<String>,

    /// Audience to request (sent as `audience`, as Auth0 expects) [env: SESAME_AUDIENCE]
    #[arg(long, value_name = "AUD", help_heading = "OpenID Connect")]
    pub audience: Option<String>,

    /// Resource indicator to request (RFC 8707 `resource`) [env: SESAME_RESOURCE]
    #[arg(long, value_name = "URI", help_heading = "OpenID Connect")]
    pub resource: Option<String>,

    /// Authorization endpoint, instead of discovery
    #[arg(long, value_name = "URL", help_heading = "OpenID Connect")]
    pub authorization_endpoint: Option<String>,

    /// Token endpoint, instead of discovery
    #[arg(long, value_name = "URL", help_heading = "OpenID Connect")]
    pub token_endpoint: Option<String>,

    /// Device authorization endpoint, instead of discovery
    #[arg(long, value_name = "URL", help_heading = "OpenID Connect")]
    pub device_endpoint: Option<String>,

    /// JWKS URL for ID token verification, instead of discovery
    #[arg(long, value_name = "URL", help_heading = "OpenID Connect")]
    pub jwks_uri: Option<String>,
}

fn parse_use_as(text: &str) -> Result<sesame_login::present::UseAs, String> {
    text.parse()
}

/// `--flow`: the clap face of [`FlowChoice`], which the library keeps free of clap.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FlowArg {
    /// Choose: challenge for a challenge server, password for a `login-url`; for an issuer, browser if one can be opened, else device
    Auto,
    /// ConsoleMe/Weep challenge
    Challenge,
    /// OAuth authorization code with PKCE on a loopback redirect
    Browser,
    /// OAuth device authorization (RFC 8628), for machines without a browser
    Device,
    /// User name and password (and a one-time code if asked): a JSON login API (`login-url`) or the OAuth password grant
    Password,
    /// OAuth client credentials, for CI and service accounts
    ClientCredentials,
    /// Keep a user name and password for HTTP Basic
    Basic,
}

/// The other way, so that a flow the library gains without a face here fails to compile.
impl From<FlowChoice> for FlowArg {
    fn from(choice: FlowChoice) -> FlowArg {
        match choice {
            FlowChoice::Auto => FlowArg::Auto,
            FlowChoice::Challenge => FlowArg::Challenge,
            FlowChoice::Browser => FlowArg::Browser,
            FlowChoice::Device => FlowArg::Device,
            FlowChoice::Password => FlowArg::Password,
            FlowChoice::ClientCredentials => FlowArg::ClientCredentials,
            FlowChoice::Basic => FlowArg::Basic,
        }
    }
}

impl From<FlowArg> for FlowChoice {
    fn from(arg: FlowArg) -> FlowChoice {
        match arg {
            FlowArg::Auto => FlowChoice::Auto,
            FlowArg::Challenge => FlowChoice::Challenge,
            FlowArg::Browser => FlowChoice::Browser,
            FlowArg::Device => FlowChoice::Device,
            FlowArg::Password => FlowChoice::Password,
            FlowArg::ClientCredentials => FlowChoice::ClientCredentials,
            FlowArg::Basic => FlowChoice::Basic,
        }
    }
}

/// `--store`: the clap face of [`StoreKind`], which the library keeps free of clap.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum StoreArg {
    // No doc comments on the variants: they would turn `--help` into its long form.
    Auto,
    Keychain,
    File,
}

/// The other way, so that a store the library gains without a face here fails to compile.
impl From<StoreKind> for StoreArg {
    fn from(kind: StoreKind) -> StoreArg {
        match kind {
            StoreKind::Auto => StoreArg::Auto,
            StoreKind::Keychain => StoreArg::Keychain,
            StoreKind::File => StoreArg::File,
        }
    }
}

impl From<StoreArg> for StoreKind {
    fn from(arg: StoreArg) -> StoreKind {
        match arg {
            StoreArg::Auto => StoreKind::Auto,
            StoreArg::Keychain => StoreKind::Keychain,
            StoreArg::File => StoreKind::File,
        }
    }
}

#[derive(Debug, Args, Default)]
pub struct TokenArgs {
    /// Print the OpenID Connect ID token instead of the access token
    #[arg(long)]
    pub id_token: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args, Default)]
pub struct StatusArgs {
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Also ask the server who the credential belongs to (the profile's `whoami-url`, the OIDC
    /// userinfo endpoint, or the challenge server's user profile)
    #[arg(long)]
    pub remote: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum AuthMode {
    /// No authentication: the approver is the requested user (development only)
    Dev,
    /// The user comes from a header set by an SSO reverse proxy
    Header,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,

    /// The URL browsers and clients reach this server at, when behind a proxy
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// How the approving browser user is authenticated
    #[arg(long, value_enum, default_value_t = AuthMode::Dev)]
    pub auth: AuthMode,

    /// With --auth header: the header that carries the signed-in user (e.g. X-Forwarded-Email)
    #[arg(long, value_name = "NAME")]
    pub user_header: Option<String>,

    /// With --auth header: the header that carries the signed-in user's groups, comma-separated
    /// (e.g. X-Forwarded-Groups); read at approval into that session's `groups` claim
    #[arg(long, value_name = "NAME")]
    pub groups_header: Option<String>,

    /// Require polls and approvals to come from the address that requested the challenge
    /// [default: on with --auth header, off with --auth dev]
    #[arg(long, overrides_with = "no_ip_check")]
    pub ip_check: bool,

    /// Do not compare addresses
    #[arg(long)]
    pub no_ip_check: bool,

    /// Take the client address from this header (set by your reverse proxy), e.g. X-Forwarded-For
    #[arg(long, value_name = "NAME")]
    pub trusted_proxy_header: Option<String>,

    /// File holding the JWT signing secret [env: SESAME_JWT_SECRET holds the secret itself]
    #[arg(long, value_name = "PATH")]
    pub jwt_secret_file: Option<PathBuf>,

    /// Seconds a challenge may wait for approval (1 to 86400)
    #[arg(long, value_name = "SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub challenge_ttl: u64,

    /// Seconds an issued JWT is valid (1 to 31536000, a year)
    #[arg(long, value_name = "SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub jwt_ttl: u64,

    /// Cookie name clients send the JWT as
    #[arg(long, value_name = "NAME", default_value = "consoleme_auth")]
    pub cookie_name: String,

    /// Groups to put in every JWT's `groups` claim, whoever approves (repeatable)
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,

    /// Most challenges kept at once (across replicas with --redis); further requests get HTTP 503
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_pending: usize,

    /// Most pending challenges per client address, 0 for no limit; further requests get HTTP 429
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_pending_per_ip: usize,

    /// Polls of unknown tokens allowed per client address per minute (per replica); further polls get HTTP 429 (RFC 8628 §5.2)
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub max_unknown_polls: u32,

    /// Keep challenges in Redis, shared by replicas: redis://HOST:PORT/DB (rediss:// for TLS)
    /// [env: SESAME_REDIS_URL; password: in the URL or SESAME_REDIS_PASSWORD]
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,

    /// Role mapping (TOML: which users and groups may have which AWS roles) for ConsoleMe's
    /// get_credentials and get_roles; credentials come from STS AssumeRole with this server's
    /// own AWS credentials (docs/aws.md)
    #[arg(long, value_name = "FILE")]
    pub aws_roles: Option<PathBuf>,

    /// Allow --aws-roles with --auth dev, where anyone who can reach the server logs in as any
    /// user and so gets that user's AWS roles: for tests and demos against a throwaway STS only
    #[arg(long)]
    pub insecure_dev_aws: bool,

    /// Request log format
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Do not log requests
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Approve through the validator API instead of waiting for you in the browser
    #[arg(long)]
    pub auto_approve: bool,

    /// Do not open a browser
    #[arg(long)]
    pub no_browser: bool,

    /// Give up after this many seconds (1 to 86400)
    #[arg(long, value_name = "SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--flow NAME` and `--store NAME` mean what `flow = "NAME"` and `store = "NAME"` mean in
    /// the config file (the library's serde names), for every value.
    #[test]
    fn the_flag_values_are_the_config_values() {
        fn config_value<T: serde::de::DeserializeOwned>(name: &str) -> T {
            serde_json::from_value(serde_json::Value::String(name.to_owned())).unwrap()
        }
        for arg in FlowArg::value_variants() {
            let name = arg.to_possible_value().unwrap().get_name().to_owned();
            let choice = config_value::<FlowChoice>(&name);
            assert_eq!(choice, FlowChoice::from(*arg), "--flow {name}");
            assert_eq!(FlowArg::from(choice), *arg);
        }
        for arg in StoreArg::value_variants() {
            let name = arg.to_possible_value().unwrap().get_name().to_owned();
            let kind = config_value::<StoreKind>(&name);
            assert_eq!(kind, StoreKind::from(*arg), "--store {name}");
            assert_eq!(StoreArg::from(kind), *arg);
        }
    }
}
