//! Prometheus metrics: one registry per [`Application`](crate::startup::Application)
//! (so tests running several servers in one process do not mix counts), the collectors
//! the alert rules in `deploy/prometheus/` query, and the background probes that keep the
//! gauges fresh.
//!
//! Names and labels are part of the operations contract (`deploy/README.md`): change them
//! only together with the rules and the dashboard.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use adapters_postgres::QueryObserver;
use adapters_redis::connection::CallObserver;
use domain::ports::{HealthCheck, LoginOutcome, PoolStats, SecurityMetrics};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::startup::AppState;

/// Request duration buckets, in seconds: the alert's 500 ms threshold is a bucket edge.
const HTTP_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Database and Redis call buckets, in seconds: finer at the low end, where healthy
/// queries live.
const CALL_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The `route` label of a request that matched no route: never the raw path, whose ids
/// and typos would make the label set unbounded.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Redis operations whose duration series exist from the first scrape (others appear
/// with their first call).
const REDIS_OPERATIONS: [&str; 2] = ["ping", "rate_limit.acquire"];

/// How often the database probe runs (`ems_database_up`, `ems_db_pool_connections`).
pub const DATABASE_PROBE_PERIOD: Duration = Duration::from_secs(5);

/// How often active users are counted (`ems_active_users`): a `COUNT(DISTINCT)` over
/// the active sessions, so not on every scrape.
pub const ACTIVE_USERS_PERIOD: Duration = Duration::from_secs(15);

/// Every metric the server exports, registered on its own registry.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    logins: IntCounterVec,
    active_users: IntGauge,
    pool: IntGaugeVec,
    query_duration: Histogram,
    database_up: IntGauge,
    redis_duration: HistogramVec,
    signing_keys_mismatch: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates and registers every collector, process CPU and memory included (Linux).
    /// Login outcomes and pool states start at zero so that every series exists from the
    /// first scrape (rates and alerts need a first sample).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let request_labels = &["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            request_labels,
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request received to response ready",
            )
            .buckets(HTTP_BUCKETS.to_vec()),
            request_labels,
        )?;
        let logins = IntCounterVec::new(
            Opts::new("ems_login_attempts_total", "Login attempts by outcome"),
            &["outcome"],
        )?;
        for outcome in LoginOutcome::ALL {
            logins.with_label_values(&[outcome.as_str()]);
        }
        let active_users = IntGauge::new(
            "ems_active_users",
            "Distinct users with at least one active session",
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "ems_db_pool_connections",
                "Database pool connections: size (open), idle, waiting (callers queued)",
            ),
            &["state"],
        )?;
        for state in ["size", "idle", "waiting"] {
            pool.with_label_values(&[state]);
        }
        let query_duration = Histogram::with_opts(
            HistogramOpts::new(
                "ems_db_query_duration_seconds",
                "Duration of database port calls (pool wait included)",
            )
            .buckets(CALL_BUCKETS.to_vec()),
        )?;
        let database_up = IntGauge::new(
            "ems_database_up",
            "1 when the last database probe answered, else 0",
        )?;
        let redis_duration = HistogramVec::new(
            HistogramOpts::new(
                "ems_redis_call_duration_seconds",
                "Duration of Redis calls by operation, failed ones included (empty while REDIS_URL is unset)",
            )
            .buckets(CALL_BUCKETS.to_vec()),
            &["operation"],
        )?;
        for operation in REDIS_OPERATIONS {
            redis_duration.with_label_values(&[operation]);
        }
        let signing_keys_mismatch = IntGauge::new(
            "ems_signing_keys_mismatch",
            "Live peer instances whose JWT signing keys (JWT_SIGNING_KEYS) differ from this \
             instance's, as announced through Redis at the last check; 0 when they all agree",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(active_users.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(query_duration.clone()))?;
        registry.register(Box::new(database_up.clone()))?;
        registry.register(Box::new(redis_duration.clone()))?;
        registry.register(Box::new(signing_keys_mismatch.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            requests,
            request_duration,
            logins,
            active_users,
            pool,
            query_duration,
            database_up,
            redis_duration,
            signing_keys_mismatch,
        })
    }

    /// Counts one answered request. `route` is the matched template or
    /// [`UNMATCHED_ROUTE`].
    pub fn observe_request(&self, method: &str, route: &str, status: &str, elapsed: Duration) {
        let labels = [method, route, status];
        self.requests.with_label_values(&labels).inc();
        self.request_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Records the outcome of a database probe.
    pub fn set_database(&self, up: bool, pool: Option<PoolStats>) {
        self.database_up.set(i64::from(up));
        if let Some(pool) = pool {
            let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            self.pool.with_label_values(&["size"]).set(gauge(pool.size));
            self.pool.with_label_values(&["idle"]).set(gauge(pool.idle));
            self.pool
                .with_label_values(&["waiting"])
                .set(gauge(pool.waiting));
        }
    }

    /// Records the latest count of active users.
    pub fn set_active_users(&self, users: u64) {
        self.active_users
            .set(i64::try_from(users).unwrap_or(i64::MAX));
    }

    /// Records how many live peers announced other signing keys than ours.
    pub fn set_signing_keys_mismatch(&self, peers: usize) {
        self.signing_keys_mismatch
            .set(i64::try_from(peers).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition of every metric, and its content type.
    pub fn render(&self) -> Result<(Vec<u8>, String), prometheus::Error> {
        let encoder = TextEncoder::new();
        let mut body = Vec::with_capacity(16 * 1024);
        encoder.encode(&self.registry.gather(), &mut body)?;
        Ok((body, encoder.format_type().to_owned()))
    }
}

impl SecurityMetrics for Metrics {
    fn login_attempt(&self, outcome: LoginOutcome) {
        self.logins.with_label_values(&[outcome.as_str()]).inc();
    }
}

impl CallObserver for Metrics {
    fn redis_call_finished(&self, operation: &'static str, elapsed: Duration) {
        self.redis_duration
            .with_label_values(&[operation])
            .observe(elapsed.as_secs_f64());
    }
}

impl QueryObserver for Metrics {
    fn query_finished(&self, elapsed: Duration) {
        self.query_duration.observe(elapsed.as_secs_f64());
    }
}

/// Runs `step` every `period`, the first time at once, until aborted.
fn every<F, Fut>(period: Duration, mut step: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            step().await;
        }
    })
}

