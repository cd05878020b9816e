//! `GET /audit-logs`, `GET /audit-logs/verify` and `GET /audit-logs/checkpoint`.

use chrono::{DateTime, Utc};
use domain::audit::{
    AuditAction, AuditEntry, AuditFilter, AuditQuery, ChainReport, EntityId, EntityType,
};
use domain::audit_evidence::Checkpoint;
use domain::user::UserId;
use domain::FieldError;

use crate::error::{AppError, Problems};
use crate::paging::{PageInput, Paged};
use crate::ports::Ports;
use crate::principal::Principal;

/// The audit log's filters as a client sent them: typed where the edge could type them,
/// text where only the core can tell. Read only once the caller is authorized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditListInput {
    /// Only entries of this actor.
    pub user_id: Option<UserId>,
    /// Only this action, e.g. `LOGIN`.
    pub action: Option<String>,
    /// Only entries about `USER` or `SESSION`.
    pub entity_type: Option<String>,
    /// Only entries about this entity id.
    pub entity_id: Option<String>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created at or before.
    pub to: Option<DateTime<Utc>>,
}

impl AuditListInput {
    /// The filter; each problem (action, entity type, entity id) is recorded, `None` if any.
    fn parse(&self, problems: &mut Problems) -> Option<AuditFilter> {
        let action = self.action.as_deref().map(|raw| {
            AuditAction::parse(raw)
                .ok_or_else(|| FieldError::new("action", "is not a known audit action"))
        });
        let entity_type = self.entity_type.as_deref().map(|raw| {
            EntityType::parse(raw)
                .ok_or_else(|| FieldError::new("entityType", "must be USER or SESSION"))
        });
        let entity_id = self.entity_id.as_deref().map(EntityId::parse);
        let action = problems.check(action.transpose());
        let entity_type = problems.check(entity_type.transpose());
        let entity_id = problems.check(entity_id.transpose());
        Some(AuditFilter {
            user_id: self.user_id,
            action: action?,
            entity_type: entity_type?,
            entity_id: entity_id?,
            from: self.from,
            to: self.to,
        })
    }
}

/// Lists audit entries with filters, newest first, in offset or cursor pages.
pub struct ListAuditLogs {
    ports: Ports,
}

impl ListAuditLogs {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Whether `who` may read the audit log at all: admins only (see
    /// [`crate::users::ListUsers::authorize`]).
    pub fn authorize(&self, who: &Principal) -> Result<(), AppError> {
        who.require_admin()
    }

    /// Runs it: authorizes, then validates every parameter (paging, action, entity type,
    /// entity id, each problem reported); `from` must not be after `to`.
    #[tracing::instrument(name = "list_audit_logs", skip_all)]
    pub async fn execute(
        &self,
        who: &Principal,
        input: &AuditListInput,
        page: &PageInput,
    ) -> Result<Paged<AuditEntry>, AppError> {
        self.authorize(who)?;
        let mut problems = Problems::default();
        let request = problems.check(page.parse());
        let filter = input.parse(&mut problems);
        let (Some(request), Some(filter)) = (request, filter) else {
            return Err(problems.into_error());
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from > to {
                return Err(AppError::invalid("from", "must not be after to"));
            }
        }
        let query = AuditQuery {
            filter,
            page: request,
        };
        let page = self.ports.audit.list(&query).await?;
        Ok(Paged {
            page,
            request: query.page,
        })
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
