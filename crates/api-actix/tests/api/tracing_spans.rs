//! OpenTelemetry traces of the real `ems` binary: each test starts it as a child process
//! (the global `tracing` subscriber of this test binary has no OTLP layer, and can be set
//! only once), with its own environment pointing `OTEL_EXPORTER_OTLP_ENDPOINT` at a real
//! OTLP/gRPC receiver, and reads its JSON log lines from its standard output.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use adapters_postgres::testing::TestDatabase;
use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use serde_json::{json, Value};

use crate::helpers::{ADMIN, ADMIN_PASSWORD};

/// The caller's trace, as a W3C `traceparent` names it.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The caller's span, parent of the server's request span.
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")
}

/// A running `ems serve`, killed when dropped (before its database is).
struct Ems {
    child: Child,
    address: String,
    stdout: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    client: awc::Client,
}

impl Ems {
    /// Starts `ems serve` over `db` with only the variables given here (nothing inherited)
    /// and waits until it serves.
    async fn start(db: &TestDatabase, extra: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ems"));
        command
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", db.url())
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("APP_ENV", "test")
            .env("ADMIN_USERNAME", ADMIN)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("DATABASE_MAX_CONNECTIONS", "4")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            // Sealing every second would add background spans to every export.
            .env("AUDIT_SEAL_INTERVAL", "1h")
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("ems starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("piped stdout");
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    lines
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(value);
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("piped stderr");
        let text = stderr.clone();
        std::thread::spawn(move || {
            let mut all = String::new();
            let _ = err.read_to_string(&mut all);
            text.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_str(&all);
        });
        let mut ems = Self {
            child,
            address: String::new(),
            stdout,
            stderr,
            client: awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish(),
        };
        let serving = ems
            .wait_for_line(|l| l["message"] == "ems is serving")
            .await;
        let port = serving["server.port"].as_u64().expect("a port");
        ems.address = format!("http://127.0.0.1:{port}");
        ems
    }

    /// The JSON lines written so far.
    fn lines(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits (up to 60 s) for a log line; panics with the child's output otherwise.
    async fn wait_for_line(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| wanted(l)) {
                return line;
            }
            let exited = self.child.try_wait().expect("the child's status");
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "no such line (exit: {exited:?}); stdout: {:?}; stderr: {}",
                    self.lines(),
                    self.stderr.lock().unwrap_or_else(PoisonError::into_inner)
                );
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Posts a login with extra headers; returns the status.
    async fn login(&self, password: &str, headers: &[(&str, &str)]) -> u16 {
        let mut req = self
            .client
            .post(format!("{}/api/v1/auth/login", self.address));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        req.send_json(&json!({ "username": ADMIN, "password": password }))
            .await
            .expect("ems answers")
            .status()
            .as_u16()
    }

    /// GETs a path; returns the status.
    async fn get(&self, path: &str) -> u16 {
        self.get_with(path, &[]).await
    }

    /// GETs a path with extra headers; returns the status.
    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> u16 {
        let mut req = self.client.get(format!("{}{path}", self.address));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        req.send().await.expect("ems answers").status().as_u16()
    }

    /// Sends SIGTERM and waits (without blocking the runtime, which serves the collector)
    /// until the process exits; returns whether it exited successfully.
    async fn stop(&mut self) -> bool {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signalled");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return status.success();
            }
            assert!(Instant::now() < deadline, "ems did not stop");
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Ems {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collects exported spans until `done` says the set is complete (or 30 s passed).
async fn spans_until(
    collector: &mut FakeCollectorServer,
    done: impl Fn(&[ExportedSpan]) -> bool,
) -> Vec<ExportedSpan> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut spans = Vec::new();
    while !done(&spans) && Instant::now() < deadline {
        spans.extend(
            collector
                .exported_spans(1, Duration::from_millis(200))
                .await,
        );
    }
    spans
}

/// Whether the spans hold a `login` span of the caller's trace.
fn has_login(spans: &[ExportedSpan]) -> bool {
    spans
        .iter()
        .any(|s| s.name == "login" && s.trace_id == CALLER_TRACE)
}

/// The span of `spans` named `name`, in the caller's trace.
fn named<'a>(spans: &'a [ExportedSpan], name: &str) -> &'a ExportedSpan {
    spans
        .iter()
        .find(|s| s.name == name && s.trace_id == CALLER_TRACE)
        .unwrap_or_else(|| panic!("no {name} span in {spans:#?}"))
}

/// Whether `span` descends from the span with id `ancestor` within `spans`.
fn descends_from(spans: &[ExportedSpan], span: &ExportedSpan, ancestor: &str) -> bool {
    let mut parent = span.parent_span_id.clone();
    for _ in 0..spans.len() {
        if parent == ancestor {
            return true;
        }
        match spans.iter().find(|s| s.span_id == parent) {
            Some(next) => parent = next.parent_span_id.clone(),
            None => return false,
        }
    }
    false
}

