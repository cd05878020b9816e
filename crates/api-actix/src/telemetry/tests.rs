//! The log formats, redaction and the rotated file.

use super::*;
use tracing::subscriber::with_default;
use tracing_subscriber::Registry;

fn capture(format: LogFormat, f: impl FnOnce()) -> String {
    let out = MemoryWriter::new();
    let subscriber =
        tracing_subscriber::registry().with(layer::<Registry, _>(format, out.clone(), false));
    with_default(subscriber, f);
    out.contents()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn json_lines_carry_ecs_names_and_the_fields_of_enclosing_spans() {
    let out = capture(LogFormat::Json, || {
        let span = tracing::info_span!(
            "http.request",
            http.request.id = "req-1",
            user.id = tracing::field::Empty
        );
        let _entered = span.enter();
        span.record("user.id", "u-1");
        tracing::info_span!("inner", target.id = 7).in_scope(|| {
            tracing::warn!(http.response.status_code = 404_u16, "done");
        });
    });
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    let line = &lines[0];
    assert_eq!(line["log.level"], "warn");
    assert_eq!(line["message"], "done");
    assert_eq!(line["http.request.id"], "req-1");
    assert_eq!(line["user.id"], "u-1", "recorded later, still there");
    assert_eq!(line["target.id"], 7);
    assert_eq!(line["http.response.status_code"], 404);
    assert_eq!(line["span.name"], "inner");
    assert!(line["log.logger"]
        .as_str()
        .unwrap()
        .starts_with("api_actix"));
    let ts = line["@timestamp"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
}

#[test]
fn json_span_fields_recorded_one_by_one_or_again_keep_the_latest_value() {
    let out = capture(LogFormat::Json, || {
        let bare = tracing::info_span!("bare", a = tracing::field::Empty);
        let _outer = bare.enter();
        bare.record("a", 1);
        let span = tracing::info_span!(
            "http.request",
            http.request.id = "req-2",
            user.id = tracing::field::Empty,
            auth.cache = tracing::field::Empty,
            refresh_token = tracing::field::Empty
        );
        let _inner = span.enter();
        span.record("user.id", "u-1");
        span.record("auth.cache", "miss");
        span.record("user.id", "u-2");
        span.record("refresh_token", "k-secret-3");
        tracing::info!("done");
    });
    assert!(!out.contains("k-secret-3"), "{out}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    let line = &lines[0];
    assert_eq!(line["a"], 1, "recorded on a span created without a value");
    assert_eq!(line["http.request.id"], "req-2");
    assert_eq!(line["user.id"], "u-2", "the later record wins");
    assert_eq!(line["auth.cache"], "miss");
    assert_eq!(line["refresh_token"], REDACTED);
}

#[test]
fn secret_fields_and_credential_shaped_text_are_redacted_in_both_formats() {
    let jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    for format in [LogFormat::Json, LogFormat::Pretty] {
        let out = capture(format, || {
            tracing::info_span!("s", refresh_token = "rt-secret-1").in_scope(|| {
                tracing::info!(
                    password = "pw-secret-2",
                    http.request.headers.authorization = "Bearer abc",
                    token.id = "visible-id",
                    note = %format!("got Bearer opaque-secret-3 and {jwt} here"),
                    "saw {jwt}"
                );
            });
        });
        for secret in ["rt-secret-1", "pw-secret-2", "opaque-secret-3", jwt, "abc"] {
            assert!(!out.contains(secret), "{format:?} leaked {secret}: {out}");
        }
        assert!(out.contains("visible-id"), "{out}");
        assert!(out.contains(REDACTED), "{out}");
    }
}

#[test]
fn scrub_leaves_ordinary_text_alone() {
    for text in [
        "",
        "eyJ",
        "plain words",
        "a.b.c",
        "eyJabc only one.dot",
        "bearer",
    ] {
        assert_eq!(scrub(text), text);
    }
    assert_eq!(scrub("x eyJa.b.c y"), format!("x {REDACTED} y"));
    assert_eq!(scrub("BEARER tok"), format!("BEARER {REDACTED}"));
}

#[test]
fn field_names_that_name_a_secret_are_recognised() {
    for name in [
        "password",
        "new_password",
        "refresh_token",
        "http.request.headers.authorization",
        "client_secret",
        "cookie",
    ] {
        assert!(is_secret_field(name), "{name}");
    }
    for name in ["token.id", "session.id", "user.id", "message", "http.route"] {
        assert!(!is_secret_field(name), "{name}");
    }
}

#[test]
fn pretty_lines_are_human_text() {
    let out = capture(LogFormat::Pretty, || {
        tracing::info_span!("http.request", http.route = "/api/v1/users/{id}")
            .in_scope(|| tracing::info!(http.response.status_code = 200_u16, "request completed"));
    });
    assert!(out.contains("INFO"), "{out}");
    assert!(out.contains("request completed"), "{out}");
    assert!(out.contains("http.route=\"/api/v1/users/{id}\""), "{out}");
    assert!(out.contains("http.response.status_code=200"), "{out}");
    assert!(
        serde_json::from_str::<Value>(out.trim()).is_err(),
        "not JSON: {out}"
    );
}

#[test]
fn a_field_recorded_later_appears_once_with_two_pretty_layers() {
    let (stdout, file) = (MemoryWriter::new(), MemoryWriter::new());
    let subscriber = tracing_subscriber::registry()
        .with(layer::<_, _>(LogFormat::Pretty, stdout.clone(), false))
        .with(tagged_layer::<_, _, FileTag>(
            LogFormat::Pretty,
            file.clone(),
            false,
        ));
    with_default(subscriber, || {
        let span = tracing::info_span!("http.request", user.id = tracing::field::Empty);
        span.record("user.id", "u-9");
        span.in_scope(|| tracing::info!("request completed"));
    });
    for out in [stdout.contents(), file.contents()] {
        assert_eq!(out.matches("u-9").count(), 1, "{out}");
    }
}

#[test]
fn the_log_file_is_written_and_old_files_beyond_the_retention_are_removed() {
    let dir = std::env::temp_dir().join(format!("ems-logs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    for day in 1..=5 {
        std::fs::write(dir.join(format!("ems.2020-01-0{day}.log")), "old\n").unwrap();
    }
    std::fs::write(dir.join("unrelated.txt"), "keep\n").unwrap();

    let appender = file_appender(&dir, 3).unwrap();
    let (writer, guard) = non_blocking(appender, "test-log-file");
    let subscriber =
        tracing_subscriber::registry().with(layer::<Registry, _>(LogFormat::Json, writer, false));
    with_default(subscriber, || tracing::info!(answer = 42, "to the file"));
    drop(guard);

    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let logs: Vec<&String> = names.iter().filter(|n| n.starts_with("ems.")).collect();
    assert_eq!(logs.len(), 3, "retention 3 keeps 3 files: {names:?}");
    assert!(names.contains(&"unrelated.txt".to_owned()), "{names:?}");
    let today = format!("ems.{}.log", Utc::now().format("%Y-%m-%d"));
    let text = std::fs::read_to_string(dir.join(&today)).unwrap();
    let line: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["answer"], 42);
    assert_eq!(line["message"], "to the file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_log_directory_is_created() {
    let dir = std::env::temp_dir()
        .join(format!("ems-logs-{}", uuid::Uuid::new_v4()))
        .join("nested");
    drop(file_appender(&dir, 7).unwrap());
    assert!(dir.is_dir());
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn an_unusable_log_directory_is_named_in_one_line() {
    let file = std::env::temp_dir().join(format!("ems-not-a-dir-{}", uuid::Uuid::new_v4()));
    std::fs::write(&file, "x").unwrap();
    let err = file_appender(&file.join("sub"), 7).unwrap_err().to_string();
    assert!(err.starts_with("LOG_FILE_DIR: "), "{err}");
    assert!(!err.contains('\n'), "{err}");
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn json_lines_inside_a_traced_span_carry_its_trace_and_span_ids_and_no_otel_fields() {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let out = MemoryWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(layer(LogFormat::Json, out.clone(), false))
        .with(otlp::layer(&provider));
    with_default(subscriber, || {
        tracing::info!("outside any span");
        tracing::info_span!("http.request", otel.kind = "server").in_scope(|| {
            tracing::info_span!("login").in_scope(|| tracing::info!("inside"));
        });
    });
    provider.force_flush().unwrap();

    let lines = json_lines(&out.contents());
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].get("trace.id").is_none(), "{}", lines[0]);
    let spans = exporter.get_finished_spans().unwrap();
    let login = spans.iter().find(|s| s.name == "login").unwrap();
    let inside = &lines[1];
    assert_eq!(
        inside["trace.id"],
        login.span_context.trace_id().to_string()
    );
    assert_eq!(inside["span.id"], login.span_context.span_id().to_string());
    assert!(inside.get("otel.kind").is_none(), "{inside}");
    let request = spans.iter().find(|s| s.name == "http.request").unwrap();
    assert_eq!(request.span_kind, opentelemetry::trace::SpanKind::Server);
}

#[test]
fn the_span_exporter_has_its_own_filter_whatever_rust_log_says() {
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    for rust_log in ["warn", "debug"] {
        let out = MemoryWriter::new();
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = assemble(
            vec![layer(LogFormat::Json, out.clone(), false)],
            EnvFilter::new(rust_log),
            Some(otlp::layer(&provider)),
        );
        with_default(subscriber, || {
            tracing::info_span!("http.request").in_scope(|| {
                tracing::info_span!("login").in_scope(|| {
                    tracing::info!("password checked");
                    tracing::debug_span!("detail").in_scope(|| {});
                    tracing::warn!("account locked");
                });
            });
        });
        provider.force_flush().unwrap();

        let spans = exporter.get_finished_spans().unwrap();
        let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(names, ["http.request", "login"], "RUST_LOG={rust_log}");
        let login = spans.iter().find(|s| s.name == "login").unwrap();
        let events: Vec<&str> = login.events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(
            events,
            ["password checked", "account locked"],
            "RUST_LOG={rust_log}"
        );
        let messages: Vec<Value> = json_lines(&out.contents())
            .into_iter()
            .map(|l| l["message"].clone())
            .collect();
        let expected = if rust_log == "warn" {
            vec!["account locked"]
        } else {
            vec!["password checked", "account locked"]
        };
        assert_eq!(messages, expected, "RUST_LOG={rust_log}");
    }
}
