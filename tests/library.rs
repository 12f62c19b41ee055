//! The embeddable library's entry point, `sesame_login::Auth`, against the real reference
//! server: log in, keep the session, hand out the token; errors a program can match by kind;
//! the blocking wrapper called from inside tokio runtimes of both flavours (no nested runtime).

mod common;

use common::RefServer;
use sesame_login::browser::Opener;
use sesame_login::store::{FileStore, StoreKind, TokenStore};
use sesame_login::{Auth, ErrorKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use url::Url;

/// Stands in for the person at the browser: approves (or denies) each challenge it is asked
/// to open, from another thread as a browser would, and counts them.
struct Person {
    approve: bool,
    opened: AtomicUsize,
}

impl Opener for Person {
    fn open(&self, url: &Url) -> Result<(), String> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        let (url, approve) = (url.to_string(), self.approve);
        std::thread::spawn(move || {
            if approve {
                common::approve(&url);
            } else {
                common::deny(&url);
            }
        });
        Ok(())
    }
}

fn person(approve: bool) -> Arc<Person> {
    Arc::new(Person {
        approve,
        opened: AtomicUsize::new(0),
    })
}

fn auth(server: &RefServer, dir: &std::path::Path, person: Arc<Person>) -> Auth {
    Auth::builder("sesame-library-test")
        .challenge(&server.origin())
        .user(common::USER)
        .store(StoreKind::File)
        .data_dir(dir)
        .build_with(person)
        .expect("the settings are valid")
}

/// The blocking wrapper inside a current-thread runtime, where a nested `block_on` would panic:
/// the first call logs in (one approval), the session lands in the store, the second call
/// reuses it without asking anyone.
#[test]
fn blocking_token_or_login_from_a_current_thread_runtime() {
    let server = RefServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { blocking_twice(&server) });
}

fn blocking_twice(server: &RefServer) {
    assert!(
        tokio::runtime::Handle::try_current().is_ok(),
        "inside a runtime"
    );
    let dir = tempfile::tempdir().unwrap();
    let approver = person(true);
    let auth = sesame_login::blocking::Auth::from(auth(server, dir.path(), approver.clone()));

    let first = auth.token_or_login().expect("logs in");
    assert_eq!(approver.opened.load(Ordering::SeqCst), 1);
    let saved = FileStore::in_data_dir(dir.path()).load("default").unwrap();
    assert_eq!(saved.token.expose(), first.expose());
    assert_eq!(saved.user.as_str(), common::USER);

    let second = auth.token().expect("the saved session");
    assert_eq!(second.expose(), first.expose());
    assert_eq!(approver.opened.load(Ordering::SeqCst), 1, "no second login");
}

/// The blocking wrapper on a multi-thread runtime's worker, and the async API beside it.
#[test]
fn blocking_and_async_from_a_multi_thread_runtime() {
    let server = RefServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { blocking_and_async(&server).await });
}

async fn blocking_and_async(server: &RefServer) {
    let dir = tempfile::tempdir().unwrap();
    let approver = person(true);
    let async_auth = auth(server, dir.path(), approver.clone());
    let auth = sesame_login::blocking::Auth::from(async_auth.clone());

    let session = auth.login().expect("logs in");
    let token = async_auth.token().await.expect("the async API sees it");
    assert_eq!(token.expose(), session.token.expose());
    assert!(auth.logout().unwrap(), "there was a session to forget");
    let e = async_auth.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotLoggedIn, "{e}");
}

/// A program tells "log in first" from "the session is over" from "refused" by kind, and
/// reaches the protocol's reason through the source chain. A denied login keeps the
/// previous session.
#[test]
fn errors_have_kinds_and_sources() {
    let server = RefServer::start();
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::in_data_dir(dir.path());

    let auth = sesame_login::blocking::Auth::from(auth(&server, dir.path(), person(true)));
    let e = auth.token().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotLoggedIn, "{e}");
    // The hint is for the program's users, not the sesame command's: no `sesame login`.
    let hint = e.hint.clone().unwrap_or_default();
    assert!(!hint.contains("sesame ") && !hint.contains("--"), "{hint}");
    assert!(hint.contains("Auth::login"), "{hint}");

    // An expired session without a refresh token is over.
    let mut expired = auth.login().expect("logs in");
    expired.expires_at = Some(1_000_000);
    store.save(&expired).unwrap();
    let e = auth.token().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Expired, "{e}");
    assert!(e.message.contains("expired"), "{}", e.message);

    let denied = sesame_login::blocking::Auth::from(auth_denied(&server, dir.path()));
    let e = denied.login().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
    let hint = e.hint.clone().unwrap_or_default();
    assert!(!hint.contains("sesame "), "{hint}");
    let source = std::error::Error::source(&e).expect("the protocol's reason");
    assert!(source.to_string().contains("denied"), "{source}");
    let kept = store.load("default").unwrap();
    assert_eq!(
        kept.token.expose(),
        expired.token.expose(),
        "previous session intact"
    );
}

