//! `TestApp`: spawns the real `ems` application on a free port over a fresh database and
//! offers typed helpers for the calls tests make again and again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use adapters_crypto::OffsetClock;
use adapters_postgres::testing::TestDatabase;
use api_actix::config::{LogFormat, Settings};
use api_actix::startup::{Application, Overrides};
use api_actix::telemetry::{self, MemoryWriter};
use serde_json::{json, Value};

/// The bootstrap admin's name.
pub const ADMIN: &str = "root";
/// The bootstrap admin's password.
pub const ADMIN_PASSWORD: &str = "violet-Harbor-engine-42";
/// A strong password for users the tests create.
pub const STRONG: &str = "amber-Kettle-orbit-77";

/// Every log line of this test binary goes through one global subscriber, installed
/// once: to each active [`LogCapture`] (at TRACE, only while one is active) and, when
/// `TEST_LOG` is set, to stderr (at `RUST_LOG`, default debug). Quiet otherwise.
fn init_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let capture = tracing_subscriber::fmt::layer()
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::NEW)
            .fmt_fields(telemetry::EcsFields)
            .event_format(telemetry::EcsJson)
            .with_writer(|| Taps)
            .with_filter(tracing_subscriber::filter::filter_fn(|_| {
                CAPTURES.load(Ordering::SeqCst) > 0
            }));
        let stderr = std::env::var_os("TEST_LOG").is_some().then(|| {
            telemetry::layer(LogFormat::Pretty, std::io::stderr, false)
                .with_filter(telemetry::env_filter("debug"))
        });
        telemetry::init(Box::new(
            tracing_subscriber::registry().with(capture).with(stderr),
        ));
    });
}

/// How many [`LogCapture`]s are active; no line is formatted for capture when none is.
static CAPTURES: AtomicUsize = AtomicUsize::new(0);

/// The buffers of the active captures.
static TAP_BUFFERS: Mutex<Vec<(usize, MemoryWriter)>> = Mutex::new(Vec::new());

/// Names each capture, so dropping one removes its own buffer.
static NEXT_CAPTURE: AtomicUsize = AtomicUsize::new(0);

/// Writes each line into every active capture.
struct Taps;

impl std::io::Write for Taps {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut taps = TAP_BUFFERS.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, tap) in taps.iter_mut() {
            std::io::Write::write_all(tap, buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything logged, at every level and by every test of this binary, while it lives
/// (JSON lines in the production format, with a line for each new span).
pub struct LogCapture {
    id: usize,
    buffer: MemoryWriter,
}

impl LogCapture {
    /// Starts capturing.
    pub fn start() -> Self {
        init_logs();
        let id = NEXT_CAPTURE.fetch_add(1, Ordering::SeqCst);
        let buffer = MemoryWriter::new();
        TAP_BUFFERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, buffer.clone()));
        CAPTURES.fetch_add(1, Ordering::SeqCst);
        // Callsites seen while no capture was active may have cached "never".
        tracing::callsite::rebuild_interest_cache();
        Self { id, buffer }
    }

    /// What was logged so far.
    pub fn contents(&self) -> String {
        self.buffer.contents()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURES.fetch_sub(1, Ordering::SeqCst);
        TAP_BUFFERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(id, _)| *id != self.id);
    }
}

/// A response, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The contract's error `code`.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Asserts the status and, for errors, the full contract error body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.code(), code, "body: {}", self.body);
        assert_error_shape(self, status);
    }
}

/// Asserts that `reply` has the contract's error shape.
#[track_caller]
pub fn assert_error_shape(reply: &Reply, status: u16) {
    let b = &reply.body;
    assert_eq!(b["statusCode"], status, "body: {b}");
    for key in ["error", "code", "message", "timestamp", "path", "requestId"] {
        assert!(b[key].is_string(), "missing {key} in {b}");
    }
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json"),
        "error bodies are JSON"
    );
    assert_eq!(
        reply.header("x-request-id").as_deref(),
        b["requestId"].as_str(),
        "the body names the request id of the header"
    );
}

