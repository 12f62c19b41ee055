//! Parked long-polls: a waiting long-poll costs the socket, its request head and a `watch`
//! receiver, not hyper's buffers.
//!
//! hyper gives every HTTP/1 connection an 8 KiB read buffer and an 8 KiB write buffer and,
//! while a request is in flight, a second read buffer to notice the client leaving; thousands
//! of long-polls waiting for people to approve in a browser would cost about 20 KB each. So the
//! connection loop reads a fresh connection's first request head itself; if it is a long-poll
//! of a pending challenge ([`long_poll`]), the connection waits here ([`park`]) until the
//! challenge changes, the wait is over, or the client hangs up. Then the head goes to hyper
//! unchanged ([`Rewind`]) and the handler answers from the current state, as for any poll.
//! Parking only delays a request: parsing, checks and the answer are hyper's and the handler's,
//! so a head this module misreads is merely not parked.
//!
//! A pending answer to a long-poll closes its connection (`Connection: close`), so the client's
//! next long-poll arrives on a fresh connection and is parked too.

use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The most of a first request read before deciding (a long-poll head is about 200 bytes; a
/// larger first read is handed to hyper as it is).
pub const FIRST_READ: usize = 2048;

/// What the handler learns of a request that was parked: when it arrived, and until when its
/// long-poll may last (already waited for, up to now).
#[derive(Debug, Clone, Copy)]
pub struct Parked {
    pub since: Instant,
    pub until: Instant,
}

/// A long-poll request, as read from its head.
#[derive(Debug, PartialEq, Eq)]
pub struct LongPoll {
    pub token: String,
    /// Seconds requested (not yet capped).
    pub wait: u64,
    /// The value of the trusted proxy header, if one was configured and sent.
    pub forwarded: Option<String>,
}

/// The long-poll in `head`, if it is one: a complete `GET {poller_path}TOKEN?wait=N` head with
/// `N > 0`, no body, and a plain token. Anything else (or anything odd) is `None`.
pub fn long_poll(head: &[u8], poller_path: &str, proxy_header: Option<&str>) -> Option<LongPoll> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(_) = req.parse(head).ok()? else {
        return None;
    };
    if req.method? != "GET" {
        return None;
    }
    let (path, query) = req.path?.split_once('?')?;
    // A token as the poll shortcut takes it, so that a parked poll is answered by the shortcut.
    let token = super::shortcut::plain_token(path, poller_path)?;
    let wait = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "wait")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .filter(|w| *w > 0)?;
    let mut forwarded = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") && h.value != b"0"
            || h.name.eq_ignore_ascii_case("transfer-encoding")
        {
            return None;
        }
        if proxy_header.is_some_and(|p| h.name.eq_ignore_ascii_case(p)) {
            forwarded = Some(String::from_utf8_lossy(h.value).into_owned());
        }
    }
    Some(LongPoll {
        token: token.to_string(),
        wait,
        forwarded,
    })
}

/// How a parked connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Unparked {
    /// The challenge changed or the wait is over: hand the request to hyper.
    Ready,
    /// The client hung up (or the server is stopping): drop the connection.
    Gone,
}

