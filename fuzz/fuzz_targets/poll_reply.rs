//! The challenge poller's reply.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = serde_json::from_slice::<sesame::protocol::PollResponse>(data)
        && let Ok(sesame::protocol::PollStatus::Success(a)) = reply.interpret()
    {
        assert!(!a.jwt.expose().trim().is_empty());
    }
});
