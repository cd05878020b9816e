//! The composition root: adapters are built here, handed to the use cases as ports, and
//! the use cases to the HTTP server. [`Application::port`] lets tests bind port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, HttpServer};
use adapters_postgres::{PgConfig, PgStore};
use adapters_redis::{
    LocalAuthCache, LocalKeyAnnouncements, LocalListCache, LocalSessionActivity, NoListCache,
    RedisAuthCache, RedisConfig, RedisConnection, RedisKeyAnnouncements, RedisListCache,
    RedisSessionActivity,
};
use application::{AppError, Policy, Ports, UseCases};
use domain::password::Password;
use domain::ports::Clock;
use domain::signing_keys::KeyCheck;
use secrecy::ExposeSecret;

use crate::config::{var, Settings};
use crate::http::client_ip::ClientIpResolver;
use crate::http::rate_limit::{Quotas, RateLimits};
use crate::metrics::{self, Metrics};
use crate::routes;
use crate::system::HostProbe;
use crate::tls;
use adapters_crypto::{
    Argon2Hasher, BlockingPasswordStrength, JwsCheckpoints, JwtIssuer, JwtKeys, OsSecretGenerator,
    SystemClock, UuidV7Ids, VerifiedTokens,
};
use adapters_redis::{FallbackRateLimiter, LocalRateLimiter, RedisRateLimiter};

/// What every handler shares.
pub struct AppState {
    /// The use cases.
    pub use_cases: UseCases,
    /// The signing keys, for the JWKS document.
    pub keys: Arc<JwtKeys>,
    /// The Prometheus registry of this server.
    pub metrics: Arc<Metrics>,
    /// `METRICS_TOKEN`: the bearer token `/metrics` requires, when set.
    pub metrics_token: Option<secrecy::SecretString>,
    /// `METRICS_ENABLED`: false drops the request metrics and hides `/metrics`.
    pub metrics_enabled: bool,
    /// The budgets per client IP (registered as app data of its own).
    pub rate_limits: web::Data<RateLimits>,
    /// `TRUSTED_PROXIES`: how the client IP is found (registered as app data of its own).
    pub client_ip: web::Data<ClientIpResolver>,
}

/// Why the server could not start; each renders as one line naming the culprit.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A signing key could not be loaded.
    #[error("{var}: {0}", var = var::JWT_SIGNING_KEYS)]
    Keys(#[from] adapters_crypto::JwtKeyError),
    /// The audit key file could not be used.
    #[error("{var}: {0}", var = var::AUDIT_HMAC_KEY)]
    AuditKey(#[from] adapters_crypto::AuditKeyFileError),
    /// The TLS certificate or key could not be used.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The database settings were refused.
    #[error("{var}: {0}", var = var::DATABASE_URL)]
    Database(domain::RepoError),
    /// A duration does not fit the token arithmetic.
    #[error("{0}: duration out of range")]
    Duration(&'static str),
    /// The password hasher could not start.
    #[error("password hasher: {0}")]
    Hasher(domain::error::ServiceError),
    /// The configured admin could not be created.
    #[error("{var}: could not create the admin: {0}", var = var::ADMIN_USERNAME)]
    Admin(String),
    /// The listen address could not be bound.
    #[error("{var}: {0}", var = var::BIND_ADDR)]
    Bind(std::io::Error),
    /// The Redis URL was refused.
    #[error("{0}")]
    Redis(domain::error::ServiceError),
    /// The metrics registry refused a collector (a bug, not a setting).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A rate limit of zero (configuration refuses it earlier).
    #[error("{0}: must be at least 1")]
    RateLimit(&'static str),
}

/// Adapters the caller picks instead of the production ones, in code: no setting reaches
/// these, so no environment can swap them. Tests hand in a clock they move.
pub struct Overrides {
    /// What every use case reads the time from.
    pub clock: Arc<dyn Clock>,
}

impl Default for Overrides {
    /// The production adapters.
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
        }
    }
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    tls: bool,
    server: Server,
    jobs: Jobs,
}

/// The background jobs (audit sealing, retention), aborted when the server stops or the
/// application is dropped.
struct Jobs(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Jobs {
    fn drop(&mut self) {
        for job in &self.0 {
            job.abort();
        }
    }
}

/// Runs `step` every `period` (the first run at once) until aborted. A failing or
/// panicking step is retried at the next tick; the first failure of a streak is logged
/// as a warning (later ones at debug, so an outage does not flood the log) and the
/// recovery once.
fn every<F, Fut>(
    job: &'static str,
    period: std::time::Duration,
    mut step: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), AppError>> + Send,
{
    use futures_util::FutureExt;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = 0u64;
        loop {
            ticks.tick().await;
            let outcome = std::panic::AssertUnwindSafe(step()).catch_unwind().await;
            let error = match outcome {
                Ok(Ok(())) => {
                    if failures > 0 {
                        tracing::info!(job, failures, "background job recovered");
                    }
                    failures = 0;
                    continue;
                }
                Ok(Err(err)) => err.to_string(),
                Err(_) => "the step panicked".to_owned(),
            };
            failures += 1;
            if failures == 1 {
                tracing::warn!(job, error, "background job failed; retrying every tick");
            } else {
                tracing::debug!(job, failures, error, "background job failed again");
            }
        }
    })
}

