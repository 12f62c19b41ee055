//! `sesame login`'s arguments resolved into [`LoginSettings`], with the precedence flags >
//! `SESAME_*` environment > config file > defaults, before the login runs.

use crate::cli::{FlowArg, LoginArgs};
use sesame_login::config::{FlowChoice, ProfileConfig};
use sesame_login::error::Error;
use sesame_login::http;
use sesame_login::json_api::{self, JsonApi};
use sesame_login::oidc::Endpoints;
use sesame_login::present::UseAs;
use sesame_login::secret::Secret;
use sesame_login::settings::{
    Common, DirectSettings, Env, LoginSettings, OidcSettings, callback_port, env_num, limits,
    os_user, out_of_range,
};
use sesame_login::vars;
use std::time::Duration;
use url::Url;

fn direct_settings(
    args: &LoginArgs,
    cfg: &ProfileConfig,
    env: Env,
    allow_http: bool,
) -> Result<DirectSettings, Error> {
    let use_as = match (&args.use_as, env(vars::USE_AS)) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(text)) => Some(
            text.parse()
                .map_err(|e: String| Error::usage(format!("SESAME_USE_AS: {e}.")))?,
        ),
        (None, None) => cfg.use_as.clone(),
    };
    let json_api = match &cfg.login_url {
        None => None,
        Some(login_url) => {
            let url = |key: &str, v: &Option<String>| -> Result<Option<String>, Error> {
                v.as_deref()
                    .map(|u| {
                        http::check_server_url(u, allow_http)
                            .map(|u| u.to_string())
                            .map_err(|e| {
                                Error::usage(format!("`{key}` in the profile: {}", e.message))
                                    .hint(e.hint.unwrap_or_default())
                            })
                    })
                    .transpose()
            };
            let api = JsonApi {
                login_url: url("login-url", &Some(login_url.clone()))?.unwrap_or_default(),
                login_body: cfg
                    .login_body
                    .clone()
                    .unwrap_or_else(json_api::default_login_body),
                token_pointer: cfg.token_pointer.clone(),
                refresh_token_pointer: cfg.refresh_token_pointer.clone(),
                expires_in_pointer: cfg.expires_in_pointer.clone(),
                expires_at_pointer: cfg.expires_at_pointer.clone(),
                error_pointer: cfg.error_pointer.clone(),
                mfa_pointer: cfg.mfa_pointer.clone(),
                mfa_url: url("mfa-url", &cfg.mfa_url)?,
                mfa_body: cfg
                    .mfa_body
                    .clone()
                    .unwrap_or_else(json_api::default_mfa_body),
                refresh_url: url("refresh-url", &cfg.refresh_url)?,
                refresh_body: cfg
                    .refresh_body
                    .clone()
                    .unwrap_or_else(json_api::default_refresh_body),
                cookie: match &use_as {
                    Some(UseAs::Cookie(name)) => Some(name.to_string()),
                    _ => None,
                },
            };
            api.check().map_err(|e| {
                Error::usage(format!("The profile's JSON login is misconfigured: {e}."))
                    .hint("See docs/direct-login.md for the keys and how to find the pointers.")
            })?;
            Some(api)
        }
    };
    Ok(DirectSettings {
        json_api,
        password_stdin: args.password_stdin,
        api_key: args.api_key,
        use_as,
        whoami_url: url_opt(cfg.whoami_url.clone(), allow_http).map_err(|e| {
            Error::usage(format!("`whoami-url` in the profile: {}", e.message))
                .hint(e.hint.unwrap_or_default())
        })?,
        explicit_user: args
            .user
            .clone()
            .or_else(|| env(vars::USER))
            .or_else(|| cfg.user.clone())
            .filter(|u| !u.trim().is_empty()),
    })
}

