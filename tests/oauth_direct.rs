//! The direct OAuth grants against a real provider no one here wrote: npm `oauth2-mock-server`
//! (tests/oidc/mock-server.mjs). The resource-owner password grant (its ID token verified
//! against the provider's keys, then refreshed), and client credentials, re-obtained by
//! `sesame token` when the token runs out. Needs node: scripts/test-all.sh installs it.

mod common;
#[allow(unused_imports)]
mod oidc_support;

use common::{Sandbox, jwt_claims};
use oidc_support::{OidcProvider, require_node_fixture};
use serde_json::Value;

fn grants(provider: &OidcProvider) -> Vec<Value> {
    provider
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("grant_type").is_some())
        .collect()
}

fn session(s: &Sandbox, profile: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(s.session_file(profile)).unwrap()).unwrap()
}

#[test]
#[ignore = "needs node and npm (scripts/test-all.sh installs them)"]
fn password_grant_with_a_verified_id_token_then_refresh() {
    require_node_fixture();
    let provider = OidcProvider::start_mock_server(&[]);
    let s = Sandbox::new();
    let out = s.run_full(
        &[
            "login",
            "--flow",
            "password",
            "--issuer",
            &provider.issuer,
            "--client-id",
            "sesame-cli",
            "--user",
            "dana",
            "--password-stdin",
        ],
        &[],
        Some("hunter2-pass\n"),
    );
    out.expect_code(0)
        .no_panic()
        .stderr_has(&["Logged in as dana"]);
    assert!(!out.stderr.contains("hunter2-pass"));
    let saved = session(&s, "default");
    assert_eq!(saved["flow"], "password");
    assert!(
        saved["id_token"].is_string(),
        "the verified ID token is kept"
    );
    assert!(saved["oauth"]["userinfo_endpoint"].is_string());
    let first = s.run(&["token"]);
    first.expect_code(0);
    assert_eq!(jwt_claims(first.stdout.trim())["sub"], "dana");
    let g = grants(&provider);
    assert_eq!(g[0]["grant_type"], "password");
    assert_eq!(g[0]["username"], "dana");
    assert_eq!(g[0]["scope"], "openid offline_access");

    s.run(&["refresh"]).expect_code(0).no_panic();
    let second = s.run(&["token"]).stdout;
    assert_ne!(first.stdout, second);
    assert_eq!(grants(&provider)[1]["grant_type"], "refresh_token");

    // The provider's userinfo endpoint answers for the access token.
    let remote = s.run(&["status", "--remote"]);
    remote.expect_code(0);
    assert!(remote.stdout.contains("accepted by"), "{}", remote.stdout);
}