/// A running server and its database.
pub struct TestApp {
    pub address: String,
    pub db: TestDatabase,
    client: awc::Client,
    server: actix_web::dev::ServerHandle,
    clock: Arc<OffsetClock>,
}

/// Settings overrides for [`TestApp::spawn_with`].
pub type Vars = BTreeMap<String, String>;

impl TestApp {
    /// A server with default settings and the bootstrap admin.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose environment `configure` may change.
    pub async fn spawn_with(configure: impl FnOnce(&mut Vars)) -> Self {
        Self::spawn_on(TestDatabase::new().await, configure).await
    }

    /// Like [`spawn_with`](Self::spawn_with) over a database the test prepared first.
    pub async fn spawn_on(db: TestDatabase, configure: impl FnOnce(&mut Vars)) -> Self {
        init_logs();
        let audit_key = audit_key_file(&db);
        let mut vars: Vars = [
            ("DATABASE_URL", db.url()),
            (
                "AUDIT_HMAC_KEY",
                audit_key.to_str().expect("a UTF-8 temp path"),
            ),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("APP_ENV", "test"),
            ("ADMIN_USERNAME", ADMIN),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("DATABASE_MAX_CONNECTIONS", "4"),
            ("DATABASE_TIMEOUT", "2s"),
            // Tests log in and write a lot from one IP; rate limit tests lower these.
            ("RATE_LIMIT", "1000000"),
            ("LOGIN_RATE_LIMIT", "1000000"),
            ("ADMIN_WRITE_RATE_LIMIT", "1000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        configure(&mut vars);
        let settings = Settings::from_vars(vars).expect("test settings are valid");
        let clock = Arc::new(OffsetClock::new());
        let overrides = Overrides {
            clock: clock.clone(),
        };
        let app = Application::build_with(settings, overrides)
            .await
            .expect("the app starts");
        let scheme = if app.is_tls() { "https" } else { "http" };
        let address = format!("{scheme}://127.0.0.1:{}", app.port());
        let server = app.handle();
        actix_rt::spawn(app.run_until_stopped());
        let client = awc::Client::builder()
            // Generous: race tests fire bursts of argon2 work at two shared cores.
            .timeout(Duration::from_secs(60))
            .disable_redirects()
            .finish();
        Self {
            address,
            db,
            client,
            server,
            clock,
        }
    }

    /// Moves the server's clock forward by `by`: every time it reads from its `Clock`
    /// (token expiry, `lastUsedAt`, lockouts, grace windows, audit times) jumps at
    /// once. Timers it does not read from it (Redis TTLs, tokio intervals) do not.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Calls through `client` from now on (e.g. one that trusts a test certificate).
    pub fn with_client(mut self, client: awc::Client) -> Self {
        self.client = client;
        self
    }

    /// Stops the server (in-flight requests finish first) and hands back its database,
    /// so a test can start another server over the same data.
    pub async fn stop(self) -> TestDatabase {
        self.server.stop(true).await;
        self.db
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.send(method, path, token, body, &[]).await
    }

    /// Like [`call`](Self::call), with extra headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        let mut res = match body {
            Some(body) => req.send_json(&body).await,
            None => req.send().await,
        }
        .expect("the server answers");
        let bytes = res.body().limit(10 * 1024 * 1024).await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body,
        }
    }

    /// Sends raw bytes with a content type.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut res = self
            .client
            .request(method, format!("{}{path}", self.address))
            .insert_header(("Content-Type", content_type))
            .send_body(body)
            .await
            .expect("the server answers");
        let bytes = res.body().limit(10 * 1024 * 1024).await.expect("a body");
        Reply {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// Sends raw bytes with a content type (none when empty) and an optional bearer
    /// token; the body is JSON when it parses, text otherwise.
    pub async fn send_bytes(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut req = self.client.post(format!("{}{path}", self.address));
        if let Some(token) = token {
            req = req.insert_header(("Authorization", format!("Bearer {token}")));
        }
        if !content_type.is_empty() {
            req = req.insert_header(("Content-Type", content_type));
        }
        let mut res = req.send_body(body).await.expect("the server answers");
        let bytes = res.body().limit(64 * 1024 * 1024).await.expect("a body");
        Reply {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        }
    }

    /// Tries to sign in; the reply, whatever it is.
    pub async fn attempt_login(&self, username: &str, password: &str) -> Reply {
        self.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": username, "password": password })),
        )
        .await
    }

    /// Signs in; panics unless it succeeds.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let reply = self.attempt_login(username, password).await;
        assert_eq!(reply.status, 200, "login of {username}: {}", reply.body);
        reply.body
    }

    /// The bootstrap admin's access token.
    pub async fn admin_token(&self) -> String {
        token(&self.login(ADMIN, ADMIN_PASSWORD).await)
    }

    /// Creates a user as admin and returns it.
    pub async fn create_user(&self, admin: &str, username: &str, role: &str) -> Value {
        let reply = self
            .call(
                "POST",
                "/api/v1/users",
                Some(admin),
                Some(json!({
                    "username": username,
                    "displayName": format!("{username} display"),
                    "email": format!("{username}@example.org"),
                    "password": STRONG,
                    "role": role,
                })),
            )
            .await;
        assert_eq!(reply.status, 201, "create {username}: {}", reply.body);
        reply.body
    }

    /// Creates a user and signs them in; returns (user, access token).
    pub async fn user_with_token(&self, admin: &str, username: &str) -> (Value, String) {
        let user = self.create_user(admin, username, "USER").await;
        let pair = self.login(username, STRONG).await;
        (user, token(&pair))
    }
}

