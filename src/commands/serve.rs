//! `sesame serve`: settings for the reference server, and its lifetime (until SIGINT/SIGTERM).

use crate::cli::{AuthMode, ServeArgs};
use hyper::header::HeaderName;
use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::secret::Secret;
use sesame_login::settings::{Env, limits};
use sesame_login::vars;
use sesame_server::{self, Auth, Config, Server};
use std::time::Duration;
use url::Url;

/// The shortest JWT signing key `serve` accepts (RFC 7518 §3.2: a key of at least the hash's size).
const MIN_SECRET_BYTES: usize = 32;
/// The largest key file read: a key is bytes, not megabytes.
const MAX_SECRET_FILE: u64 = 64 * 1024;

pub fn config(args: &ServeArgs, env: Env, printer: &Printer) -> Result<Config, Error> {
    let auth = auth(args)?;
    let ip_check = if args.no_ip_check {
        false
    } else {
        args.ip_check || args.auth == AuthMode::Header
    };
    let trusted_proxy_header = match &args.trusted_proxy_header {
        Some(h) => Some(HeaderName::try_from(h.as_str()).map_err(|_| {
            Error::usage(format!(
                "--trusted-proxy-header {h:?} is not a header name."
            ))
        })?),
        None => None,
    };
    // Usage errors first: the warning about a missing secret would only distract from them.
    let groups_header = groups_header(args)?;
    let aws_roles = aws_roles(args)?;
    let jwt_secret = jwt_secret(args, env, printer)?;
    let public_url = public_url(args)?;
    check_limits(args)?;
    Ok(Config {
        listen: args.listen,
        public_url,
        auth,
        ip_check,
        trusted_proxy_header,
        jwt_secret,
        challenge_ttl: Duration::from_secs(args.challenge_ttl),
        jwt_ttl: Duration::from_secs(args.jwt_ttl),
        cookie_name: sesame_login::present::Name::new(&args.cookie_name)
            .map_err(|e| Error::usage(format!("--cookie-name: {e}.")))?
            .to_string(),
        groups: args.groups.clone(),
        groups_header,
        max_pending: args.max_pending,
        max_pending_per_ip: args.max_pending_per_ip,
        max_unknown_polls: args.max_unknown_polls,
        redis_url: args
            .redis
            .clone()
            .or_else(|| env(vars::REDIS_URL))
            .map(|u| with_password(&u, env(vars::REDIS_PASSWORD)))
            .transpose()?,
        aws_roles,
        log: !args.quiet,
    })
}

/// The role mapping of `--aws-roles`. With `--auth dev` anyone can log in as anyone, so it
/// would hand any mapped user's AWS credentials to whoever asks: refused unless
/// `--insecure-dev-aws` says that is meant (tests, demos against a throwaway STS).
fn aws_roles(
    args: &ServeArgs,
) -> Result<Option<std::sync::Arc<sesame_server::aws_roles::RoleMap>>, Error> {
    let Some(path) = args.aws_roles.as_deref() else {
        return Ok(None);
    };
    if args.auth == AuthMode::Dev && !args.insecure_dev_aws {
        return Err(Error::usage(
            "--aws-roles with --auth dev would give anyone who can reach this server any mapped user's AWS credentials (dev auth lets anyone log in as anyone).",
        )
        .hint("Run it behind your SSO proxy with --auth header --user-header NAME; for a test against a throwaway STS, add --insecure-dev-aws."));
    }
    let map = sesame_server::aws_roles::RoleMap::load(path)
        .map_err(|e| Error::usage(format!("--aws-roles: {e}.")))?;
    let granted = map.granted_groups();
    if let Some(everyone) = args.groups.iter().find(|g| granted.contains(g.as_str())) {
        return Err(Error::usage(format!(
            "--aws-roles {}: a grant names the group {everyone:?}, which --group gives every user, so every user would get its roles.",
            path.display()
        ))
        .hint("Grant those roles to a group your SSO proxy names per user (--groups-header), or by user (users = [...])."));
    }
    if !granted.is_empty() && args.groups_header.is_none() {
        return Err(Error::usage(format!(
            "--aws-roles {}: its grants by group need to know each user's groups, and this server has no --groups-header to read them from.",
            path.display()
        ))
        .hint("Add --groups-header NAME, the header in which your SSO proxy names the signed-in user's groups (e.g. X-Forwarded-Groups), or grant by user (users = [...])."));
    }
    Ok(Some(std::sync::Arc::new(map)))
}

