//! The level of a Redis call's span. Alone in its test binary: `tracing` caches each
//! callsite's interest process-wide, so a call made on another test's thread without a
//! subscriber could hide the span from the scoped subscriber here.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapters_redis::{RedisConfig, RedisConnection, DEFAULT_KEY_PREFIX, SPAN_TARGET};
use domain::ports::HealthCheck;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Names every span the layer it is part of is told about.
struct SpanNames(Arc<Mutex<Vec<&'static str>>>);

impl<S: tracing::Subscriber> Layer<S> for SpanNames {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(attrs.metadata().name());
    }
}

#[test]
fn a_log_layer_at_info_is_never_told_of_a_call() {
    let at_info = Arc::default();
    let at_debug = Arc::default();
    let subscriber = tracing_subscriber::registry()
        .with(SpanNames(Arc::clone(&at_info)).with_filter(LevelFilter::INFO))
        .with(
            SpanNames(Arc::clone(&at_debug))
                .with_filter(Targets::new().with_target(SPAN_TARGET, LevelFilter::DEBUG)),
        );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let redis = RedisConnection::connect_lazy(&RedisConfig {
                url: "redis://127.0.0.1:1".into(),
                timeout: Duration::from_millis(200),
                key_prefix: DEFAULT_KEY_PREFIX.into(),
            })
            .unwrap();
            redis.ping().await.unwrap_err();
        })
    });

    assert_eq!(
        *at_debug.lock().unwrap(),
        ["redis"],
        "the call has its span"
    );
    assert!(
        at_info.lock().unwrap().is_empty(),
        "{:?}",
        at_info.lock().unwrap()
    );
}
