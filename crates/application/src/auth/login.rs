//! `POST /auth/login`: password sign-in with lockout and a timing-safe failure path.

use domain::audit::{AuditAction, RequestContext};
use domain::password::Password;
use domain::ports::LoginOutcome;
use domain::session::{Session, SessionId};
use domain::user::{User, Username};
use serde_json::json;

use crate::audit;
use crate::error::AppError;
use crate::issue::{mint, TokenPair};
use crate::ports::{Policy, Ports};

/// Credentials as the client sent them.
#[derive(Debug, Clone)]
pub struct LoginCommand {
    /// Claimed username (not yet validated).
    pub username: String,
    /// Claimed password.
    pub password: Password,
}

/// Signs a user in: one new session and token pair, or `InvalidCredentials` for every
/// kind of failure, after the same amount of hashing work.
pub struct Login {
    ports: Ports,
    policy: Policy,
}

/// Why a login failed; recorded in the audit metadata, never shown to the client.
#[derive(Clone, Copy)]
enum Failure {
    UnknownUser,
    BadPassword,
    Locked,
    Blocked,
    Deleted,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "UNKNOWN_USER",
            Self::BadPassword => "BAD_PASSWORD",
            Self::Locked => "LOCKED",
            Self::Blocked => "BLOCKED",
            Self::Deleted => "DELETED",
        }
    }

    /// The metric outcome: only a lockout is told apart from bad credentials.
    fn outcome(self) -> LoginOutcome {
        match self {
            Self::Locked => LoginOutcome::Locked,
            Self::UnknownUser | Self::BadPassword | Self::Blocked | Self::Deleted => {
                LoginOutcome::InvalidCredentials
            }
        }
    }
}

impl Login {
    /// Builds the use case.
    pub fn new(ports: Ports, policy: Policy) -> Self {
        Self { ports, policy }
    }

    /// Runs it.
    #[tracing::instrument(name = "login", skip_all)]
    pub async fn execute(
        &self,
        cmd: LoginCommand,
        ctx: &RequestContext,
    ) -> Result<TokenPair, AppError> {
        let now = self.ports.clock.now();
        let user = match Username::parse(&cmd.username) {
            Ok(name) => self.ports.users.find_by_username(&name).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            self.ports.hasher.verify_dummy(&cmd.password).await?;
            self.fail_unknown(&cmd.username, ctx).await?;
            self.ports
                .metrics
                .login_attempt(Failure::UnknownUser.outcome());
            return Err(AppError::InvalidCredentials);
        };
        // Always verify, so every failure costs one hash whatever the reason.
        let password_ok = self
            .ports
            .hasher
            .verify(&cmd.password, &user.password_hash)
            .await?;
        let failure = if user.is_deleted() {
            Some(Failure::Deleted)
        } else if !user.is_usable() {
            Some(Failure::Blocked)
        } else if user.is_locked(now) {
            Some(Failure::Locked)
        } else if !password_ok {
            Some(Failure::BadPassword)
        } else {
            None
        };
        match failure {
            Some(reason) => {
                self.fail_known(&user, reason, ctx).await?;
                self.ports.metrics.login_attempt(reason.outcome());
                Err(AppError::InvalidCredentials)
            }
            None => {
                let pair = self.succeed(&user, ctx).await?;
                self.ports.metrics.login_attempt(LoginOutcome::Success);
                Ok(pair)
            }
        }
    }

