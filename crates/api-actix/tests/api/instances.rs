//! Two real `ems serve` processes over one database and one Redis behave as one service:
//! one login budget per client, and a revocation on one is seen by the other at once; an
//! instance started with other signing keys is reported by itself and by its peers.
//! Skipped (with a note) when `EMS_TEST_REDIS_URL` is unset locally; in CI (`CI` set) that fails.
//!
//! Each test speaks for a client IP of its own (a random IPv6 /64, forwarded through
//! `TRUSTED_PROXIES=127.0.0.1`), so runs sharing one Redis, or repeated within the
//! minute a budget lasts, do not meet.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use adapters_postgres::testing::TestDatabase;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use serde_json::{json, Value};

use crate::helpers::{token, ADMIN, ADMIN_PASSWORD};

/// One `ems serve` child process, killed when dropped.
struct Instance {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the instances share: the database, Redis, the signing key and a scratch dir.
struct Shared {
    db: TestDatabase,
    redis_url: String,
    dir: PathBuf,
    key: PathBuf,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh Ed25519 PKCS#8 PEM key.
fn new_key_pem() -> String {
    let seed: [u8; 32] = rand::random();
    ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap()
        .to_string()
}

impl Shared {
    async fn new() -> Option<Self> {
        let redis_url = adapters_redis::testing::redis_url()?;
        let dir = std::env::temp_dir().join(format!("ems-instances-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        // One signing key for both: a token of one instance is good on the other.
        let key = dir.join("signing.pem");
        std::fs::write(&key, new_key_pem()).unwrap();
        Some(Self {
            db: TestDatabase::new().await,
            redis_url,
            dir,
            key,
        })
    }

    /// Starts an instance and waits until it is ready.
    async fn start(&self, name: &str, extra: &[(&str, &str)]) -> Instance {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = self.dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ems"));
        command
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", self.db.url())
            .env("REDIS_URL", &self.redis_url)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("APP_ENV", "test")
            .env("ADMIN_USERNAME", ADMIN)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("JWT_SIGNING_KEYS", &self.key)
            // One audit key for every instance, as in production.
            .env("AUDIT_HMAC_KEY", crate::helpers::audit_key_file(&self.db))
            .env("TRUSTED_PROXIES", "127.0.0.1")
            .env("RATE_LIMIT", "100000")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in extra {
            command.env(k, v);
        }
        let child = command.spawn().expect("ems starts");
        let mut instance = Instance {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        instance.wait_ready().await;
        instance
    }
}

impl Instance {
    async fn wait_ready(&mut self) {
        let client = awc::Client::default();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "ems exited ({status}) before it was ready:\n{}",
                    self.log_text()
                );
            }
            if let Ok(res) = client
                .get(format!("{}/api/health/ready", self.base))
                .send()
                .await
            {
                if res.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "ems not ready within 60 s:\n{}",
                self.log_text()
            );
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines at `level` whose message contains `text`.
    fn logged(&self, level: &str, text: &str) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| {
                line["log.level"] == level
                    && line["message"].as_str().is_some_and(|m| m.contains(text))
            })
            .collect()
    }

    /// The value of the unlabelled gauge `name` on `/metrics`.
    async fn gauge(&self, name: &str) -> i64 {
        let mut res = awc::Client::default()
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("ems answers");
        assert_eq!(res.status(), 200);
        let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Waits (up to 20 s) until the gauge `name` reads `want`.
    async fn wait_gauge(&self, name: &str, want: i64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.gauge(name).await;
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {name} is {got}, not {want}, after 20 s:\n{}",
                self.log_text()
            );
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a request as `client` (forwarded by the trusted loopback proxy).
    async fn call(
        &self,
        method: &str,
        path: &str,
        client: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = awc::Client::default()
            .request(method, format!("{}{path}", self.base))
            .insert_header(("X-Forwarded-For", client));
        if let Some(token) = bearer {
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        let mut res = match body {
            Some(body) => req.send_json(&body).await,
            None => req.send().await,
        }
        .expect("ems answers");
        let bytes = res.body().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (res.status().as_u16(), body)
    }

    async fn login(&self, client: &str) -> (u16, Value) {
        self.call(
            "POST",
            "/api/v1/auth/login",
            client,
            None,
            Some(json!({"username": ADMIN, "password": ADMIN_PASSWORD})),
        )
        .await
    }
}

/// A client address no other test or run uses (a random IPv6 /64).
fn fresh_client() -> String {
    let [a, b]: [u16; 2] = rand::random();
    format!("2001:db8:{a:x}:{b:x}::1")
}

#[actix_rt::test]
async fn two_instances_on_one_redis_spend_one_login_budget() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    let limit = [("LOGIN_RATE_LIMIT", "5")];
    let a = shared.start("a", &limit).await;
    let b = shared.start("b", &limit).await;
    let client = fresh_client();

    for (instance, name) in [(&a, "a"), (&a, "a"), (&a, "a"), (&b, "b"), (&b, "b")] {
        let (status, body) = instance.login(&client).await;
        assert_eq!(status, 200, "login on {name}: {body}");
    }
    for (instance, name) in [(&a, "a"), (&b, "b")] {
        let (status, body) = instance.login(&client).await;
        assert_eq!(status, 429, "the 6th login on {name}: {body}");
        assert_eq!(body["code"], "RATE_LIMITED");
    }
    // Another client still has its own budget, on either instance.
    let (status, _) = b.login(&fresh_client()).await;
    assert_eq!(status, 200);
}

#[actix_rt::test]
async fn a_session_revoked_on_one_instance_is_refused_by_the_other_at_once() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    let a = shared.start("a", &[]).await;
    let b = shared.start("b", &[]).await;
    let client = fresh_client();

