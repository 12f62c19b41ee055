//! `sesame serve` replicas sharing their challenges in a real `redis-server` (started here on an
//! ephemeral loopback port; scripts/test-all.sh installs it): a login generated on replica A and
//! approved on replica B completes, with the groups the proxy named on B; concurrent collection on both gives exactly one success;
//! Redis killed mid-login gives 503s with Retry-After, and the login completes once it is back; a
//! Redis restarted between requests costs no request;
//! the per-address and global limits count across replicas.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server on a free loopback port, persisting to its own directory (so a restart keeps
/// the challenges), killed on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let mut r = Redis {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server runs ({e}); scripts/test-all.sh installs it"));
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn replica(redis: &Redis, tweak: impl FnOnce(&mut sesame_server::Config)) -> RefServer {
    let mut config = dev_config();
    config.redis_url = Some(redis.url());
    tweak(&mut config);
    RefServer::with_config(config)
}

fn get(url: &str) -> (u16, Option<String>, Value) {
    block_on(async {
        let r = http().get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let text = r.text().await.unwrap();
        (
            status,
            retry,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    })
}

fn generate(server: &RefServer) -> (u16, Option<String>, Value) {
    get(&format!(
        "{}noauth/v1/challenge_generator/{USER}",
        server.url
    ))
}

/// The same path on another replica.
fn on(server: &RefServer, url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}{}", server.url, u.path().trim_start_matches('/'))
}

#[test]
#[ignore = "needs redis-server (scripts/test-all.sh installs it)"]
fn a_login_generated_on_one_replica_is_approved_on_the_other() {
    let redis = Redis::start();
    // Behind an SSO proxy that names the approver and their groups: the groups read on B at
    // approval reach the JWT that A mints.
    let proxied = |c: &mut sesame_server::Config| {
        c.auth = sesame_server::Auth::Header(hyper::header::HeaderName::from_static("x-user"));
        c.groups_header = Some(hyper::header::HeaderName::from_static("x-groups"));
    };
    let (a, b) = (replica(&redis, proxied), replica(&redis, proxied));
    let s = Sandbox::new();
    let login = s.spawn_login(a.url.as_str(), &["--timeout", "30"]);
    let url = login.challenge_url();
    assert!(url.starts_with(a.url.as_str()), "{url}");
    // Let the login's long-poll reach replica A before the decision is made on B.
    std::thread::sleep(Duration::from_millis(300));
    let approved = Instant::now();
    let (status, body) = approve_with(&on(&b, &url), &[("x-user", USER), ("x-groups", "eng,ops")]);
    assert_eq!(status, 200, "{body}");
    let out = login.finish();
    out.expect_code(0).no_panic();
    let took = approved.elapsed();
    eprintln!("approve on B to login exit on A: {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "woken by the decision, not a poll loop: {took:?}"
    );
    let claims = jwt_claims(&s.token());
    assert_eq!(claims["sub"], USER);
    assert_eq!(claims["groups"], serde_json::json!(["eng", "ops"]));
    // The view was used on B: A refuses a second one.
    let (status, _, body) = get(&validator_api_url(&url));
    assert!(
        status == 404 || body["show_approve_button"] == false,
        "{status} {body}"
    );
}

