//! `GET /users/{id}`, `DELETE /users/{id}` (soft) and `POST /users/{id}/restore`.

use domain::audit::{AuditAction, RequestContext};
use domain::session::RevocationReason;
use domain::user::{User, UserId};
use serde_json::json;

use super::ensure_another_active_admin;
use crate::audit;
use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// Reads one user, soft-deleted ones included.
pub struct GetUser {
    ports: Ports,
}

impl GetUser {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only.
    pub async fn execute(&self, who: &Principal, id: UserId) -> Result<User, AppError> {
        who.require_admin()?;
        self.ports.users.get(id).await?.ok_or(AppError::NotFound)
    }
}

/// Soft-deletes a user and revokes their sessions.
pub struct DeleteUser {
    ports: Ports,
}

impl DeleteUser {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only; `LastAdmin` for oneself or the last active admin;
    /// `NotFound` for an unknown or already deleted user.
    #[tracing::instrument(name = "delete_user", skip_all, fields(target.id = %id))]
    pub async fn execute(
        &self,
        who: &Principal,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        who.require_admin()?;
        if id == who.user.id {
            return Err(AppError::LastAdmin("an admin cannot delete themselves"));
        }
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        let mut user = tx
            .user_for_update(id)
            .await?
            .filter(|u| !u.is_deleted())
            .ok_or(AppError::NotFound)?;
        ensure_another_active_admin(tx.as_mut(), &user).await?;
        let expected = user.version;
        user.deleted_at = Some(now);
        user.touch(now);
        tx.update_user(&user, expected).await?;
        let revoked = tx
            .revoke_user_sessions(id, now, RevocationReason::AccountDisabled, None)
            .await?;
        let entry = audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(who.user.id),
            AuditAction::DeleteUser,
            id,
            json!({ "revokedSessions": revoked }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Restores a soft-deleted user.
pub struct RestoreUser {
    ports: Ports,
}

impl RestoreUser {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only; `NotFound` for an unknown user, `Conflict` when not deleted
    /// or anonymized (a tombstone is deleted for good).
    #[tracing::instrument(name = "restore_user", skip_all, fields(target.id = %id))]
    pub async fn execute(
        &self,
        who: &Principal,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        who.require_admin()?;
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        let mut user = tx.user_for_update(id).await?.ok_or(AppError::NotFound)?;
        if user.is_anonymized() {
            return Err(AppError::Conflict("the user was anonymized"));
        }
        if !user.is_deleted() {
            return Err(AppError::Conflict("the user is not deleted"));
        }
        let expected = user.version;
        user.deleted_at = None;
        user.touch(now);
        tx.update_user(&user, expected).await?;
        let entry = audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(who.user.id),
            AuditAction::RestoreUser,
            id,
            json!({}),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(user)
    }
}
