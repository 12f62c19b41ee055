//! The provider's discovery document (OpenID Connect Discovery 1.0).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = serde_json::from_slice::<sesame_login::oidc::Provider>(data) {
        for u in [Some(&p.token_endpoint), p.jwks_uri.as_ref()].into_iter().flatten() {
            let _ = sesame_login::http::check_server_url(u, false);
        }
    }
});