/// The audit key file of `db` (written on first use): the key is the database's own
/// (`TestDatabase::audit_key`), so every server a test starts over one database, and
/// every store the test opens on it, bind and verify entries alike.
pub fn audit_key_file(db: &TestDatabase) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("ems-audit-key-{}", db.name()));
    if !path.exists() {
        std::fs::write(&path, db.audit_key_material()).expect("the audit key file is written");
    }
    path
}

/// The access token of a token pair.
pub fn token(pair: &Value) -> String {
    pair["accessToken"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// The refresh token of a token pair.
pub fn refresh_token(pair: &Value) -> String {
    pair["refreshToken"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

/// `GET /audit-logs/verify` once at least `rows` entries are checked: sealing runs in the
/// background, every `AUDIT_SEAL_INTERVAL`. Panics after 10 s.
pub async fn sealed(app: &TestApp, admin: &str, rows: i64) -> serde_json::Value {
    for _ in 0..100 {
        let reply = app
            .call("GET", "/api/v1/audit-logs/verify", Some(admin), None)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if reply.body["checked"]
            .as_i64()
            .is_some_and(|checked| checked >= rows)
        {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("entries were not sealed within 10 s");
}

/// Polls `check` every 50 ms until it holds or `deadline` has passed; whether it held.
/// For conditions the server reaches by itself (a background job, a recovery).
pub async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs SQL on the test cluster's maintenance database.
async fn on_cluster(sql: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let url = std::env::var("EMS_TEST_DATABASE_URL").expect("EMS_TEST_DATABASE_URL is set");
    let mut conn = AsyncPgConnection::establish(&url)
        .await
        .expect("the cluster answers");
    conn.batch_execute(sql).await.expect("the statement runs");
}

/// Makes the test database refuse every connection and drops the open ones: to the
/// server, PostgreSQL is down.
pub async fn take_database_down(db: &TestDatabase) {
    let name = db.name();
    on_cluster(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
    ))
    .await;
}

/// Undoes [`take_database_down`].
pub async fn bring_database_back(db: &TestDatabase) {
    on_cluster(&format!(
        "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true",
        db.name()
    ))
    .await;
}