fn oidc_settings(
    args: &LoginArgs,
    cfg: &ProfileConfig,
    env: Env,
    allow_http: bool,
) -> Result<OidcSettings, Error> {
    let pick = |flag: &Option<String>, var: &str, file: &Option<String>| {
        flag.clone().or_else(|| env(var)).or_else(|| file.clone())
    };
    let issuer = url_opt(pick(&args.issuer, vars::ISSUER, &cfg.issuer), allow_http)?;
    let client_secret = if args.client_secret_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| {
            Error::usage(format!("Could not read the client secret from stdin: {e}"))
        })?;
        Some(line.trim().to_string())
            .filter(|s| !s.is_empty())
            .map(Secret::new)
    } else {
        env(vars::CLIENT_SECRET)
            .map(Secret::new)
            .or_else(|| cfg.client_secret.clone())
    };
    let scope = pick(&args.scope, vars::SCOPE, &cfg.scope)
        .unwrap_or_else(|| "openid offline_access".into());
    let mut scopes: Vec<String> = scope.split_whitespace().map(String::from).collect();
    for s in &cfg.scopes {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    let mut extra = Vec::new();
    if let Some(a) = pick(&args.audience, vars::AUDIENCE, &cfg.audience) {
        extra.push(("audience".to_string(), a));
    }
    if let Some(r) = pick(&args.resource, vars::RESOURCE, &cfg.resource) {
        extra.push(("resource".to_string(), r));
    }
    Ok(OidcSettings {
        issuer,
        client_id: pick(&args.client_id, vars::CLIENT_ID, &cfg.client_id),
        client_secret,
        remember_secret: args.remember_secret,
        scopes,
        extra,
        endpoints: Endpoints {
            authorization: url_opt(
                args.authorization_endpoint
                    .clone()
                    .or(cfg.authorization_endpoint.clone()),
                allow_http,
            )?,
            token: url_opt(
                args.token_endpoint.clone().or(cfg.token_endpoint.clone()),
                allow_http,
            )?,
            device: url_opt(
                args.device_endpoint.clone().or(cfg.device_endpoint.clone()),
                allow_http,
            )?,
            jwks: url_opt(args.jwks_uri.clone().or(cfg.jwks_uri.clone()), allow_http)?,
        },
    })
}

pub fn resolve(common: Common, args: &LoginArgs, env: Env) -> Result<LoginSettings, Error> {
    let cfg = common.config.clone();
    let allow_http = flag(args.allow_http)
        .or(env_bool(env, vars::ALLOW_HTTP)?)
        .or(cfg.allow_http)
        .unwrap_or(false);
    let server = match args
        .server
        .clone()
        .or_else(|| env(vars::SERVER))
        .or(cfg.server.clone())
    {
        Some(s) => Some(http::check_server_url(&s, allow_http)?),
        None => None,
    };
    let user = login_user(args, &cfg, env)?;
    let no_browser = no_browser(args, &cfg, env)?;
    let timeout = seconds(
        (args.timeout, "--timeout"),
        vars::TIMEOUT,
        (cfg.timeout, "timeout"),
        env,
        limits::TIMEOUT_SECS,
    )?
    .unwrap_or(120);
    let poll_interval = seconds(
        (args.poll_interval, "--poll-interval"),
        vars::POLL_INTERVAL,
        (cfg.poll_interval, "poll-interval"),
        env,
        limits::POLL_INTERVAL_SECS,
    )?
    .unwrap_or(2);
    let port = callback_port(args.port, &cfg, env)?;
    let qr = if args.no_qr {
        Some(false)
    } else if args.qr {
        Some(true)
    } else {
        env_bool(env, vars::QR)?.or(cfg.qr)
    };
    let flow = flow(args, &cfg, env)?;
    let oidc = oidc_settings(args, &cfg, env, allow_http)?;
    let direct = direct_settings(args, &cfg, env, allow_http)?;
    Ok(LoginSettings {
        flow,
        oidc,
        direct,
        common,
        server,
        user,
        no_browser,
        timeout: Duration::from_secs(timeout),
        poll_interval: Duration::from_secs(poll_interval),
        allow_http,
        port,
        qr,
        with_token: args.with_token,
        demo: false,
    })
}

/// The user to log in as: `--user`, `SESAME_USER`, the config, then the OS's user names.
fn login_user(
    args: &LoginArgs,
    cfg: &ProfileConfig,
    env: Env,
) -> Result<Option<sesame_login::session::UserName>, Error> {
    let name = args
        .user
        .clone()
        .or_else(|| env(vars::USER))
        .or(cfg.user.clone())
        .or_else(|| env("USER"))
        .or_else(|| env("USERNAME"))
        .or_else(|| env("LOGNAME"))
        .or_else(os_user);
    match name {
        Some(u) if !u.trim().is_empty() => Ok(Some(user_name(u.trim())?)),
        _ => Ok(None),
    }
}

