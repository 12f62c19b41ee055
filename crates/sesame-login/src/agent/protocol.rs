//! The agent's wire protocol (docs/agent.md): one request and one response per connection, each
//! a frame of a 4-byte big-endian length and that many bytes of UTF-8 JSON, at most
//! [`MAX_FRAME`] bytes. Every message carries the protocol version `v`; fields a side does not
//! know are ignored, so a later version can add some.

use crate::session::Session;
use crate::settings::Common;
use crate::store::StoreKind;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The largest frame either side sends or accepts: a session is a few kilobytes.
pub const MAX_FRAME: usize = 64 * 1024;

/// Which session a request is about: the profile and the store it is kept in, as the asking
/// command resolved them, so that the agent answers from the same place the command would read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Where {
    /// The profile.
    pub profile: String,
    /// The store: `auto`, `keychain` or `file`.
    pub store: StoreKind,
    /// The data directory (session files, locks).
    pub data_dir: PathBuf,
    /// The keychain entries' service name.
    pub keychain_service: String,
}

impl Where {
    /// Where `common` says the session is.
    pub fn of(common: &Common) -> Where {
        Where {
            profile: common.profile.clone(),
            store: common.store,
            data_dir: common.paths.data_dir.clone(),
            keychain_service: common.keychain.service.clone(),
        }
    }
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Is an agent there, and which.
    Ping,
    /// The sessions the agent holds, for `sesame doctor` (no secrets).
    Status,
    /// The session at `at`, fit to use now; loaded from its store on first use and kept.
    Session {
        /// Which session.
        #[serde(flatten)]
        at: Where,
    },
    /// Log in to the profile where the agent runs, then answer as `Session`: what a
    /// `sesame login` on an SSH host asks the laptop through `sesame ssh`'s socket. Other
    /// sockets refuse it.
    Login {
        /// Which profile (a forwarded socket ignores the store and paths).
        #[serde(flatten)]
        at: Where,
    },
    /// Drop what the agent holds for `at` (after `sesame login`, `logout` or `refresh`
    /// changed the store); the next request reads the store again.
    Forget {
        /// Which session.
        #[serde(flatten)]
        at: Where,
    },
    /// Stop the agent.
    Stop,
}

/// A request: the version and the operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The protocol version the client speaks ([`VERSION`]).
    pub v: u32,
    /// What it asks.
    #[serde(flatten)]
    pub op: Op,
}

impl Request {
    /// A request in this build's version.
    pub fn new(op: Op) -> Request {
        Request { v: VERSION, op }
    }
}

/// Why the agent did not answer with a session; the client then reads the store itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// The store holds no session for the profile.
    NotLoggedIn,
    /// The session is over and cannot be refreshed.
    Expired,
    /// The store or the provider could not be reached.
    Unavailable,
    /// Not allowed on this socket.
    Forbidden,
    /// The request could not be read.
    BadRequest,
    /// The client speaks another protocol version.
    Version,
}

/// A session the agent holds, as `Op::Status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The profile.
    pub profile: String,
    /// The store it came from.
    pub store: StoreKind,
    /// When its token expires (Unix seconds), if known.
    pub expires_at: Option<i64>,
    /// When the agent will refresh it (Unix seconds), if it can.
    pub refresh_at: Option<i64>,
}

/// What the agent answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Answer {
    /// To `Ping`.
    Pong {
        /// The agent's process ID.
        pid: u32,
        /// The agent's sesame version.
        version: String,
    },
    /// To `Status`.
    Status {
        /// The agent's process ID.
        pid: u32,
        /// The agent's sesame version.
        version: String,
        /// What it holds.
        sessions: Vec<Held>,
    },
    /// To `Session`: the session without its refresh token or client secret, which never
    /// leave the agent.
    Session {
        /// The session.
        session: Box<Session>,
    },
    /// To `Forget` and `Stop`.
    Done,
    /// The request was refused.
    Refused {
        /// Why, for programs.
        why: Refusal,
        /// Why, for people.
        message: String,
    },
}

/// A response: the version and the answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    /// The protocol version the agent speaks ([`VERSION`]).
    pub v: u32,
    /// The answer.
    #[serde(flatten)]
    pub answer: Answer,
}

impl Response {
    /// A response in this build's version.
    pub fn new(answer: Answer) -> Response {
        Response { v: VERSION, answer }
    }

    /// A refusal.
    pub fn refused(why: Refusal, message: impl Into<String>) -> Response {
        Response::new(Answer::Refused {
            why,
            message: message.into(),
        })
    }
}

/// `msg` as a frame: its length, then its JSON.
pub fn encode(msg: &impl Serialize) -> io::Result<Vec<u8>> {
    let json = serde_json::to_vec(msg).map_err(io::Error::other)?;
    if json.is_empty() || json.len() > MAX_FRAME {
        return Err(io::Error::other(format!(
            "a {}-byte message does not fit in a frame (at most {MAX_FRAME})",
            json.len()
        )));
    }
    let len = u32::try_from(json.len()).map_err(io::Error::other)?;
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(&json);
    Ok(frame)
}

/// The length a frame's header announces, if it is one a peer may send.
pub fn frame_len(header: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_be_bytes(header) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes (at most {MAX_FRAME})"),
        ));
    }
    Ok(len)
}

/// Reads one frame's JSON from `r` (blocking; the caller sets the timeouts).
pub fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> io::Result<T> {
    let mut header = [0u8; 4];
    r.read_exact(&mut header)?;
    let mut body = vec![0u8; frame_len(header)?];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Writes `msg` to `w` as one frame.
pub fn write_frame(w: &mut impl Write, msg: &impl Serialize) -> io::Result<()> {
    w.write_all(&encode(msg)?)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Where {
        Where {
            profile: "work".into(),
            store: StoreKind::File,
            data_dir: "/home/a/.local/share/sesame".into(),
            keychain_service: "sesame".into(),
        }
    }

    #[test]
    fn requests_are_the_documented_json() {
        let json = serde_json::to_value(Request::new(Op::Session { at: at() })).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"v": 1, "op": "session", "profile": "work", "store": "file",
                "data_dir": "/home/a/.local/share/sesame", "keychain_service": "sesame"})
        );
        let ping: Request =
            serde_json::from_str(r#"{"v": 1, "op": "ping", "later": "ignored"}"#).unwrap();
        assert_eq!(ping.op, Op::Ping);
        assert!(serde_json::from_str::<Request>(r#"{"v": 1, "op": "steal"}"#).is_err());
    }

    #[test]
    fn frames_round_trip_and_bad_lengths_are_refused() {
        let frame = encode(&Request::new(Op::Stop)).unwrap();
        assert_eq!(frame[..4], ((frame.len() - 4) as u32).to_be_bytes());
        let back: Request = read_frame(&mut &frame[..]).unwrap();
        assert_eq!(back.op, Op::Stop);
        for bad in [0u32, MAX_FRAME as u32 + 1, u32::MAX] {
            let mut bytes = bad.to_be_bytes().to_vec();
            bytes.extend_from_slice(b"{}");
            let err = read_frame::<Request>(&mut &bytes[..]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bad}");
        }
        let short = [0u8, 0, 0, 10, b'{'];
        assert!(read_frame::<Request>(&mut &short[..]).is_err());
        let garbage = [0u8, 0, 0, 3, b'a', b'b', b'c'];
        let err = read_frame::<Request>(&mut &garbage[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn refusals_carry_their_kind() {
        let r = Response::refused(Refusal::NotLoggedIn, "no session");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"v": 1, "result": "refused", "why": "not-logged-in", "message": "no session"})
        );
    }
}