/// How often the count notes behind list totals are folded: totals are exact either way;
/// folding keeps the sum over few rows however many users were written since.
const USER_COUNT_FOLD_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts the background jobs (audit sealer, retention, session activity, count folding,
/// signing key check) over the shared use cases.
fn spawn_jobs(state: &web::Data<AppState>, settings: &Settings) -> Jobs {
    let sealer = {
        let state = state.clone();
        every("audit_sealer", settings.audit.seal_interval, move || {
            let state = state.clone();
            async move {
                let sealed = state.use_cases.seal_audit_log.execute().await?;
                if sealed > 0 {
                    tracing::debug!(audit.sealed = sealed, "sealed audit entries");
                }
                Ok(())
            }
        })
    };
    let retention = chrono::Duration::days(i64::from(settings.audit.retention_days));
    // Checked in `Application::build`, so this never saturates.
    let purge_after = chrono::Duration::from_std(settings.accounts.user_purge_after)
        .unwrap_or(chrono::Duration::MAX);
    let purger = {
        let state = state.clone();
        every("retention", settings.audit.retention_interval, move || {
            let state = state.clone();
            async move {
                // Deleted users are purged by the instance that holds the retention lock
                // this pass; each is re-checked under its row lock (ADR 0018).
                if state
                    .use_cases
                    .run_retention
                    .execute(retention)
                    .await?
                    .is_some()
                {
                    state
                        .use_cases
                        .purge_deleted_users
                        .execute(purge_after)
                        .await?;
                }
                Ok(())
            }
        })
    };
    let activity = {
        let state = state.clone();
        every(
            "session_activity",
            settings.sessions.activity_flush_interval,
            move || {
                let state = state.clone();
                async move {
                    let moved = state.use_cases.flush_session_activity.execute().await?;
                    if moved > 0 {
                        tracing::debug!(sessions = moved, "wrote session activity");
                    }
                    Ok(())
                }
            },
        )
    };
    let counts = {
        let state = state.clone();
        every("user_counts", USER_COUNT_FOLD_PERIOD, move || {
            let state = state.clone();
            async move {
                let folded = state.use_cases.fold_user_counts.execute().await?;
                if folded > 0 {
                    tracing::debug!(notes = folded, "folded user count notes");
                }
                Ok(())
            }
        })
    };
    let keys = {
        let state = state.clone();
        // Checked in `Application::build`, so this never saturates.
        let interval = chrono::Duration::from_std(settings.jwt.key_check_interval)
            .unwrap_or(chrono::Duration::MAX);
        let last = Arc::new(std::sync::Mutex::new(KeyCheck::default()));
        every(
            "signing_key_check",
            settings.jwt.key_check_interval,
            move || {
                let state = state.clone();
                let last = last.clone();
                async move {
                    let check = state.use_cases.check_signing_keys.execute(interval).await?;
                    state.metrics.set_signing_keys_mismatch(check.differing);
                    if let Ok(mut last) = last.lock() {
                        report_key_check(&last, &check, state.keys.signing_kid());
                        *last = check;
                    }
                    Ok(())
                }
            },
        )
    };
    Jobs(vec![sealer, purger, activity, counts, keys])
}

/// Logs a change in how this instance's signing keys compare with its peers': at error
/// when some peer's differ (an instance whose tokens the others refuse, or the reverse,
/// fails requests at random behind a proxy), once more at info when they agree again.
/// Kids are digests of public keys: nothing secret is logged.
fn report_key_check(last: &KeyCheck, now: &KeyCheck, own_kid: &str) {
    if now.differing > 0 && (now.differing, now.conflicting) != (last.differing, last.conflicting) {
        tracing::error!(
            peers = now.peers,
            peers.differing = now.differing,
            peers.conflicting = now.conflicting,
            signing_kid = own_kid,
            peer_signing_kids = %now.peer_signing_kids.join(","),
            "JWT_SIGNING_KEYS differs from other instances': {} of {} peers announce other keys \
             and {} of them sign or verify tokens this instance does not; give every instance \
             the same keys (a rotation adds the new key as verify-only everywhere first)",
            now.differing,
            now.peers,
            now.conflicting,
        );
    } else if now.differing == 0 && last.differing > 0 {
        tracing::info!(
            peers = now.peers,
            "JWT_SIGNING_KEYS agrees with every peer again"
        );
    }
}

/// The shared Redis connection when `REDIS_URL` is set (made lazily: a Redis that is down
/// at start is connected to once it is up).
fn connect_redis(settings: &Settings) -> Result<Option<RedisConnection>, StartupError> {
    let Some(url) = &settings.redis.url else {
        tracing::warn!(
            "REDIS_URL is unset: auth cache, session activity and rate limits are in-process; \
             this is a single instance only (several instances without a shared Redis are \
             unsupported: a revocation on one would not reach the others' caches)"
        );
        return Ok(None);
    };
    let config = RedisConfig {
        url: url.expose_secret().to_owned(),
        timeout: settings.redis.timeout,
        key_prefix: settings.redis.key_prefix.clone(),
    };
    RedisConnection::connect_lazy(&config)
        .map(Some)
        .map_err(StartupError::Redis)
}

/// The rate limits: in Redis, shared by every instance (decided in process while Redis
/// fails), when `REDIS_URL` is set; else in process, as for the other Redis ports.
fn rate_limits(
    settings: &Settings,
    redis: Option<&RedisConnection>,
    metrics: Arc<Metrics>,
) -> Result<RateLimits, StartupError> {
    let quota = |n: u32, var: &'static str| {
        domain::rate_limit::Quota::per_minute(n).ok_or(StartupError::RateLimit(var))
    };
    let quotas = Quotas {
        all: quota(settings.rate_limits.all, var::RATE_LIMIT)?,
        login: quota(settings.rate_limits.login, var::LOGIN_RATE_LIMIT)?,
        admin_write: quota(
            settings.rate_limits.admin_write,
            var::ADMIN_WRITE_RATE_LIMIT,
        )?,
    };
    let limiter: Arc<dyn domain::ports::RateLimiter> = match redis {
        Some(conn) => Arc::new(FallbackRateLimiter::new(RedisRateLimiter::new(
            conn.clone(),
        ))),
        None => Arc::new(LocalRateLimiter::new()),
    };
    Ok(RateLimits::new(limiter, metrics, quotas))
}

