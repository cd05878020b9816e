//! OpenTelemetry traces over OTLP ([ADR 0014](../../../../docs/adr/0014-otlp-tracing.md)),
//! built only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: without it no OpenTelemetry code
//! runs at all.
//!
//! Every `tracing` span becomes an OTLP span through `tracing-opentelemetry`: the request
//! span (`http.request`, kind server, parented on the caller's W3C `traceparent`), the use
//! cases (`login`, ...), `password.*`, and the `pg.*` and `redis.*` calls. Spans leave in
//! batches from the SDK's batch processor, on its own thread: ending a span only queues
//! it (a full queue drops it), so a slow, unreachable or black-holed collector costs that
//! thread its export time-out and never a request. The gRPC channel's connection task runs
//! on the Tokio runtime that is current when the provider is built.
//!
//! The SDK reads the other standard variables itself: `OTEL_EXPORTER_OTLP_TIMEOUT` (and
//! `..._TRACES_TIMEOUT`), `OTEL_EXPORTER_OTLP_HEADERS` (and `..._TRACES_HEADERS`),
//! `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`
//! and `OTEL_SPAN_*_LIMIT`. The sampler comes from the settings (`OTEL_TRACES_SAMPLER`,
//! validated at start), and the layer has its own level filter, not `RUST_LOG`'s.

use std::time::Duration;

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::{BoxedLayer, TelemetryError};
use crate::config::{OtlpProtocol, Settings, TraceSampler};

/// How long shutdown waits for the last spans to reach the collector.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The W3C header carrying the caller's trace and span ids.
const TRACEPARENT: &str = "traceparent";

/// The tracer provider the settings ask for, or `None` when `OTEL_EXPORTER_OTLP_ENDPOINT`
/// is unset. Also installs the W3C TraceContext propagator. With gRPC, call it inside a
/// Tokio runtime.
pub fn tracer_provider(settings: &Settings) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    let Some(endpoint) = settings.telemetry.otlp_endpoint.as_deref() else {
        return Ok(None);
    };
    let protocol = settings.telemetry.otlp_protocol;
    if protocol == OtlpProtocol::HttpProtobuf && endpoint.starts_with("https://") {
        // Refused here rather than failing every export later.
        return Err(TelemetryError::Otlp(
            "https needs OTEL_EXPORTER_OTLP_PROTOCOL=grpc (http/protobuf is plain http only)"
                .to_owned(),
        ));
    }
    let exporter = match protocol {
        OtlpProtocol::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build(),
        OtlpProtocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(http_traces_url(endpoint))
            .build(),
    }
    .map_err(|e| TelemetryError::Otlp(e.to_string()))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler(settings.telemetry.sampler))
        .with_resource(resource(&settings.telemetry.service_name))
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(Some(provider))
}

