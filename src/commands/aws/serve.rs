//! `sesame aws serve`: credentials for AWS SDKs over loopback HTTP, as weep's `serve` gave
//! them. The ECS container provider (`GET /ecs/ROLE`) and the EC2 metadata service, IMDSv2
//! only. Which requests are answered is decided by `sesame_login::aws::metadata`, weep's
//! filter included. Credentials come from the profile's session, through the same cache as
//! `credential-process` (the store, under the profile's lock), with a copy in memory.
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
use sesame_login::aws::{self, AwsSettings, Credentials};
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
    memory: Mutex<HashMap<String, Credentials>>,
    printer: Printer,
}

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
    let shared = Arc::new(Shared {
        refresh_before: super::refresh_before(common)?,
        common: common.clone(),
        settings,
        secret,
        role: args.role.clone(),
        tokens: Mutex::default(),
        memory: Mutex::default(),
        printer: *printer,
    });
    stdout(&format!("http://{addr}/\n"))?;
    tell(&shared, addr);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut ctrl_c = sesame_login::interrupt::CtrlC::install();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = ctrl_c.wait() => break,
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
    printer.info("sesame aws serve stopped.");
    Ok(())
}

/// How to use it, on stderr.
fn tell(shared: &Shared, addr: std::net::SocketAddr) {
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

async fn answer(shared: &Shared, req: Request<Incoming>) -> Resp {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let token_ok = |t: &str| {
        let tokens = shared
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.get(t).is_some_and(|until| Instant::now() < *until)
    };
    let route = metadata::route(req.method().as_str(), req.uri().path(), &header, &token_ok);
    match route {
        Err(r) => refused(&r),
        Ok(Route::ImdsToken(ttl)) => {
            let token = sesame_login::aws::metadata::new_token();
            let mut tokens = shared
                .tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            tokens.retain(|_, until| now < *until);
            tokens.insert(token.clone(), now + Duration::from_secs(u64::from(ttl)));
            reply(200, "text/plain", token)
        }
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

/// The role's credentials: from memory while enough is left, else from the store's cache or
/// the source (under the profile's lock), with the session refreshed if it is due.
async fn credentials(shared: &Shared, role: &str) -> Result<Credentials, Error> {
    let now = || unix_seconds(SystemTime::now());
    let enough = i64::try_from(shared.refresh_before).unwrap_or(i64::MAX);
    {
        let memory = shared
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = memory.get(role).filter(|c| c.seconds_left(now()) > enough) {
            return Ok(c.clone());
        }
    }
    let common = &shared.common;
    let session =
        sesame_login::current::fresh_session_with(common, shared.secret.as_ref(), &shared.printer)
            .await?;
    let opened = common.open_store()?;
    let creds = aws::cache::get_or_fetch(
        &*opened.store,
        &common.paths.data_dir,
        &session,
        (role, shared.refresh_before),
        now,
        || aws::source::credentials(&session, role, &shared.settings),
    )
    .await?;
    shared
        .memory
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(role.to_string(), creds.clone());
    Ok(creds)
}
