//! Logging: a subscriber factory kept apart from installing it, so tests can stay quiet.
//!
//! `LOG_FORMAT=json` (the default) writes one JSON object per line with ECS-style dotted
//! names (`@timestamp`, `log.level`, `log.logger`, `message`, then the fields of every
//! enclosing span, root first, then the event's own fields); `LOG_FORMAT=pretty` writes
//! tracing's human format. The level comes from `RUST_LOG` (default `info`).
//! `LOG_FILE_DIR` adds a daily-rotated file keeping `LOG_FILE_RETENTION` files.
//!
//! `OTEL_EXPORTER_OTLP_ENDPOINT` adds OpenTelemetry traces ([`otlp`]), filtered apart
//! from the log lines ([`assemble`]); the JSON lines written inside a traced span then
//! carry its `trace.id` and `span.id`. Fields named
//! `otel.*` steer the exported spans (kind, status) and are left out of log lines.
//!
//! Secrets stay out by construction (no bodies, no headers but the user agent, secrets
//! are `SecretString`s), and both formats redact as a second line of defence: a field
//! whose last dotted segment names a secret (`password`, `token`, `secret`,
//! `authorization`, `cookie`) prints `[REDACTED]`, and JWT-shaped or `Bearer` values
//! inside any text are masked. The `log` crate is deliberately not bridged: some
//! drivers log query parameters at `debug` through it.

use std::borrow::Cow;
use std::fmt;
use std::io::IsTerminal;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, Settings};

pub mod otlp;

/// What replaces a secret in a log line.
pub const REDACTED: &str = "[REDACTED]";

/// Log file names: `ems.YYYY-MM-DD.log`.
const FILE_PREFIX: &str = "ems";
const FILE_SUFFIX: &str = "log";

/// A boxed layer over any registry-like subscriber.
pub type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

/// `RUST_LOG` when set and valid, else `default_filter`.
pub fn env_filter(default_filter: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter))
}

/// A subscriber writing JSON lines or human-readable text to standard output, filtered
/// by `RUST_LOG` (default `default_filter`).
pub fn subscriber(format: LogFormat, default_filter: &str) -> Box<dyn Subscriber + Send + Sync> {
    let ansi = std::io::stdout().is_terminal();
    Box::new(
        tracing_subscriber::registry()
            .with(env_filter(default_filter))
            .with(layer(format, std::io::stdout, ansi)),
    )
}

/// The formatting layer for `format`, writing to `writer`. `ansi` colours the pretty
/// format (never JSON).
pub fn layer<S, W>(format: LogFormat, writer: W, ansi: bool) -> BoxedLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tagged_layer::<S, W, ()>(format, writer, ansi)
}

/// Marks the log file's layer (see [`PrettyFields`]).
struct FileTag;

/// [`layer`] with the pretty span fields kept apart under `Tag`.
fn tagged_layer<S, W, Tag: 'static>(format: LogFormat, writer: W, ansi: bool) -> BoxedLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(EcsFields)
            .event_format(EcsJson)
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .fmt_fields(PrettyFields::<Tag>::new())
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
    }
}

/// Keeps the background log writers alive; dropping it flushes what is queued. Hold it
/// for the life of the process.
#[must_use = "dropping the guard stops the log writers"]
pub struct LogGuard {
    _workers: Vec<WorkerGuard>,
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl LogGuard {
    /// Sends the spans still queued to the collector, waiting at most
    /// [`otlp::FLUSH_TIMEOUT`]; call once, after the server stopped and while the Tokio
    /// runtime still runs. Nothing to do when tracing is off.
    pub fn flush_traces(&self) {
        if let Some(provider) = &self.traces {
            otlp::shutdown(provider, otlp::FLUSH_TIMEOUT);
        }
    }
}

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log directory or its first file could not be created.
    #[error("LOG_FILE_DIR: cannot write log files in {dir:?}: {cause}")]
    File {
        /// The directory.
        dir: PathBuf,
        /// What the file system said.
        cause: String,
    },
    /// The OTLP span exporter refused its configuration.
    #[error("OTEL_EXPORTER_OTLP_ENDPOINT: cannot export traces: {0}")]
    Otlp(String),
}

/// The daily-rotated file writer of `LOG_FILE_DIR`, keeping `retention` files (older
/// ones are deleted at start and on each rotation).
pub fn file_appender(dir: &Path, retention: usize) -> Result<RollingFileAppender, TelemetryError> {
    let failed = |cause: String| TelemetryError::File {
        dir: dir.to_owned(),
        cause,
    };
    // Made first: the appender prunes old files before it would create the directory,
    // and complains on stderr when it is missing.
    std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(FILE_PREFIX)
        .filename_suffix(FILE_SUFFIX)
        .max_log_files(retention)
        .build(dir)
        .map_err(|e| failed(e.to_string()))
}

