//! `sesame aws serve`: credentials for AWS SDKs over loopback HTTP, as weep's `serve` gave
//! them. The ECS container provider (`GET /ecs/ROLE`) and the EC2 metadata service, IMDSv2
//! only. Which requests are answered is decided by `sesame_login::aws::metadata`, weep's
//! filter included. The ECS path also needs a random token that this server writes, 0600, to
//! `<data>/aws-serve/PORT.token` for `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, and removes on
//! exit. Credentials come from the profile's session as it is at each request (a logout or
//! another login is seen at once), through the same cache as `credential-process`.
//!
//! Four fixed paths on hyper: axum is not linked into the CLI without the server feature, and a
//! router would add nothing here.

use crate::cli::AwsServeArgs;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use sesame_login::aws::metadata::{self, Refusal, Route};
use sesame_login::aws::{AwsSettings, Credentials};
use sesame_login::clock::unix_seconds;
use sesame_login::error::Error;
use sesame_login::output::{Printer, stdout};
use sesame_login::secret::Secret;
use sesame_login::settings::Common;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// What every request shares.
struct Shared {
    common: Common,
    settings: AwsSettings,
    secret: Option<Secret>,
    role: Option<String>,
    refresh_before: u64,
    tokens: Mutex<HashMap<String, Instant>>,
    /// The ECS path's `Authorization` value.
    ecs_token: Secret,
    printer: Printer,
}

/// The most IMDS tokens kept at once; past it the oldest go.
const MAX_TOKENS: usize = 1024;

/// Serves until Ctrl-C, then lets requests under way finish.
pub async fn run(
    args: &AwsServeArgs,
    common: &Common,
    settings: AwsSettings,
    secret: Option<Secret>,
    printer: &Printer,
) -> Result<(), Error> {
    if !args.listen.ip().is_loopback() {
        return Err(Error::usage(format!(
            "--listen {}: sesame aws serve listens on a loopback address only (the credentials are for this machine).",
            args.listen
        )));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::other(format!("Could not listen on {}: {e}.", args.listen))
            .hint("Is weep or another `sesame aws serve` running? Choose another port with --listen 127.0.0.1:PORT."))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::other(format!("No local address: {e}.")))?;
    let ecs_token = Secret::new(metadata::new_token());
    let token_file = common
        .paths
        .data_dir
        .join("aws-serve")
        .join(format!("{}.token", addr.port()));
    write_token(&token_file, &ecs_token)?;
    let shared = Arc::new(Shared {
        refresh_before: super::refresh_before(common)?,
        common: common.clone(),
        settings,
        secret,
        role: args.role.clone(),
        tokens: Mutex::default(),
        ecs_token,
        printer: *printer,
    });
    stdout(&format!("http://{addr}/\n"))?;
    tell(&shared, addr, &token_file);
    serve(listener, shared).await;
    let _ = std::fs::remove_file(&token_file);
    printer.info("sesame aws serve stopped.");
    Ok(())
}

/// The ECS token, in a file only this user can read (a 0700 directory, a 0600 file).
fn write_token(path: &std::path::Path, token: &Secret) -> Result<(), Error> {
    let fail = |e: std::io::Error| {
        Error::other(format!(
            "Could not write the ECS token file {}: {e}.",
            path.display()
        ))
    };
    if let Some(dir) = path.parent() {
        sesame_login::private_file::ensure_dir(dir).map_err(fail)?;
    }
    sesame_login::private_file::write_atomically(path, token.expose().as_bytes()).map_err(fail)
}

/// Accepts until Ctrl-C or SIGTERM, then lets the requests under way finish (10 s at most).
async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut ctrl_c = sesame_login::interrupt::CtrlC::install();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = ctrl_c.wait() => break,
            _ = terminated() => break,
        };
        let shared = shared.clone();
        let svc = service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(answer(&shared, req).await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

/// SIGTERM (a service manager stopping it), on Unix; never elsewhere.
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        term.recv().await;
        return;
    }
    std::future::pending::<()>().await
}

/// How to use it, on stderr.
fn tell(shared: &Shared, addr: std::net::SocketAddr, token_file: &std::path::Path) {
    let p = &shared.printer;
    p.info(&format!(
        "Serving AWS credentials of profile {} on http://{addr}/ (Ctrl-C stops). For the AWS CLI and SDKs:",
        shared.common.profile
    ));
    let role = shared.role.as_deref().unwrap_or("ROLE");
    p.info(&format!(
        "  export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://{addr}/ecs/{}",
        percent_encoding::utf8_percent_encode(role, percent_encoding::NON_ALPHANUMERIC)
    ));
    p.info(&format!(
        "  export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
        token_file.display()
    ));
    if shared.role.is_some() {
        p.info(&format!(
            "  or: export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://{addr}/"
        ));
    }
}