#[actix_rt::test]
async fn a_traced_login_arrives_as_one_tree_request_then_use_case_then_database_calls() {
    // Arrange
    let mut collector = FakeCollectorServer::start().await.expect("a collector");
    let db = TestDatabase::new().await;
    let endpoint = collector.endpoint();
    let ems = Ems::start(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_SERVICE_NAME", "ems-under-test"),
        ],
    )
    .await;

    // Act
    let status = ems
        .login(
            ADMIN_PASSWORD,
            &[
                ("traceparent", &traceparent()),
                ("X-Request-ID", "traced-login"),
            ],
        )
        .await;
    let spans = spans_until(&mut collector, |spans| {
        has_login(spans)
            && spans
                .iter()
                .any(|s| s.name == "http.request" && s.trace_id == CALLER_TRACE)
    })
    .await;

    // Assert: caller → request → login → pg.* (and password.verify).
    assert_eq!(status, 200);
    let request = named(&spans, "http.request");
    assert_eq!(request.parent_span_id, CALLER_SPAN, "{request:#?}");
    assert_eq!(request.kind, "SPAN_KIND_SERVER");
    assert!(
        request.attributes["http.request.id"].contains("traced-login"),
        "{request:#?}"
    );
    assert!(
        request.attributes["http.route"].contains("/api/v1/auth/login"),
        "{request:#?}"
    );
    assert!(
        request.attributes["http.response.status_code"].contains("200"),
        "{request:#?}"
    );
    let login = named(&spans, "login");
    assert_eq!(login.parent_span_id, request.span_id, "{spans:#?}");
    let verify = named(&spans, "password.verify");
    assert!(descends_from(&spans, verify, &login.span_id), "{spans:#?}");
    let pg: Vec<&ExportedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == CALLER_TRACE && s.name.starts_with("pg."))
        .collect();
    assert!(!pg.is_empty(), "no pg.* span in {spans:#?}");
    for span in pg {
        assert!(descends_from(&spans, span, &login.span_id), "{span:#?}");
    }
    // The caller's trace holds nothing that is not under its request span.
    for span in spans.iter().filter(|s| s.trace_id == CALLER_TRACE) {
        assert!(
            span.span_id == request.span_id || descends_from(&spans, span, &request.span_id),
            "{span:#?}"
        );
    }
}

#[actix_rt::test]
async fn quiet_logs_still_export_the_whole_tree_and_a_ratio_of_zero_exports_no_new_trace() {
    // Arrange: warnings only (and the line naming the port), and no new trace sampled.
    let mut collector = FakeCollectorServer::start().await.expect("a collector");
    let db = TestDatabase::new().await;
    let endpoint = collector.endpoint();
    let mut ems = Ems::start(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("RUST_LOG", "warn,ems=info"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0"),
        ],
    )
    .await;

    // Act: one login without a caller's trace (ratio 0: not sampled), then one whose
    // caller sampled its trace (parent-based: sampled).
    let unsampled = ems.login(ADMIN_PASSWORD, &[]).await;
    let traced = ems
        .login(ADMIN_PASSWORD, &[("traceparent", &traceparent())])
        .await;
    let stopped = ems.stop().await;
    let spans = spans_until(&mut collector, |spans| {
        has_login(spans) && spans.iter().any(|s| s.name == "http.request")
    })
    .await;

    // Assert
    assert_eq!((unsampled, traced, stopped), (200, 200, true));
    let request = named(&spans, "http.request");
    assert_eq!(request.parent_span_id, CALLER_SPAN, "{request:#?}");
    let login = named(&spans, "login");
    assert_eq!(login.parent_span_id, request.span_id, "{spans:#?}");
    assert!(
        spans
            .iter()
            .any(|s| s.name.starts_with("pg.") && descends_from(&spans, s, &login.span_id)),
        "{spans:#?}"
    );
    assert!(
        spans.iter().all(|s| s.trace_id == CALLER_TRACE),
        "the unsampled login exported nothing: {spans:#?}"
    );
    assert!(
        !ems.lines()
            .iter()
            .any(|l| l["message"] == "request completed"),
        "RUST_LOG=warn still quiets the access lines"
    );
}

