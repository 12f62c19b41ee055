//! The token endpoint's reply, and the session made from it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sesame_login::oidc::{Grant, Provider, TokenResp, session_from};

fuzz_target!(|data: &[u8]| {
    let Ok(resp) = serde_json::from_slice::<TokenResp>(data) else {
        return;
    };
    let provider = Provider {
        issuer: "https://sso.example.com".into(),
        authorization_endpoint: None,
        token_endpoint: "https://sso.example.com/token".into(),
        device_authorization_endpoint: None,
        jwks_uri: None,
        userinfo_endpoint: None,
        revocation_endpoint: None,
    };
    let grant = Grant {
        profile: "p",
        provider: &provider,
        client_id: "cli",
        scopes: &[],
        flow: sesame_login::session::Flow::Browser,
    };
    let fallback = sesame_login::session::UserName::new("fallback").unwrap();
    let Ok(session) = session_from(&grant, &resp, None, &fallback, 1_800_000_000) else {
        return;
    };
    assert!(session.token.is_issued_form());
    assert!(sesame_login::text::is_clean(&session.user));
    // The session must store and load back.
    let again = sesame_login::session::Session::from_json(&session.to_json()).unwrap();
    assert_eq!(again.expires_at, session.expires_at);
    let _ = session.is_valid_at(1_800_000_000, 60);
});
