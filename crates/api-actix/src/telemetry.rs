//! Logging: a subscriber factory kept apart from installing it, so tests can stay quiet.

use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// A subscriber writing JSON lines or human-readable text, filtered by `RUST_LOG`
/// (default `info`).
pub fn subscriber(format: LogFormat, default_filter: &str) -> Box<dyn Subscriber + Send + Sync> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            ),
        ),
        LogFormat::Pretty => Box::new(registry.with(tracing_subscriber::fmt::layer())),
    }
}

/// Installs `subscriber` as the global default; a second call is ignored.
pub fn init(subscriber: Box<dyn Subscriber + Send + Sync>) {
    // Err only when a subscriber is already set (e.g. by an earlier test): keep that one.
    let _ = tracing::subscriber::set_global_default(subscriber);
}
