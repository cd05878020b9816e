//! Per-request authentication: the token must verify, and its session must still be
//! active and its user usable, read now rather than trusted from the claims.

use domain::token::TokenError;

use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// Turns a bearer token into the current [`Principal`].
pub struct Authenticate {
    ports: Ports,
}

impl Authenticate {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it: `TokenExpired` / `TokenInvalid` for a bad token, `SessionRevoked` when the
    /// session ended or the account was blocked or deleted since the token was issued.
    #[tracing::instrument(name = "authenticate", skip_all, fields(user.id))]
    pub async fn execute(&self, bearer: &str) -> Result<Principal, AppError> {
        let claims = self.ports.tokens.verify(bearer).map_err(|e| match e {
            TokenError::Expired => AppError::TokenExpired,
            TokenError::Invalid => AppError::TokenInvalid,
        })?;
        let (session, user) = self
            .ports
            .sessions
            .find_for_auth(claims.session_id)
            .await?
            .ok_or(AppError::SessionRevoked)?;
        if session.user_id != claims.user_id || user.id != claims.user_id {
            return Err(AppError::TokenInvalid);
        }
        let now = self.ports.clock.now();
        if !session.is_active(now) || !user.is_usable() {
            return Err(AppError::SessionRevoked);
        }
        tracing::Span::current().record("user.id", tracing::field::display(user.id));
        Ok(Principal {
            user,
            session_id: session.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, Mocks};
    use domain::session::SessionId;
    use domain::token::AccessClaims;
    use domain::user::{Role, UserStatus};

    fn claims() -> AccessClaims {
        AccessClaims {
            user_id: testing::user(1, Role::User).id,
            session_id: SessionId(testing::id(900)),
            token_id: testing::id(77),
            issued_at: 0,
            expires_at: 0,
        }
    }

    fn with_state(
        verified: Result<AccessClaims, TokenError>,
        state: Option<(domain::session::Session, domain::user::User)>,
    ) -> Authenticate {
        let mut mocks = Mocks::new();
        mocks
            .tokens
            .expect_verify()
            .returning(move |_| verified.clone());
        mocks
            .sessions
            .expect_find_for_auth()
            .returning(move |_| Ok(state.clone()));
        Authenticate::new(mocks.ports())
    }

    fn live() -> (domain::session::Session, domain::user::User) {
        let user = testing::user(1, Role::Admin);
        (testing::session(900, user.id), user)
    }

    #[tokio::test]
    async fn a_valid_token_of_a_live_session_yields_the_current_user() {
        let auth = with_state(Ok(claims()), Some(live()));

        let who = auth.execute("jwt").await.unwrap();

        assert_eq!(
            who.user.role,
            Role::Admin,
            "role is read now, not from claims"
        );
        assert_eq!(who.session_id, SessionId(testing::id(900)));
    }

    #[tokio::test]
    async fn token_errors_map_to_expired_and_invalid() {
        let expired = with_state(Err(TokenError::Expired), None);
        assert!(matches!(
            expired.execute("jwt").await,
            Err(AppError::TokenExpired)
        ));
        let invalid = with_state(Err(TokenError::Invalid), None);
        assert!(matches!(
            invalid.execute("jwt").await,
            Err(AppError::TokenInvalid)
        ));
    }

    #[tokio::test]
    async fn a_revoked_or_missing_session_is_session_revoked() {
        let (mut session, user) = live();
        session.revoked_at = Some(testing::now());
        let revoked = with_state(Ok(claims()), Some((session, user)));
        assert!(matches!(
            revoked.execute("jwt").await,
            Err(AppError::SessionRevoked)
        ));
        let missing = with_state(Ok(claims()), None);
        assert!(matches!(
            missing.execute("jwt").await,
            Err(AppError::SessionRevoked)
        ));
    }

    #[tokio::test]
    async fn a_blocked_or_deleted_user_is_session_revoked() {
        let (session, mut user) = live();
        user.status = UserStatus::Blocked;
        let blocked = with_state(Ok(claims()), Some((session.clone(), user)));
        assert!(matches!(
            blocked.execute("jwt").await,
            Err(AppError::SessionRevoked)
        ));
        let (_, mut user) = live();
        user.deleted_at = Some(testing::now());
        let deleted = with_state(Ok(claims()), Some((session, user)));
        assert!(matches!(
            deleted.execute("jwt").await,
            Err(AppError::SessionRevoked)
        ));
    }

    #[tokio::test]
    async fn a_session_of_another_user_is_invalid() {
        let other = testing::user(2, Role::User);
        let auth = with_state(Ok(claims()), Some((testing::session(900, other.id), other)));

        assert!(matches!(
            auth.execute("jwt").await,
            Err(AppError::TokenInvalid)
        ));
    }
}
