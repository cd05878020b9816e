//! Revocation with a Redis that answers reads but refuses writes (`maxmemory` reached): the
//! invalidation cannot land, so the server must not trust what Redis still serves.
//!
//! Each test runs a private `redis-server` (the shared test Redis is not ours to break).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{token, TestApp, STRONG};

/// A `redis-server` of this test alone on a free loopback port, killed on drop.
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian/Ubuntu: apt-get install redis-server)");
        let redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli(&["PING"]) != "PONG" {
            assert!(
                Instant::now() < deadline,
                "the private redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// One `redis-cli` command; its output, trimmed (errors included).
    fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
                .trim()
                .to_owned()
            })
            .unwrap_or_default()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn profile_status(app: &TestApp, access: &str) -> (u16, String) {
    let reply = app.call("GET", "/api/v1/profile", Some(access), None).await;
    (reply.status, reply.code().to_owned())
}

#[actix_rt::test]
async fn revocations_hold_on_the_next_request_while_redis_refuses_writes_and_after() {
    let redis = PrivateRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(move |v| {
        v.insert("REDIS_URL".into(), url);
    })
    .await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "ann", "USER").await;
    let deputy = app.create_user(&admin, "deputy", "ADMIN").await;
    let ann = token(&app.login("ann", STRONG).await);
    let deputy_token = token(&app.login("deputy", STRONG).await);
    for access in [&ann, &deputy_token] {
        assert_eq!(profile_status(&app, access).await.0, 200);
        assert_eq!(
            profile_status(&app, access).await.0,
            200,
            "now from the cache"
        );
    }
    assert_eq!(
        app.call("GET", "/api/v1/users", Some(&deputy_token), None)
            .await
            .status,
        200
    );

    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", "1"]), "OK");
    assert!(
        redis.cli(&["SET", "probe", "1"]).contains("OOM"),
        "Redis refuses writes now"
    );
    let logout = app
        .call("POST", "/api/v1/auth/logout", Some(&ann), None)
        .await;
    assert_eq!(logout.status, 204, "{}", logout.body);
    let demote = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{}", deputy["id"].as_str().unwrap()),
            Some(&admin),
            Some(json!({ "role": "USER" })),
        )
        .await;
    assert_eq!(demote.status, 200, "{}", demote.body);

    // The very next request, and later ones while Redis still serves the old snapshots
    // (past the retry period of the invalidation, which the server's clock times).
    for wait_ms in [0, 300, 1500] {
        app.advance(Duration::from_millis(wait_ms));
        assert_eq!(
            profile_status(&app, &ann).await,
            (401, "SESSION_REVOKED".to_owned()),
            "+{wait_ms} ms"
        );
        app.call("GET", "/api/v1/users", Some(&deputy_token), None)
            .await
            .assert_error(403, "FORBIDDEN");
    }

    // Redis takes writes again: the retried invalidation lands, nothing comes back.
    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", "0"]), "OK");
    app.advance(Duration::from_millis(1200));
    for _ in 0..3 {
        assert_eq!(
            profile_status(&app, &ann).await,
            (401, "SESSION_REVOKED".to_owned())
        );
        app.call("GET", "/api/v1/users", Some(&deputy_token), None)
            .await
            .assert_error(403, "FORBIDDEN");
    }
    let again = token(&app.login("ann", STRONG).await);
    assert_eq!(profile_status(&app, &again).await.0, 200);
    assert_eq!(profile_status(&app, &again).await.0, 200);
}

async fn display_name(app: &TestApp, access: &str) -> String {
    let reply = app.call("GET", "/api/v1/profile", Some(access), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["displayName"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[actix_rt::test]
async fn a_cached_profile_is_never_stale_while_redis_refuses_writes_or_is_gone() {
    let redis = PrivateRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(move |v| {
        v.insert("REDIS_URL".into(), url);
    })
    .await;
    let admin = app.admin_token().await;
    let ann = app.create_user(&admin, "ann", "USER").await;
    let path = format!("/api/v1/users/{}", ann["id"].as_str().unwrap());
    let access = token(&app.login("ann", STRONG).await);
    let rename = |name: &'static str| {
        let (app, admin, path) = (&app, &admin, &path);
        async move {
            let reply = app
                .call(
                    "PATCH",
                    path,
                    Some(admin),
                    Some(json!({ "displayName": name })),
                )
                .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
    };
    assert_eq!(display_name(&app, &access).await, "ann display");
    assert_eq!(display_name(&app, &access).await, "ann display", "cached");

    // Redis still serves the old snapshot but refuses the invalidation.
    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", "1"]), "OK");
    rename("Ann Two").await;
    for wait_ms in [0, 1500] {
        app.advance(Duration::from_millis(wait_ms));
        assert_eq!(
            display_name(&app, &access).await,
            "Ann Two",
            "+{wait_ms} ms"
        );
    }

    // Redis gone altogether: the database answers.
    drop(redis);
    rename("Ann Three").await;
    for wait_ms in [0, 1500] {
        app.advance(Duration::from_millis(wait_ms));
        assert_eq!(
            display_name(&app, &access).await,
            "Ann Three",
            "+{wait_ms} ms"
        );
    }
}

async fn listed_name(app: &TestApp, admin: &str, id: &str) -> String {
    let reply = app
        .call("GET", "/api/v1/users?limit=100", Some(admin), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|u| u["id"] == id))
        .and_then(|u| u["displayName"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[actix_rt::test]
async fn a_cached_list_page_is_never_stale_while_redis_refuses_writes_or_is_gone() {
    let redis = PrivateRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(move |v| {
        v.insert("REDIS_URL".into(), url);
    })
    .await;
    let admin = app.admin_token().await;
    let ann = app.create_user(&admin, "ann", "USER").await;
    let id = ann["id"].as_str().unwrap().to_owned();
    let rename = |name: &'static str| {
        let (app, admin, id) = (&app, &admin, &id);
        async move {
            let reply = app
                .call(
                    "PATCH",
                    &format!("/api/v1/users/{id}"),
                    Some(admin),
                    Some(json!({ "displayName": name })),
                )
                .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
    };
    assert_eq!(listed_name(&app, &admin, &id).await, "ann display");
    assert_eq!(
        listed_name(&app, &admin, &id).await,
        "ann display",
        "cached"
    );

    // Redis still serves the old page but refuses the voiding.
    assert_eq!(redis.cli(&["CONFIG", "SET", "maxmemory", "1"]), "OK");
    rename("Ann Two").await;
    for wait_ms in [0, 1500] {
        app.advance(Duration::from_millis(wait_ms));
        assert_eq!(
            listed_name(&app, &admin, &id).await,
            "Ann Two",
            "+{wait_ms} ms"
        );
    }

    // Redis gone altogether: the database answers.
    drop(redis);
    rename("Ann Three").await;
    assert_eq!(listed_name(&app, &admin, &id).await, "Ann Three");
}
