//! Connection settings, connection set-up and the deadpool pool.
//!
//! Every wait is bounded so that a database outage turns into fast `Unavailable` errors
//! instead of hung requests: the pool's wait/create/recycle timeouts, the TCP connect
//! timeout, a per-connection `statement_timeout`, TCP keepalives and a user timeout that
//! notice a peer that vanished. Broken connections are discarded by the pool on recycle
//! (closed socket, open or failed transaction), so the pool heals by itself once
//! PostgreSQL is back. Only a connection unused for [`PING_WHEN_IDLE`] is pinged before
//! reuse: a `SELECT 1` on every checkout doubled the round trips of a one-query request,
//! and a connection that was busy a moment ago has just proved itself (one that broke in
//! between fails its query with `Unavailable` and is discarded on its return).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{Metrics, Timeouts};
use deadpool::Runtime;
use diesel::result::DatabaseErrorKind;
use diesel::sql_types::Integer;
use diesel::{ConnectionError, IntoSql};
use diesel_async::pooled_connection::deadpool::{Hook, HookError, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolError, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::audit_evidence::AuditKey;
use domain::RepoError;
use futures_util::FutureExt;

use crate::error::StoreFailure;
use crate::tls::{self, MakeRustlsConnect};

/// How to reach PostgreSQL and how long to wait for it.
#[derive(Clone)]
pub struct PgConfig {
    /// `postgres://user:password@host:port/database` (may hold a password: never printed).
    pub url: String,
    /// Most connections the pool opens.
    pub max_connections: usize,
    /// Longest wait for a free pooled connection.
    pub acquire_timeout: Duration,
    /// Longest wait to open (connect, authenticate, set up) a new connection.
    pub connect_timeout: Duration,
    /// Server-side limit of one statement (`SET statement_timeout`).
    pub statement_timeout: Duration,
    /// When false, `append_audit` writes nothing (`AUDIT_ENABLED=false`).
    pub audit_enabled: bool,
    /// `AUDIT_HMAC_KEY`: binds every audit entry when it is written and keys the chain.
    pub audit_key: Arc<AuditKey>,
}

impl PgConfig {
    /// Settings for `url` with defaults suited to a small service: 10 connections, 2 s to
    /// acquire, 3 s to connect, 10 s per statement, auditing on.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
            audit_enabled: true,
            audit_key: Arc::new(ephemeral_audit_key()),
        }
    }

    /// The longest any one port call may take before it reports `Unavailable`: a safety
    /// net for a database that accepted the connection but stopped answering.
    pub(crate) fn operation_deadline(&self) -> Duration {
        self.acquire_timeout
            + self.connect_timeout
            + self.statement_timeout * 2
            + Duration::from_secs(1)
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("audit_enabled", &self.audit_enabled)
            .field("audit_key", &self.audit_key)
            .finish()
    }
}

/// A fresh random audit key (32 bytes from the OS generator) that lives as long as the
/// process: what `ems serve` uses, with a warning, when `AUDIT_HMAC_KEY` is unset outside
/// production. Entries it binds no longer verify after a restart.
pub fn ephemeral_audit_key() -> AuditKey {
    use rand::RngCore as _;
    let mut bytes = vec![0u8; AuditKey::MIN_LEN];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // 32 bytes always suffice; the retry with a longer buffer is unreachable.
    AuditKey::new(bytes).unwrap_or_else(|_| ephemeral_audit_key())
}

/// The URL with any password replaced by `***`, for logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return "***".into();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let masked = match userinfo.split_once(':') {
                Some((user, _password)) => format!("{user}:***"),
                None => userinfo.to_owned(),
            };
            format!("{}{}{}", &url[..scheme_end + 3], masked, &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// A parsed URL: the driver's settings and the TLS connector its `sslmode` asks for.
#[derive(Clone)]
pub(crate) struct Driver {
    /// tokio-postgres's settings (without the TLS parameters, which it cannot read).
    pub(crate) config: tokio_postgres::Config,
    /// `None` for `sslmode=disable`.
    tls: Option<MakeRustlsConnect>,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Parses the URL into a driver config with the connect timeout and keepalives set, and
/// its TLS connector (reading `sslrootcert` now, so a bad file stops the start).
pub(crate) fn driver_config(url: &str, connect_timeout: Duration) -> Result<Driver, String> {
    let (url, mode, root) = tls::split_url(url)?;
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| format!("invalid database URL: {e}"))?;
    config.ssl_mode(mode.driver_mode());
    config.connect_timeout(connect_timeout);
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    config.keepalives_interval(Duration::from_secs(10));
    config.keepalives_retries(3);
    if config.get_application_name().is_none() {
        config.application_name("ems");
    }
    let tls = tls::connector(mode, root.as_deref())?;
    Ok(Driver { config, tls })
}

/// Opens one connection: TCP connect bounded by the driver's connect timeout, the whole
/// handshake (TLS included) bounded by `connect_timeout`, and `statement_timeout` sent in
/// the startup packet (no extra round trip).
pub(crate) async fn connect(
    driver: Driver,
    connect_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> Result<AsyncPgConnection, ConnectionError> {
    let Driver { mut config, tls } = driver;
    if let Some(timeout) = statement_timeout {
        let setting = format!("-c statement_timeout={}", timeout.as_millis().max(1));
        let options = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {setting}"),
            _ => setting,
        };
        config.options(options);
    }
    let refused = |e: tokio_postgres::Error| ConnectionError::BadConnection(e.to_string());
    let handshake = async {
        let mut conn = match tls {
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(refused)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await?
            }
            Some(tls) => {
                let (client, connection) = config.connect(tls).await.map_err(refused)?;
                AsyncPgConnection::try_from_client_and_connection(client, connection).await?
            }
        };
        prefer_english_messages(&mut conn).await?;
        Ok(conn)
    };
    tokio::time::timeout(connect_timeout, handshake)
        .await
        .unwrap_or_else(|_| {
            Err(ConnectionError::BadConnection(
                "timed out connecting to the database".into(),
            ))
        })
}

