//! What the test suites need running: the test PostgreSQL cluster (cleared of databases
//! left by earlier runs) and, when installed, a private Redis. Shared by `test` and
//! `coverage`; the environment it exports is how tests find them.

use crate::error::Result;
use crate::paths::Paths;
use crate::pg::{self, Cluster};
use crate::redis::PrivateRedis;
use crate::ui;

/// Prefixes of the databases the test helpers of `adapters-postgres` create: one
/// `ems_test_<uuid>` per test, and `ems_tpl_<digest of the migrations>` templates. At
/// the start of a run every one of them is debris: per-test databases of an interrupted
/// run, templates of migrations since changed, half-built `…_build` templates. The run
/// rebuilds the one template it needs once, which costs one migration.
pub const TEST_DB_PREFIXES: [&str; 2] = ["ems_test_", "ems_tpl_"];

/// The running test services; dropping them stops what this run started.
#[derive(Debug)]
pub struct TestServices {
    pg: pg::Running,
    redis: Option<PrivateRedis>,
}

impl TestServices {
    /// Starts (or reuses) the test cluster and Redis, and drops leftover test databases
    /// and templates.
    pub fn start(paths: &Paths) -> Result<Self> {
        let pg = Cluster::new(pg::TEST, paths)?.start()?;
        let mut dropped = Vec::new();
        for prefix in TEST_DB_PREFIXES {
            dropped.extend(pg.drop_databases_with_prefix(prefix)?);
        }
        if !dropped.is_empty() {
            ui::note(format!(
                "dropped {} leftover test database(s): {}",
                dropped.len(),
                dropped.join(", ")
            ));
        }
        let redis = PrivateRedis::start_if_available(paths)?;
        Ok(Self { pg, redis })
    }

    /// `EMS_TEST_DATABASE_URL` (the maintenance database; tests create their own) and,
    /// with Redis, `EMS_TEST_REDIS_URL`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("EMS_TEST_DATABASE_URL", self.pg.url("postgres"))];
        if let Some(redis) = &self.redis {
            env.push(("EMS_TEST_REDIS_URL", redis.url()));
        }
        env
    }

    /// Stops both (what this run started); reports the first failure after trying both.
    pub fn stop(self) -> Result<()> {
        let Self { pg, redis } = self;
        let redis_result = redis.map(PrivateRedis::stop).unwrap_or(Ok(()));
        let pg_result = pg.stop();
        redis_result.and(pg_result)
    }
}
