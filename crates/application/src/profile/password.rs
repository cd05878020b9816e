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
        let user = self
            .ports
            .users
            .get(who.user.id)
            .await?
            .ok_or(AppError::SessionRevoked)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, actions, committing_tx, Mocks};
    use domain::session::SessionId;
    use domain::user::Role;

    const STRONG: &str = "violet-Harbor-engine-42";

    fn cmd(current: &str, new: &str) -> ChangePasswordCommand {
        ChangePasswordCommand {
            current_password: Password::new(current),
            new_password: Password::new(new),
        }
    }

    #[tokio::test]
    async fn a_change_clears_the_flag_and_revokes_every_other_session() {
        let mut user = testing::user(1, Role::User);
        user.must_change_password = true;
        let stored = user.clone();
        let (mut tx, audited) = committing_tx();
        tx.expect_user_for_update()
            .returning(move |_| Ok(Some(stored.clone())));
        tx.expect_update_user()
            .times(1)
            .withf(|u, _| !u.must_change_password && u.password_hash.as_str() == "$argon2id$new")
            .returning(|_, _| Ok(()));
        tx.expect_revoke_user_sessions()
            .times(1)
            .withf(|_, _, r, except| {
                *r == RevocationReason::PasswordChange
                    && *except == Some(SessionId(testing::id(900)))
            })
            .returning(|_, _, _, _| Ok(2));
        let mut mocks = Mocks::new().knowing(user.clone()).with_tx(tx).hashing();
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));

        ChangePassword::new(mocks.ports())
            .execute(
                &testing::principal(user),
                cmd("old-password-1", STRONG),
                &RequestContext::default(),
            )
            .await
            .unwrap();

        assert_eq!(actions(&audited), ["PASSWORD_CHANGE"]);
    }

    #[tokio::test]
    async fn a_wrong_current_password_is_invalid_credentials() {
        let mut mocks = Mocks::new().knowing(testing::user(1, Role::User));
        mocks.hasher.expect_verify().returning(|_, _| Ok(false));

        let err = ChangePassword::new(mocks.ports())
            .execute(
                &testing::principal(testing::user(1, Role::User)),
                cmd("wrong-password", STRONG),
                &RequestContext::default(),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
    }

    #[tokio::test]
    async fn a_weak_new_password_is_refused_with_feedback() {
        let err = ChangePassword::new(Mocks::new().knowing(testing::user(1, Role::User)).ports())
            .execute(
                &testing::principal(testing::user(1, Role::User)),
                cmd("old-password-1", "password123"),
                &RequestContext::default(),
            )
            .await
            .unwrap_err();

        match err {
            AppError::WeakPassword { field, feedback } => {
                assert_eq!(field, "newPassword");
                assert!(!feedback.is_empty());
            }
            other => panic!("expected WeakPassword, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_new_password_must_differ_from_the_current_one() {
        let mut mocks = Mocks::new().knowing(testing::user(1, Role::User));
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));

        let err = ChangePassword::new(mocks.ports())
            .execute(
                &testing::principal(testing::user(1, Role::User)),
                cmd(STRONG, STRONG),
                &RequestContext::default(),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::Validation(_)));
    }
}