/// The SDK's sampler for the configured one.
pub fn sampler(configured: TraceSampler) -> Sampler {
    match configured {
        TraceSampler::AlwaysOn => Sampler::AlwaysOn,
        TraceSampler::AlwaysOff => Sampler::AlwaysOff,
        TraceSampler::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        TraceSampler::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        TraceSampler::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        TraceSampler::ParentBasedTraceIdRatio(ratio) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

/// `service.name` and `service.version`, over what `OTEL_RESOURCE_ATTRIBUTES` adds.
fn resource(service_name: &str) -> Resource {
    Resource::builder()
        .with_service_name(service_name.to_owned())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The generic endpoint is a base URL: the OTLP/HTTP exporter specification appends the
/// signal's path to it.
fn http_traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

/// Crates the exporter itself runs on: their spans (at `RUST_LOG=debug`) must not become
/// spans to export, or each export would cause the next one. Prefixes: `hyper` covers
/// `hyper_util`, `opentelemetry` the SDK and the exporter.
const EXPORTER_TARGETS: [&str; 7] = [
    "h2",
    "hyper",
    "tonic",
    "tower",
    "reqwest",
    "opentelemetry",
    "tracing_opentelemetry",
];

/// The level of the spans (and events, recorded on their span) exported: every span of
/// a request's tree is at `info` but the Redis calls' (see [`span_filter`]). The layer's
/// own, so `RUST_LOG=warn` quiets the log lines without emptying the traces.
pub const SPAN_LEVEL: LevelFilter = LevelFilter::INFO;

/// What the exporter takes: [`SPAN_LEVEL`] and above; the Redis calls' spans, which are
/// at `debug` so that log lines at `info` do not pay for them
/// ([`adapters_redis::SPAN_TARGET`]); nothing of the exporter's own transport.
fn span_filter() -> Targets {
    EXPORTER_TARGETS.iter().fold(
        Targets::new()
            .with_default(SPAN_LEVEL)
            .with_target(adapters_redis::SPAN_TARGET, LevelFilter::DEBUG),
        |t, target| t.with_target(*target, LevelFilter::OFF),
    )
}

/// The layer turning `tracing` spans at [`SPAN_LEVEL`] or above (of every crate but the
/// exporter's own transport) into OpenTelemetry spans of `provider`.
pub fn layer<S>(provider: &SdkTracerProvider) -> BoxedLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("ems"))
        .with_filter(span_filter())
        .boxed()
}

/// Sends what is queued and stops the exporter, waiting at most `timeout`: a collector
/// that does not answer delays shutdown by that much, no more.
pub fn shutdown(provider: &SdkTracerProvider, timeout: Duration) {
    if let Err(err) = provider.shutdown_with_timeout(timeout) {
        tracing::warn!(error = %err, "could not send the last spans to the collector");
    }
}

/// Reads headers for the propagator.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes the caller's span (a valid W3C `traceparent` header) the parent of `span`, which
/// must not have been entered yet. A missing or malformed header, or tracing being off,
/// leaves `span` a root.
pub fn set_remote_parent(span: &tracing::Span, headers: &HeaderMap) {
    if !headers.contains_key(TRACEPARENT) {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_remote() {
        // Err when tracing is off (no layer) or the span is disabled: nothing to join.
        let _ = span.set_parent(parent);
    }
}

/// The trace and span ids of the OpenTelemetry span current on this thread (the innermost
/// entered `tracing` span), as lowercase hex; `None` when tracing is off or outside spans.
pub fn current_ids() -> Option<(String, String)> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let ids = span.span_context();
        ids.is_valid()
            .then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tracing_subscriber::layer::SubscriberExt;

    const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER_SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn the_filter_takes_redis_calls_at_debug_and_every_other_span_from_info() {
        use tracing::Level;
        let filter = span_filter();
        assert!(filter.would_enable(adapters_redis::SPAN_TARGET, &Level::DEBUG));
        assert!(filter.would_enable("application::auth::login", &Level::INFO));
        assert!(!filter.would_enable("application::auth::login", &Level::DEBUG));
        for target in EXPORTER_TARGETS {
            assert!(!filter.would_enable(target, &Level::ERROR), "{target}");
        }
    }

    fn in_memory() -> (InMemorySpanExporter, SdkTracerProvider) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        (exporter, provider)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                actix_web::http::header::HeaderName::from_static(name),
                actix_web::http::header::HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn a_caller_traceparent_becomes_the_parent_and_the_ids_are_current_inside() {
        let (exporter, provider) = in_memory();
        let subscriber = tracing_subscriber::registry().with(layer(&provider));
        let ids = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("http.request");
            set_remote_parent(
                &span,
                &headers(&[(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )]),
            );
            let inner = span.in_scope(|| {
                let child = tracing::info_span!("login");
                child.in_scope(current_ids)
            });
            (span.in_scope(current_ids), inner)
        });
        provider.force_flush().unwrap();

        let spans = exporter.get_finished_spans().unwrap();
        let request = spans.iter().find(|s| s.name == "http.request").unwrap();
        let login = spans.iter().find(|s| s.name == "login").unwrap();
        assert_eq!(request.span_context.trace_id().to_string(), CALLER_TRACE);
        assert_eq!(request.parent_span_id.to_string(), CALLER_SPAN);
        assert_eq!(login.parent_span_id, request.span_context.span_id());
        let (outer, inner) = ids;
        assert_eq!(
            outer,
            Some((
                CALLER_TRACE.to_owned(),
                request.span_context.span_id().to_string()
            ))
        );
        assert_eq!(
            inner,
            Some((
                CALLER_TRACE.to_owned(),
                login.span_context.span_id().to_string()
            ))
        );
    }

    #[test]
    fn a_malformed_or_missing_traceparent_starts_a_new_trace() {
        let (exporter, provider) = in_memory();
        let subscriber = tracing_subscriber::registry().with(layer(&provider));
        tracing::subscriber::with_default(subscriber, || {
            for value in ["00-zz-00f067aa0ba902b7-01", ""] {
                let span = tracing::info_span!("http.request");
                let mut map = HeaderMap::new();
                if !value.is_empty() {
                    map.insert(
                        actix_web::http::header::HeaderName::from_static("traceparent"),
                        actix_web::http::header::HeaderValue::from_static(value),
                    );
                }
                set_remote_parent(&span, &map);
                span.in_scope(|| {});
            }
        });
        provider.force_flush().unwrap();

        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 2);
        for span in spans {
            assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
            assert_ne!(span.span_context.trace_id().to_string(), CALLER_TRACE);
        }
    }

    #[test]
    fn without_the_layer_nothing_is_current_and_a_traceparent_is_ignored() {
        let subscriber = tracing_subscriber::registry();
        let ids = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("http.request");
            set_remote_parent(
                &span,
                &headers(&[(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )]),
            );
            span.in_scope(current_ids)
        });
        assert_eq!(ids, None);
    }

    #[test]
    fn spans_of_the_exporters_transport_are_not_exported() {
        let (exporter, provider) = in_memory();
        let subscriber = tracing_subscriber::registry().with(layer(&provider));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!(target: "h2::proto::connection", "Connection").in_scope(|| {});
            tracing::info_span!(target: "hyper_util::client", "connect").in_scope(|| {});
            tracing::info_span!(target: "adapters_postgres::store", "pg.user_by_id")
                .in_scope(|| {});
        });
        provider.force_flush().unwrap();

        let names: Vec<String> = exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .map(|s| s.name.into_owned())
            .collect();
        assert_eq!(names, ["pg.user_by_id"]);
    }

    /// How many of `roots` request spans `configured` exports, each under the caller's
    /// `traceparent` when given.
    fn exported(
        configured: TraceSampler,
        traceparent: Option<&'static str>,
        roots: usize,
    ) -> usize {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_sampler(sampler(configured))
            .build();
        let subscriber = tracing_subscriber::registry().with(layer(&provider));
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..roots {
                let span = tracing::info_span!("http.request");
                if let Some(value) = traceparent {
                    set_remote_parent(&span, &headers(&[("traceparent", value)]));
                }
                span.in_scope(|| tracing::info_span!("login").in_scope(|| {}));
            }
        });
        provider.force_flush().unwrap();
        exporter.get_finished_spans().unwrap().len()
    }

    const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const NOT_SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

    #[test]
    fn each_sampler_exports_what_the_opentelemetry_names_promise() {
        use TraceSampler as S;
        // (sampler, caller's traceparent, spans exported of one request of two spans)
        let cases = [
            (S::AlwaysOn, None, 2),
            (S::AlwaysOn, Some(NOT_SAMPLED), 2),
            (S::AlwaysOff, Some(SAMPLED), 0),
            (S::TraceIdRatio(0.0), Some(SAMPLED), 0),
            (S::TraceIdRatio(1.0), Some(NOT_SAMPLED), 2),
            (S::ParentBasedAlwaysOn, None, 2),
            (S::ParentBasedAlwaysOn, Some(NOT_SAMPLED), 0),
            (S::ParentBasedAlwaysOff, None, 0),
            (S::ParentBasedAlwaysOff, Some(SAMPLED), 2),
            (S::ParentBasedTraceIdRatio(0.0), None, 0),
            (S::ParentBasedTraceIdRatio(0.0), Some(SAMPLED), 2),
            (S::ParentBasedTraceIdRatio(1.0), Some(NOT_SAMPLED), 0),
        ];
        for (configured, traceparent, expected) in cases {
            assert_eq!(
                exported(configured, traceparent, 1),
                expected,
                "{configured:?} under {traceparent:?}"
            );
        }
    }

    #[test]
    fn a_ratio_keeps_about_that_share_of_new_traces_each_one_whole() {
        // 400 requests of two spans at 25 %: 200 spans expected, even (whole trees);
        // the bounds are over 8 standard deviations away.
        let spans = exported(TraceSampler::ParentBasedTraceIdRatio(0.25), None, 400);
        assert_eq!(spans % 2, 0, "{spans}");
        assert!((100..=300).contains(&spans), "{spans}");
    }

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut vars = vec![("DATABASE_URL".to_owned(), "postgres://db/ems".to_owned())];
        vars.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Settings::from_vars(vars).unwrap()
    }

    #[tokio::test]
    async fn no_endpoint_no_provider_and_each_protocol_builds_its_exporter() {
        assert!(tracer_provider(&settings(&[])).unwrap().is_none());
        for (endpoint, protocol) in [
            ("http://127.0.0.1:4317", "grpc"),
            ("https://collector.example:4317", "grpc"),
            ("http://127.0.0.1:4318", "http/protobuf"),
        ] {
            let provider = tracer_provider(&settings(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ]))
            .unwrap_or_else(|e| panic!("{endpoint} over {protocol}: {e}"))
            .expect("a provider");
            // Nothing was queued: shutting down sends nothing and returns at once.
            shutdown(&provider, Duration::from_secs(1));
        }
    }

    #[test]
    fn https_over_http_protobuf_is_refused_at_start_naming_the_variable() {
        let err = tracer_provider(&settings(&[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://collector.example:4318",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]))
        .map(|_| ())
        .unwrap_err();
        let line = err.to_string();
        assert!(line.starts_with("OTEL_EXPORTER_OTLP_ENDPOINT: "), "{line}");
        assert!(line.contains("grpc"), "{line}");
    }

    #[test]
    fn the_http_endpoint_gets_the_traces_path_once() {
        assert_eq!(
            http_traces_url("http://otel:4318"),
            "http://otel:4318/v1/traces"
        );
        assert_eq!(
            http_traces_url("http://otel:4318/"),
            "http://otel:4318/v1/traces"
        );
    }

    #[test]
    fn the_resource_names_the_service_and_its_version() {
        let resource = resource("ems-eu-1");
        let get = |key: &'static str| resource.get(&opentelemetry::Key::from_static_str(key));
        assert_eq!(get("service.name"), Some("ems-eu-1".into()));
        assert_eq!(
            get("service.version"),
            Some(env!("CARGO_PKG_VERSION").into())
        );
    }
}
