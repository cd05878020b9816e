//! The embedded migrations of top-level `migrations/` and their runner.
//!
//! Diesel's migration harness is synchronous; it runs on a blocking thread over an
//! `AsyncConnectionWrapper` (pure Rust, no libpq), holding a session advisory lock so
//! that several instances starting together apply each migration once.

use std::time::Duration;

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sql_types::BigInt;
use diesel::RunQueryDsl;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::pool::{connect, driver_config};

/// Every migration, compiled into the binary.
pub(crate) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Key of the session advisory lock held while migrating ("EMS_MIGR").
const MIGRATION_LOCK_KEY: i64 = 0x454D_535F_4D49_4752;

/// How long `run_migrations` waits to open its connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The URL is malformed or the database cannot be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A migration failed; it was rolled back, earlier ones stay applied.
    #[error("migration failed: {0}")]
    Apply(String),
    /// The migrations compiled into the binary cannot be listed: a defect of the build.
    #[error("cannot list the embedded migrations: {0}")]
    Embedded(String),
}

type SyncConn = AsyncConnectionWrapper<AsyncPgConnection>;

/// Opens a connection without a statement timeout (index builds may take long).
async fn open(url: &str) -> Result<AsyncPgConnection, MigrationError> {
    let config = driver_config(url, CONNECT_TIMEOUT).map_err(MigrationError::Connect)?;
    connect(config, CONNECT_TIMEOUT, None)
        .await
        .map_err(|e| MigrationError::Connect(e.to_string()))
}

/// Runs `work` on a blocking thread with a migration connection under the lock.
async fn with_migration_lock<T: Send + 'static>(
    url: &str,
    work: impl FnOnce(&mut SyncConn) -> Result<T, MigrationError> + Send + 'static,
) -> Result<T, MigrationError> {
    let conn = open(url).await?;
    tokio::task::spawn_blocking(move || {
        let mut conn = SyncConn::from(conn);
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
            .execute(&mut conn)
            .map_err(|e| MigrationError::Apply(format!("taking the migration lock: {e}")))?;
        let result = work(&mut conn);
        // Closing the connection releases the lock too; unlocking is just tidier.
        let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
            .execute(&mut conn);
        result
    })
    .await
    .map_err(|e| MigrationError::Apply(format!("migration task failed: {e}")))?
}

/// Applies every pending migration to the database at `url`; returns the versions
/// applied now (empty when the schema was up to date).
pub async fn run_migrations(url: &str) -> Result<Vec<String>, MigrationError> {
    with_migration_lock(url, |conn| {
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| MigrationError::Apply(e.to_string()))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
    .await
}

/// Reverts the newest `count` applied migrations with their `down.sql`, newest first, for
/// a rollback (`ems migrate --revert N`); returns the versions reverted. Refuses, with
/// nothing reverted, when fewer than `count` are applied; each revert is its own
/// transaction, so a failing `down.sql` leaves the newer ones reverted and itself applied.
pub async fn revert_migrations(url: &str, count: usize) -> Result<Vec<String>, MigrationError> {
    with_migration_lock(url, move |conn| {
        let applied = conn
            .applied_migrations()
            .map_err(|e| MigrationError::Apply(e.to_string()))?;
        if count > applied.len() {
            return Err(MigrationError::Apply(format!(
                "cannot revert {count}: only {} migrations are applied",
                applied.len()
            )));
        }
        let mut reverted = Vec::with_capacity(count);
        for _ in 0..count {
            let version = conn
                .revert_last_migration(MIGRATIONS)
                .map_err(|e| MigrationError::Apply(e.to_string()))?;
            reverted.push(version.to_string());
        }
        Ok(reverted)
    })
    .await
}

/// Reverts every applied migration, newest first; returns the versions reverted.
/// For tests that prove each `down.sql` works.
#[cfg(feature = "test-support")]
pub async fn revert_all_migrations(url: &str) -> Result<Vec<String>, MigrationError> {
    with_migration_lock(url, |conn| {
        let reverted = conn
            .revert_all_migrations(MIGRATIONS)
            .map_err(|e| MigrationError::Apply(e.to_string()))?;
        Ok(reverted.iter().map(ToString::to_string).collect())
    })
    .await
}

/// The version of every embedded migration, oldest first. An error, not an empty list,
/// when they cannot be listed: no migrations and unreadable ones are not the same.
pub fn embedded_versions() -> Result<Vec<String>, MigrationError> {
    MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map(|ms| ms.iter().map(|m| m.name().version().to_string()).collect())
        .map_err(|e| MigrationError::Embedded(e.to_string()))
}
