//! `PATCH /users/{id}/reset-password`.

use domain::audit::{AuditAction, RequestContext};
use domain::password::Password;
use domain::session::RevocationReason;
use domain::user::{PasswordSetBy, UserId};
use serde_json::json;

use crate::audit;
use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// Sets a temporary password (given or generated), requires a change at next use, and
/// revokes every session of the user.
pub struct ResetPassword {
    ports: Ports,
}

impl ResetPassword {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it and returns the temporary password, to be shown to the admin once.
    #[tracing::instrument(name = "reset_password", skip_all, fields(target.id = %id))]
    pub async fn execute(
        &self,
        who: &Principal,
        id: UserId,
        new_password: Option<Password>,
        ctx: &RequestContext,
    ) -> Result<Password, AppError> {
        who.require_admin()?;
        let target = self
            .ports
            .users
            .get(id)
            .await?
            .filter(|u| !u.is_deleted())
            .ok_or(AppError::NotFound)?;
        let generated = new_password.is_none();
        let temporary = match new_password {
            Some(given) => given,
            None => Password::new(self.ports.secrets.temporary_password()),
        };
        let checked = self
            .ports
            .strength
            .judge(&temporary, &target.username, &[])
            .await?
            .map_err(|e| AppError::password("newPassword", e))?;
        let hash = self.ports.hasher.hash(&checked).await?;

        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        let mut user = tx
            .user_for_update(id)
            .await?
            .filter(|u| !u.is_deleted())
            .ok_or(AppError::NotFound)?;
        let expected = user.version;
        user.set_password(hash, PasswordSetBy::Admin, now);
        tx.update_user(&user, expected).await?;
        let revoked = tx
            .revoke_user_sessions(id, now, RevocationReason::PasswordChange, None)
            .await?;
        let entry = audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(who.user.id),
            AuditAction::PasswordReset,
            id,
            json!({ "generated": generated, "revokedSessions": revoked }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(temporary)
    }
}