/// `--groups-header`: a header name, and only behind a proxy (with `--auth dev` nobody is
/// signed in, so the header would be whatever the browser sends).
fn groups_header(args: &ServeArgs) -> Result<Option<HeaderName>, Error> {
    let Some(h) = &args.groups_header else {
        return Ok(None);
    };
    if args.auth != AuthMode::Header {
        return Err(Error::usage(
            "--groups-header only applies with --auth header: without an SSO proxy, the header would be whatever the browser sends.",
        ));
    }
    HeaderName::try_from(h.as_str())
        .map(Some)
        .map_err(|_| Error::usage(format!("--groups-header {h:?} is not a header name.")))
}

/// Who approves: `--auth` and `--user-header`, which go together.
fn auth(args: &ServeArgs) -> Result<Auth, Error> {
    Ok(match (args.auth, &args.user_header) {
        (AuthMode::Header, Some(h)) => Auth::Header(
            HeaderName::try_from(h.as_str())
                .map_err(|_| Error::usage(format!("--user-header {h:?} is not a header name.")))?,
        ),
        (AuthMode::Header, None) => {
            return Err(
                Error::usage("--auth header needs --user-header NAME.").hint(
                    "Name the header your SSO proxy sets, e.g. --user-header X-Forwarded-Email.",
                ),
            );
        }
        (AuthMode::Dev, Some(_)) => {
            return Err(Error::usage(
                "--user-header only applies with --auth header.",
            ));
        }
        (AuthMode::Dev, None) => Auth::Dev,
    })
}

/// The JWT signing key: `--jwt-secret-file`, `SESAME_JWT_SECRET` or a random one (with a
/// warning); too short a key is refused.
fn jwt_secret(args: &ServeArgs, env: Env, printer: &Printer) -> Result<Secret<Vec<u8>>, Error> {
    let jwt_secret = match (&args.jwt_secret_file, env(vars::JWT_SECRET)) {
        (Some(path), _) => {
            // A key file is small; /dev/zero is not one.
            let bytes =
                sesame_login::private_file::read_capped(path, MAX_SECRET_FILE).map_err(|e| {
                    Error::usage(format!(
                        "Could not read --jwt-secret-file {}: {e}.",
                        path.display()
                    ))
                })?;
            let text = String::from_utf8_lossy(&bytes);
            Secret::from_bytes(text.trim_end_matches(['\r', '\n']).as_bytes())
        }
        (None, Some(s)) => Secret::from_bytes(s.into_bytes()),
        (None, None) => {
            printer.warn("No JWT secret configured (--jwt-secret-file or SESAME_JWT_SECRET): using a random one, so every token issued dies with this process.");
            Secret::from_bytes(sesame_server::random_secret())
        }
    };
    // HS256 with a short key can be brute-forced, and an empty one lets anyone sign tokens
    // that /api/v2/user_profile accepts (RFC 7518 §3.2: at least 256 bits).
    let secret_len = jwt_secret.expose_bytes().len();
    if secret_len < MIN_SECRET_BYTES {
        return Err(Error::usage(format!(
            "The JWT secret is {secret_len} bytes long; sesame serve needs at least {MIN_SECRET_BYTES} (from --jwt-secret-file or SESAME_JWT_SECRET)."
        ))
        .hint("Make one with `head -c 48 /dev/urandom | base64 > jwt.secret` and pass --jwt-secret-file jwt.secret (the same file on every replica)."));
    }
    Ok(jwt_secret)
}

