//! `/api/health` (liveness), `/api/health/ready` (readiness), `/api/health/detailed`
//! (the admin's report) and the probes behind the `ems_database_up` and
//! `ems_active_users` gauges.

use chrono::{DateTime, Utc};
use domain::ports::{DiskUsage, HealthCheck, PoolStats};

use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// Liveness and readiness.
pub struct Health {
    ports: Ports,
}

impl Health {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Liveness: the process answers; no dependency is touched.
    pub fn live(&self) -> &'static str {
        "ok"
    }

    /// Readiness: the database (and Redis, when configured) answer. `Unavailable`
    /// otherwise.
    #[tracing::instrument(name = "readiness", skip_all)]
    pub async fn ready(&self) -> Result<(), AppError> {
        self.ports.database.ping().await?;
        if let Some(redis) = &self.ports.redis {
            redis.ping().await?;
        }
        Ok(())
    }

    /// Distinct users with an active session now (for the `ems_active_users` gauge).
    #[tracing::instrument(name = "active_users", skip_all)]
    pub async fn active_users(&self) -> Result<u64, AppError> {
        let now = self.ports.clock.now();
        Ok(self.ports.sessions.count_active_users(now).await?)
    }
}

/// The detailed report's verdict. `Degraded` still answers 200: readiness is the probe
/// that answers 503, this report is for a person looking at what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverallStatus {
    /// Every dependency answered.
    Ok,
    /// The database or Redis did not answer.
    Degraded,
}

/// The database as the detailed report sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseReport {
    /// Whether the ping answered.
    pub up: bool,
    /// How long the ping took (to answer, or to fail), in milliseconds.
    pub latency_ms: f64,
    /// The pool's occupancy (zeros when the adapter has no pool).
    pub connections: PoolStats,
}

/// Redis as the detailed report sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisReport {
    /// Whether the ping answered.
    pub up: bool,
    /// How long the ping took (to answer, or to fail), in milliseconds.
    pub latency_ms: f64,
}

/// What `GET /api/health/detailed` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// `Degraded` when the database is down.
    pub status: OverallStatus,
    /// The database.
    pub database: DatabaseReport,
    /// Redis; `None` when it is not configured.
    pub redis: Option<RedisReport>,
    /// Disk space where the server runs, when the platform tells.
    pub disk: Option<DiskUsage>,
    /// Resident memory of the process, when the platform tells.
    pub rss_bytes: Option<u64>,
    /// Whole seconds since the use cases were built (the server started).
    pub uptime_seconds: u64,
    /// The server's version.
    pub version: &'static str,
}

/// `GET /api/health/detailed`: dependencies, resources and uptime, for admins.
pub struct DetailedHealth {
    ports: Ports,
    started_at: DateTime<Utc>,
}

impl DetailedHealth {
    /// Builds the use case; uptime counts from now.
    pub fn new(ports: Ports) -> Self {
        let started_at = ports.clock.now();
        Self { ports, started_at }
    }

    /// The report. `Forbidden` unless the caller is an admin; a database outage is
    /// reported, never an error.
    #[tracing::instrument(name = "detailed_health", skip_all, fields(user.id = %principal.user.id))]
    pub async fn execute(&self, principal: &Principal) -> Result<HealthReport, AppError> {
        principal.require_admin()?;
        let (up, latency_ms) = self.probe("database", self.ports.database.as_ref()).await;
        let redis = match &self.ports.redis {
            Some(redis) => {
                let (up, latency_ms) = self.probe("redis", redis.as_ref()).await;
                Some(RedisReport { up, latency_ms })
            }
            None => None,
        };
        let uptime_seconds =
            u64::try_from((self.ports.clock.now() - self.started_at).num_seconds()).unwrap_or(0);
        let all_up = up && redis.as_ref().is_none_or(|r| r.up);
        Ok(HealthReport {
            status: if all_up {
                OverallStatus::Ok
            } else {
                OverallStatus::Degraded
            },
            database: DatabaseReport {
                up,
                latency_ms,
                connections: self.ports.database.pool_stats().unwrap_or_default(),
            },
            redis,
            disk: self.ports.system.disk(),
            rss_bytes: self.ports.system.resident_memory_bytes(),
            uptime_seconds,
            version: env!("CARGO_PKG_VERSION"),
        })
    }
}

