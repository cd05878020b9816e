//! The multiplexed, self-reconnecting Redis connection every adapter shares (one per
//! thread that calls it, see [`RedisConnection`]), with a hard deadline on each call so
//! that a Redis that stopped answering costs a request milliseconds, not a hang, and the
//! one home of the key prefix every key carries.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::error::ServiceError;
use domain::ports::HealthCheck;
use domain::RepoError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::Instrument;

/// How to reach Redis.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://`, `rediss://` or `unix://` URL; may hold a password, so never logged.
    pub url: String,
    /// Deadline of one call, connecting included.
    pub timeout: Duration,
    /// Put before every key (`REDIS_KEY_PREFIX`), so deployments sharing one Redis never
    /// read or spend each other's state.
    pub key_prefix: String,
}

/// The prefix of every key unless configured otherwise: the names keys had before the
/// prefix could be chosen.
pub const DEFAULT_KEY_PREFIX: &str = "ems:";

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &"***")
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// Told how long each Redis call took (the `ems_redis_call_duration_seconds` histogram).
pub trait CallObserver: Send + Sync {
    /// One call of `operation` finished after `elapsed`, failed or not.
    fn redis_call_finished(&self, operation: &'static str, elapsed: Duration);
}

/// The target of each call's span. The spans are at `debug`: no log line is ever written
/// inside one, so a log layer at `info` would only spend two span formattings per request
/// on them; the trace exporter enables this target at `debug` and still exports each as
/// `redis.<operation>`.
pub const SPAN_TARGET: &str = "ems::redis";

/// After a call finds Redis unreachable, how long every call fails at once instead of
/// waiting out its deadline: during an outage each request pays nothing for Redis, and
/// the first call after this pause probes it again.
pub const OUTAGE_PAUSE: Duration = Duration::from_secs(1);

/// A cheap-to-clone handle on the shared connection.
///
/// Each thread that calls Redis gets its own multiplexed connection, made on its first
/// call inside that thread's runtime: an HTTP worker's calls then never wake another
/// thread (a single connection's I/O task lives on one thread, and every other worker's
/// call would cost two cross-thread wake-ups), and a worker's concurrent requests still
/// share one pipelined connection. A thread's connection lives as long as the thread (the
/// server makes one handle for its lifetime; its workers and runtimes end with it).
#[derive(Clone)]
pub struct RedisConnection {
    /// Tells this handle's per-thread connections from other handles' on the same thread.
    id: u64,
    client: redis::Client,
    manager_config: ConnectionManagerConfig,
    timeout: Duration,
    observer: Option<Arc<dyn CallObserver>>,
    key_prefix: Arc<str>,
    /// Shared by every clone: until when calls fail fast (`None`: Redis looked fine).
    paused_until: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// Parses the URL and prepares the connection without connecting: the server starts
    /// (and answers from the database) while Redis is down, and connects once it is up.
    /// Must be called inside a Tokio runtime.
    pub fn connect_lazy(config: &RedisConfig) -> Result<Self, ServiceError> {
        if config.url.starts_with("rediss://") {
            // The redis crate's rustls asks for the process default provider: ring, as
            // everywhere else (ADR 0013). Err only when one is installed already.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| ServiceError(format!("REDIS_URL: {}", e.kind_description())))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        // Fails on a configuration the per-thread connections would all refuse: caught at
        // start rather than on the first call.
        ConnectionManager::new_lazy_with_config(client.clone(), manager_config.clone())
            .map_err(|e| ServiceError(format!("redis: {}", e.kind_description())))?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            client,
            manager_config,
            timeout: config.timeout,
            observer: None,
            key_prefix: Arc::from(config.key_prefix.as_str()),
            paused_until: Arc::default(),
        })
    }

