//! The challenge generator's reply, as the client reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let server = url::Url::parse("https://consoleme.example.com/prefix/").unwrap();
    if let Ok(c) = sesame_login::flows::challenge::parse_challenge(&server, data, true) {
        // What the client goes on to trust must hold for anything it accepted.
        assert!(matches!(c.challenge_url.scheme(), "http" | "https"));
        assert_eq!(c.polling_url.origin(), server.origin());
    }
});
