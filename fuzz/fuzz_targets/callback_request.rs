//! A request to the loopback callback: its Host header, path and query.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sesame_login::flows::callback::{CallbackRequest, Rejected, read_request};

const STATE: &str = "s3cr3t-state-0123456789abcdefghijklmnopqrstuv";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let host = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let query = parts.next();
    let req = CallbackRequest {
        host,
        port: 8765,
        get: true,
        path,
        query,
    };
    match read_request(&req, STATE) {
        // Accepted only for our host and path, and only with our state in the query.
        Ok(_) => {
            assert!(host.ends_with(":8765") && path == "/callback");
            assert!(query.is_some_and(|q| q.contains("state=")));
        }
        Err(Rejected::Host | Rejected::NotFound | Rejected::State) => {}
    }
});
