//! The yardstick for `benches/serve_load.sh`: a minimal hyper HTTP/1 server that answers every
//! request with the bytes `sesame serve` answers a pending poll with, and nothing else (no
//! routing, no state, no logging). `sesame serve`'s requests per second are quoted as a ratio
//! of this server's, measured in the same run on the same machine.
//!
//! `cargo run --release --example serve_baseline` prints its URL and serves until killed.

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, header};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("http://{}/", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(|_req| async {
                let mut resp =
                    Response::new(Full::new(Bytes::from_static(br#"{"status":"pending"}"#)));
                // The same bytes as `sesame serve`'s pending poll, headers included.
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                h.insert(
                    header::CACHE_CONTROL,
                    header::HeaderValue::from_static("no-store"),
                );
                h.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    header::HeaderValue::from_static("nosniff"),
                );
                Ok::<_, Infallible>(resp)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
