//! `GET /audit-logs` and `GET /audit-logs/verify`.

use domain::audit::{AuditEntry, AuditQuery, ChainReport};
use domain::page::Page;

use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// Lists audit entries with filters, newest first, in offset or cursor pages.
pub struct ListAuditLogs {
    ports: Ports,
}

impl ListAuditLogs {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only; `from` must not be after `to`.
    #[tracing::instrument(name = "list_audit_logs", skip_all)]
    pub async fn execute(
        &self,
        who: &Principal,
        query: &AuditQuery,
    ) -> Result<Page<AuditEntry>, AppError> {
        who.require_admin()?;
        if let (Some(from), Some(to)) = (query.filter.from, query.filter.to) {
            if from > to {
                return Err(AppError::invalid("from", "must not be after to"));
            }
        }
        Ok(self.ports.audit.list(query).await?)
    }
}

/// Checks the audit log's hash chain.
pub struct VerifyAuditLog {
    ports: Ports,
}

impl VerifyAuditLog {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only.
    #[tracing::instrument(name = "verify_audit_log", skip_all)]
    pub async fn execute(&self, who: &Principal) -> Result<ChainReport, AppError> {
        who.require_admin()?;
        let report = self.ports.audit.verify().await?;
        if !report.valid {
            tracing::warn!(
                audit.checked = report.checked,
                audit.first_broken_id = ?report.first_broken_id,
                "audit log chain is broken"
            );
        }
        Ok(report)
    }
}