    async fn fail_unknown(&self, attempted: &str, ctx: &RequestContext) -> Result<(), AppError> {
        let now = self.ports.clock.now();
        let attempted: String = attempted.chars().take(64).collect();
        let entry = domain::audit::AuditEntry::new(
            self.ports.ids.new_id(),
            ctx,
            AuditAction::LoginFailed,
            domain::audit::EntityType::User,
            None,
            json!({ "username": attempted, "reason": Failure::UnknownUser.as_str() }),
            now,
        );
        let mut tx = self.ports.uow.begin().await?;
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn fail_known(
        &self,
        user: &User,
        reason: Failure,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        let now = self.ports.clock.now();
        let ctx = ctx.clone().with_actor(user.id);
        let mut tx = self.ports.uow.begin().await?;
        let mut metadata = json!({ "reason": reason.as_str() });
        // Blocked and deleted accounts cannot sign in anyway: counting would only let a
        // stranger lock an account an admin is about to restore.
        if matches!(reason, Failure::BadPassword | Failure::Locked) {
            let counted = tx
                .record_failed_login(
                    user.id,
                    now,
                    self.policy.lockout_threshold,
                    now + self.policy.lockout_duration,
                )
                .await?;
            metadata["attempts"] = json!(counted.attempts);
            if counted.newly_locked {
                let until = counted.locked_until.map(|t| t.to_rfc3339());
                let locked = audit::about_user(
                    &self.ports,
                    &ctx,
                    AuditAction::AccountLocked,
                    user.id,
                    json!({ "attempts": counted.attempts, "lockedUntil": until }),
                    now,
                );
                tx.append_audit(&locked).await?;
            }
        }
        let entry = audit::about_user(
            &self.ports,
            &ctx,
            AuditAction::LoginFailed,
            user.id,
            metadata,
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn succeed(&self, user: &User, ctx: &RequestContext) -> Result<TokenPair, AppError> {
        let now = self.ports.clock.now();
        let ctx = ctx.clone().with_actor(user.id);
        let session = Session {
            id: SessionId(self.ports.ids.new_id()),
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            expires_at: now + self.policy.refresh_ttl,
            ip_address: ctx.ip_address.clone(),
            user_agent: ctx.user_agent.clone(),
            revoked_at: None,
        };
        let mut tx = self.ports.uow.begin().await?;
        let user = tx.record_login(user.id, now).await?;
        tx.insert_session(&session).await?;
        let pair = mint(
            &self.ports,
            &self.policy,
            tx.as_mut(),
            user,
            session.id,
            now,
        )
        .await?;
        let entry = audit::about_user(
            &self.ports,
            &ctx,
            AuditAction::Login,
            pair.user.id,
            json!({ "sessionId": session.id.to_string() }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, actions, committing_tx, Mocks};
    use domain::ports::{FailedLogin, MockTransaction};
    use domain::token::RefreshSecret;
    use domain::user::{Role, UserStatus};

    fn cmd(username: &str, password: &str) -> LoginCommand {
        LoginCommand {
            username: username.into(),
            password: Password::new(password),
        }
    }

    fn known(mocks: &mut Mocks, user: User) {
        mocks
            .users
            .expect_find_by_username()
            .returning(move |_| Ok(Some(user.clone())));
    }

    #[tokio::test]
    async fn the_right_password_opens_a_session_and_audits_login() {
        let ann = testing::user(1, Role::User);
        let (mut tx, audited) = committing_tx();
        let stored = ann.clone();
        tx.expect_record_login()
            .times(1)
            .returning(move |_, _| Ok(stored.clone()));
        tx.expect_insert_session().times(1).returning(|_| Ok(()));
        tx.expect_insert_refresh_token()
            .times(1)
            .withf(|t| t.token_hash == RefreshSecret::new("fresh-secret").hash())
            .returning(|_| Ok(()));
        let mut mocks = Mocks::new().with_tx(tx).minting();
        known(&mut mocks, ann.clone());
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));
        let logins = mocks.logins.clone();
        let login = Login::new(mocks.ports(), Policy::default());

        let pair = login
            .execute(cmd("user1", "right-password"), &RequestContext::default())
            .await
            .unwrap();

        assert_eq!(pair.access_token, "signed.jwt");
        assert_eq!(pair.refresh_token, "fresh-secret");
        assert_eq!(pair.expires_in, 900);
        assert_eq!(pair.refresh_expires_in, 7 * 86_400);
        assert_eq!(pair.user.id, ann.id);
        assert_eq!(actions(&audited), ["LOGIN"]);
        assert_eq!(*logins.lock().unwrap(), [LoginOutcome::Success]);
    }

    #[tokio::test]
    async fn an_unknown_user_costs_a_dummy_verification_and_is_audited_anonymously() {
        let mut tx = MockTransaction::new();
        tx.expect_append_audit()
            .times(1)
            .withf(|e| {
                e.user_id.is_none()
                    && e.action == AuditAction::LoginFailed
                    && e.metadata["username"] == "ghost"
                    && e.metadata["reason"] == "UNKNOWN_USER"
            })
            .returning(|_| Ok(()));
        tx.expect_commit().times(1).returning(|| Ok(()));
        let mut mocks = Mocks::new().with_tx(tx);
        mocks
            .users
            .expect_find_by_username()
            .returning(|_| Ok(None));
        mocks
            .hasher
            .expect_verify_dummy()
            .times(1)
            .returning(|_| Ok(false));
        let logins = mocks.logins.clone();
        let login = Login::new(mocks.ports(), Policy::default());

        let err = login
            .execute(cmd("ghost", "whatever-pass"), &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
        assert_eq!(*logins.lock().unwrap(), [LoginOutcome::InvalidCredentials]);
    }

    #[tokio::test]
    async fn a_malformed_username_is_just_an_unknown_user() {
        let (tx, _) = committing_tx();
        let mut mocks = Mocks::new().with_tx(tx);
        mocks
            .hasher
            .expect_verify_dummy()
            .times(1)
            .returning(|_| Ok(false));
        let login = Login::new(mocks.ports(), Policy::default());

        let err = login
            .execute(cmd("x", "whatever-pass"), &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
    }

    #[tokio::test]
    async fn a_wrong_password_is_counted_with_the_policy_threshold() {
        let (mut tx, audited) = committing_tx();
        tx.expect_record_failed_login()
            .times(1)
            .withf(|_, at, threshold, until| {
                *threshold == 10 && *until == *at + chrono::Duration::minutes(15)
            })
            .returning(|_, _, _, _| {
                Ok(FailedLogin {
                    attempts: 3,
                    locked_until: None,
                    newly_locked: false,
                })
            });
        let mut mocks = Mocks::new().with_tx(tx);
        known(&mut mocks, testing::user(1, Role::User));
        mocks.hasher.expect_verify().returning(|_, _| Ok(false));
        let logins = mocks.logins.clone();
        let login = Login::new(mocks.ports(), Policy::default());

        let err = login
            .execute(cmd("user1", "wrong-password"), &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
        assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
        assert_eq!(*logins.lock().unwrap(), [LoginOutcome::InvalidCredentials]);
    }

    #[tokio::test]
    async fn the_failure_that_reaches_the_threshold_also_audits_the_lockout() {
        let (mut tx, audited) = committing_tx();
        tx.expect_record_failed_login()
            .returning(|_, at, _, until| {
                assert!(until > at);
                Ok(FailedLogin {
                    attempts: 10,
                    locked_until: Some(until),
                    newly_locked: true,
                })
            });
        let mut mocks = Mocks::new().with_tx(tx);
        known(&mut mocks, testing::user(1, Role::User));
        mocks.hasher.expect_verify().returning(|_, _| Ok(false));
        let login = Login::new(mocks.ports(), Policy::default());

        let err = login
            .execute(cmd("user1", "wrong-password"), &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
        assert_eq!(actions(&audited), ["ACCOUNT_LOCKED", "LOGIN_FAILED"]);
    }

    #[tokio::test]
    async fn a_locked_account_is_refused_even_with_the_right_password() {
        let mut locked = testing::user(1, Role::User);
        locked.locked_until = Some(testing::now() + chrono::Duration::minutes(5));
        let (mut tx, audited) = committing_tx();
        tx.expect_record_failed_login().returning(|_, _, _, _| {
            Ok(FailedLogin {
                attempts: 11,
                locked_until: None,
                newly_locked: false,
            })
        });
        let mut mocks = Mocks::new().with_tx(tx);
        known(&mut mocks, locked);
        mocks
            .hasher
            .expect_verify()
            .times(1)
            .returning(|_, _| Ok(true));
        let logins = mocks.logins.clone();
        let login = Login::new(mocks.ports(), Policy::default());

        let err = login
            .execute(cmd("user1", "right-password"), &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
        assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
        assert_eq!(*logins.lock().unwrap(), [LoginOutcome::Locked]);
    }

    #[tokio::test]
    async fn blocked_and_deleted_accounts_are_refused_without_counting() {
        for deleted in [false, true] {
            let mut user = testing::user(1, Role::User);
            if deleted {
                user.deleted_at = Some(testing::now());
            } else {
                user.status = UserStatus::Blocked;
            }
            let (tx, audited) = committing_tx();
            let mut mocks = Mocks::new().with_tx(tx);
            known(&mut mocks, user);
            mocks
                .hasher
                .expect_verify()
                .times(1)
                .returning(|_, _| Ok(true));
            let logins = mocks.logins.clone();
            let login = Login::new(mocks.ports(), Policy::default());

            let err = login
                .execute(cmd("user1", "right-password"), &RequestContext::default())
                .await
                .unwrap_err();

            assert!(matches!(err, AppError::InvalidCredentials));
            assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
            assert_eq!(*logins.lock().unwrap(), [LoginOutcome::InvalidCredentials]);
        }
    }

    #[tokio::test]
    async fn a_store_outage_is_unavailable() {
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_find_by_username()
            .returning(|_| Err(testing::down()));
        let logins = mocks.logins.clone();
        let login = Login::new(mocks.ports(), Policy::default());

        let err = login
            .execute(cmd("user1", "right-password"), &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::Unavailable(_)));
        assert!(logins.lock().unwrap().is_empty(), "an outage is no outcome");
    }
}