/// `--public-url`, an http(s) URL, with a `/` added to its path so that paths join under it.
fn public_url(args: &ServeArgs) -> Result<Option<Url>, Error> {
    Ok(match &args.public_url {
        Some(u) => {
            let mut url = Url::parse(u)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    Error::usage(format!("--public-url {u:?} is not an http(s) URL."))
                })?;
            if !url.path().ends_with('/') {
                let p = format!("{}/", url.path());
                url.set_path(&p);
            }
            Some(url)
        }
        None => None,
    })
}

/// The lifetimes and limits in their ranges: the TTLs, `--max-unknown-polls` and
/// `--max-pending`.
fn check_limits(args: &ServeArgs) -> Result<(), Error> {
    for (flag, value, (lo, hi)) in [
        (
            "--challenge-ttl",
            args.challenge_ttl,
            limits::CHALLENGE_TTL_SECS,
        ),
        ("--jwt-ttl", args.jwt_ttl, limits::JWT_TTL_SECS),
    ] {
        if !(lo..=hi).contains(&value) {
            return Err(Error::usage(format!(
                "{flag} = {value} is out of range: use {lo} to {hi} seconds."
            )));
        }
    }
    if args.max_unknown_polls == 0 {
        return Err(Error::usage(
            "--max-unknown-polls must be at least 1 (a client that mistypes a token gets one poll).",
        ));
    }
    if args.max_pending == 0 {
        return Err(Error::usage("--max-pending must be at least 1."));
    }
    Ok(())
}

/// The Redis URL with `SESAME_REDIS_PASSWORD` put in, when the URL has none of its own.
fn with_password(url: &str, password: Option<String>) -> Result<String, Error> {
    let mut parsed = url::Url::parse(url).map_err(|e| {
        Error::usage(format!(
            "--redis {}: not a URL ({e}).",
            sesame_server::redact_redis(url)
        ))
        .hint("Give redis://HOST:PORT/DB, or rediss:// for TLS.")
    })?;
    if !matches!(parsed.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
        return Err(Error::usage(format!(
            "--redis: {:?} is not a Redis URL scheme; use redis:// or rediss://.",
            parsed.scheme()
        )));
    }
    if let Some(p) = password.filter(|_| parsed.password().is_none()) {
        let _ = parsed.set_password(Some(&p));
    }
    Ok(parsed.to_string())
}

pub async fn run(args: &ServeArgs, env: Env<'_>, printer: &Printer) -> Result<(), Error> {
    let config = config(args, env, printer)?;
    let dev = matches!(config.auth, Auth::Dev);
    let ip_check = config.ip_check;
    if !args.listen.ip().is_loopback() {
        match &config.auth {
            Auth::Dev => printer.warn("--auth dev on a non-loopback address: anyone who can reach this server can approve any login. Use --auth header behind an SSO proxy."),
            // The header is only as good as the proxy that sets it: a client that reaches the
            // server around the proxy can name any user.
            Auth::Header(h) => printer.warn(&format!(
                "--auth header on a non-loopback address: this server believes the {h} header of every request. Make sure only your SSO proxy can reach {} (a firewall, or --listen on loopback behind it), and that the proxy replaces the header rather than appending to it.",
                args.listen
            )),
        }
    }
    let server = Server::bind(config).await.map_err(|e| {
        Error::other(format!("Could not listen on {}: {e}.", args.listen))
            .hint("Pick another address with --listen 127.0.0.1:PORT (port 0 picks a free one).")
    })?;
    // The URL is for scripts that start a server; one that stopped reading is no reason to stop.
    let _ = sesame_login::output::stdout(&format!("{}\n", server.url()));
    printer.info(&format!(
        "sesame serve: listening on {}, serving {} (auth: {}, IP check: {}). Ctrl-C stops.",
        server.local_addr(),
        server.url(),
        if dev {
            "dev — no authentication, for development only"
        } else {
            "header"
        },
        if ip_check { "on" } else { "off" },
    ));
    server
        .run(shutdown_signal())
        .await
        .map_err(|e| Error::other(format!("The server failed: {e}")))?;
    printer.info("sesame serve: stopped.");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
