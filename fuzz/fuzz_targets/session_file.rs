//! A session file (or keychain entry) as it is read back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = sesame_login::session::Session::from_json(text) {
        let _ = s.is_valid_at(1_800_000_000, 60);
        let _ = sesame_login::refresh::effective_skew(&s, 60);
        if let Some(e) = s.expires_at {
            let _ = sesame_login::clock::format_utc(e);
        }
        let back = sesame_login::session::Session::from_json(&s.to_json()).unwrap();
        assert_eq!(back.expires_at, s.expires_at);
    }
});
