//! What a client (or a forwarded SSH host) sends the agent, and what an agent sends back: one
//! frame read as a request and as a response. No input may panic, and what is read writes
//! back as a frame that reads the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sesame_login::agent::protocol::{Request, Response, encode, read_frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = read_frame::<Request>(&mut &data[..]) {
        let again = encode(&request).unwrap();
        assert_eq!(read_frame::<Request>(&mut &again[..]).unwrap(), request);
    }
    if let Ok(response) = read_frame::<Response>(&mut &data[..]) {
        let again = encode(&response).unwrap();
        let back = read_frame::<Response>(&mut &again[..]).unwrap();
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&response).unwrap()
        );
    }
});