fn chrono_duration(
    value: std::time::Duration,
    var: &'static str,
) -> Result<chrono::Duration, StartupError> {
    chrono::Duration::from_std(value).map_err(|_| StartupError::Duration(var))
}

impl Application {
    /// Builds every adapter and binds the listener. Creates the configured admin when
    /// no admin exists yet.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with(settings, Overrides::default()).await
    }

    /// Like [`build`](Self::build), with the adapters of `overrides`.
    pub async fn build_with(
        settings: Settings,
        overrides: Overrides,
    ) -> Result<Self, StartupError> {
        let keys = Arc::new(JwtKeys::load(&settings.jwt.signing_keys)?);
        // Read before anything connects, so a bad file stops the start at once.
        let tls = settings.http.tls.as_ref().map(tls::load).transpose()?;
        if keys.is_ephemeral() {
            tracing::warn!(
                "JWT_SIGNING_KEYS is unset: signing with an ephemeral key; tokens die with this process"
            );
        }
        let audit_key = Arc::new(match &settings.audit.hmac_key {
            Some(path) => adapters_crypto::audit_key::load(path)?,
            None => {
                tracing::warn!(
                    "AUDIT_HMAC_KEY is unset: audit entries are bound to an ephemeral key; \
                     after a restart the audit log no longer verifies"
                );
                adapters_postgres::ephemeral_audit_key()
            }
        });
        let primary = PgConfig {
            url: settings.database.url.expose_secret().to_owned(),
            max_connections: settings.database.max_connections as usize,
            acquire_timeout: settings.database.timeout,
            connect_timeout: settings.database.timeout,
            statement_timeout: settings.database.statement_timeout,
            audit_enabled: settings.audit.enabled,
            audit_key,
        };
        let mut store = PgStore::new(&primary).map_err(StartupError::Database)?;
        if let Some(read_url) = &settings.database.read_url {
            let replica = PgConfig {
                url: read_url.expose_secret().to_owned(),
                ..primary.clone()
            };
            store = store
                .with_read_replica(&replica)
                .map_err(StartupError::Database)?;
        }
        let metrics = Arc::new(Metrics::new()?);
        let store = store.with_observer(metrics.clone());
        let redis = connect_redis(&settings)?.map(|r| r.with_observer(metrics.clone()));
        let rate_limits = web::Data::new(rate_limits(&settings, redis.as_ref(), metrics.clone())?);
        let store = Arc::new(store);
        let ports = Ports {
            users: store.clone(),
            sessions: store.clone(),
            audit: store.clone(),
            checkpoints: Arc::new(JwsCheckpoints::new(keys.clone())),
            uow: store.clone(),
            hasher: Arc::new(Argon2Hasher::new().map_err(StartupError::Hasher)?),
            strength: Arc::new(BlockingPasswordStrength::new()),
            tokens: Arc::new(VerifiedTokens::new(
                Arc::new(JwtIssuer::new(
                    keys.clone(),
                    settings.jwt.issuer.clone(),
                    settings.jwt.audience.clone(),
                )),
                overrides.clock.clone(),
            )),
            clock: overrides.clock,
            ids: Arc::new(UuidV7Ids),
            secrets: Arc::new(OsSecretGenerator),
            database: store.clone(),
            auth_cache: match &redis {
                Some(conn) => Arc::new(RedisAuthCache::new(conn.clone())),
                None => Arc::new(LocalAuthCache::new()),
            },
            lists: match &redis {
                // Replica reads may lag a write; a page cached from one would outlive it.
                _ if settings.database.read_url.is_some() => Arc::new(NoListCache),
                Some(conn) => Arc::new(RedisListCache::new(conn.clone())),
                None => Arc::new(LocalListCache::new()),
            },
            activity: match &redis {
                Some(conn) => Arc::new(RedisSessionActivity::new(conn.clone())),
                None => Arc::new(LocalSessionActivity::new()),
            },
            key_announcements: match &redis {
                Some(conn) => Arc::new(RedisKeyAnnouncements::new(conn.clone())),
                None => Arc::new(LocalKeyAnnouncements::new()),
            },
            redis: redis
                .clone()
                .map(|r| Arc::new(r) as Arc<dyn domain::ports::HealthCheck>),
            metrics: metrics.clone(),
            system: Arc::new(HostProbe::current_dir()),
        };
        let policy = Policy {
            access_ttl: chrono_duration(settings.jwt.access_expiry, var::JWT_ACCESS_EXPIRY)?,
            refresh_ttl: chrono_duration(settings.jwt.refresh_expiry, var::JWT_REFRESH_EXPIRY)?,
            reuse_grace: chrono_duration(
                settings.jwt.refresh_reuse_grace,
                var::REFRESH_REUSE_GRACE,
            )?,
            lockout_threshold: settings.lockout.threshold,
            lockout_duration: chrono_duration(settings.lockout.duration, var::LOCKOUT_DURATION)?,
            password_max_age: settings
                .accounts
                .password_max_age
                .map(|age| chrono_duration(age, var::PASSWORD_MAX_AGE))
                .transpose()?,
        };
        // Refused here, so that the purge job never runs with a saturated period.
        chrono_duration(settings.accounts.user_purge_after, var::USER_PURGE_AFTER)?;
        chrono_duration(settings.jwt.key_check_interval, var::JWT_KEY_CHECK_INTERVAL)?;
        let use_cases = UseCases::new(ports, policy);
        if let Some(admin) = &settings.admin {
            let password = Password::new(admin.password.expose_secret());
            match use_cases
                .bootstrap_admin
                .execute(admin.username.as_str(), password)
                .await
            {
                Ok(Some(user)) => {
                    tracing::info!(user.id = %user.id, "created the configured admin")
                }
                Ok(None) => tracing::debug!("an admin exists; ADMIN_USERNAME left alone"),
                Err(err) => return Err(StartupError::Admin(describe(&err))),
            }
        }

        let listener = TcpListener::bind(settings.http.bind_addr).map_err(StartupError::Bind)?;
        let port = listener.local_addr().map_err(StartupError::Bind)?.port();
        let state = web::Data::new(AppState {
            use_cases,
            keys,
            metrics,
            metrics_token: settings.metrics.token.clone(),
            metrics_enabled: settings.metrics.enabled,
            rate_limits,
            client_ip: web::Data::new(ClientIpResolver::new(settings.http.trusted_proxies.clone())),
        });
        let mut jobs = spawn_jobs(&state, &settings);
        jobs.0.extend(metrics::spawn_probes(&state, store));
        let server = HttpServer::new(move || routes::app(state.clone()));
        // With TLS, HTTPS only: no plain listener. The security headers middleware adds
        // HSTS on the connections this listener marks secure.
        let is_tls = tls.is_some();
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config),
            None => server.listen(listener),
        }
        .map_err(StartupError::Bind)?
        .shutdown_timeout(30)
        .run();
        Ok(Self {
            port,
            tls: is_tls,
            server,
            jobs,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the listener speaks HTTPS (`TLS_CERT_FILE` + `TLS_KEY_FILE`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// A handle that stops the server (tests restart servers over one database).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM, then finishes in-flight requests (up to 30 s).
    /// The background jobs stop with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self { server, jobs, .. } = self;
        let result = server.await;
        drop(jobs);
        result
    }
}

/// A start-up failure in one line, without internals of secrets.
fn describe(err: &AppError) -> String {
    match err {
        AppError::Validation(fields) => fields
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        AppError::WeakPassword { feedback, .. } => {
            format!("ADMIN_PASSWORD is too weak: {}", feedback.join(" "))
        }
        AppError::Unavailable(cause) => format!("database unavailable ({cause})"),
        other => other.to_string(),
    }
}