#[actix_rt::test]
async fn every_log_line_of_a_traced_request_carries_the_callers_trace_id() {
    // Arrange: debug lines, so that the use case inside the request logs too.
    let mut collector = FakeCollectorServer::start().await.expect("a collector");
    let db = TestDatabase::new().await;
    let endpoint = collector.endpoint();
    let mut ems = Ems::start(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("RUST_LOG", "info,api_actix=debug,adapters_crypto=debug"),
        ],
    )
    .await;

    // Act: a refused access token is logged inside the `authenticate` use case.
    let status = ems
        .get_with(
            "/api/v1/profile",
            &[
                ("traceparent", &traceparent()),
                ("X-Request-ID", "traced-lines"),
                ("Authorization", "Bearer not-a-token"),
            ],
        )
        .await;
    let access = ems
        .wait_for_line(|l| {
            l["message"] == "request completed" && l["http.request.id"] == "traced-lines"
        })
        .await;
    let spans = spans_until(&mut collector, |spans| {
        spans
            .iter()
            .any(|s| s.name == "http.request" && s.trace_id == CALLER_TRACE)
    })
    .await;

    // Assert
    assert_eq!(status, 401);
    let request = named(&spans, "http.request");
    let authenticate = named(&spans, "authenticate");
    assert_eq!(access["trace.id"], CALLER_TRACE, "{access}");
    assert_eq!(access["span.id"], request.span_id.as_str(), "{access}");
    let lines: Vec<Value> = ems
        .lines()
        .into_iter()
        .filter(|l| l["http.request.id"] == "traced-lines")
        .collect();
    let refused = lines
        .iter()
        .find(|l| l["message"] == "access token refused")
        .unwrap_or_else(|| panic!("no use case line in {lines:?}"));
    assert_eq!(
        refused["span.id"],
        authenticate.span_id.as_str(),
        "{refused}"
    );
    for line in &lines {
        assert_eq!(line["trace.id"], CALLER_TRACE, "{line}");
        assert!(line.get("otel.kind").is_none(), "{line}");
    }
    // A request without `traceparent` starts its own trace, named in its lines too.
    assert_eq!(ems.get("/api/health").await, 200);
    let own = ems
        .wait_for_line(|l| l["message"] == "request completed" && l["http.route"] == "/api/health")
        .await;
    let trace = own["trace.id"].as_str().expect("a trace id");
    assert_eq!(trace.len(), 32, "{own}");
    assert_ne!(trace, CALLER_TRACE);
}

#[actix_rt::test]
async fn the_spans_still_queued_are_sent_when_the_server_stops() {
    // Arrange: batches would wait a minute; only the shutdown flush sends them.
    let mut collector = FakeCollectorServer::start().await.expect("a collector");
    let db = TestDatabase::new().await;
    let endpoint = collector.endpoint();
    let mut ems = Ems::start(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ],
    )
    .await;
    let status = ems
        .login(ADMIN_PASSWORD, &[("traceparent", &traceparent())])
        .await;
    assert_eq!(status, 200);

    // Act
    let stopped = ems.stop().await;
    let spans = spans_until(&mut collector, has_login).await;

    // Assert
    assert!(stopped, "ems exits cleanly");
    assert!(has_login(&spans), "{spans:#?}");
}

#[actix_rt::test]
async fn an_unreachable_collector_changes_no_answer_and_does_not_stop_the_shutdown() {
    // Arrange: a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let endpoint = format!("http://{}", closed.local_addr().expect("an address"));
    drop(closed);
    let db = TestDatabase::new().await;
    let mut ems = Ems::start(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    )
    .await;

    // Act
    let good = ems
        .login(ADMIN_PASSWORD, &[("traceparent", &traceparent())])
        .await;
    let bad = ems.login("not-the-Admin-password-9", &[]).await;
    let health = ems.get("/api/health").await;
    let again = ems.login(ADMIN_PASSWORD, &[]).await;
    let stopped = ems.stop().await;

    // Assert
    assert_eq!((good, bad, health, again), (200, 401, 200, 200));
    assert!(stopped, "ems exits cleanly");
}

#[actix_rt::test]
async fn a_redis_call_is_a_client_span_of_its_request() {
    // Arrange: Redis configured but down; the readiness probe still pings it.
    let mut collector = FakeCollectorServer::start().await.expect("a collector");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let redis_url = format!("redis://{}", closed.local_addr().expect("an address"));
    drop(closed);
    let db = TestDatabase::new().await;
    let endpoint = collector.endpoint();
    let ems = Ems::start(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("REDIS_URL", redis_url.as_str()),
            ("REDIS_TIMEOUT", "200ms"),
        ],
    )
    .await;

    // Act
    let status = ems
        .get_with("/api/health/ready", &[("traceparent", &traceparent())])
        .await;
    let spans = spans_until(&mut collector, |spans| {
        spans
            .iter()
            .any(|s| s.name == "http.request" && s.trace_id == CALLER_TRACE)
            && spans.iter().any(|s| s.name == "redis.ping")
    })
    .await;

    // Assert
    assert_eq!(status, 503, "Redis is down");
    let request = named(&spans, "http.request");
    let ping = named(&spans, "redis.ping");
    assert!(descends_from(&spans, ping, &request.span_id), "{spans:#?}");
    assert_eq!(ping.kind, "SPAN_KIND_CLIENT");
    assert!(ping.attributes["db.system"].contains("redis"), "{ping:#?}");
    assert!(
        ping.attributes["db.operation.name"].contains("ping"),
        "{ping:#?}"
    );
}