    /// The Redis key of `name` (e.g. `rl:login:<ip>`): the configured prefix before it.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.key_prefix)
    }

    /// Reports every call's duration to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs one Redis operation on the shared connection within the deadline. Errors say
    /// what failed, never with the URL or a value.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        op: F,
    ) -> Result<T, ServiceError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        // One span per call; exported as `redis.<operation>` when OTLP tracing is on.
        let span = tracing::debug_span!(
            target: SPAN_TARGET,
            "redis",
            otel.name = %format_args!("redis.{operation}"),
            otel.kind = "client",
            db.system = "redis",
            db.operation.name = operation,
        );
        let started = Instant::now();
        if self.paused(started) {
            return Err(ServiceError(format!(
                "redis {operation}: unreachable a moment ago; not tried"
            )));
        }
        let manager = match self.thread_manager() {
            Ok(manager) => manager,
            Err(err) => {
                return Err(ServiceError(format!(
                    "redis {operation}: {}",
                    err.kind_description()
                )))
            }
        };
        let outcome = tokio::time::timeout(self.timeout, op(manager))
            .instrument(span)
            .await;
        if let Some(observer) = &self.observer {
            observer.redis_call_finished(operation, started.elapsed());
        }
        match outcome {
            Ok(Ok(value)) => {
                self.set_pause(None);
                Ok(value)
            }
            Ok(Err(err)) => {
                if err.is_unreachable() {
                    self.set_pause(Some(Instant::now() + OUTAGE_PAUSE));
                }
                Err(ServiceError(format!(
                    "redis {operation}: {}",
                    err.kind_description()
                )))
            }
            Err(_) => {
                self.set_pause(Some(Instant::now() + OUTAGE_PAUSE));
                Err(ServiceError(format!(
                    "redis {operation}: no answer within {} ms",
                    self.timeout.as_millis()
                )))
            }
        }
    }

    /// This thread's connection of this handle, made (lazily: it connects on first use) in
    /// the current runtime when the thread has none yet.
    fn thread_manager(&self) -> redis::RedisResult<ConnectionManager> {
        thread_local! {
            static MANAGERS: RefCell<Vec<(u64, ConnectionManager)>> = const { RefCell::new(Vec::new()) };
        }
        MANAGERS.with(|managers| {
            let mut managers = managers.borrow_mut();
            if let Some((_, manager)) = managers.iter().find(|(id, _)| *id == self.id) {
                return Ok(manager.clone());
            }
            let manager = ConnectionManager::new_lazy_with_config(
                self.client.clone(),
                self.manager_config.clone(),
            )?;
            managers.push((self.id, manager.clone()));
            Ok(manager)
        })
    }

    fn paused(&self, now: Instant) -> bool {
        self.paused_until
            .lock()
            .map(|until| until.is_some_and(|until| now < until))
            .unwrap_or(false)
    }

    fn set_pause(&self, until: Option<Instant>) {
        if let Ok(mut paused) = self.paused_until.lock() {
            *paused = until;
        }
    }
}

/// Short, value-free description of a Redis error.
trait Describe {
    fn kind_description(&self) -> String;

    /// Whether Redis could not be reached at all (as opposed to refusing one command).
    fn is_unreachable(&self) -> bool;
}

impl Describe for redis::RedisError {
    fn is_unreachable(&self) -> bool {
        self.is_timeout()
            || self.is_connection_refusal()
            || self.is_connection_dropped()
            || self.is_io_error()
    }

    fn kind_description(&self) -> String {
        if self.is_timeout() {
            "timed out".to_owned()
        } else if self.is_connection_refusal() || self.is_connection_dropped() || self.is_io_error()
        {
            "unreachable".to_owned()
        } else {
            format!("{:?}", self.kind())
        }
    }
}

#[async_trait]
impl HealthCheck for RedisConnection {
    async fn ping(&self) -> Result<(), RepoError> {
        self.call("ping", |mut conn| async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        })
        .await
        .map(|_| ())
        .map_err(|e| RepoError::Unavailable(e.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id Redis gives the connection this thread's call travels on.
    fn client_id_on_a_thread_of_its_own(redis: RedisConnection) -> (i64, i64) {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let id = || {
                    redis.call("client_id", |mut conn| async move {
                        redis::cmd("CLIENT")
                            .arg("ID")
                            .query_async::<i64>(&mut conn)
                            .await
                    })
                };
                (id().await.unwrap(), id().await.unwrap())
            })
        })
        .join()
        .unwrap()
    }

    #[test]
    fn each_thread_calls_on_its_own_connection_and_keeps_it() {
        let Some(url) = crate::testing::redis_url() else {
            return;
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let redis = runtime
            .block_on(async {
                RedisConnection::connect_lazy(&RedisConfig {
                    url,
                    timeout: Duration::from_secs(2),
                    key_prefix: DEFAULT_KEY_PREFIX.into(),
                })
            })
            .unwrap();

        let (a_first, a_again) = client_id_on_a_thread_of_its_own(redis.clone());
        let (b_first, b_again) = client_id_on_a_thread_of_its_own(redis);

        assert_eq!(a_first, a_again, "a thread's calls share its connection");
        assert_eq!(b_first, b_again);
        assert_ne!(a_first, b_first, "threads do not share one");
    }
}