/// How to log in: `--flow`, `SESAME_FLOW`, the config, else auto.
fn flow(args: &LoginArgs, cfg: &ProfileConfig, env: Env) -> Result<FlowChoice, Error> {
    Ok(match args.flow {
        Some(f) => f.into(),
        None => match env(vars::FLOW) {
            Some(v) => <FlowArg as clap::ValueEnum>::from_str(&v, true).map(FlowChoice::from).map_err(|_| {
                Error::usage(format!(
                    "SESAME_FLOW={v:?}: expected auto, challenge, browser, device, password, client-credentials or basic."
                ))
            })?,
            None => cfg.flow.unwrap_or(FlowChoice::Auto),
        },
    })
}

/// Picks flag > environment > config file for a number of seconds and checks its range.
fn seconds(
    flag: (Option<u64>, &str),
    var: &str,
    file: (Option<u64>, &str),
    env: Env,
    (lo, hi): (u64, u64),
) -> Result<Option<u64>, Error> {
    let (value, source) = if let Some(v) = flag.0 {
        (v, flag.1.to_string())
    } else if let Some(v) = env_num::<u64>(env, var)? {
        (v, var.to_string())
    } else if let Some(v) = file.0 {
        (v, format!("`{}` in the config file", file.1))
    } else {
        return Ok(None);
    };
    if (lo..=hi).contains(&value) {
        Ok(Some(value))
    } else {
        Err(out_of_range(&source, &value, &lo, &hi, "seconds"))
    }
}

/// The user to log in as, from a flag, the environment or the config: printable, and not a
/// name that a URL path would swallow (`..` goes up a level: the server would see another path).
fn user_name(name: &str) -> Result<sesame_login::session::UserName, Error> {
    if name == "." || name == ".." {
        return Err(Error::usage(format!(
            "{name:?} is not a user name: in the login URL it would mean a directory."
        ))
        .hint("Pass your user name with --user NAME."));
    }
    sesame_login::session::UserName::new(name).map_err(|e| {
        Error::usage(format!("Cannot log in as that user: {e}."))
            .hint("Pass your user name with --user NAME.")
    })
}

fn url_opt(value: Option<String>, allow_http: bool) -> Result<Option<Url>, Error> {
    value
        .map(|v| sesame_login::http::check_server_url(&v, allow_http))
        .transpose()
}

fn env_bool(env: Env, name: &str) -> Result<Option<bool>, Error> {
    match env(name) {
        None => Ok(None),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(Error::usage(format!(
                "{name}={v:?} is not a boolean: use true or false."
            ))),
        },
    }
}

/// Why no browser is to be opened, naming where that was said (flag > env > config), or `None`.
fn no_browser(args: &LoginArgs, cfg: &ProfileConfig, env: Env) -> Result<Option<String>, Error> {
    let env_name = vars::NO_BROWSER;
    let said = [
        (flag(args.no_browser), "--no-browser was given".to_owned()),
        (env_bool(env, env_name)?, format!("{env_name} is set")),
        (
            cfg.no_browser,
            "the profile's config sets no-browser".to_owned(),
        ),
    ];
    Ok(said
        .into_iter()
        .find_map(|(value, why)| value.map(|off| off.then_some(why)))
        .flatten())
}