type Resp = Response<Full<Bytes>>;

fn reply(status: u16, content_type: &'static str, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

fn refused(r: &Refusal) -> Resp {
    reply(
        r.status(),
        "application/json",
        serde_json::json!({ "Code": "Refused", "Message": r.reason() }).to_string(),
    )
}

/// What `req` asks for, or why it is refused.
fn route(shared: &Shared, req: &Request<Incoming>) -> Result<Route, Refusal> {
    // Any header present counts, even one whose bytes are not text.
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let imds_token = |t: &str| {
        let tokens = shared
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.get(t).is_some_and(|until| Instant::now() < *until)
    };
    let ecs_authorization = |a: &str| -> bool {
        subtle::ConstantTimeEq::ct_eq(a.trim().as_bytes(), shared.ecs_token.expose().as_bytes())
            .into()
    };
    let checks = metadata::Checks {
        imds_token: &imds_token,
        ecs_authorization: &ecs_authorization,
    };
    metadata::route(req.method().as_str(), req.uri().path(), &header, &checks)
}

async fn answer(shared: &Shared, req: Request<Incoming>) -> Resp {
    // The checks borrow non-`Send` closures: decide the route before any await.
    let route = route(shared, &req);
    match route {
        Err(r) => refused(&r),
        Ok(Route::ImdsToken(ttl)) => reply(200, "text/plain", new_imds_token(shared, ttl)),
        Ok(Route::ImdsRoleName) => match &shared.role {
            Some(role) => reply(200, "text/plain", imds_name(role)),
            None => refused(&Refusal::NotFound),
        },
        Ok(Route::ImdsCredentials(name)) => match &shared.role {
            Some(role) if imds_name(role) == name => match credentials(shared, role).await {
                Ok(c) => reply(
                    200,
                    "application/json",
                    c.imds_json(unix_seconds(SystemTime::now())),
                ),
                Err(e) => failed(shared, &e),
            },
            _ => refused(&Refusal::NotFound),
        },
        Ok(Route::Ecs(role)) => match credentials(shared, &role).await {
            Ok(c) => reply(200, "application/json", c.ecs_json(&role)),
            Err(e) => failed(shared, &e),
        },
    }
}

/// A new IMDSv2 token valid for `ttl` seconds; expired ones are dropped, and past
/// [`MAX_TOKENS`] the oldest.
fn new_imds_token(shared: &Shared, ttl: u32) -> String {
    let token = sesame_login::aws::metadata::new_token();
    let mut tokens = shared
        .tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    tokens.retain(|_, until| now < *until);
    while tokens.len() >= MAX_TOKENS {
        let oldest = tokens
            .iter()
            .min_by_key(|(_, until)| **until)
            .map(|(t, _)| t.clone());
        match oldest {
            Some(t) => tokens.remove(&t),
            None => break,
        };
    }
    tokens.insert(token.clone(), now + Duration::from_secs(u64::from(ttl)));
    token
}

/// The name IMDS gives a role: its last path segment.
fn imds_name(role: &str) -> String {
    role.rsplit(['/', ':']).next().unwrap_or(role).to_string()
}

/// A credentials request that failed: the person at the terminal learns why, the SDK gets a
/// 500 with the same message.
fn failed(shared: &Shared, e: &Error) -> Resp {
    shared.printer.error(e);
    let message = match &e.hint {
        Some(h) => format!("{} {h}", e.message),
        None => e.message.clone(),
    };
    reply(
        500,
        "application/json",
        serde_json::json!({ "Code": "Error", "Message": sesame_login::text::message(&message) })
            .to_string(),
    )
}

/// The role's credentials for the profile's session as it is now (refreshed if due), so
/// that a logout or a login as someone else is seen at once: from the store's cache while
/// enough is left, else from the source, under the profile's lock.
async fn credentials(shared: &Shared, role: &str) -> Result<Credentials, Error> {
    let common = &shared.common;
    let session =
        sesame_login::current::fresh_session_with(common, shared.secret.as_ref(), &shared.printer)
            .await?;
    super::credentials_with(
        &session,
        role,
        common,
        (&shared.settings, shared.refresh_before),
    )
    .await
}
