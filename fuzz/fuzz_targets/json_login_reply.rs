//! A JSON login API's reply, read through the configured pointers: whatever the server sends
//! (any status, any JSON, cookies), the result is tokens, a second-factor request or an error,
//! never a panic; an expiry, when found, is within the allowed lifetime.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sesame_login::json_api::{self, JsonApi, MAX_LIFETIME_SECS, Mfa, Reply, Step};
use sesame_login::secret::Secret;

const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let status = [200, 201, 204, 302, 400, 401, 403, 429, 500, 503][first as usize % 10];
    let api = JsonApi {
        login_url: "https://api.example.com/login".into(),
        login_body: json_api::default_login_body(),
        token_pointer: Some("/data/token".into()),
        refresh_token_pointer: Some("/data/refresh".into()),
        expires_in_pointer: (first & 0x10 != 0).then(|| "/data/expires_in".into()),
        expires_at_pointer: (first & 0x10 == 0).then(|| "/data/exp".into()),
        error_pointer: (first & 0x20 != 0).then(|| "/error/0".into()),
        mfa_pointer: Some("/data/mfa".into()),
        mfa_url: Some("https://api.example.com/mfa".into()),
        mfa_body: json_api::default_mfa_body(),
        refresh_url: None,
        refresh_body: json_api::default_refresh_body(),
        cookie: (first & 0x40 != 0).then(|| "sid".into()),
    };
    let reply = Reply {
        status,
        json: json.clone(),
        cookies: vec![("sid".into(), Secret::new("cookie-value"))],
    };
    let mfa = if first & 0x80 != 0 {
        Mfa::Allowed
    } else {
        Mfa::NotAllowed
    };
    match api.interpret(&reply, "login", mfa, NOW) {
        Ok(Step::Done(tokens)) => {
            assert!((200..300).contains(&status));
            let active = api
                .expires_in_pointer
                .as_deref()
                .or(api.expires_at_pointer.as_deref())
                .unwrap_or_default();
            if json.pointer(active).is_some_and(|v| !v.is_null()) {
                let exp = tokens.expires_at.unwrap();
                assert!((NOW..=NOW + MAX_LIFETIME_SECS).contains(&exp), "{exp}");
            }
            assert!(!tokens.token.expose().is_empty());
        }
        Ok(Step::SecondFactor(_)) => assert!(first & 0x80 != 0),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // A template filled with the reply's text stays valid JSON.
    let text = String::from_utf8_lossy(rest);
    let body = json_api::render(&api.login_body, &[("user", &text), ("password", &text)]);
    let again: serde_json::Value = serde_json::from_str(&body.to_string()).unwrap();
    assert_eq!(again["password"].as_str(), Some(text.as_ref()));
});