/// A writer on its own thread, so a slow disk or pipe never stalls a request. Not
/// lossy: past its queue it pushes back rather than drop lines.
fn non_blocking<W: std::io::Write + Send + 'static>(
    writer: W,
    name: &str,
) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(false)
        .thread_name(name)
        .finish(writer)
}

/// Builds the subscriber the settings ask for (standard output, plus the rotated file
/// when `LOG_FILE_DIR` is set, plus OpenTelemetry traces when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set) and installs it globally. With OTLP over gRPC,
/// call it inside the Tokio runtime that will run the server.
pub fn init_from_settings(settings: &Settings) -> Result<LogGuard, TelemetryError> {
    let mut workers = Vec::new();
    let (stdout, guard) = non_blocking(std::io::stdout(), "ems-log-stdout");
    workers.push(guard);
    let mut layers = vec![layer(
        settings.log.format,
        stdout,
        std::io::stdout().is_terminal(),
    )];
    if let Some(dir) = &settings.log.file_dir {
        let appender = file_appender(dir, settings.log.file_retention)?;
        let (file, guard) = non_blocking(appender, "ems-log-file");
        workers.push(guard);
        layers.push(tagged_layer::<_, _, FileTag>(
            settings.log.format,
            file,
            false,
        ));
    }
    let traces = otlp::tracer_provider(settings)?;
    init(assemble(
        layers,
        env_filter("info"),
        traces.as_ref().map(otlp::layer),
    ));
    Ok(LogGuard {
        _workers: workers,
        traces,
    })
}

/// The subscriber of `ems serve`: the log layers under `log_filter` (`RUST_LOG`), the
/// span exporter under its own filter ([`otlp::SPAN_LEVEL`]), so that quiet logs keep
/// whole traces and verbose logs do not flood the collector.
pub fn assemble(
    logs: Vec<BoxedLayer<Registry>>,
    log_filter: EnvFilter,
    traces: Option<BoxedLayer<Registry>>,
) -> Box<dyn Subscriber + Send + Sync> {
    let mut layers = vec![logs.with_filter(log_filter).boxed()];
    layers.extend(traces);
    Box::new(tracing_subscriber::registry().with(layers))
}

/// Installs `subscriber` as the global default; a second call is ignored.
pub fn init(subscriber: Box<dyn Subscriber + Send + Sync>) {
    // Err only when a subscriber is already set (e.g. by an earlier test): keep that one.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

// ---------------------------------------------------------------------------------
// Redaction

/// Whether a field of this name holds a secret: its last dotted segment mentions one
/// (`password`, `new_password`, `refresh_token`, `authorization`), while `token.id`
/// or `session.id` stay readable.
pub fn is_secret_field(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
    ["password", "token", "secret", "authorization", "cookie"]
        .iter()
        .any(|word| last.contains(word))
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Masks what looks like a credential inside free text: JWTs (`eyJ…` with two dots)
/// and the token after `Bearer `.
pub fn scrub(text: &str) -> Cow<'_, str> {
    if !text.contains("eyJ") && !text.to_ascii_lowercase().contains("bearer ") {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let bearer = bytes.len() - i > 7 && bytes[i..i + 7].eq_ignore_ascii_case(b"bearer ");
        if bearer {
            let start = i + 7;
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|b| {
                        is_b64url(**b) || matches!(**b, b'.' | b'~' | b'+' | b'/' | b'=')
                    })
                    .count();
            if end > start {
                out.push_str(&text[copied..start]);
                out.push_str(REDACTED);
                copied = end;
                i = end;
                continue;
            }
        }
        if bytes[i..].starts_with(b"eyJ") && (i == 0 || !is_b64url(bytes[i - 1])) {
            let len = bytes[i..]
                .iter()
                .take_while(|b| is_b64url(**b) || **b == b'.')
                .count();
            let candidate = &text[i..i + len];
            if candidate.matches('.').count() >= 2 {
                out.push_str(&text[copied..i]);
                out.push_str(REDACTED);
                copied = i + len;
                i += len;
                continue;
            }
        }
        i += 1;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------------
// JSON (ECS-style) format

/// Collects fields into a JSON map, redacting on the way.
struct JsonVisitor<'a> {
    map: &'a mut Map<String, Value>,
}

/// Whether a field only steers the exported span (`otel.kind`, `otel.status_code`).
fn is_otel_field(name: &str) -> bool {
    name.starts_with("otel.")
}

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        if is_otel_field(field.name()) {
            return;
        }
        let value = if is_secret_field(field.name()) {
            Value::String(REDACTED.to_owned())
        } else {
            value
        };
        self.map.insert(field.name().to_owned(), value);
    }

    fn put_text(&mut self, field: &Field, text: &str) {
        self.put(field, Value::String(scrub(text).into_owned()));
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, serde_json::json!(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put_text(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put_text(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put_text(field, &format!("{value:?}"));
    }
}

fn record_into(map: &mut Map<String, Value>, fields: impl RecordFields) {
    fields.record(&mut JsonVisitor { map });
}

/// Span fields stored as a JSON object (redacted), merged when recorded later.
#[derive(Debug, Clone, Copy, Default)]
pub struct EcsFields;

impl<'w> FormatFields<'w> for EcsFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut map = Map::new();
        record_into(&mut map, fields);
        writer.write_str(&Value::Object(map).to_string())
    }

    /// Appends the recorded fields to the stored object's text instead of parsing and
    /// writing it again (a request records several): a field recorded twice is written
    /// twice, and the later value wins when an event reads the object.
    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut map = Map::new();
        record_into(&mut map, fields);
        if map.is_empty() {
            return Ok(());
        }
        let added = Value::Object(map).to_string();
        let stored = &mut current.fields;
        match (
            stored.len() > 2 && stored.ends_with('}'),
            added.strip_prefix('{'),
        ) {
            (true, Some(members)) => {
                stored.pop();
                stored.push(',');
                stored.push_str(members);
            }
            _ => *stored = added,
        }
        Ok(())
    }
}

