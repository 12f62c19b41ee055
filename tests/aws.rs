//! `sesame aws` with real parts: moto's server as STS (started here on an ephemeral loopback
//! port), `sesame serve --aws-roles` as the ConsoleMe, and the AWS CLI as the consumer.
//! scripts/test-all.sh installs moto and the AWS CLI (tests/aws/requirements.txt) and puts
//! them on PATH.

#[path = "aws_support/mod.rs"]
mod aws_support;
mod common;

use aws_support::{Proc, aws, aws_env, moto};
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROLES: &str = r#"
duration = 1800
[accounts]
"123456789012" = "sandbox"
[[grant]]
users = ["alice"]
roles = ["arn:aws:iam::123456789012:role/dev", "arn:aws:iam::123456789012:role/devops"]
"#;

/// `sesame serve --aws-roles` with the server's own AWS credentials pointed at `sts`.
fn serve(sandbox: &Sandbox, sts: &str) -> (Proc, String) {
    serve_with(sandbox, sts, ROLES, &["--insecure-dev-aws"])
}

/// `sesame serve --aws-roles MAP ARGS...` with the server's own AWS credentials pointed at
/// `sts`; its URL.
fn serve_with(sandbox: &Sandbox, sts: &str, roles: &str, args: &[&str]) -> (Proc, String) {
    let map = sandbox.path().join("roles.toml");
    std::fs::write(&map, roles).unwrap();
    let mut cmd = sandbox.sesame();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--quiet"])
        .args(args)
        .arg("--aws-roles")
        .arg(&map)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in aws_env(sts) {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("sesame serve starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.starts_with("http://127.0.0.1:"),
        "serve printed {first:?}"
    );
    (Proc(child), first.trim().to_string())
}

/// Logs alice in at `server` through the challenge, approving it as the browser would.
fn login(sandbox: &Sandbox, server: &str) {
    let login = sandbox.spawn_login(server, &["--timeout", "30"]);
    approve(&login.challenge_url());
    login.finish().expect_code(0);
}

#[test]
#[ignore = "needs moto_server and aws (scripts/test-all.sh installs them)"]
fn a_consoleme_session_gives_the_aws_cli_credentials_for_a_mapped_role() {
    let (_moto, sts) = moto();
    let sandbox = Sandbox::new();
    let (_serve, server) = serve(&sandbox, &sts);
    login(&sandbox, &server);

    // The roles, with the account's name from the mapping.
    let roles = sandbox.run(&["aws", "roles"]);
    roles.expect_code(0);
    assert_eq!(
        roles.stdout,
        "arn:aws:iam::123456789012:role/dev  (sandbox)\narn:aws:iam::123456789012:role/devops  (sandbox)\n"
    );

    // The AWS CLI through credential_process: the assumed role is the one asked for, and the
    // session name is the user.
    let sesame = env!("CARGO_BIN_EXE_sesame");
    std::fs::create_dir_all(sandbox.home.join(".aws")).unwrap();
    std::fs::write(
        sandbox.home.join(".aws/config"),
        format!("[profile dev]\ncredential_process = {sesame} aws credential-process devops --store file\n"),
    )
    .unwrap();
    let env = [
        ("AWS_PROFILE", "dev".to_string()),
        ("AWS_ENDPOINT_URL_STS", sts.clone()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
    ];
    let who = aws(
        &sandbox,
        &["sts", "get-caller-identity", "--output", "json"],
        &env,
    );
    who.expect_code(0);
    let who: serde_json::Value = serde_json::from_str(&who.stdout).unwrap();
    assert_eq!(
        who["Arn"],
        "arn:aws:sts::123456789012:assumed-role/devops/alice"
    );

    // `configure` writes a profile per role into the AWS config file, keeping its other lines;
    // the AWS CLI then uses one by name.
    let config = sandbox.path().join("aws-config");
    std::fs::write(&config, "# mine\n[profile devops]\nregion = us-east-1\n").unwrap();
    let configured = sandbox.run(&["aws", "configure", "--aws-config", config.to_str().unwrap()]);
    configured
        .expect_code(0)
        .stderr_has(&["Updated AWS profile devops", "Added AWS profile dev"]);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.starts_with("# mine\n[profile devops]\n"), "{text}");
    assert!(text.contains("region = us-east-1"), "{text}");
    let env = [
        ("AWS_PROFILE", "dev".to_string()),
        ("AWS_CONFIG_FILE", config.to_string_lossy().into_owned()),
        ("AWS_ENDPOINT_URL_STS", sts.clone()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("SESAME_STORE", "file".into()),
    ];
    let who = aws(
        &sandbox,
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
    who.expect_code(0);
    assert_eq!(
        who.stdout.trim(),
        "arn:aws:sts::123456789012:assumed-role/dev/alice"
    );

    // `file` writes the credentials into a shared credentials file, owner-only, keeping its
    // other sections.
    let creds_file = sandbox.path().join("aws-credentials");
    std::fs::write(&creds_file, "[mine]\naws_access_key_id = AKIAOWN\n").unwrap();
    sandbox
        .run(&[
            "aws",
            "file",
            "devops",
            "--credentials-file",
            creds_file.to_str().unwrap(),
        ])
        .expect_code(0)
        .stderr_has(&["Wrote credentials to profile devops"]);
    let text = std::fs::read_to_string(&creds_file).unwrap();
    assert!(
        text.starts_with("[mine]\naws_access_key_id = AKIAOWN\n"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&creds_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let env = [
        ("AWS_PROFILE", "devops".to_string()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            creds_file.to_string_lossy().into_owned(),
        ),
        ("AWS_ENDPOINT_URL_STS", sts.clone()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
    ];
    let who = aws(
        &sandbox,
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
    who.expect_code(0);
    assert_eq!(
        who.stdout.trim(),
        "arn:aws:sts::123456789012:assumed-role/devops/alice"
    );

    // `export` for bash, evaluated by bash, then used by the AWS CLI.
    let script = format!(
        "eval \"$('{sesame}' aws export arn:aws:iam::123456789012:role/dev --shell bash --store file)\" && aws sts get-caller-identity --query Arn --output text"
    );
    let mut cmd = sandbox.shell(&script);
    cmd.env("AWS_ENDPOINT_URL_STS", &sts)
        .env("AWS_DEFAULT_REGION", "us-east-1");
    let out = run_with_stdin(cmd, None);
    out.expect_code(0);
    assert_eq!(
        out.stdout.trim(),
        "arn:aws:sts::123456789012:assumed-role/dev/alice"
    );
}

#[test]
#[ignore = "needs moto_server and aws (scripts/test-all.sh installs them)"]
fn consolemes_refusals_are_sentences_and_the_session_is_kept() {
    let (_moto, sts) = moto();
    let sandbox = Sandbox::new();
    let (serve_proc, server) = serve(&sandbox, &sts);
    login(&sandbox, &server);
    let session = std::fs::read_to_string(sandbox.session_file("default")).unwrap();

    // 901: several roles contain "dev"; both are listed.
    sandbox
        .run(&["aws", "credential-process", "dev"])
        .expect_code(2)
        .stderr_has(&[
            "\"dev\" matches more than one of your roles",
            "arn:aws:iam::123456789012:role/dev\n",
            "arn:aws:iam::123456789012:role/devops",
        ]);
    // 900: nothing matches.
    sandbox
        .run(&["aws", "credential-process", "prod"])
        .expect_code(2)
        .stderr_has(&["No role you may use matches \"prod\"", "sesame aws roles"]);

    // STS fails (moto is gone): 902, the session stays.
    drop(_moto);
    sandbox
        .run(&["aws", "credential-process", "devops"])
        .expect_code(1)
        .stderr_has(&["could not get credentials", "Your session is kept"])
        .no_panic();

    // The server restarts with another signing key: the session's JWT is now invalid_jwt,
    // which is "log in again" (exit 3).
    drop(serve_proc);
    let (_moto2, sts2) = moto();
    let port = server
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let map = sandbox.path().join("roles.toml");
    let mut cmd = sandbox.sesame();
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--quiet",
        "--insecure-dev-aws",
        "--aws-roles",
    ])
    .arg(&map)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in aws_env(&sts2) {
        cmd.env(k, v);
    }
    let _serve2 = Proc(cmd.spawn().unwrap());
    let started = Instant::now();
    while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    sandbox
        .run(&["aws", "credential-process", "devops"])
        .expect_code(3)
        .stderr_has(&["no longer accepts the session", "sesame login"]);
    drop(_serve2);
    // A dead server: a clear error, exit 1.
    sandbox
        .run(&["aws", "roles"])
        .expect_code(1)
        .stderr_has(&["Could not reach", "your session is kept"]);
    assert_eq!(
        std::fs::read_to_string(sandbox.session_file("default")).unwrap(),
        session
    );
}

/// How many `get_credentials` requests `sesame serve` at `server` has answered (its /metrics).
fn credentials_requests(server: &str) -> u64 {
    let text = block_on(async {
        http()
            .get(format!("{server}metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    text.lines()
        .find(|l| {
            l.starts_with(
                "sesame_serve_request_duration_seconds_count{route=\"api/v1/get_credentials\"}",
            )
        })
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[test]
#[ignore = "needs moto_server and aws (scripts/test-all.sh installs them)"]
fn twenty_concurrent_credential_processes_make_one_request_and_logout_clears_the_cache() {
    let (_moto, sts) = moto();
    let sandbox = Sandbox::new();
    let (_serve, server) = serve(&sandbox, &sts);
    login(&sandbox, &server);
    assert_eq!(credentials_requests(&server), 0);

    let children: Vec<_> = (0..20)
        .map(|_| {
            let mut cmd = sandbox.command(
                &["aws", "credential-process", "devops", "--store", "file"],
                &[],
            );
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let keys: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["AccessKeyId"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        keys.iter().all(|k| k == &keys[0]),
        "one set of credentials: {keys:?}"
    );
    assert_eq!(credentials_requests(&server), 1, "20 calls, one request");

    // Later calls are answered from the cache, kept beside the session, owner-only.
    sandbox
        .run(&["aws", "credential-process", "devops"])
        .expect_code(0);
    assert_eq!(credentials_requests(&server), 1);
    let cache = sandbox.sessions_dir().join("default#aws.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Logout deletes the cached credentials with the session.
    sandbox.run(&["logout"]).expect_code(0);
    assert!(!cache.exists());
}

/// A file-store challenge session of alice for the server at `server`.
fn challenge_session(sandbox: &Sandbox, server: &str) {
    use sesame_login::secret::Token;
    use sesame_login::session::{Flow, Session, UserName};
    let session = Session {
        expires_at: Some(unix_now() + 3600),
        ..Session::new(
            "default",
            server.to_string(),
            UserName::new("alice").unwrap(),
            Flow::Challenge,
            Token::issued(&fake_jwt(
                serde_json::json!({"sub": "alice", "exp": unix_now() + 3600}),
            ))
            .unwrap(),
            unix_now(),
        )
    };
    std::fs::create_dir_all(sandbox.sessions_dir()).unwrap();
    std::fs::write(sandbox.session_file("default"), session.to_json()).unwrap();
}

/// `sesame aws credential-process dev` against a server that answers `reply`.
fn against(reply: wiremock::ResponseTemplate) -> (Out, Sandbox) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer};
    let sandbox = Sandbox::new();
    let out = block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/get_credentials"))
            .respond_with(reply)
            .mount(&server)
            .await;
        challenge_session(&sandbox, &format!("{}/", server.uri()));
        let cmd = sandbox.command(
            &["aws", "credential-process", "dev", "--store", "file"],
            &[],
        );
        tokio::task::spawn_blocking(move || run_with_stdin(cmd, None))
            .await
            .unwrap()
    });
    (out, sandbox)
}

#[test]
fn a_misbehaving_credentials_server_gets_a_clear_error_and_nothing_is_cached() {
    use wiremock::ResponseTemplate;
    let expired = serde_json::json!({"Credentials": {
        "AccessKeyId": "ASIA1", "SecretAccessKey": "s", "SessionToken": "t",
        "Expiration": unix_now() - 60,
    }});
    let hostile = serde_json::json!({"Credentials": {
        "AccessKeyId": "ASIA1", "SecretAccessKey": "s'; rm -rf ~; '", "SessionToken": "t",
        "Expiration": unix_now() + 3600,
    }});
    let cases: Vec<(ResponseTemplate, i32, &[&str])> = vec![
        (
            ResponseTemplate::new(200).set_body_raw("<html>Sign in</html>", "text/html"),
            1,
            &["HTML page"],
        ),
        (
            ResponseTemplate::new(200).set_body_json(&expired),
            1,
            &["they expire at", "clock"],
        ),
        (
            ResponseTemplate::new(200).set_body_json(&hostile),
            1,
            &["cannot be used", "secret access key"],
        ),
        (
            ResponseTemplate::new(200).set_body_raw("x".repeat(200_000), "application/json"),
            1,
            &["larger than"],
        ),
        (
            ResponseTemplate::new(403).set_body_json(serde_json::json!({"code": "invalid_jwt"})),
            3,
            &["no longer accepts"],
        ),
        (
            ResponseTemplate::new(403)
                .set_body_json(serde_json::json!({"code": "899", "message": "Invalid Role ARN"})),
            2,
            &["full role ARN"],
        ),
        (
            ResponseTemplate::new(403).set_body_json(
                serde_json::json!({"code": "902", "message": "MFA Not Successful\u{1b}[2J"}),
            ),
            1,
            &["could not get credentials", "MFA Not Successful"],
        ),
        (
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"code": "903"})),
            2,
            &["not one of the roles"],
        ),
        (
            ResponseTemplate::new(400).set_body_json(serde_json::json!({"code": "904"})),
            1,
            &["could not read"],
        ),
        (
            ResponseTemplate::new(403)
                .set_body_json(serde_json::json!({"code": "905", "message": "cert too old"})),
            1,
            &["newer client certificate"],
        ),
        (
            ResponseTemplate::new(400).set_body_json(serde_json::json!({"code": "906"})),
            2,
            &["No account matches"],
        ),
        (
            ResponseTemplate::new(503),
            1,
            &["could not give credentials now"],
        ),
    ];
    for (reply, code, needles) in cases {
        let (out, sandbox) = against(reply);
        out.expect_code(code).stderr_has(needles).no_panic();
        assert!(
            !out.stderr.contains('\u{1b}'),
            "no escape reaches the terminal: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
        assert!(
            sandbox.session_file("default").exists(),
            "the session is kept"
        );
        assert!(
            !sandbox.sessions_dir().join("default#aws.json").exists(),
            "nothing cached"
        );
    }
}

/// Sends `signal` (`-INT`, `-TERM`) to `child` and waits, at most 15 s, for it to end.
fn stop_with(child: &mut Proc, signal: &str) -> std::process::ExitStatus {
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            return s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not stop on {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A request to `sesame aws serve` with these headers: (status, body).
fn ask(url: &str, method: reqwest::Method, headers: &[(&str, &str)]) -> (u16, String) {
    block_on(async {
        let mut req = http().request(method, url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

#[test]
#[ignore = "needs moto_server and aws (scripts/test-all.sh installs them)"]
fn aws_serve_answers_the_aws_cli_as_ecs_and_imdsv2_and_refuses_browsers_and_strangers() {
    let (_moto, sts) = moto();
    let sandbox = Sandbox::new();
    let (_serve, server) = serve(&sandbox, &sts);
    login(&sandbox, &server);

    let mut cmd = sandbox.command(
        &[
            "aws",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--role",
            "arn:aws:iam::123456789012:role/devops",
            "--store",
            "file",
        ],
        &[],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = Proc(cmd.spawn().unwrap());
    let mut url = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    // The ECS path's token: in a file only this user can read.
    let port = url.trim_end_matches('/').rsplit(':').next().unwrap();
    let token_file = sandbox
        .data_home
        .join(format!("sesame/aws-serve/{port}.token"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let ecs_token = std::fs::read_to_string(&token_file).unwrap();
    let token_env = (
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        token_file.to_string_lossy().into_owned(),
    );

    // The AWS CLI through the ECS provider, then through IMDSv2.
    let role = "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdev";
    for env in [
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{url}ecs/{role}"),
        ),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", url.clone()),
    ] {
        let expected = if env.0.contains("CONTAINER") {
            "dev"
        } else {
            "devops"
        };
        let who = aws(
            &sandbox,
            &[
                "sts",
                "get-caller-identity",
                "--query",
                "Arn",
                "--output",
                "text",
            ],
            &[
                env,
                token_env.clone(),
                ("AWS_ENDPOINT_URL_STS", sts.clone()),
                ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ],
        );
        who.expect_code(0);
        assert_eq!(
            who.stdout.trim(),
            format!("arn:aws:sts::123456789012:assumed-role/{expected}/alice")
        );
    }

    // boto3 through the ECS provider.
    let script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])";
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script])
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{url}ecs/devops"),
        )
        .env(token_env.0, &token_env.1)
        .env("AWS_ENDPOINT_URL_STS", &sts)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("HOME", &sandbox.home)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let out = run_with_stdin(cmd, None);
    out.expect_code(0);
    assert_eq!(
        out.stdout.trim(),
        "arn:aws:sts::123456789012:assumed-role/devops/alice"
    );

    // weep's filter, even with the right token: a browser, another site, a proxy, another
    // Host. Without the token, or with a wrong one: 401. IMDSv1 (no token): 401.
    let ecs = format!("{url}ecs/devops");
    for headers in [
        vec![("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")],
        vec![("Origin", "https://evil.example")],
        vec![("Referer", "https://evil.example/page")],
        vec![("X-Forwarded-For", "203.0.113.9")],
        vec![("Forwarded", "for=203.0.113.9")],
        vec![("Host", "evil.example")],
    ] {
        let mut headers = headers;
        headers.push(("Authorization", ecs_token.as_str()));
        let (status, body) = ask(&ecs, reqwest::Method::GET, &headers);
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(!body.contains("SecretAccessKey"));
    }
    for headers in [vec![], vec![("Authorization", "guessed")]] {
        let (status, body) = ask(&ecs, reqwest::Method::GET, &headers);
        assert_eq!(status, 401, "{headers:?}: {body}");
        assert!(!body.contains("SecretAccessKey"));
    }
    let (status, body) = ask(
        &ecs,
        reqwest::Method::GET,
        &[("Authorization", ecs_token.as_str())],
    );
    assert_eq!(status, 200, "{body}");
    let creds = format!("{url}latest/meta-data/iam/security-credentials/devops");
    assert_eq!(ask(&creds, reqwest::Method::GET, &[]).0, 401);
    assert_eq!(
        ask(
            &creds,
            reqwest::Method::GET,
            &[("X-aws-ec2-metadata-token", "forged")]
        )
        .0,
        401
    );
    let (status, token) = ask(
        &format!("{url}latest/api/token"),
        reqwest::Method::PUT,
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    );
    assert_eq!(status, 200);
    let (status, body) = ask(
        &creds,
        reqwest::Method::GET,
        &[("X-aws-ec2-metadata-token", &token)],
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["Code"].as_str(), v["Type"].as_str()),
        (Some("Success"), Some("AWS-HMAC"))
    );

    // Ctrl-C stops it cleanly.
    let status = stop_with(&mut child, "-INT");
    assert!(status.success(), "{status:?}");
    assert!(!token_file.exists(), "the token file is removed on exit");

    // A service manager's SIGTERM stops it as cleanly.
    let mut cmd = sandbox.command(
        &["aws", "serve", "--listen", "127.0.0.1:0", "--store", "file"],
        &[],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = Proc(cmd.spawn().unwrap());
    let mut url = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let port = url
        .trim()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let token_file = sandbox
        .data_home
        .join(format!("sesame/aws-serve/{port}.token"));
    assert!(token_file.exists());
    let status = stop_with(&mut child, "-TERM");
    assert!(status.success(), "{status:?}");
    assert!(
        !token_file.exists(),
        "the token file is removed on SIGTERM too"
    );
}

#[test]
#[ignore = "needs moto_server and aws (scripts/test-all.sh installs them)"]
fn aws_file_refresh_rewrites_the_credentials_before_they_run_out_and_stops_on_ctrl_c() {
    let (_moto, sts) = moto();
    let sandbox = Sandbox::new();
    let (_serve, server) = serve(&sandbox, &sts);
    login(&sandbox, &server);
    // The server's credentials last 1800 s; refreshing when 1795 s are left means in 5 s (at
    // least 10 s: never a busy loop).
    sandbox.write_config("[profiles.default.aws]\nrefresh-before = 1795\n");
    let creds_file = sandbox.path().join("aws-credentials");
    let mut cmd = sandbox.command(
        &[
            "aws",
            "file",
            "devops",
            "--refresh",
            "--store",
            "file",
            "--credentials-file",
            creds_file.to_str().unwrap(),
        ],
        &[],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = Proc(cmd.spawn().unwrap());
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let mut written = Vec::new();
    let started = Instant::now();
    while written.len() < 2 {
        let line = lines
            .next()
            .expect("aws file --refresh is still running")
            .unwrap();
        if line.contains("Wrote credentials to profile devops") {
            let text = std::fs::read_to_string(&creds_file).unwrap();
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("aws_access_key_id = "))
                .unwrap()
                .to_string();
            written.push((started.elapsed(), key));
        }
    }
    let (first, second) = (&written[0], &written[1]);
    assert_ne!(first.1, second.1, "new credentials were written");
    let gap = second.0 - first.0;
    assert!(
        gap >= Duration::from_secs(9),
        "refreshed after {gap:?}, not in a busy loop"
    );
    let status = stop_with(&mut child, "-INT");
    assert!(status.success(), "{status:?}");
}

#[test]
#[ignore = "needs moto_server and aws (scripts/test-all.sh installs them)"]
fn a_weep_users_day_import_login_roles_configure_and_the_aws_cli() {
    let (_moto, sts) = moto();
    let sandbox = Sandbox::new();
    let (_serve, server) = serve(&sandbox, &sts);
    std::fs::write(
        sandbox.home.join(".weep.yaml"),
        format!("consoleme_url: {server}\nauthentication_method: challenge\nchallenge_settings:\n  user: alice\n"),
    )
    .unwrap();
    sandbox
        .run(&["import", "weep"])
        .expect_code(0)
        .stderr_has(&["Profile default now logs in to", "as alice", "sesame login"]);

    // `sesame login` with nothing else: the server and user come from the imported profile.
    let mut cmd = sandbox.command(
        &[
            "login",
            "--store",
            "file",
            "--no-browser",
            "--timeout",
            "30",
        ],
        &[],
    );
    cmd.env("USER", "someone-else");
    let login = Sandbox::spawn_watching(cmd);
    approve(&login.challenge_url());
    login
        .finish()
        .expect_code(0)
        .stderr_has(&["Logged in as alice"]);

    sandbox.run(&["aws", "roles"]).expect_code(0);

    // weep console: the role's ConsoleMe page, printed, or opened with $BROWSER.
    let page = format!("{server}role/arn:aws:iam::123456789012:role/devops");
    let printed = sandbox.run(&["aws", "console", "devops", "--no-open"]);
    printed.expect_code(0);
    assert_eq!(printed.stdout.trim(), page);
    let opened = sandbox.path().join("opened");
    let browser = sandbox.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" > '{}'\n", opened.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    sandbox
        .run_full(
            &["aws", "console", "devops"],
            &[("BROWSER", browser.to_str().unwrap())],
            None,
        )
        .expect_code(0)
        .stderr_has(&["Opened the AWS console for arn:aws:iam::123456789012:role/devops"]);
    // The browser is started, not waited for.
    let started = Instant::now();
    while std::fs::read_to_string(&opened).map_or(true, |t| !t.ends_with('\n'))
        && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&opened).unwrap().trim(), page);

    let config = sandbox.home.join(".aws/config");
    sandbox
        .run(&["aws", "configure", "devops"])
        .expect_code(0)
        .stderr_has(&["Added AWS profile devops"]);
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("[profile devops]")
    );
    let env = [
        ("AWS_PROFILE", "devops".to_string()),
        ("AWS_ENDPOINT_URL_STS", sts.clone()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("SESAME_STORE", "file".into()),
    ];
    let who = aws(
        &sandbox,
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
    who.expect_code(0);
    assert_eq!(
        who.stdout.trim(),
        "arn:aws:sts::123456789012:assumed-role/devops/alice"
    );
}

#[test]
fn without_a_role_mapping_serve_answers_as_consolemes_no_match_and_no_session_is_exit_3() {
    let server = RefServer::start();
    let sandbox = Sandbox::new();
    // No session, nobody at a terminal: exit 3 with what to run.
    sandbox
        .run(&["aws", "credential-process", "dev"])
        .expect_code(3)
        .stderr_has(&[
            "no valid session",
            "not running interactively",
            "sesame login",
        ]);
    sandbox.login_approved(&server);
    let roles = sandbox.run(&["aws", "roles"]);
    roles.expect_code(0);
    assert_eq!(roles.stdout, "");
    sandbox
        .run(&[
            "aws",
            "credential-process",
            "arn:aws:iam::123456789012:role/dev",
        ])
        .expect_code(2)
        .stderr_has(&["No role you may use matches"]);
}

/// Behind an SSO proxy that names each user's groups (`--groups-header`), a group grant gives
/// its roles to the sessions approved by a member, and to no other.
#[test]
#[ignore = "needs moto_server and aws (scripts/test-all.sh installs them)"]
fn a_group_grant_gives_its_roles_to_the_members_the_proxy_names_and_no_one_else() {
    let (_moto, sts) = moto();
    let server_box = Sandbox::new();
    let (_serve, server) = serve_with(
        &server_box,
        &sts,
        "[[grant]]\ngroups = [\"engineering\"]\nroles = [\"arn:aws:iam::123456789012:role/dev\"]\n",
        &[
            "--auth",
            "header",
            "--user-header",
            "X-Forwarded-Email",
            "--groups-header",
            "X-Forwarded-Groups",
        ],
    );
    let login_as = |groups: &str| {
        let sandbox = Sandbox::new();
        let login = sandbox.spawn_login(&server, &["--timeout", "30"]);
        let (status, body) = approve_with(
            &login.challenge_url(),
            &[("X-Forwarded-Email", USER), ("X-Forwarded-Groups", groups)],
        );
        assert_eq!(status, 200, "{body}");
        login.finish().expect_code(0);
        sandbox
    };

    let member = login_as("sales, engineering");
    let roles = member.run(&["aws", "roles"]);
    roles.expect_code(0);
    assert_eq!(roles.stdout, "arn:aws:iam::123456789012:role/dev\n");
    let creds = member.run(&["aws", "credential-process", "dev"]);
    creds.expect_code(0);
    let creds: serde_json::Value = serde_json::from_str(&creds.stdout).unwrap();
    assert_eq!(creds["Version"], 1);
    assert!(
        creds["AccessKeyId"].as_str().is_some_and(|k| !k.is_empty()),
        "{creds}"
    );

    let outsider = login_as("sales");
    let roles = outsider.run(&["aws", "roles"]);
    roles.expect_code(0);
    assert_eq!(roles.stdout, "", "not a member: no roles");
    outsider
        .run(&["aws", "credential-process", "dev"])
        .expect_code(2)
        .stderr_has(&["No role you may use matches"]);
}

/// `--aws-roles` with dev auth would give anyone any mapped user's AWS credentials; group
/// grants need each user's groups from the proxy (`--groups-header`), and a group that
/// `--group` gives everyone grants its roles to everyone.
#[test]
fn serve_refuses_a_role_mapping_it_cannot_enforce() {
    let sandbox = Sandbox::new();
    let map = sandbox.path().join("roles.toml");
    std::fs::write(&map, ROLES).unwrap();
    let map = map.to_str().unwrap();
    sandbox
        .run_env(
            &["serve", "--listen", "127.0.0.1:0", "--aws-roles", map],
            &[],
        )
        .expect_code(2)
        .stderr_has(&[
            "--auth dev",
            "any mapped user's AWS credentials",
            "--auth header",
        ]);
    let groups = sandbox.path().join("groups.toml");
    std::fs::write(
        &groups,
        "[[grant]]\ngroups = [\"engineering\"]\nroles = [\"arn:aws:iam::123456789012:role/dev\"]\n",
    )
    .unwrap();
    let groups = groups.to_str().unwrap();
    sandbox
        .run_env(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--auth",
                "header",
                "--user-header",
                "X-User",
                "--aws-roles",
                groups,
            ],
            &[],
        )
        .expect_code(2)
        .stderr_has(&["grants by group need", "--groups-header NAME"]);
    let with_proxy_groups = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "header",
            "--user-header",
            "X-User",
            "--groups-header",
            "X-Groups",
            "--aws-roles",
            groups,
        ];
        args.extend_from_slice(extra);
        sandbox.run_env(&args, &[])
    };
    with_proxy_groups(&["--group", "engineering"])
        .expect_code(2)
        .stderr_has(&["\"engineering\"", "which --group gives every user"]);
    sandbox
        .run_env(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--groups-header",
                "X-Groups",
            ],
            &[],
        )
        .expect_code(2)
        .stderr_has(&["--groups-header only applies with --auth header"]);
    sandbox
        .run_env(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--auth",
                "header",
                "--user-header",
                "X-User",
                "--groups-header",
                "bad header",
            ],
            &[],
        )
        .expect_code(2)
        .stderr_has(&["is not a header name"]);
}
