//! A fixture JSON login API, in-process, modelled on the documented shapes of the four
//! systems docs/direct-login.md walks through. None of them has a public implementation to
//! run, so this is ours; each route answers as its model's docs say, including the failures.
//!
//! - `/koneksi`: email + password; with MFA on, "MFA required" and a `login_code` that is
//!   exchanged with a TOTP code for access and refresh tokens (rotated on refresh); `/auth/me`.
//! - `/jwtcli`: user name + password for a signed JWT (its `exp` is the expiry); `whoami`
//!   takes the JWT or an API key header.
//! - `/konekt`: `POST /api/1/auth/session {"email","password"}` answers
//!   `{"success":true,"data":{"sesskey":...}}` and a `sesskey` cookie; `users/me` takes the key
//!   as the `sesskey` query parameter or cookie, HTTP Basic, or an `apikey` parameter.
//! - `/cli4`: user name + password for an opaque token with `expires_at`; `me` takes the token
//!   or an API key.

#![allow(dead_code)]

use axum::Router;
use axum::extract::{Json, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use totp_rs::{Algorithm, TOTP};

pub const EMAIL: &str = "dana@example.com";
/// Quotes, a backslash and non-ASCII: it must arrive intact.
pub const PASSWORD: &str = "c0rrect \"horse\" \\ bätt€ry";
pub const API_KEY: &str = "ak_live_0123456789abcdef";
/// The TOTP seed the MFA user enrolled (20 bytes, as authenticator apps use).
pub const TOTP_SEED: &[u8] = b"sesame-totp-seed-20b";
const JWT_KEY: &[u8] = b"jwtcli-fixture-signing-key-0123456789";

pub fn totp() -> TOTP {
    TOTP::new(Algorithm::SHA1, 6, 1, 30, TOTP_SEED.to_vec()).expect("a valid TOTP setup")
}

/// The code an authenticator app shows now.
pub fn current_code() -> String {
    totp().generate_current().expect("the clock is after 1970")
}

#[derive(Default)]
pub struct Fixture {
    /// Seconds an access token lives (koneksi, cli4); tests shorten it to see refreshes.
    pub access_ttl: AtomicI64,
    pub logins: AtomicUsize,
    pub otp_checks: AtomicUsize,
    pub refreshes: AtomicUsize,
    tokens: Mutex<Tokens>,
    /// Every request body, to check that what was sent is what was meant.
    pub bodies: Mutex<Vec<Value>>,
}

#[derive(Default)]
struct Tokens {
    login_codes: HashMap<String, String>,
    access: HashMap<String, (String, i64)>,
    refresh: HashMap<String, String>,
    sesskeys: HashMap<String, String>,
}

use crate::common::unix_now as now;

fn random(prefix: &str) -> String {
    use rand::Rng;
    let n: u128 = rand::rng().random();
    format!("{prefix}{n:032x}")
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

impl Fixture {
    fn issue(&self, user: &str) -> (String, String, i64) {
        let ttl = self.access_ttl.load(Ordering::SeqCst);
        let access = random("at_");
        let refresh = random("rt_");
        let mut t = self.tokens.lock().unwrap();
        t.access
            .insert(access.clone(), (user.to_string(), now() + ttl));
        t.refresh.insert(refresh.clone(), user.to_string());
        (access, refresh, ttl)
    }

    fn bearer_user(&self, headers: &HeaderMap) -> Option<String> {
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        let t = self.tokens.lock().unwrap();
        let (user, exp) = t.access.get(token)?;
        (*exp > now()).then(|| user.clone())
    }

    fn record(&self, body: &Value) {
        self.bodies.lock().unwrap().push(body.clone());
    }
}

fn field<'a>(body: &'a Value, name: &str) -> &'a str {
    body.get(name).and_then(Value::as_str).unwrap_or_default()
}

// --- koneksi ---------------------------------------------------------------------------------

async fn koneksi_login(State(f): State<Arc<Fixture>>, Json(body): Json<Value>) -> Response {
    f.record(&body);
    f.logins.fetch_add(1, Ordering::SeqCst);
    if field(&body, "email") != EMAIL || field(&body, "password") != PASSWORD {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": "Invalid email or password"}),
        );
    }
    let code = random("lc_");
    f.tokens
        .lock()
        .unwrap()
        .login_codes
        .insert(code.clone(), EMAIL.into());
    reply(
        StatusCode::OK,
        json!({"success": true, "message": "MFA required", "data": {"login_code": code}}),
    )
}