#[test]
#[ignore = "needs redis-server (scripts/test-all.sh installs it)"]
fn concurrent_collection_on_both_replicas_gives_exactly_one_success() {
    let redis = Redis::start();
    let (a, b) = (replica(&redis, |_| {}), replica(&redis, |_| {}));
    for _ in 0..5 {
        let (status, _, ch) = generate(&a);
        assert_eq!(status, 200, "{ch}");
        let challenge = ch["challenge_url"].as_str().unwrap();
        approve(&on(&b, challenge));
        let polling = ch["polling_url"].as_str().unwrap().to_string();
        let urls: Vec<String> = (0..8)
            .map(|i| {
                if i % 2 == 0 {
                    polling.clone()
                } else {
                    on(&b, &polling)
                }
            })
            .collect();
        let statuses: Vec<String> = block_on(async {
            let client = http();
            let tasks: Vec<_> = urls
                .into_iter()
                .map(|u| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        let v: Value = client.get(u).send().await.unwrap().json().await.unwrap();
                        v["status"].as_str().unwrap().to_string()
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        let successes = statuses.iter().filter(|s| *s == "success").count();
        assert_eq!(successes, 1, "{statuses:?}");
        assert!(
            statuses.iter().all(|s| s == "success" || s == "unknown"),
            "{statuses:?}"
        );
    }
}

#[test]
#[ignore = "needs redis-server (scripts/test-all.sh installs it)"]
fn redis_down_gives_503s_then_the_login_completes_when_it_is_back() {
    let mut redis = Redis::start();
    let a = replica(&redis, |_| {});
    let s = Sandbox::new();
    let login = s.spawn_login(a.url.as_str(), &["--timeout", "60"]);
    let url = login.challenge_url();
    let (status, _, _) = get(&format!("{}readyz", a.url));
    assert_eq!(status, 200);

    redis.kill();
    let (status, retry, body) = generate(&a);
    assert_eq!(status, 503, "{body}");
    assert!(retry.is_some(), "Retry-After on 503");
    assert_eq!(body["error"], "state_unavailable", "{body}");
    let (status, _, body) = get(&format!("{}readyz", a.url));
    assert_eq!(
        (status, body["ready"].clone()),
        (503, Value::Bool(false)),
        "{body}"
    );
    let (status, _, body) = get(&format!("{}healthz", a.url));
    assert_eq!(status, 200);
    assert!(
        body["store"].as_str().unwrap().starts_with("down"),
        "{body}"
    );

    redis.spawn();
    let started = Instant::now();
    while get(&format!("{}readyz", a.url)).0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never ready again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    approve(&url);
    let out = login.finish();
    out.expect_code(0).no_panic();
    assert!(out.stderr.contains("Logged in as"), "{}", out.stderr);
}

#[test]
#[ignore = "needs redis-server (scripts/test-all.sh installs it)"]
fn limits_count_across_replicas_and_guessing_is_slowed_down() {
    let redis = Redis::start();
    let a = replica(&redis, |c| {
        c.max_pending_per_ip = 2;
        c.max_pending = 3;
    });
    let b = replica(&redis, |c| {
        c.max_pending_per_ip = 2;
        c.max_pending = 3;
    });
    assert_eq!(generate(&a).0, 200);
    assert_eq!(generate(&b).0, 200);
    let (status, retry, body) = generate(&a);
    assert_eq!(
        status, 429,
        "the third from this address, across replicas: {body}"
    );
    assert!(retry.is_some());

    // Unknown tokens: an allowance, then 429 with Retry-After.
    let mut last = (0, None);
    for i in 0..40 {
        let (status, retry, _) = get(&format!("{}noauth/v1/challenge_poller/guess{i:036}", a.url));
        last = (status, retry);
        if status == 429 {
            break;
        }
        assert_eq!(status, 200);
    }
    assert_eq!(last.0, 429);
    assert!(last.1.is_some());
}

#[test]
#[ignore = "needs redis-server (scripts/test-all.sh installs it)"]
fn max_pending_counts_across_replicas() {
    let redis = Redis::start();
    let tweak = |c: &mut sesame_server::Config| {
        c.max_pending = 2;
        c.max_pending_per_ip = 0;
    };
    let (a, b) = (replica(&redis, tweak), replica(&redis, tweak));
    assert_eq!(generate(&a).0, 200);
    assert_eq!(generate(&b).0, 200);
    let (status, retry, _) = generate(&a);
    assert_eq!(status, 503);
    assert!(retry.is_some());
}

#[test]
#[ignore = "needs redis-server (scripts/test-all.sh installs it)"]
fn a_redis_restart_between_requests_costs_no_request() {
    let mut redis = Redis::start();
    let a = replica(&redis, |_| {});
    let (status, _, body) = generate(&a);
    assert_eq!(status, 200, "{body}");
    // Restarted while the replica is idle: its connection is dead, and the next request on it
    // is the first to know.
    redis.kill();
    redis.spawn();
    for _ in 0..3 {
        let (status, _, body) = generate(&a);
        assert_eq!(status, 200, "{body}");
        let (status, _, body) = get(body["polling_url"].as_str().unwrap());
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("pending")),
            "{body}"
        );
    }
}