fn flag(set: bool) -> Option<bool> {
    set.then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_login::settings::validate_profile;
    use sesame_login::store::StoreKind;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn write_config(dir: &std::path::Path, text: &str) {
        std::fs::create_dir_all(dir.join("sesame")).unwrap();
        std::fs::write(dir.join("sesame/config.toml"), text).unwrap();
    }

    #[test]
    fn precedence_is_flag_then_env_then_config_then_default() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            "[profiles.default]\nserver = \"https://from-config.example\"\nuser = \"cfg\"\ntimeout = 30\npoll-interval = 7\n",
        );
        let xdg = dir.path().to_str().unwrap();
        let env = env_of(&[
            ("XDG_CONFIG_HOME", xdg),
            ("XDG_DATA_HOME", xdg),
            (vars::USER, "env-user"),
            (vars::TIMEOUT, "60"),
        ]);
        let common = Common::resolve(None, None, &env).unwrap();
        let args = LoginArgs {
            timeout: Some(90),
            ..Default::default()
        };
        let s = resolve(common, &args, &env).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(90), "flag beats env");
        assert_eq!(s.user.as_deref(), Some("env-user"), "env beats config");
        assert_eq!(
            s.poll_interval,
            Duration::from_secs(7),
            "config beats default"
        );
        assert_eq!(s.server.unwrap().as_str(), "https://from-config.example/");
        assert_eq!(s.port, 0, "default");
        assert_eq!(s.no_browser, None);
    }

    /// "No browser was opened (--no-browser was given)" was once printed when the config had
    /// turned the browser off: the reason names where it was said.
    #[test]
    fn no_browser_says_who_turned_the_browser_off() {
        let dir = tempfile::tempdir().unwrap();
        let xdg = dir.path().to_str().unwrap();
        write_config(
            dir.path(),
            "[profiles.default]\nserver = \"https://x.example\"\nuser = \"u\"\nno-browser = true\n",
        );
        let why = |pairs: &[(&str, &str)], given: bool| {
            let mut all = vec![("XDG_CONFIG_HOME", xdg), ("XDG_DATA_HOME", xdg)];
            all.extend_from_slice(pairs);
            let env = env_of(&all);
            let args = LoginArgs {
                no_browser: given,
                ..Default::default()
            };
            let common = Common::resolve(None, None, &env).unwrap();
            resolve(common, &args, &env).unwrap().no_browser
        };
        let env_name = vars::NO_BROWSER;
        assert_eq!(
            why(&[], false).as_deref(),
            Some("the profile's config sets no-browser")
        );
        let env_set = format!("{env_name} is set");
        assert_eq!(why(&[(env_name, "1")], false), Some(env_set));
        assert_eq!(
            why(&[(env_name, "0")], false),
            None,
            "env false beats config"
        );
        let flag = Some("--no-browser was given".to_owned());
        assert_eq!(why(&[(env_name, "0")], true), flag, "the flag beats env");
    }

    #[test]
    fn profile_and_store_come_from_env_and_config() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            "default-profile = \"work\"\n[profiles.work]\nstore = \"file\"\n",
        );
        let xdg = dir.path().to_str().unwrap();
        let env = env_of(&[("XDG_CONFIG_HOME", xdg), ("XDG_DATA_HOME", xdg)]);
        let c = Common::resolve(None, None, &env).unwrap();
        assert_eq!((c.profile.as_str(), c.store), ("work", StoreKind::File));
        assert_eq!(c.paths.data_dir, dir.path().join("sesame"));
        let env = env_of(&[
            ("XDG_CONFIG_HOME", xdg),
            ("XDG_DATA_HOME", xdg),
            (vars::PROFILE, "other"),
            (vars::STORE, "keychain"),
        ]);
        let c = Common::resolve(None, None, &env).unwrap();
        assert_eq!(
            (c.profile.as_str(), c.store),
            ("other", StoreKind::Keychain)
        );
        let c = Common::resolve(Some("flag".into()), Some(StoreKind::Auto), &env).unwrap();
        assert_eq!((c.profile.as_str(), c.store), ("flag", StoreKind::Auto));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let xdg = dir.path().to_str().unwrap();
        let env = env_of(&[
            ("XDG_CONFIG_HOME", xdg),
            (vars::NO_BROWSER, "maybe"),
            ("USER", "u"),
        ]);
        let c = Common::resolve(None, None, &env).unwrap();
        let e = resolve(c, &LoginArgs::default(), &env).unwrap_err();
        assert_eq!(e.exit, sesame_login::error::Exit::Usage);
        assert!(e.message.contains(vars::NO_BROWSER));
        assert!(validate_profile("../etc").is_err());
        assert!(validate_profile("work-1.b_c").is_ok());
        // A megabyte of name (or an escape sequence) is quoted short and escaped.
        let e = validate_profile(&format!("\u{1b}[2J{}", "x".repeat(1 << 20))).unwrap_err();
        assert!(e.message.len() < 200, "{} bytes", e.message.len());
        assert!(
            e.message.contains("\\u{1b}[2J") && e.message.contains('…'),
            "{}",
            e.message
        );
    }

    #[test]
    fn http_to_a_remote_server_needs_allow_http() {
        let dir = tempfile::tempdir().unwrap();
        let xdg = dir.path().to_str().unwrap();
        let env = env_of(&[("XDG_CONFIG_HOME", xdg), ("USER", "u")]);
        let args = LoginArgs {
            server: Some("http://consoleme.example.com".into()),
            ..Default::default()
        };
        let c = Common::resolve(None, None, &env).unwrap();
        let e = resolve(c.clone(), &args, &env).unwrap_err();
        assert!(e.message.contains("https"), "{}", e.message);
        let args = LoginArgs {
            allow_http: true,
            ..args
        };
        assert!(resolve(c, &args, &env).is_ok());
    }
}