async fn koneksi_verify(State(f): State<Arc<Fixture>>, Json(body): Json<Value>) -> Response {
    f.record(&body);
    f.otp_checks.fetch_add(1, Ordering::SeqCst);
    let user = f
        .tokens
        .lock()
        .unwrap()
        .login_codes
        .get(field(&body, "login_code"))
        .cloned();
    let Some(user) = user else {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": "Login code expired, log in again"}),
        );
    };
    let ok = totp().check_current(field(&body, "otp")).unwrap_or(false);
    if !ok {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": "Invalid OTP code"}),
        );
    }
    f.tokens
        .lock()
        .unwrap()
        .login_codes
        .remove(field(&body, "login_code"));
    let (access, refresh, ttl) = f.issue(&user);
    reply(
        StatusCode::OK,
        json!({"success": true, "data": {"access_token": access, "refresh_token": refresh, "expires_in": ttl, "token_type": "Bearer"}}),
    )
}

async fn koneksi_refresh(State(f): State<Arc<Fixture>>, Json(body): Json<Value>) -> Response {
    f.refreshes.fetch_add(1, Ordering::SeqCst);
    // Rotation: a refresh token works once.
    let user = f
        .tokens
        .lock()
        .unwrap()
        .refresh
        .remove(field(&body, "refresh_token"));
    let Some(user) = user else {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": "Invalid refresh token"}),
        );
    };
    let (access, refresh, ttl) = f.issue(&user);
    reply(
        StatusCode::OK,
        json!({"success": true, "data": {"access_token": access, "refresh_token": refresh, "expires_in": ttl}}),
    )
}

async fn koneksi_me(State(f): State<Arc<Fixture>>, headers: HeaderMap) -> Response {
    match f.bearer_user(&headers) {
        Some(user) => reply(
            StatusCode::OK,
            json!({"success": true, "data": {"email": user, "mfa_enabled": true}}),
        ),
        None => reply(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": "Unauthorized"}),
        ),
    }
}

// --- jwtcli ----------------------------------------------------------------------------------

async fn jwtcli_login(State(f): State<Arc<Fixture>>, Json(body): Json<Value>) -> Response {
    f.record(&body);
    f.logins.fetch_add(1, Ordering::SeqCst);
    if field(&body, "username") != "dana" || field(&body, "password") != PASSWORD {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid username or password"}),
        );
    }
    let claims = json!({"sub": "dana", "iat": now(), "exp": now() + 8 * 3600});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_KEY),
    )
    .unwrap();
    reply(StatusCode::OK, json!({"token": token}))
}

async fn jwtcli_whoami(headers: HeaderMap) -> Response {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(API_KEY) {
        return reply(
            StatusCode::OK,
            json!({"username": "dana", "via": "api key"}),
        );
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let claims = token.and_then(|t| {
        jsonwebtoken::decode::<Value>(
            t,
            &jsonwebtoken::DecodingKey::from_secret(JWT_KEY),
            &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
        )
        .ok()
    });
    match claims {
        Some(c) => reply(
            StatusCode::OK,
            json!({"username": c.claims["sub"], "via": "jwt"}),
        ),
        None => reply(StatusCode::UNAUTHORIZED, json!({"error": "not logged in"})),
    }
}

// --- konekt ----------------------------------------------------------------------------------

async fn konekt_session(State(f): State<Arc<Fixture>>, Json(body): Json<Value>) -> Response {
    f.record(&body);
    f.logins.fetch_add(1, Ordering::SeqCst);
    if field(&body, "email") != EMAIL || field(&body, "password") != PASSWORD {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "error": "Authentication failed: wrong email or password"}),
        );
    }
    let key = random("sk_");
    f.tokens
        .lock()
        .unwrap()
        .sesskeys
        .insert(key.clone(), EMAIL.into());
    let mut resp = reply(
        StatusCode::OK,
        json!({"success": true, "data": {"sesskey": key}}),
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        format!("sesskey={key}; Path=/; HttpOnly; Secure")
            .parse()
            .unwrap(),
    );
    resp
}

async fn konekt_me(
    State(f): State<Arc<Fixture>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(n, _)| *n == "sesskey")
                .map(|(_, v)| v.to_string())
        });
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let by_key = q
        .get("sesskey")
        .cloned()
        .or(cookie)
        .and_then(|k| f.tokens.lock().unwrap().sesskeys.get(&k).cloned());
    let by_basic = basic
        .filter(|b| *b == format!("{EMAIL}:{PASSWORD}"))
        .map(|_| EMAIL.to_string());
    let by_apikey = q
        .get("apikey")
        .filter(|k| k.as_str() == API_KEY)
        .map(|_| EMAIL.to_string());
    match by_key.or(by_basic).or(by_apikey) {
        Some(user) => reply(
            StatusCode::OK,
            json!({"success": true, "data": {"email": user, "company": "Konekt Demo"}}),
        ),
        None => reply(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "error": "Invalid session key"}),
        ),
    }
}

// --- cli4 ------------------------------------------------------------------------------------