/// One JSON object per event: `@timestamp`, `log.level`, `log.logger`, the fields of
/// the enclosing spans (root first, inner ones win), `trace.id` and `span.id` when an
/// OpenTelemetry span is current, and the event's own, `message` included.
#[derive(Debug, Clone, Copy, Default)]
pub struct EcsJson;

impl<S> FormatEvent<S, EcsFields> for EcsJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, EcsFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut map = Map::new();
        map.insert(
            "@timestamp".to_owned(),
            Value::String(Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)),
        );
        map.insert(
            "log.level".to_owned(),
            Value::String(meta.level().as_str().to_ascii_lowercase()),
        );
        map.insert(
            "log.logger".to_owned(),
            Value::String(meta.target().to_owned()),
        );
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<EcsFields>>() {
                    if let Ok(Value::Object(fields)) = serde_json::from_str(&fields.fields) {
                        map.extend(fields);
                    }
                }
                map.insert(
                    "span.name".to_owned(),
                    Value::String(span.name().to_owned()),
                );
            }
        }
        if let Some((trace_id, span_id)) = otlp::current_ids() {
            map.insert("trace.id".to_owned(), Value::String(trace_id));
            map.insert("span.id".to_owned(), Value::String(span_id));
        }
        record_into(&mut map, event);
        writeln!(writer, "{}", Value::Object(map))
    }
}

// ---------------------------------------------------------------------------------
// In-memory capture

/// A writer into a shared in-memory buffer, for tests that read what was logged.
#[derive(Debug, Clone, Default)]
pub struct MemoryWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl MemoryWriter {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far, as text.
    pub fn contents(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for MemoryWriter {
    type Writer = Self;

    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

// ---------------------------------------------------------------------------------
// Pretty format

/// Tracing's `name=value` fields, space-separated, with the same redaction as JSON.
///
/// `Tag` tells apart the layers of one subscriber: span fields are stored per field
/// formatter type, so two layers sharing one type would append each later-recorded
/// field twice.
pub struct PrettyFields<Tag = ()>(PhantomData<fn(Tag)>);

impl<Tag> PrettyFields<Tag> {
    /// The formatter.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<Tag> Default for PrettyFields<Tag> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'w, Tag: 'static> FormatFields<'w> for PrettyFields<Tag> {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = PrettyVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PrettyVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visit for PrettyVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() || is_otel_field(field.name()) {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        let name = field.name();
        self.result = if is_secret_field(name) {
            write!(self.writer, "{separator}{name}={REDACTED}")
        } else {
            let text = format!("{value:?}");
            if name == "message" {
                write!(self.writer, "{separator}{}", scrub(&text))
            } else {
                write!(self.writer, "{separator}{name}={}", scrub(&text))
            }
        };
    }
}

#[cfg(test)]
mod tests;
