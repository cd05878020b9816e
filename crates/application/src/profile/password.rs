//! `PUT /profile/password`.

use domain::audit::{AuditAction, RequestContext};
use domain::password::{NewPassword, Password};
use domain::session::RevocationReason;
use serde_json::json;

use crate::audit;
use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// The current and the new password.
#[derive(Debug, Clone)]
pub struct ChangePasswordCommand {
    /// Must match the stored hash.
    pub current_password: Password,
    /// Must meet the policy and differ from the current one.
    pub new_password: Password,
}

/// Changes the caller's password, clears `mustChangePassword` and revokes every other
/// session of theirs.
pub struct ChangePassword {
    ports: Ports,
}

impl ChangePassword {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Allowed while a password change is required (it is how that ends).
    #[tracing::instrument(name = "change_password", skip_all, fields(user.id = %who.user.id))]
    pub async fn execute(
        &self,
        who: &Principal,
        cmd: ChangePasswordCommand,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        let user = &who.user;
        let mut context = vec![user.display_name.as_str()];
        if let Some(email) = &user.email {
            context.push(email.as_str());
        }
        let new_password = NewPassword::parse(cmd.new_password.expose(), &user.username, &context)
            .map_err(|e| AppError::password("newPassword", e))?;
        if !self
            .ports
            .hasher
            .verify(&cmd.current_password, &user.password_hash)
            .await?
        {
            return Err(AppError::InvalidCredentials);
        }
        if cmd.new_password == cmd.current_password {
            return Err(AppError::invalid(
                "newPassword",
                "must differ from the current password",
            ));
        }
        let hash = self.ports.hasher.hash(&new_password).await?;

        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        let mut stored = tx
            .user_for_update(user.id)
            .await?
            .ok_or(AppError::NotFound)?;
        let expected = stored.version;
        stored.password_hash = hash;
        stored.password_changed_at = now;
        stored.must_change_password = false;
        stored.touch(now);
        tx.update_user(&stored, expected).await?;
        let revoked = tx
            .revoke_user_sessions(
                user.id,
                now,
                RevocationReason::PasswordChange,
                Some(who.session_id),
            )
            .await?;
        let entry = audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(user.id),
            AuditAction::PasswordChange,
            user.id,
            json!({ "revokedSessions": revoked }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(())
    }
}
