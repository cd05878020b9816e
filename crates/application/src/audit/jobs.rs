//! Background steps without a caller: sealing the chain and retention.

use chrono::Duration;
use domain::audit::PurgeReport;

use crate::error::AppError;
use crate::ports::Ports;

/// How long an ended (expired or revoked) session is kept before retention purges it.
pub const ENDED_SESSION_GRACE: Duration = Duration::days(1);

/// Links newly committed audit entries onto the hash chain.
pub struct SealAuditLog {
    ports: Ports,
}

impl SealAuditLog {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs one sealing step; returns how many entries it sealed (0 when another
    /// instance holds the seal).
    #[tracing::instrument(name = "seal_audit_log", skip_all)]
    pub async fn execute(&self) -> Result<u64, AppError> {
        Ok(self.ports.audit.seal_pending().await?)
    }
}

/// Purges audit entries older than the retention period and sessions that ended more
/// than [`ENDED_SESSION_GRACE`] ago.
pub struct RunRetention {
    ports: Ports,
}

impl RunRetention {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs one retention pass keeping `retention` of audit history. `None` when another
    /// instance is running it.
    #[tracing::instrument(name = "run_retention", skip_all, fields(retention_s = retention.num_seconds()))]
    pub async fn execute(&self, retention: Duration) -> Result<Option<PurgeReport>, AppError> {
        if retention <= Duration::zero() {
            return Err(AppError::invalid("retention", "must be longer than 0s"));
        }
        let now = self.ports.clock.now();
        let report = self
            .ports
            .audit
            .purge_before(now - retention, now - ENDED_SESSION_GRACE)
            .await?;
        if let Some(r) = report {
            tracing::info!(
                audit.purged = r.audit_entries,
                sessions.purged = r.sessions,
                "retention pass done"
            );
        }
        Ok(report)
    }
}
