//! The challenge poller's reply.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = serde_json::from_slice::<sesame_login::protocol::PollResponse>(data)
        && let Ok(sesame_login::protocol::PollStatus::Success(a)) = reply.interpret(1_800_000_000)
    {
        // What enters is what may go into a header, a cookie, a git line or a terminal.
        assert!(a.jwt.is_issued_form());
        assert!(a.user.as_ref().is_none_or(|u| sesame_login::text::is_clean(u)));
        assert!(a.cookie_name.as_ref().is_none_or(|n| n.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b'=')));
        assert!(a.expiration.is_none_or(|e| e > 1_800_000_000));
    }
});