/// Starts the probes behind `ems_database_up`, `ems_db_pool_connections` and
/// `ems_active_users`, over the use cases and the database's pool. The caller aborts the
/// returned tasks when the server stops.
pub fn spawn_probes(
    state: &web::Data<AppState>,
    database: Arc<dyn HealthCheck>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let database_probe = {
        let state = state.clone();
        every(DATABASE_PROBE_PERIOD, move || {
            let (state, database) = (state.clone(), database.clone());
            async move {
                let up = state.use_cases.health.ready().await.is_ok();
                state.metrics.set_database(up, database.pool_stats());
            }
        })
    };
    let active_users = {
        let state = state.clone();
        every(ACTIVE_USERS_PERIOD, move || {
            let state = state.clone();
            async move {
                match state.use_cases.health.active_users().await {
                    Ok(users) => state.metrics.set_active_users(users),
                    Err(err) => {
                        tracing::debug!(error = %err, "active users not counted; retrying")
                    }
                }
            }
        })
    };
    vec![database_probe, active_users]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(metrics: &Metrics) -> String {
        String::from_utf8(metrics.render().unwrap().0).unwrap()
    }

    #[test]
    fn every_series_the_alerts_need_exists_from_the_start() {
        let metrics = Metrics::new().unwrap();
        let out = text(&metrics);
        for line in [
            "ems_login_attempts_total{outcome=\"success\"} 0",
            "ems_login_attempts_total{outcome=\"invalid_credentials\"} 0",
            "ems_login_attempts_total{outcome=\"locked\"} 0",
            "ems_login_attempts_total{outcome=\"rate_limited\"} 0",
            "ems_db_pool_connections{state=\"size\"} 0",
            "ems_db_pool_connections{state=\"idle\"} 0",
            "ems_db_pool_connections{state=\"waiting\"} 0",
            "ems_database_up 0",
            "ems_active_users 0",
            "ems_db_query_duration_seconds_count 0",
            "ems_redis_call_duration_seconds_count{operation=\"ping\"} 0",
            "ems_redis_call_duration_seconds_count{operation=\"rate_limit.acquire\"} 0",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
        }
        #[cfg(target_os = "linux")]
        for name in [
            "process_resident_memory_bytes ",
            "process_cpu_seconds_total ",
        ] {
            assert!(out.lines().any(|l| l.starts_with(name)), "missing {name}");
        }
    }

    #[test]
    fn requests_logins_probes_and_queries_are_recorded() {
        let metrics = Metrics::new().unwrap();
        metrics.observe_request(
            "GET",
            "/api/v1/users/{id}",
            "200",
            Duration::from_millis(30),
        );
        metrics.login_attempt(LoginOutcome::Locked);
        metrics.set_database(
            true,
            Some(PoolStats {
                size: 4,
                idle: 3,
                waiting: 1,
            }),
        );
        metrics.set_active_users(7);
        metrics.query_finished(Duration::from_millis(2));
        metrics.redis_call_finished("auth_cache.lookup", Duration::from_millis(1));
        let out = text(&metrics);
        for line in [
            "http_requests_total{method=\"GET\",route=\"/api/v1/users/{id}\",status=\"200\"} 1",
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/users/{id}\",status=\"200\",le=\"0.025\"} 0",
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/users/{id}\",status=\"200\",le=\"0.05\"} 1",
            "ems_login_attempts_total{outcome=\"locked\"} 1",
            "ems_db_pool_connections{state=\"size\"} 4",
            "ems_db_pool_connections{state=\"waiting\"} 1",
            "ems_database_up 1",
            "ems_active_users 7",
            "ems_db_query_duration_seconds_count 1",
            "ems_redis_call_duration_seconds_count{operation=\"auth_cache.lookup\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line} in\n{out}");
        }
    }
}