    let (status, pair) = a.login(&client).await;
    assert_eq!(status, 200, "{pair}");
    let access = token(&pair);
    let (status, body) = b
        .call("GET", "/api/v1/profile", &client, Some(&access), None)
        .await;
    assert_eq!(status, 200, "the token of a is good on b: {body}");

    let (status, body) = a
        .call("POST", "/api/v1/auth/logout", &client, Some(&access), None)
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = b
        .call("GET", "/api/v1/profile", &client, Some(&access), None)
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "SESSION_REVOKED");
}

#[actix_rt::test]
async fn an_instance_started_with_other_signing_keys_is_reported_by_every_side() {
    let Some(shared) = Shared::new().await else {
        return;
    };
    // A prefix of its own: other tests' instances on this Redis hold other keys.
    let prefix = format!("{}:", uuid::Uuid::new_v4().simple());
    let other = shared.dir.join("other.pem");
    std::fs::write(&other, new_key_pem()).unwrap();
    let other = other.display().to_string();
    let base = [
        ("JWT_KEY_CHECK_INTERVAL", "500ms"),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
    ];
    let a = shared.start("a", &base).await;
    let b = shared.start("b", &base).await;
    const GAUGE: &str = "ems_signing_keys_mismatch";
    const LINE: &str = "JWT_SIGNING_KEYS differs";
    // Same keys: nothing to report, however many checks run.
    // real timer: three key checks of each instance (another process: no test clock)
    actix_rt::time::sleep(Duration::from_millis(1_500)).await;
    for (instance, name) in [(&a, "a"), (&b, "b")] {
        assert_eq!(instance.gauge(GAUGE).await, 0, "{name}");
        assert!(instance.logged("error", LINE).is_empty(), "{name}");
    }

    let mut odd = base.to_vec();
    odd.push(("JWT_SIGNING_KEYS", other.as_str()));
    let c = shared.start("c", &odd).await;
    c.wait_gauge(GAUGE, 2, "the odd instance sees both peers differ")
        .await;
    a.wait_gauge(GAUGE, 1, "a sees the odd instance").await;
    b.wait_gauge(GAUGE, 1, "b sees the odd instance").await;
    for (instance, name) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        let lines = instance.logged("error", LINE);
        assert!(
            !lines.is_empty(),
            "{name} logs the mismatch:\n{}",
            instance.log_text()
        );
        assert!(
            lines[0]["peers.conflicting"].as_i64() >= Some(1),
            "{name}: {}",
            lines[0]
        );
        // Key ids only: no key material in the line.
        assert!(!lines[0].to_string().contains("PRIVATE"), "{name}");
    }
    // Tokens of the odd instance are indeed refused by the others: what is reported.
    let client = fresh_client();
    let (status, pair) = c.login(&client).await;
    assert_eq!(status, 200, "{pair}");
    let (status, _) = a
        .call("GET", "/api/v1/profile", &client, Some(&token(&pair)), None)
        .await;
    assert_eq!(status, 401);

    // Gone (its announcement expires three intervals after its last): the others agree again.
    drop(c);
    a.wait_gauge(GAUGE, 0, "a after the odd instance stopped")
        .await;
    b.wait_gauge(GAUGE, 0, "b after the odd instance stopped")
        .await;
    assert!(!a.logged("info", "agrees with every peer again").is_empty());
}
