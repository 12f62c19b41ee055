//! A JWT's claims, read (not verified) for display, expiry and the user name.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let _ = sesame_login::jwt::claims(&token);
    if let Some(exp) = sesame_login::jwt::expiry(&token) {
        let _ = sesame_login::clock::format_utc(exp);
    }
    let _ = sesame_login::jwt::subject(&token);
});
