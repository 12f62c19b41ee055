//! `sesame agent`'s server: a Unix socket that answers the protocol of
//! `sesame_login::agent::protocol` from the sessions it holds ([`sessions`]). Only this user's
//! processes are answered (the peer's uid, from the kernel); a client gets [`READ_TIMEOUT`] to
//! send its request and at most [`MAX_CLIENTS`] are served at once, so a slow or hostile client
//! costs the others nothing.

pub mod forward;
pub mod sessions;
pub mod socket;

use sesame_login::agent::protocol::{
    Answer, Op, Refusal, Request, Response, VERSION, encode, frame_len,
};
use sessions::Sessions;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, Semaphore};

/// How long a client has to send its whole request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the agent waits for a client to take its answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an answer may take to make (a first load from a slow keychain, a refresh); a
/// login on the laptop for an SSH host has the client's own [`LOGIN_TIMEOUT`](sesame_login::agent::client::LOGIN_TIMEOUT).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(90);
/// Clients served at once; more are closed at once (they read the store themselves).
pub const MAX_CLIENTS: usize = 64;

/// What answers the requests on a socket: the agent's own ([`agent_answers`]) or a forwarded
/// socket's ([`forward`]).
pub type Answerer =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// The agent's answers on its own socket; `Stop` notifies `stop`.
pub fn agent_answers(sessions: Arc<Sessions>, stop: Arc<Notify>) -> Answerer {
    Arc::new(move |request| {
        let (sessions, stop) = (sessions.clone(), stop.clone());
        Box::pin(async move { answer(request, &sessions, &stop).await })
    })
}

/// Serves `listener` with `answers` until `stop` is notified or `shutdown` completes.
pub async fn serve(
    listener: UnixListener,
    answers: Answerer,
    stop: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let uid = sesame_login::private_file::effective_uid();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            _ = stop.notified() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!("agent: accept: {e}");
                    // Out of file descriptors: give the others a moment to finish.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("agent: {MAX_CLIENTS} clients already; closing one");
            continue;
        };
        let answers = answers.clone();
        tokio::spawn(async move {
            let _slot = slot;
            handle(stream, uid, &answers).await;
        });
    }
    // Let the answers under way (the `Stop` request's own, at least) reach their clients.
    let all = u32::try_from(MAX_CLIENTS).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(WRITE_TIMEOUT, slots.acquire_many(all)).await;
}

/// One connection: one request, one answer.
async fn handle(mut stream: UnixStream, uid: u32, answers: &Answerer) {
    // The request is read first, from anyone (bounded in size and time), so that a refused
    // client gets its answer rather than a broken pipe; it is used only for this user.
    let request = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Err(_) => {
            tracing::debug!("agent: a client sent no request within {READ_TIMEOUT:?}");
            return;
        }
        Ok(r) => r,
    };
    let response = match (stream.peer_cred(), request) {
        (Ok(cred), _) if cred.uid() != uid => {
            tracing::debug!("agent: refused a client of uid {}", cred.uid());
            Response::refused(
                Refusal::Forbidden,
                "this agent answers only the user who started it",
            )
        }
        (Err(e), _) => {
            Response::refused(Refusal::Forbidden, format!("who is asking is unknown: {e}"))
        }
        (Ok(_), Err(refused)) => refused,
        (Ok(_), Ok(request)) => {
            let wait = if matches!(request.op, Op::Login { .. }) {
                sesame_login::agent::client::LOGIN_TIMEOUT
            } else {
                ANSWER_TIMEOUT
            };
            tokio::time::timeout(wait, answers(request))
                .await
                .unwrap_or_else(|_| {
                    Response::refused(Refusal::Unavailable, "the answer took too long")
                })
        }
    };
    let Ok(frame) = encode(&response) else {
        return;
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&frame)).await;
}

/// Reads one request frame; a bad one is the refusal to send back.
pub(crate) async fn read_request(stream: &mut UnixStream) -> Result<Request, Response> {
    let mut header = [0u8; 4];
    let bad = |what: String| Response::refused(Refusal::BadRequest, what);
    stream
        .read_exact(&mut header)
        .await
        .map_err(|e| bad(format!("no request: {e}")))?;
    let len = frame_len(header).map_err(|e| bad(e.to_string()))?;
    let mut body = vec![0u8; len];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| bad(format!("a short request: {e}")))?;
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| bad(format!("not JSON: {e}")))?;
    if value.get("v").and_then(serde_json::Value::as_u64) != Some(u64::from(VERSION)) {
        return Err(Response::refused(
            Refusal::Version,
            format!("this agent speaks version {VERSION} of the protocol"),
        ));
    }
    serde_json::from_value(value).map_err(|e| bad(format!("not a request: {e}")))
}

/// The answer to a request.
async fn answer(request: Request, sessions: &Arc<Sessions>, stop: &Notify) -> Response {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let pid = std::process::id();
    match request.op {
        Op::Ping => Response::new(Answer::Pong { pid, version }),
        Op::Status => Response::new(Answer::Status {
            pid,
            version,
            sessions: sessions.status(),
        }),
        Op::Session { at } => match sessions.get(&at).await {
            Ok(session) => Response::new(Answer::Session {
                session: Box::new(session),
            }),
            Err((why, message)) => Response::refused(why, message),
        },
        Op::Login { .. } => Response::refused(
            Refusal::Forbidden,
            "the agent does not log in; run `sesame login` on this machine",
        ),
        Op::Forget { at } => {
            sessions.forget(&at);
            Response::new(Answer::Done)
        }
        Op::Stop => {
            stop.notify_one();
            Response::new(Answer::Done)
        }
    }
}
