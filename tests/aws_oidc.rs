//! `sesame aws` for an OpenID Connect session: a device login at a real provider
//! (`tests/oidc/provider.mjs`, oidc-provider), its ID token traded at moto's STS
//! (`AssumeRoleWithWebIdentity`), the AWS CLI as the consumer; and STS's refusals, from a
//! wiremock STS, as sentences. scripts/test-all.sh installs node's packages, moto and the AWS
//! CLI.

#[path = "aws_support/mod.rs"]
mod aws_support;
mod common;
#[path = "oidc_support/mod.rs"]
mod oidc_support;

use aws_support::{aws, moto};
use oidc_support::{OidcProvider, Sandbox, require_node_fixture};
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DEV: &str = "arn:aws:iam::123456789012:role/web-dev";
const ADMIN: &str = "arn:aws:iam::123456789012:role/web-admin";

/// The profile's [aws] table with the two roles and `sts` as the endpoint.
fn aws_profile(sb: &Sandbox, sts: &str) {
    sb.write_config(&format!(
        "[profiles.default.aws]\nroles = [\"{DEV}\", \"{ADMIN}\"]\nsts-endpoint = \"{sts}\"\nsession-name = \"alice-laptop\"\n"
    ));
}

fn sts_error(code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_raw(
        format!("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>"),
        "text/xml",
    )
}

#[test]
#[ignore = "needs node, oidc-provider, moto_server and aws (scripts/test-all.sh installs them)"]
fn an_oidc_session_gets_sts_credentials_for_the_aws_cli_and_sts_refusals_are_sentences() {
    require_node_fixture();
    let provider = OidcProvider::start(&[]);
    let (_moto, sts) = moto();
    let sb = Sandbox::new();
    aws_profile(&sb, &sts);
    let out = sb.login(&provider.issuer, "device", &[], &[]);
    assert_eq!(out.code(), Some(0), "{out:?}");

    // The profile's roles; "dev" is a part of one of them.
    let roles = sb.run(&["aws", "roles", "--store", "file"]);
    assert_eq!(roles.stdout, format!("{DEV}\n{ADMIN}\n"), "{roles:?}");
    let ambiguous = sb.run(&["aws", "credential-process", "web", "--store", "file"]);
    assert_eq!(ambiguous.code(), Some(2), "{ambiguous:?}");
    assert!(ambiguous.stderr.contains(DEV) && ambiguous.stderr.contains(ADMIN));

    // The AWS CLI through credential_process, with the duration asked for.
    let sesame = env!("CARGO_BIN_EXE_sesame");
    std::fs::create_dir_all(sb.home.join(".aws")).unwrap();
    std::fs::write(
        sb.home.join(".aws/config"),
        format!("[profile web]\ncredential_process = {sesame} aws credential-process dev --duration 900 --store file\n"),
    )
    .unwrap();
    let env = [
        ("AWS_PROFILE", "web".to_string()),
        ("AWS_ENDPOINT_URL_STS", sts.clone()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
    ];
    let who = aws(
        &sb,
        &[
            "sts",
            "get-caller-identity",
            "--query",
            "Arn",
            "--output",
            "text",
        ],
        &env,
    );
    assert_eq!(who.code(), Some(0), "{who:?}");
    assert_eq!(
        who.stdout.trim(),
        "arn:aws:sts::123456789012:assumed-role/web-dev/alice-laptop"
    );
    // The same role and duration: the credentials the AWS CLI got, from the cache (the cache
    // files them by resolved ARN, endpoint, token and duration).
    let creds = sb.run(&[
        "aws",
        "credential-process",
        "dev",
        "--duration",
        "900",
        "--store",
        "file",
    ]);
    let creds: serde_json::Value = serde_json::from_str(&creds.stdout).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(creds["Expiration"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let left = expires - common::unix_now();
    assert!(
        (800..=900).contains(&left),
        "asked for 900 s, {left} s left"
    );

    // STS refuses: each refusal a sentence with the next step; nothing cached, session kept.
    let session = std::fs::read_to_string(sb.session_path()).unwrap();
    let cases: [(ResponseTemplate, i32, &[&str]); 4] = [
        (
            sts_error(
                "InvalidIdentityToken",
                "No OpenIDConnect provider found in your account",
            ),
            1,
            &[
                "did not accept the identity token",
                "No OpenIDConnect provider",
                "trust policy",
            ],
        ),
        (
            sts_error(
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            ),
            1,
            &["refused to let this session assume", "aud"],
        ),
        (
            sts_error("ExpiredTokenException", "Token expired"),
            3,
            &["expired", "sesame login"],
        ),
        (
            ResponseTemplate::new(200).set_body_raw("<html>captive portal</html>", "text/html"),
            1,
            &["sent no usable credentials"],
        ),
    ];
    common::block_on(async {
        for (reply, code, needles) in cases {
            let fake = MockServer::start().await;
            Mock::given(method("POST"))
                .and(body_string_contains("AssumeRoleWithWebIdentity"))
                .respond_with(reply)
                .mount(&fake)
                .await;
            aws_profile(&sb, &fake.uri());
            let cmd = sb.command(
                &["aws", "credential-process", "admin", "--store", "file"],
                &[],
            );
            let out = tokio::task::spawn_blocking(move || common::run_with_stdin(cmd, None))
                .await
                .unwrap();
            out.expect_code(code).stderr_has(needles).no_panic();
            assert!(out.stdout.is_empty());
        }
    });
    assert_eq!(std::fs::read_to_string(sb.session_path()).unwrap(), session);
}