#[test]
#[ignore = "needs node and npm (scripts/test-all.sh installs them)"]
fn client_credentials_are_re_obtained_when_the_token_runs_out() {
    require_node_fixture();
    let provider = OidcProvider::start_mock_server(&[("MOCK_EXPIRES_IN", "3")]);
    let mut s = Sandbox::new();
    s.write_config(&format!(
        "[profiles.ci]\nflow = \"client-credentials\"\nissuer = \"{}\"\nclient-id = \"deploy-bot\"\nscope = \"openid api:write\"\naudience = \"https://api.example.com\"\n",
        provider.issuer
    ));
    // No secret anywhere: a usage error that says where it may come from.
    s.run(&["login", "--profile", "ci"])
        .expect_code(2)
        .stderr_has(&["SESAME_CLIENT_SECRET", "--client-secret-stdin"]);

    s.set("SESAME_CLIENT_SECRET", "bot-secret-1");
    let out = s.run(&["login", "--profile", "ci"]);
    out.expect_code(0)
        .no_panic()
        .stderr_has(&["Logged in as deploy-bot"]);
    let g = grants(&provider);
    assert_eq!(g[0]["grant_type"], "client_credentials");
    assert_eq!(g[0]["client_basic"], true, "the secret goes in HTTP Basic");
    assert_eq!(g[0]["scope"], "api:write", "no user scopes for a client");
    assert_eq!(g[0]["audience"], "https://api.example.com");
    let saved = session(&s, "ci");
    assert_eq!(saved["flow"], "client-credentials");
    assert!(saved.get("refresh_token").is_none());

    // The secret came from the environment: it is not written to the session file (issue 17,
    // item 13); `sesame token` renews with the secret the environment still holds.
    assert!(saved.get("client_secret").is_none(), "{saved}");
    assert!(!s.all_files_text().contains("bot-secret-1"));
    // (Read from the file: on a slow machine `sesame token` may already renew a 3 s token.)
    let first = session(&s, "ci")["token"].as_str().unwrap().to_string();
    let before = grants(&provider).len();
    std::thread::sleep(std::time::Duration::from_millis(3_200));
    let second = s.run(&["token", "--profile", "ci"]);
    second.expect_code(0).no_panic();
    assert_ne!(
        first,
        second.stdout.trim(),
        "a new token once the first expired"
    );
    let g = grants(&provider);
    assert_eq!(g.len(), before + 1, "{g:?}");
    let last = g.last().unwrap();
    assert_eq!(last["grant_type"], "client_credentials");
    assert_eq!(last["audience"], "https://api.example.com");

    // Once the token runs out with no secret at hand, the person is told to log in (exit 3).
    s.set("SESAME_CLIENT_SECRET", "");
    std::thread::sleep(std::time::Duration::from_millis(3_200));
    s.run(&["token", "--profile", "ci"])
        .expect_code(3)
        .no_panic();

    // Logging in again with the secret works as the first time.
    s.set("SESAME_CLIENT_SECRET", "bot-secret-1");
    let before = grants(&provider).len();
    s.run(&["login", "--profile", "ci"]).expect_code(0);
    assert_eq!(grants(&provider).len(), before + 1);

    // --client-secret-stdin works too, and `refresh` forces a new grant.
    let out = s.run_full(
        &["login", "--profile", "ci", "--client-secret-stdin"],
        &[],
        Some("bot-secret-2\n"),
    );
    out.expect_code(0);
    assert!(
        session(&s, "ci").get("client_secret").is_none(),
        "a secret from stdin is not written to the file store either"
    );
    let before = grants(&provider).len();
    s.run(&["refresh", "--profile", "ci"]).expect_code(0);
    assert_eq!(grants(&provider).len(), before + 1);
}

/// The library's builder with a client secret: a program that embeds sesame-login gets a
/// client-credentials token from a real provider, the secret in HTTP Basic and never in the
/// store, and gets a new token from the provider when this one runs out.
#[test]
#[ignore = "needs node and npm (scripts/test-all.sh installs them)"]
fn the_library_with_a_client_secret_gets_and_renews_client_credentials() {
    use sesame_login::config::FlowChoice;
    use sesame_login::secret::Secret;
    use sesame_login::store::StoreKind;
    require_node_fixture();
    let provider = OidcProvider::start_mock_server(&[("MOCK_EXPIRES_IN", "3")]);
    let dir = tempfile::tempdir().unwrap();
    let auth = sesame_login::Auth::builder("mytool")
        .oidc(&provider.issuer, "deploy-bot")
        .client_secret(Secret::new("bot-secret-1"))
        .flow(FlowChoice::ClientCredentials)
        .store(StoreKind::File)
        .data_dir(dir.path())
        .build()
        .unwrap();
    let blocking = sesame_login::blocking::Auth::from(auth);
    let first = blocking.token_or_login().unwrap();
    let g = grants(&provider);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0]["grant_type"], "client_credentials");
    assert_eq!(g[0]["client_basic"], true, "the secret goes in HTTP Basic");
    let stored: String = walk(dir.path());
    assert!(!stored.contains("bot-secret-1"), "the secret is not stored");
    std::thread::sleep(std::time::Duration::from_millis(3_200));
    let second = blocking.token_or_login().unwrap();
    assert_ne!(
        first.expose(),
        second.expose(),
        "a new token once the first ran out"
    );
    assert_eq!(grants(&provider).len(), 2);
}

/// Every file under `dir`, as text.
fn walk(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&walk(&p));
        } else {
            out.push_str(&String::from_utf8_lossy(
                &std::fs::read(&p).unwrap_or_default(),
            ));
        }
    }
    out
}
