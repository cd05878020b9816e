//! The access log: one `http.request` span per request and one line when it completes.
//!
//! The span carries the request id, method, path, route template, user agent and client
//! IP, plus `user.id` once the [`Authenticated`](crate::http::auth::Authenticated)
//! extractor knows the caller; the use cases' own spans nest inside it, so every line a
//! request causes names its request id. The completion line adds the status and the
//! latency. Bodies, query strings and headers other than the user agent are never logged.
//! With OTLP tracing on, the span is the exported server span, child of the caller's W3C
//! `traceparent` when one is sent.
//!
//! Register with `from_fn(access_log_middleware)` inside the request-id middleware and
//! outside the error-body middleware, so it sees the id and the final status.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::USER_AGENT;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use tracing::field::{display, Empty};
use tracing::{Instrument, Span};

use crate::http::client_ip::client_ip;
use crate::http::request_id::RequestId;

/// The longest user agent logged; longer ones are cut.
const MAX_USER_AGENT: usize = 512;

/// The span of the current request, kept in the request extensions so extractors can
/// record on it.
#[derive(Clone)]
struct RequestSpan(Span);

/// Records the signed-in caller on the request's span (no-op outside the middleware).
pub fn record_user(req: &HttpRequest, user_id: impl std::fmt::Display) {
    if let Some(RequestSpan(span)) = req.extensions().get::<RequestSpan>() {
        span.record("user.id", display(user_id));
    }
}

/// The request's span, for work that finishes after the extractor returns.
pub fn request_span(req: &HttpRequest) -> Option<Span> {
    req.extensions()
        .get::<RequestSpan>()
        .map(|RequestSpan(span)| span.clone())
}

fn user_agent(req: &ServiceRequest) -> Option<String> {
    req.headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(MAX_USER_AGENT)
                .collect()
        })
}

/// Opens the request's span, runs the request inside it and logs its completion.
/// Use with `actix_web::middleware::from_fn(access_log_middleware)`.
pub async fn access_log_middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let started = Instant::now();
    let id = RequestId::of(req.request());
    // The template (`/api/v1/users/{id}`), never the raw path with its ids; unknown
    // routes have none.
    let route = req.match_pattern();
    let span = tracing::info_span!(
        "http.request",
        http.request.id = %id,
        http.request.method = %req.method(),
        url.path = req.path(),
        http.route = route.as_deref(),
        user.id = Empty,
        user_agent.original = user_agent(&req).as_deref(),
        client.ip = Empty,
        http.response.status_code = Empty,
        otel.kind = "server",
        otel.status_code = Empty,
    );
    // A caller's W3C `traceparent` makes this request part of its trace (ADR 0014).
    crate::telemetry::otlp::set_remote_parent(&span, req.headers());
    req.extensions_mut().insert(RequestSpan(span.clone()));
    // Resolved inside the span, so that a note on the forwarding header names the request.
    if let Some(ip) = span.in_scope(|| client_ip(req.request())) {
        span.record("client.ip", display(ip));
    }
    let result = next.call(req).instrument(span.clone()).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    span.in_scope(|| completed(status, started.elapsed()));
    result
}

