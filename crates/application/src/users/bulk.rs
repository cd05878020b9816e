//! `DELETE /users/bulk` and `POST /users/bulk`: many users in one transaction with one
//! audit entry, and a result per item.

use domain::audit::{AuditAction, AuditEntry, EntityType, RequestContext};
use domain::session::RevocationReason;
use domain::user::UserId;
use serde_json::json;

use super::ensure_another_active_admin;
use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// The most items one bulk request may carry.
pub const MAX_BULK_ITEMS: usize = 1000;

/// What happened to one user of a bulk delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkDeleteStatus {
    /// Soft-deleted now, sessions revoked.
    Deleted,
    /// No such user, or already deleted (also a repeat of an id in the same request).
    NotFound,
    /// The caller themselves, or an admin whose removal would leave no active admin.
    Forbidden,
}

/// The outcome for one requested id, in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkDeleteResult {
    /// The requested id.
    pub id: UserId,
    /// What happened.
    pub status: BulkDeleteStatus,
}

/// Soft-deletes many users in one transaction.
pub struct BulkDeleteUsers {
    ports: Ports,
}

impl BulkDeleteUsers {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only; 1–[`MAX_BULK_ITEMS`] ids. Every id gets a result; the
    /// deletions, session revocations and the one `BULK_DELETE_USERS` entry commit
    /// together or not at all.
    #[tracing::instrument(name = "bulk_delete_users", skip_all, fields(bulk.count = ids.len()))]
    pub async fn execute(
        &self,
        who: &Principal,
        ids: Vec<UserId>,
        ctx: &RequestContext,
    ) -> Result<Vec<BulkDeleteResult>, AppError> {
        who.require_admin()?;
        if ids.is_empty() || ids.len() > MAX_BULK_ITEMS {
            return Err(AppError::invalid(
                "ids",
                format!("must list 1 to {MAX_BULK_ITEMS} user ids"),
            ));
        }
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        let mut results = Vec::with_capacity(ids.len());
        let mut revoked_sessions = 0_u64;
        for id in ids {
            let status = if id == who.user.id {
                BulkDeleteStatus::Forbidden
            } else {
                match tx.user_for_update(id).await?.filter(|u| !u.is_deleted()) {
                    None => BulkDeleteStatus::NotFound,
                    Some(mut user) => match ensure_another_active_admin(tx.as_mut(), &user).await {
                        Err(AppError::LastAdmin(_)) => BulkDeleteStatus::Forbidden,
                        Err(other) => return Err(other),
                        Ok(()) => {
                            let expected = user.version;
                            user.deleted_at = Some(now);
                            user.touch(now);
                            tx.update_user(&user, expected).await?;
                            revoked_sessions += tx
                                .revoke_user_sessions(
                                    id,
                                    now,
                                    RevocationReason::AccountDisabled,
                                    None,
                                )
                                .await?;
                            BulkDeleteStatus::Deleted
                        }
                    },
                }
            };
            results.push(BulkDeleteResult { id, status });
        }
        let ids_with = |wanted: BulkDeleteStatus| -> Vec<String> {
            results
                .iter()
                .filter(|r| r.status == wanted)
                .map(|r| r.id.to_string())
                .collect()
        };
        let (deleted, not_found, forbidden) = (
            ids_with(BulkDeleteStatus::Deleted),
            ids_with(BulkDeleteStatus::NotFound),
            ids_with(BulkDeleteStatus::Forbidden),
        );
        let entry = AuditEntry::new(
            self.ports.ids.new_id(),
            &ctx.clone().with_actor(who.user.id),
            AuditAction::BulkDeleteUsers,
            EntityType::User,
            None,
            json!({
                "requested": results.len(),
                "deleted": deleted.len(),
                "notFound": not_found.len(),
                "forbidden": forbidden.len(),
                "deletedIds": deleted,
                "notFoundIds": not_found,
                "forbiddenIds": forbidden,
                "revokedSessions": revoked_sessions,
            }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(results)
    }
}
