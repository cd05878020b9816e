//! `POST /auth/refresh`: rotation with reuse detection.

use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, RequestContext};
use domain::ports::Transaction;
use domain::session::{RevocationReason, Session};
use domain::token::{Presentation, RefreshSecret, RefreshToken};
use serde_json::json;

use crate::audit;
use crate::error::AppError;
use crate::issue::{mint, TokenPair};
use crate::ports::{Policy, Ports};

/// Exchanges a refresh token for a new pair of the same session. The presented token
/// is spent; presenting a spent token again revokes the whole session (`TokenReused`),
/// unless it is retried within the configured grace window.
pub struct Refresh {
    ports: Ports,
    policy: Policy,
}

impl Refresh {
    /// Builds the use case.
    pub fn new(ports: Ports, policy: Policy) -> Self {
        Self { ports, policy }
    }

    /// Runs it.
    #[tracing::instrument(name = "refresh", skip_all)]
    pub async fn execute(
        &self,
        refresh_token: &str,
        ctx: &RequestContext,
    ) -> Result<TokenPair, AppError> {
        let now = self.ports.clock.now();
        let hash = RefreshSecret::new(refresh_token).hash();
        let mut tx = self.ports.uow.begin().await?;
        let token = tx
            .refresh_token_for_update(&hash)
            .await?
            .ok_or(AppError::TokenInvalid)?;
        let session = tx
            .session_for_update(token.session_id)
            .await?
            .ok_or(AppError::TokenInvalid)?;
        if session.revoked_at.is_some() {
            return Err(AppError::SessionRevoked);
        }
        let grace_retry = match token.presented(now, self.policy.reuse_grace) {
            Presentation::Fresh => false,
            Presentation::GraceRetry => true,
            Presentation::Reuse { spent_at } => {
                return self
                    .revoke_for_reuse(tx, &token, &session, spent_at, ctx, now)
                    .await;
            }
        };
        if token.expires_at <= now || session.expires_at <= now {
            return Err(AppError::TokenExpired);
        }
        // Unlocked (a user lock after the session's would order locks against password
        // changes), and on this transaction's connection: another one from the pool,
        // taken while this holds the session lock that other refreshes wait on, could
        // starve the pool.
        let user = tx
            .user(token.user_id)
            .await?
            .filter(domain::user::User::is_usable)
            .ok_or(AppError::SessionRevoked)?;
        if grace_retry {
            // The session's row lock serializes retries: each retires the child the one
            // before it minted, so the session keeps exactly one live token.
            tx.retire_refresh_tokens(session.id, now).await?;
        } else {
            tx.spend_refresh_token(token.id, now).await?;
        }
        tx.touch_session(session.id, now, now + self.policy.refresh_ttl)
            .await?;
        let pair = mint(
            &self.ports,
            &self.policy,
            tx.as_mut(),
            user,
            session.id,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(pair)
    }

    /// Reuse of a spent token: the whole session ends, audited, in `tx`.
    async fn revoke_for_reuse(
        &self,
        mut tx: Box<dyn Transaction>,
        token: &RefreshToken,
        session: &Session,
        spent_at: DateTime<Utc>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, AppError> {
        tx.revoke_session(session.id, now, RevocationReason::TokenReuse)
            .await?;
        let ctx = ctx.clone().with_actor(token.user_id);
        let entry = audit::about_session(
            &self.ports,
            &ctx,
            AuditAction::TokenReuseDetected,
            session.id,
            json!({ "spentAt": spent_at.to_rfc3339() }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Err(AppError::TokenReused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, actions, committing_tx, Mocks};
    use domain::ports::MockTransaction;
    use domain::session::SessionId;
    use domain::user::{Role, UserStatus};

    fn token(spent: Option<chrono::DateTime<chrono::Utc>>) -> RefreshToken {
        RefreshToken {
            id: testing::id(50),
            session_id: SessionId(testing::id(900)),
            user_id: testing::user(1, Role::User).id,
            token_hash: RefreshSecret::new("old-secret").hash(),
            created_at: testing::now(),
            expires_at: testing::now() + chrono::Duration::days(1),
            spent_at: spent,
            retired_at: None,
        }
    }

    fn live_session() -> Session {
        testing::session(900, testing::user(1, Role::User).id)
    }

    fn tx_with(token: RefreshToken, session: Session, tx: MockTransaction) -> MockTransaction {
        tx_with_user(token, session, testing::user(1, Role::User), tx)
    }

    fn tx_with_user(
        token: RefreshToken,
        session: Session,
        user: domain::user::User,
        mut tx: MockTransaction,
    ) -> MockTransaction {
        tx.expect_user().returning(move |_| Ok(Some(user.clone())));
        tx.expect_refresh_token_for_update()
            .withf(|h| *h == RefreshSecret::new("old-secret").hash())
            .returning(move |_| Ok(Some(token.clone())));
        tx.expect_session_for_update()
            .returning(move |_| Ok(Some(session.clone())));
        tx
    }

    fn run(mocks: Mocks, policy: Policy) -> Refresh {
        Refresh::new(mocks.ports(), policy)
    }

    #[tokio::test]
    async fn refresh_spends_the_token_and_mints_a_pair_in_the_same_session() {
        let (tx, audited) = committing_tx();
        let mut tx = tx_with(token(None), live_session(), tx);
        tx.expect_spend_refresh_token()
            .times(1)
            .withf(|id, _| *id == testing::id(50))
            .returning(|_, _| Ok(()));
        tx.expect_touch_session()
            .times(1)
            .returning(|_, _, _| Ok(()));
        tx.expect_insert_refresh_token()
            .times(1)
            .returning(|_| Ok(()));
        let mocks = Mocks::new().with_tx(tx).minting();

        let pair = run(mocks, Policy::default())
            .execute("old-secret", &RequestContext::default())
            .await
            .unwrap();

        assert_eq!(pair.session_id, SessionId(testing::id(900)));
        assert_eq!(pair.refresh_token, "fresh-secret");
        assert!(actions(&audited).is_empty());
    }

    #[tokio::test]
    async fn an_unknown_refresh_token_is_invalid() {
        let mut tx = MockTransaction::new();
        tx.expect_refresh_token_for_update().returning(|_| Ok(None));
        let mocks = Mocks::new().with_tx(tx);

        let err = run(mocks, Policy::default())
            .execute("nope", &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::TokenInvalid));
    }

    #[tokio::test]
    async fn refresh_with_a_spent_token_revokes_the_session() {
        let (tx, audited) = committing_tx();
        let mut tx = tx_with(token(Some(testing::now())), live_session(), tx);
        tx.expect_revoke_session()
            .times(1)
            .withf(|id, _, reason| {
                *id == SessionId(testing::id(900)) && *reason == RevocationReason::TokenReuse
            })
            .returning(|_, _, _| Ok(true));
        let mocks = Mocks::new().with_tx(tx);

        let err = run(mocks, Policy::default())
            .execute("old-secret", &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::TokenReused));
        assert_eq!(actions(&audited), ["TOKEN_REUSE_DETECTED"]);
    }

    #[tokio::test]
    async fn a_spent_token_retried_within_the_grace_window_gets_a_fresh_pair() {
        let spent = testing::now() - chrono::Duration::seconds(5);
        let (tx, audited) = committing_tx();
        let mut tx = tx_with(token(Some(spent)), live_session(), tx);
        tx.expect_spend_refresh_token().times(0);
        tx.expect_retire_refresh_tokens()
            .times(1)
            .withf(|session, _| *session == SessionId(testing::id(900)))
            .returning(|_, _| Ok(1));
        tx.expect_touch_session().returning(|_, _, _| Ok(()));
        tx.expect_insert_refresh_token()
            .times(1)
            .returning(|_| Ok(()));
        let mocks = Mocks::new().with_tx(tx).minting();
        let policy = Policy {
            reuse_grace: chrono::Duration::seconds(30),
            ..Policy::default()
        };

        let pair = run(mocks, policy)
            .execute("old-secret", &RequestContext::default())
            .await
            .unwrap();

        assert_eq!(pair.session_id, SessionId(testing::id(900)));
        assert!(actions(&audited).is_empty());
    }

    #[tokio::test]
    async fn a_retired_token_is_reuse_even_within_the_grace_window() {
        let mut retired = token(Some(testing::now() - chrono::Duration::seconds(1)));
        retired.retired_at = retired.spent_at;
        let (tx, audited) = committing_tx();
        let mut tx = tx_with(retired, live_session(), tx);
        tx.expect_revoke_session()
            .times(1)
            .returning(|_, _, _| Ok(true));
        tx.expect_insert_refresh_token().never();
        let mocks = Mocks::new().with_tx(tx);
        let policy = Policy {
            reuse_grace: chrono::Duration::seconds(30),
            ..Policy::default()
        };

        let err = run(mocks, policy)
            .execute("old-secret", &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::TokenReused));
        assert_eq!(actions(&audited), ["TOKEN_REUSE_DETECTED"]);
    }

    #[tokio::test]
    async fn an_expired_refresh_token_is_expired() {
        let mut old = token(None);
        old.expires_at = testing::now() - chrono::Duration::seconds(1);
        let tx = tx_with(old, live_session(), MockTransaction::new());
        let mocks = Mocks::new().with_tx(tx);

        let err = run(mocks, Policy::default())
            .execute("old-secret", &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::TokenExpired));
    }

    #[tokio::test]
    async fn a_token_of_a_revoked_session_is_refused() {
        let mut session = live_session();
        session.revoked_at = Some(testing::now());
        let tx = tx_with(token(None), session, MockTransaction::new());
        let mocks = Mocks::new().with_tx(tx);

        let err = run(mocks, Policy::default())
            .execute("old-secret", &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::SessionRevoked));
    }

    #[tokio::test]
    async fn a_blocked_user_cannot_refresh() {
        let mut user = testing::user(1, Role::User);
        user.status = UserStatus::Blocked;
        let tx = tx_with_user(token(None), live_session(), user, MockTransaction::new());
        let mocks = Mocks::new().with_tx(tx);

        let err = run(mocks, Policy::default())
            .execute("old-secret", &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::SessionRevoked));
    }
}