/// The completion line: `warn` for a 5xx (its cause is logged where it happened),
/// `info` otherwise.
fn completed(status: StatusCode, elapsed: Duration) {
    let code = status.as_u16();
    let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    let millis = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    if status.is_server_error() {
        tracing::warn!(
            http.response.status_code = code,
            event.duration = nanos,
            http.response.latency_ms = millis,
            "request completed"
        );
    } else {
        tracing::info!(
            http.response.status_code = code,
            event.duration = nanos,
            http.response.latency_ms = millis,
            "request completed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::http::request_id::request_id_middleware;
    use crate::telemetry::{layer, MemoryWriter};
    use actix_web::middleware::from_fn;
    use actix_web::{test, web, App, HttpResponse};
    use serde_json::Value;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Registry;

    async fn user(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
        record_user(&req, "user-7");
        tracing::debug!("inside the handler");
        HttpResponse::Ok().body(path.into_inner())
    }

    async fn boom() -> HttpResponse {
        HttpResponse::InternalServerError().finish()
    }

    fn lines(out: &MemoryWriter) -> Vec<Value> {
        out.contents()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn completions(lines: &[Value]) -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["message"] == "request completed")
            .collect()
    }

    /// Runs `requests` against a small app wired like the real one, capturing JSON.
    async fn run(requests: Vec<test::TestRequest>) -> Vec<Value> {
        let out = MemoryWriter::new();
        let subscriber = tracing_subscriber::registry()
            .with(layer::<Registry, _>(LogFormat::Json, out.clone(), false))
            .with(tracing_subscriber::filter::LevelFilter::DEBUG);
        let _default = tracing::subscriber::set_default(subscriber);
        let app = test::init_service(
            App::new()
                .wrap(from_fn(access_log_middleware))
                .wrap(from_fn(request_id_middleware))
                .route("/api/v1/users/{id}", web::get().to(user))
                .route("/boom", web::get().to(boom)),
        )
        .await;
        for req in requests {
            let _ = test::call_service(&app, req.to_request()).await;
        }
        lines(&out)
    }

    #[actix_web::test]
    async fn one_line_per_request_with_template_status_request_id_user_and_duration() {
        let user_id = "0193a5b2-0000-7000-8000-000000000001";
        let lines = run(vec![test::TestRequest::get()
            .uri(&format!("/api/v1/users/{user_id}?q=secret-query"))
            .insert_header(("X-Request-ID", "req-abc"))
            .insert_header(("User-Agent", "probe/1.0"))
            .insert_header(("Authorization", "Bearer not-logged"))])
        .await;

        let done = completions(&lines);
        assert_eq!(done.len(), 1, "{lines:?}");
        let line = done[0];
        assert_eq!(line["log.level"], "info");
        assert_eq!(line["http.route"], "/api/v1/users/{id}");
        assert_eq!(line["url.path"], format!("/api/v1/users/{user_id}"));
        assert_eq!(line["http.request.method"], "GET");
        assert_eq!(line["http.response.status_code"], 200);
        assert_eq!(line["http.request.id"], "req-abc");
        assert_eq!(line["user.id"], "user-7");
        assert_eq!(line["user_agent.original"], "probe/1.0");
        assert!(line["event.duration"].as_u64().is_some(), "{line}");
        assert!(
            line["http.response.latency_ms"].as_f64().is_some(),
            "{line}"
        );
        let inner = lines
            .iter()
            .find(|l| l["message"] == "inside the handler")
            .expect("the handler's line");
        assert_eq!(
            inner["http.request.id"], "req-abc",
            "nested lines carry the id"
        );
        let all = serde_json::to_string(&lines).unwrap();
        assert!(!all.contains("not-logged"), "{all}");
        assert!(!all.contains("secret-query"), "{all}");
    }

    #[actix_web::test]
    async fn unknown_routes_and_server_errors_are_logged_too() {
        let lines = run(vec![
            test::TestRequest::get().uri("/nowhere/42"),
            test::TestRequest::get().uri("/boom"),
        ])
        .await;

        let done = completions(&lines);
        assert_eq!(done.len(), 2, "{lines:?}");
        assert_eq!(done[0]["http.response.status_code"], 404);
        assert!(done[0].get("http.route").is_none(), "{}", done[0]);
        assert!(done[0].get("user.id").is_none(), "{}", done[0]);
        assert!(
            uuid::Uuid::parse_str(done[0]["http.request.id"].as_str().unwrap()).is_ok(),
            "{}",
            done[0]
        );
        assert_eq!(done[1]["http.response.status_code"], 500);
        assert_eq!(done[1]["log.level"], "warn");
        assert_eq!(done[1]["http.route"], "/boom");
    }
}