/// How long a pooled connection may sit unused before its next checkout pings it.
pub const PING_WHEN_IDLE: Duration = Duration::from_secs(10);

/// Whether a connection last handed out `metrics` ago must be pinged before reuse.
fn needs_ping(metrics: &Metrics) -> bool {
    metrics.last_used() >= PING_WHEN_IDLE
}

/// The pre-recycle check: `SELECT 1` on a connection idle for [`PING_WHEN_IDLE`],
/// bounded by `timeout`; a failure makes the pool drop it and take or open another.
fn ping_when_idle(timeout: Duration) -> Hook<AsyncPgConnection> {
    Hook::async_fn(move |conn: &mut AsyncPgConnection, metrics: &Metrics| {
        let idle = needs_ping(metrics);
        Box::pin(async move {
            if !idle {
                return Ok(());
            }
            let ping = diesel::select(1_i32.into_sql::<Integer>()).get_result::<i32>(conn);
            match tokio::time::timeout(timeout, ping).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(HookError::Backend(PoolError::QueryError(e))),
                Err(_) => Err(HookError::Message("ping timed out".into())),
            }
        })
    })
}

/// Asks for PostgreSQL's untranslated messages, the fallback `error` reads for the few
/// SQLSTATEs diesel-async does not pass on. Only superusers, or roles granted `SET` on
/// `lc_messages` (or given it by `ALTER ROLE`), may; a refusal leaves the server's choice.
async fn prefer_english_messages(conn: &mut AsyncPgConnection) -> Result<(), ConnectionError> {
    use diesel_async::SimpleAsyncConnection as _;
    match conn.batch_execute("SET lc_messages TO 'C'").await {
        Err(diesel::result::Error::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            info,
        )) => Err(ConnectionError::BadConnection(info.message().to_owned())),
        Ok(()) | Err(diesel::result::Error::DatabaseError(_, _)) => Ok(()),
        Err(e) => Err(ConnectionError::BadConnection(e.to_string())),
    }
}

/// Builds the pool; opens no connection (the first `get` does).
pub(crate) fn build_pool(cfg: &PgConfig) -> Result<Pool<AsyncPgConnection>, RepoError> {
    let driver = driver_config(&cfg.url, cfg.connect_timeout)
        .map_err(|m| RepoError::from(StoreFailure::new("configuration", m)))?;
    // Keepalives alone take ~60 s to notice a dead peer; a bounded time for unacknowledged
    // writes makes a query on a vanished server fail with the statement timeout scale.
    let mut driver = driver;
    driver
        .config
        .tcp_user_timeout(cfg.statement_timeout + cfg.connect_timeout);
    let connect_timeout = cfg.connect_timeout;
    let statement_timeout = cfg.statement_timeout;
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    // Closed sockets and broken transactions only; idle connections get `ping_when_idle`.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |_url| {
        connect(driver.clone(), connect_timeout, Some(statement_timeout)).boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(
        &cfg.url,
        manager_config,
    );
    Pool::builder(manager)
        .max_size(cfg.max_connections.max(1))
        .timeouts(Timeouts {
            wait: Some(cfg.acquire_timeout),
            create: Some(cfg.connect_timeout),
            recycle: Some(cfg.connect_timeout),
        })
        .pre_recycle(ping_when_idle(cfg.connect_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreFailure::new("pool", e.to_string()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_connection_idle_for_a_while_is_pinged() {
        let busy = Metrics::default();
        assert!(!needs_ping(&busy));
        let idle = Metrics {
            recycled: std::time::Instant::now().checked_sub(PING_WHEN_IDLE),
            ..Metrics::default()
        };
        assert!(needs_ping(&idle));
    }

    #[test]
    fn redact_url_masks_the_password_only() {
        assert_eq!(
            redact_url("postgres://ems:s3cret@db:5432/ems?sslmode=disable"),
            "postgres://ems:***@db:5432/ems?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            redact_url("postgres://ems:pa:ss@db/ems"),
            "postgres://ems:***@db/ems"
        );
        assert_eq!(redact_url("host=x password=y"), "***");
    }

    #[test]
    fn debug_of_config_never_shows_the_password() {
        let cfg = PgConfig::new("postgres://ems:s3cret@db/ems");
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }

    #[test]
    fn a_malformed_url_is_refused_without_echoing_it() {
        let err = driver_config(
            "postgres://ems:s3cret@db:notaport/ems",
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
