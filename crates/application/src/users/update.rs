//! `PATCH /users/{id}`: profile fields, role and status, with optimistic concurrency.

use domain::audit::{AuditAction, RequestContext};
use domain::session::RevocationReason;
use domain::user::{Role, User, UserId, UserStatus};
use serde_json::{json, Map, Value};

use super::ensure_another_active_admin;
use crate::audit;
use crate::contact::ContactChange;
use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// What an admin may change; `None` leaves a field alone, `email: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New email, or `Some(None)` to remove it.
    pub email: Option<Option<String>>,
    /// New role.
    pub role: Option<Role>,
    /// New status.
    pub status: Option<UserStatus>,
}

/// Updates a user. Blocking revokes the user's sessions; an admin cannot block or demote
/// themselves and the last active admin cannot be removed (`LastAdmin`).
pub struct UpdateUser {
    ports: Ports,
}

impl UpdateUser {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. `expected_version` comes from `If-Match`; a mismatch is
    /// `PreconditionFailed` and changes nothing. One audit entry per effective change:
    /// `BLOCK_USER`/`UNBLOCK_USER` when the status changed, else `ROLE_CHANGE` when the
    /// role changed, else `UPDATE_USER`; its metadata lists every changed field.
    #[tracing::instrument(name = "update_user", skip_all, fields(target.id = %id))]
    pub async fn execute(
        &self,
        who: &Principal,
        id: UserId,
        patch: UserPatch,
        expected_version: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        who.require_admin()?;
        let contact = ContactChange::parse(
            patch.display_name.as_deref(),
            patch.email.as_ref().map(Option::as_deref),
        )?;

        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        let mut user = tx
            .user_for_update(id)
            .await?
            .filter(|u| !u.is_deleted())
            .ok_or(AppError::NotFound)?;
        if expected_version.is_some_and(|v| v != user.version) {
            return Err(AppError::PreconditionFailed);
        }
        let before = user.clone();
        let mut changed = Map::new();
        for field in contact.apply(&mut user) {
            changed.insert(field.into(), Value::Bool(true));
        }
        if let Some(role) = patch.role.filter(|r| *r != user.role) {
            user.role = role;
            changed.insert(
                "role".into(),
                json!({ "old": before.role.as_str(), "new": role.as_str() }),
            );
        }
        if let Some(status) = patch.status.filter(|s| *s != user.status) {
            user.status = status;
            changed.insert(
                "status".into(),
                json!({ "old": before.status.as_str(), "new": status.as_str() }),
            );
        }
        if changed.is_empty() {
            return Ok(user);
        }
        if before.is_active_admin() && !user.is_active_admin() {
            if id == who.user.id {
                return Err(AppError::LastAdmin(
                    "an admin cannot block or demote themselves",
                ));
            }
            ensure_another_active_admin(tx.as_mut(), &before).await?;
        }
        user.touch(now);
        tx.update_user(&user, before.version).await?;
        let status_changed = before.status != user.status;
        if status_changed && user.status == UserStatus::Blocked {
            tx.revoke_user_sessions(id, now, RevocationReason::AccountDisabled, None)
                .await?;
        }
        let action = match (status_changed, user.status) {
            (true, UserStatus::Blocked) => AuditAction::BlockUser,
            (true, UserStatus::Active) => AuditAction::UnblockUser,
            (false, _) if before.role != user.role => AuditAction::RoleChange,
            (false, _) => AuditAction::UpdateUser,
        };
        let fields: Vec<&String> = changed.keys().collect();
        let mut metadata = json!({ "fields": fields });
        for key in ["role", "status"] {
            if let Some(change) = changed.get(key) {
                metadata[key] = change.clone();
            }
        }
        let entry = audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(who.user.id),
            action,
            id,
            metadata,
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(user)
    }
}