impl DetailedHealth {
    /// Pings one dependency: whether it answered, and how long that took in milliseconds.
    async fn probe(&self, name: &'static str, check: &dyn HealthCheck) -> (bool, f64) {
        let before = self.ports.clock.now();
        let up = match check.ping().await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(dependency = name, error = %err, "detailed health: no answer");
                false
            }
        };
        let latency_ms = (self.ports.clock.now() - before)
            .num_microseconds()
            .map_or(f64::MAX, |us| us.max(0) as f64 / 1000.0);
        (up, latency_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, Mocks};
    use domain::user::Role;

    #[tokio::test]
    async fn readiness_follows_the_database() {
        let mut mocks = Mocks::new();
        mocks.database.expect_ping().times(1).returning(|| Ok(()));
        assert!(Health::new(mocks.ports()).ready().await.is_ok());

        let mut mocks = Mocks::new();
        mocks
            .database
            .expect_ping()
            .returning(|| Err(testing::down()));
        let health = Health::new(mocks.ports());
        assert!(matches!(
            health.ready().await,
            Err(AppError::Unavailable(_))
        ));
        assert_eq!(health.live(), "ok");
    }

    #[tokio::test]
    async fn active_users_are_counted_at_the_clock_s_now() {
        let mut mocks = Mocks::new();
        mocks
            .sessions
            .expect_count_active_users()
            .withf(|now| *now == testing::now())
            .times(1)
            .returning(|_| Ok(3));
        assert_eq!(Health::new(mocks.ports()).active_users().await.unwrap(), 3);
    }

    fn probing(mocks: &mut Mocks) {
        mocks.system.expect_disk().returning(|| {
            Some(DiskUsage {
                path: "/srv/ems".into(),
                total_bytes: 1000,
                available_bytes: 400,
            })
        });
        mocks
            .system
            .expect_resident_memory_bytes()
            .returning(|| Some(42 << 20));
        mocks.database.expect_pool_stats().returning(|| {
            Some(PoolStats {
                size: 4,
                idle: 3,
                waiting: 0,
            })
        });
    }

    #[tokio::test]
    async fn the_detailed_report_shows_database_pool_disk_memory_and_version() {
        let mut mocks = Mocks::new();
        probing(&mut mocks);
        mocks.database.expect_ping().times(1).returning(|| Ok(()));
        let admin = testing::principal(testing::user(1, Role::Admin));

        let report = DetailedHealth::new(mocks.ports())
            .execute(&admin)
            .await
            .unwrap();

        assert_eq!(report.status, OverallStatus::Ok);
        assert!(report.database.up);
        assert_eq!(
            report.database.latency_ms, 0.0,
            "the test clock stands still"
        );
        assert_eq!(
            report.database.connections,
            PoolStats {
                size: 4,
                idle: 3,
                waiting: 0
            }
        );
        let disk = report.disk.unwrap();
        assert_eq!(
            (disk.path.as_str(), disk.total_bytes, disk.available_bytes),
            ("/srv/ems", 1000, 400)
        );
        assert_eq!(report.rss_bytes, Some(42 << 20));
        assert_eq!(report.uptime_seconds, 0);
        assert_eq!(report.version, env!("CARGO_PKG_VERSION"));
    }

    #[tokio::test]
    async fn a_database_outage_degrades_the_report_instead_of_failing_it() {
        let mut mocks = Mocks::new();
        probing(&mut mocks);
        mocks
            .database
            .expect_ping()
            .returning(|| Err(testing::down()));
        let admin = testing::principal(testing::user(1, Role::Admin));

        let report = DetailedHealth::new(mocks.ports())
            .execute(&admin)
            .await
            .unwrap();

        assert_eq!(report.status, OverallStatus::Degraded);
        assert!(!report.database.up);
    }

    #[tokio::test]
    async fn only_admins_see_the_detailed_report() {
        let mocks = Mocks::new();
        let user = testing::principal(testing::user(1, Role::User));
        let mut must_change = testing::user(2, Role::Admin);
        must_change.must_change_password = true;
        let health = DetailedHealth::new(mocks.ports());

        assert!(matches!(
            health.execute(&user).await,
            Err(AppError::Forbidden)
        ));
        assert!(matches!(
            health.execute(&testing::principal(must_change)).await,
            Err(AppError::PasswordChangeRequired)
        ));
    }

    #[tokio::test]
    async fn with_redis_configured_readiness_and_the_report_follow_it_too() {
        let mut mocks = Mocks::new();
        mocks.database.expect_ping().returning(|| Ok(()));
        let mut redis = domain::ports::MockHealthCheck::new();
        redis.expect_ping().returning(|| Err(testing::down()));
        mocks.redis = Some(redis);
        let health = Health::new(mocks.ports());
        assert!(matches!(
            health.ready().await,
            Err(AppError::Unavailable(_))
        ));

        let mut mocks = Mocks::new();
        probing(&mut mocks);
        mocks.database.expect_ping().returning(|| Ok(()));
        let mut redis = domain::ports::MockHealthCheck::new();
        redis.expect_ping().returning(|| Err(testing::down()));
        mocks.redis = Some(redis);
        let admin = testing::principal(testing::user(1, Role::Admin));
        let report = DetailedHealth::new(mocks.ports())
            .execute(&admin)
            .await
            .unwrap();
        assert_eq!(report.status, OverallStatus::Degraded);
        assert!(report.database.up);
        assert!(!report.redis.unwrap().up);
    }

    #[tokio::test]
    async fn without_redis_the_report_says_nothing_of_it() {
        let mut mocks = Mocks::new();
        probing(&mut mocks);
        mocks.database.expect_ping().returning(|| Ok(()));
        let admin = testing::principal(testing::user(1, Role::Admin));
        let report = DetailedHealth::new(mocks.ports())
            .execute(&admin)
            .await
            .unwrap();
        assert_eq!(report.status, OverallStatus::Ok);
        assert_eq!(report.redis, None);
    }
}
