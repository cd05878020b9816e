//! `GET /audit-logs`, `GET /audit-logs/verify` and `GET /audit-logs/checkpoint`.

use domain::audit::{AuditEntry, AuditQuery, ChainReport};
use domain::audit_evidence::Checkpoint;
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

/// Longest checkpoint accepted (a compact JWS of a few hundred characters).
const MAX_CHECKPOINT_LEN: usize = 4096;

/// Checks the audit log: every entry MAC, the keyed chain and, optionally, that the log
/// still extends a signed checkpoint.
pub struct VerifyAuditLog {
    ports: Ports,
}

impl VerifyAuditLog {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only. A `checkpoint` that is malformed or not signed by a
    /// configured key is a validation error of the field `checkpoint`.
    #[tracing::instrument(name = "verify_audit_log", skip_all, fields(audit.checkpoint = checkpoint.is_some()))]
    pub async fn execute(
        &self,
        who: &Principal,
        checkpoint: Option<&str>,
    ) -> Result<ChainReport, AppError> {
        who.require_admin()?;
        let checkpoint = match checkpoint {
            None => None,
            Some(token) => Some(self.checkpoint(token)?),
        };
        let report = self.ports.audit.verify(checkpoint).await?;
        if !report.valid {
            tracing::warn!(
                audit.checked = report.checked,
                audit.first_broken_id = ?report.first_broken_id,
                "audit log does not verify"
            );
        }
        Ok(report)
    }

    fn checkpoint(&self, token: &str) -> Result<Checkpoint, AppError> {
        let invalid =
            || AppError::invalid("checkpoint", "is not a checkpoint signed by this server");
        if token.is_empty() || token.len() > MAX_CHECKPOINT_LEN {
            return Err(invalid());
        }
        self.ports.checkpoints.verify(token).map_err(|_| invalid())
    }
}

/// Signs a checkpoint of the sealed chain's head, once the log verifies.
pub struct CreateAuditCheckpoint {
    ports: Ports,
}

impl CreateAuditCheckpoint {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only. Verifies the whole log first, so a checkpoint never vouches
    /// for a tampered one: `Conflict` when it does not verify.
    #[tracing::instrument(name = "create_audit_checkpoint", skip_all)]
    pub async fn execute(&self, who: &Principal) -> Result<String, AppError> {
        who.require_admin()?;
        let report = self.ports.audit.verify(None).await?;
        if !report.valid {
            tracing::warn!(
                audit.first_broken_id = ?report.first_broken_id,
                "audit log does not verify; no checkpoint signed"
            );
            return Err(AppError::Conflict(
                "the audit log does not verify; no checkpoint is signed",
            ));
        }
        let checkpoint = Checkpoint {
            head: report.head,
            issued_at: self.ports.clock.now().timestamp(),
        };
        Ok(self.ports.checkpoints.sign(&checkpoint)?)
    }
}