fn auth_denied(server: &RefServer, dir: &std::path::Path) -> Auth {
    auth(server, dir, person(false))
}

/// Bad settings are `Config` errors from `build`, before anything runs.
#[test]
fn bad_settings_are_config_errors() {
    let cases = [
        Auth::builder("my tool").oidc("https://id.example.com", "c"),
        Auth::builder("tool")
            .profile("../x")
            .oidc("https://id.example.com", "c"),
        Auth::builder("tool"),
        Auth::builder("tool").oidc("", ""),
        Auth::builder("tool").oidc("http://id.example.com", "c"),
        Auth::builder("tool")
            .challenge("https://h.example.com")
            .user("a\nb"),
        Auth::builder("tool")
            .oidc("https://id.example.com", "c")
            .timeout(std::time::Duration::ZERO),
    ];
    for builder in cases {
        let e = builder.clone().build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{builder:?}: {e}");
    }
    // Unset variables passed through: said as such, not as a URL that does not parse.
    let e = Auth::builder("tool").oidc("", "").build().unwrap_err();
    assert!(e.message.starts_with("Nothing to log in to"), "{e}");
}

/// A provider whose metadata has no device authorization endpoint, asked for the device flow
/// (no browser): the message says so in words a program's users can read, the kind is
/// `Config`, and the hint does not name a `sesame` flag. (A stand-in provider: the point is
/// the missing endpoint, which real providers only lack by configuration.)
#[test]
fn a_missing_endpoint_is_a_config_error_in_the_programs_words() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let provider = common::block_on(async {
        let server = MockServer::start().await;
        let issuer = server.uri();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })))
            .mount(&server)
            .await;
        server
    });
    let dir = tempfile::tempdir().unwrap();
    let auth = Auth::builder("sesame-library-test")
        .oidc(&provider.uri(), "a-client")
        .no_browser()
        .store(StoreKind::File)
        .data_dir(dir.path())
        .build_with(person(true))
        .expect("the settings are valid");
    let e = sesame_login::blocking::Auth::from(auth)
        .login()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("no device authorization endpoint, so the device flow cannot run"),
        "{text}"
    );
    let hint = e.hint.clone().unwrap_or_default();
    assert!(
        !text.contains("--") && !hint.contains("--"),
        "{text} / {hint}"
    );
    assert!(hint.contains("Auth::builder"), "{hint}");
}

/// A stored session that is not one: kind `Store`, the store's error in the source chain, and
/// a hint in the program's terms (log out, then in), not `sesame logout`.
#[test]
fn a_damaged_session_is_a_store_error_with_its_cause() {
    let server = RefServer::start();
    let dir = tempfile::tempdir().unwrap();
    let auth = sesame_login::blocking::Auth::from(auth(&server, dir.path(), person(true)));
    auth.login().expect("logs in");
    let file = FileStore::in_data_dir(dir.path()).describe("default");
    let path = file.trim_start_matches("file ");
    std::fs::write(path, "not json").unwrap();
    let e = auth.token().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store, "{e}");
    let cause = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<sesame_login::store::StoreError>());
    assert!(
        matches!(cause, Some(sesame_login::store::StoreError::Damaged { .. })),
        "{e:?}"
    );
    let hint = e.hint.clone().unwrap_or_default();
    assert!(
        hint.contains("Auth::logout") && !hint.contains("sesame "),
        "{hint}"
    );
    assert!(auth.logout().unwrap());
    auth.login().expect("logs in again");
    auth.token().expect("a token again");
}