/// Waits until `changed` fires, `until` passes, the client hangs up or `stop` is cancelled. Bytes the
/// client sends meanwhile (a pipelined request) are appended to `head`, up to [`FIRST_READ`]
/// more; beyond that the request is handed on.
pub async fn park(
    stream: &TcpStream,
    head: &mut Vec<u8>,
    mut changed: watch::Receiver<()>,
    until: Instant,
    stop: &CancellationToken,
) -> Unparked {
    let sleep = tokio::time::sleep_until(until);
    tokio::pin!(sleep);
    let cap = head.len() + FIRST_READ;
    loop {
        tokio::select! {
            _ = changed.changed() => return Unparked::Ready,
            () = &mut sleep => return Unparked::Ready,
            () = stop.cancelled() => return Unparked::Gone,
            ready = stream.readable() => {
                if ready.is_err() {
                    return Unparked::Gone;
                }
                let mut chunk = [0u8; 256];
                match stream.try_read(&mut chunk) {
                    Ok(0) => return Unparked::Gone,
                    Ok(n) => {
                        head.extend_from_slice(&chunk[..n]);
                        if head.len() >= cap {
                            return Unparked::Ready;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Unparked::Gone,
                }
            }
        }
    }
}

/// A stream that first replays bytes already read from it: the head read before hyper took
/// the connection.
pub struct Rewind<T> {
    prefix: Bytes,
    inner: T,
}

impl<T> Rewind<T> {
    pub fn new(prefix: Bytes, inner: T) -> Self {
        Rewind { prefix, inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let taken = self.prefix.split_to(n);
            buf.put_slice(&taken);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const POLLER: &str = "/noauth/v1/challenge_poller/";

    #[test]
    fn a_long_poll_head_is_recognised() {
        let head = b"GET /noauth/v1/challenge_poller/abcDEF123?wait=25 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n\r\n";
        assert_eq!(
            long_poll(head, POLLER, Some("x-forwarded-for")),
            Some(LongPoll {
                token: "abcDEF123".into(),
                wait: 25,
                forwarded: Some("10.0.0.1, 10.0.0.2".into()),
            })
        );
        assert_eq!(
            long_poll(head, POLLER, None).map(|l| l.forwarded),
            Some(None)
        );
    }

    #[test]
    fn anything_else_is_not_parked() {
        for head in [
            // no wait, wait=0, a bad wait
            &b"GET /noauth/v1/challenge_poller/abc HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET /noauth/v1/challenge_poller/abc?wait=0 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /noauth/v1/challenge_poller/abc?wait=-1 HTTP/1.1\r\nHost: x\r\n\r\n",
            // incomplete head
            b"GET /noauth/v1/challenge_poller/abc?wait=5 HTTP/1.1\r\nHost: x\r\n",
            // another method, another path, an odd token
            b"POST /noauth/v1/challenge_poller/abc?wait=5 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /noauth/v1/challenge_generator/abc?wait=5 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /noauth/v1/challenge_poller/a%2Fb?wait=5 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /noauth/v1/challenge_poller/?wait=5 HTTP/1.1\r\nHost: x\r\n\r\n",
            // a body
            b"GET /noauth/v1/challenge_poller/abc?wait=5 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"GET /noauth/v1/challenge_poller/abc?wait=5 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            // not HTTP
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ] {
            assert_eq!(
                long_poll(head, POLLER, None),
                None,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[tokio::test]
    async fn rewind_replays_the_prefix_then_reads_on() {
        let (client, server) = tokio::io::duplex(64);
        let mut client = client;
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut io = Rewind::new(Bytes::from_static(b"hello"), server);
        let mut all = String::new();
        io.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    #[tokio::test]
    async fn park_ends_on_change_on_time_and_on_hang_up() {
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let stop = CancellationToken::new();

        // Changed.
        let (_client, server) = pair().await;
        let (tx, rx) = watch::channel(());
        let first_stop = stop.clone();
        let parked =
            tokio::spawn(async move { park(&server, &mut Vec::new(), rx, far, &first_stop).await });
        tx.send_replace(());
        assert_eq!(parked.await.unwrap(), Unparked::Ready);

        // Time.
        let (_client, server) = pair().await;
        let (_tx, rx) = watch::channel(());
        let soon = Instant::now() + std::time::Duration::from_millis(50);
        assert_eq!(
            park(&server, &mut Vec::new(), rx, soon, &stop).await,
            Unparked::Ready
        );

        // Pipelined bytes are kept; a hang-up ends it.
        let (mut client, server) = pair().await;
        let (_tx, rx) = watch::channel(());
        client.write_all(b"next").await.unwrap();
        client.shutdown().await.unwrap();
        drop(client);
        let mut head = b"first ".to_vec();
        assert_eq!(
            park(&server, &mut head, rx, far, &stop).await,
            Unparked::Gone
        );
        assert_eq!(head, b"first next");

        // The server stopping ends it.
        let (_client, server) = pair().await;
        let (_tx, rx) = watch::channel(());
        stop.cancel();
        assert_eq!(
            park(&server, &mut Vec::new(), rx, far, &stop).await,
            Unparked::Gone
        );
    }
}