async fn cli4_login(State(f): State<Arc<Fixture>>, Json(body): Json<Value>) -> Response {
    f.record(&body);
    f.logins.fetch_add(1, Ordering::SeqCst);
    if field(&body, "username") != "dana" || field(&body, "password") != PASSWORD {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"detail": "Incorrect username or password"}),
        );
    }
    let (access, _refresh, ttl) = f.issue("dana");
    reply(
        StatusCode::OK,
        json!({"access_token": access, "token_type": "bearer", "expires_at": now() + ttl}),
    )
}

async fn cli4_me(State(f): State<Arc<Fixture>>, headers: HeaderMap) -> Response {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(API_KEY) {
        return reply(
            StatusCode::OK,
            json!({"username": "dana", "auth": "api-key"}),
        );
    }
    match f.bearer_user(&headers) {
        Some(user) => reply(StatusCode::OK, json!({"username": user, "auth": "token"})),
        None => reply(
            StatusCode::UNAUTHORIZED,
            json!({"detail": "Not authenticated"}),
        ),
    }
}

/// The fixture, listening on an ephemeral loopback port on the tests' shared runtime.
pub struct Api {
    pub base: String,
    pub fixture: Arc<Fixture>,
}

impl Api {
    pub fn start() -> Api {
        let fixture = Arc::new(Fixture::default());
        fixture.access_ttl.store(900, Ordering::SeqCst);
        let app = Router::new()
            .route("/koneksi/auth/login", post(koneksi_login))
            .route("/koneksi/auth/verify-otp", post(koneksi_verify))
            .route("/koneksi/auth/refresh", post(koneksi_refresh))
            .route("/koneksi/auth/me", get(koneksi_me))
            .route("/jwtcli/api/auth/login", post(jwtcli_login))
            .route("/jwtcli/api/auth/whoami", get(jwtcli_whoami))
            .route("/konekt/api/1/auth/session", post(konekt_session))
            .route("/konekt/api/1/users/me", get(konekt_me))
            .route("/cli4/api/auth/login", post(cli4_login))
            .route("/cli4/api/auth/me", get(cli4_me))
            .with_state(fixture.clone());
        let listener = crate::common::block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("the fixture binds");
        let addr = listener.local_addr().unwrap();
        crate::common::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Api {
            base: format!("http://{addr}"),
            fixture,
        }
    }

    pub fn logins(&self) -> usize {
        self.fixture.logins.load(Ordering::SeqCst)
    }

    pub fn refreshes(&self) -> usize {
        self.fixture.refreshes.load(Ordering::SeqCst)
    }

    /// The profiles of docs/direct-login.md, pointed at this fixture.
    pub fn config(&self) -> String {
        let b = &self.base;
        format!(
            r#"
[profiles.koneksi]
flow = "password"
user = "{EMAIL}"
login-url = "{b}/koneksi/auth/login"
login-body = {{ email = "{{user}}", password = "{{password}}" }}
token-pointer = "/data/access_token"
refresh-token-pointer = "/data/refresh_token"
expires-in-pointer = "/data/expires_in"
mfa-pointer = "/data/login_code"
mfa-url = "{b}/koneksi/auth/verify-otp"
mfa-body = {{ login_code = "{{mfa}}", otp = "{{otp}}" }}
refresh-url = "{b}/koneksi/auth/refresh"
refresh-body = {{ refresh_token = "{{refresh_token}}" }}
whoami-url = "{b}/koneksi/auth/me"

[profiles.jwtcli]
flow = "password"
user = "dana"
login-url = "{b}/jwtcli/api/auth/login"
token-pointer = "/token"
whoami-url = "{b}/jwtcli/api/auth/whoami"

[profiles.jwtcli-key]
use-as = "header:X-API-Key"
whoami-url = "{b}/jwtcli/api/auth/whoami"

[profiles.konekt]
flow = "password"
user = "{EMAIL}"
login-url = "{b}/konekt/api/1/auth/session"
login-body = {{ email = "{{user}}", password = "{{password}}" }}
token-pointer = "/data/sesskey"
use-as = "query:sesskey"
whoami-url = "{b}/konekt/api/1/users/me"

[profiles.konekt-cookie]
flow = "password"
user = "{EMAIL}"
login-url = "{b}/konekt/api/1/auth/session"
login-body = {{ email = "{{user}}", password = "{{password}}" }}
use-as = "cookie:sesskey"
whoami-url = "{b}/konekt/api/1/users/me"

[profiles.konekt-basic]
flow = "basic"
user = "{EMAIL}"
whoami-url = "{b}/konekt/api/1/users/me"

[profiles.cli4]
flow = "password"
user = "dana"
login-url = "{b}/cli4/api/auth/login"
token-pointer = "/access_token"
expires-at-pointer = "/expires_at"
whoami-url = "{b}/cli4/api/auth/me"
"#
        )
    }
}
