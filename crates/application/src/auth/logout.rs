//! `POST /auth/logout` and `POST /auth/logout-all`.

use domain::audit::{AuditAction, RequestContext};
use domain::session::RevocationReason;
use domain::token::RefreshSecret;
use serde_json::json;

use crate::audit;
use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// Revokes the caller's current session (and, when a refresh token of another of the
/// caller's sessions is presented, that one too).
pub struct Logout {
    ports: Ports,
}

impl Logout {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Allowed while a password change is required.
    #[tracing::instrument(name = "logout", skip_all, fields(user.id = %who.user.id))]
    pub async fn execute(
        &self,
        who: &Principal,
        refresh_token: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        let now = self.ports.clock.now();
        let ctx = ctx.clone().with_actor(who.user.id);
        let mut tx = self.ports.uow.begin().await?;
        let mut sessions = vec![who.session_id];
        if let Some(raw) = refresh_token {
            let hash = RefreshSecret::new(raw).hash();
            if let Some(token) = tx.refresh_token_for_update(&hash).await? {
                if token.user_id == who.user.id && token.session_id != who.session_id {
                    sessions.push(token.session_id);
                }
            }
        }
        for id in sessions {
            if tx.revoke_session(id, now, RevocationReason::Logout).await? {
                let entry = audit::about_session(
                    &self.ports,
                    &ctx,
                    AuditAction::Logout,
                    id,
                    json!({}),
                    now,
                );
                tx.append_audit(&entry).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Revokes every session of the caller.
pub struct LogoutAll {
    ports: Ports,
}

impl LogoutAll {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Allowed while a password change is required.
    #[tracing::instrument(name = "logout_all", skip_all, fields(user.id = %who.user.id))]
    pub async fn execute(&self, who: &Principal, ctx: &RequestContext) -> Result<(), AppError> {
        let now = self.ports.clock.now();
        let ctx = ctx.clone().with_actor(who.user.id);
        let mut tx = self.ports.uow.begin().await?;
        let revoked = tx
            .revoke_user_sessions(who.user.id, now, RevocationReason::LogoutAll, None)
            .await?;
        let entry = audit::about_user(
            &self.ports,
            &ctx,
            AuditAction::LogoutAll,
            who.user.id,
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
    use domain::token::RefreshToken;
    use domain::user::Role;

    #[tokio::test]
    async fn logout_revokes_the_current_session() {
        let (mut tx, audited) = committing_tx();
        tx.expect_revoke_session()
            .times(1)
            .withf(|id, _, r| *id == SessionId(testing::id(900)) && *r == RevocationReason::Logout)
            .returning(|_, _, _| Ok(true));
        let mocks = Mocks::new().with_tx(tx);
        let who = testing::principal(testing::user(1, Role::User));

        Logout::new(mocks.ports())
            .execute(&who, None, &RequestContext::default())
            .await
            .unwrap();

        assert_eq!(actions(&audited), ["LOGOUT"]);
    }

    #[tokio::test]
    async fn logout_with_a_refresh_token_of_another_own_session_revokes_both() {
        let (mut tx, audited) = committing_tx();
        let who = testing::principal(testing::user(1, Role::User));
        let other = RefreshToken {
            id: testing::id(60),
            session_id: SessionId(testing::id(901)),
            user_id: who.user.id,
            token_hash: RefreshSecret::new("other").hash(),
            created_at: testing::now(),
            expires_at: testing::now(),
            spent_at: None,
            retired_at: None,
        };
        tx.expect_refresh_token_for_update()
            .returning(move |_| Ok(Some(other.clone())));
        tx.expect_revoke_session()
            .times(2)
            .returning(|_, _, _| Ok(true));
        let mocks = Mocks::new().with_tx(tx);

        Logout::new(mocks.ports())
            .execute(&who, Some("other"), &RequestContext::default())
            .await
            .unwrap();

        assert_eq!(actions(&audited), ["LOGOUT", "LOGOUT"]);
    }

    #[tokio::test]
    async fn logout_all_revokes_every_session_of_the_caller() {
        let (mut tx, audited) = committing_tx();
        tx.expect_revoke_user_sessions()
            .times(1)
            .withf(|_, _, r, except| *r == RevocationReason::LogoutAll && except.is_none())
            .returning(|_, _, _, _| Ok(3));
        let mocks = Mocks::new().with_tx(tx);
        let who = testing::principal(testing::user(1, Role::User));

        LogoutAll::new(mocks.ports())
            .execute(&who, &RequestContext::default())
            .await
            .unwrap();

        assert_eq!(actions(&audited), ["LOGOUT_ALL"]);
    }
}
