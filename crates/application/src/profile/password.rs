//! `PUT /profile/password`.
//!
//! The current password is a door into the account like a login: a wrong one counts as a
//! failed login, a locked account is refused, and the decision is taken again under the
//! user's row lock, where a reset, a revocation of the caller's session or a lockout that
//! committed while the hashes were computed is seen and wins.

use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, RequestContext};
use domain::password::{Password, PasswordHash};
use domain::ports::Transaction;
use domain::session::RevocationReason;
use domain::sign_in::{self, Refusal};
use domain::user::{PasswordSetBy, User};
use serde_json::json;

use crate::audit;
use crate::auth::attempt::{self, Attempts, Door};
use crate::error::AppError;
use crate::ports::{Policy, Ports};
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
    policy: Policy,
}

impl ChangePassword {
    /// Builds the use case.
    pub fn new(ports: Ports, policy: Policy) -> Self {
        Self { ports, policy }
    }

    fn attempts(&self) -> Attempts<'_> {
        Attempts {
            ports: &self.ports,
            policy: &self.policy,
        }
    }

    /// Runs it. Allowed while a password change is required (it is how that ends).
    /// `InvalidCredentials` for a wrong current password or a locked account,
    /// `SessionRevoked` when the caller's session ended meanwhile.
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
        let ctx = ctx.clone().with_actor(user.id);
        let matched = self
            .ports
            .hasher
            .verify(&cmd.current_password, &user.password_hash)
            .await?;
        if sign_in::decide(&user, &user.password_hash, matched, self.ports.clock.now()).is_err() {
            self.refuse(who, &user.password_hash, matched, &ctx).await?;
        }
        // Only now the costly checks of the new password.
        if cmd.new_password == cmd.current_password {
            return Err(AppError::invalid(
                "newPassword",
                "must differ from the current password",
            ));
        }
        let mut context = vec![user.display_name.as_str().to_owned()];
        if let Some(email) = &user.email {
            context.push(email.as_str().to_owned());
        }
        let new_password = self
            .ports
            .strength
            .judge(&cmd.new_password, &user.username, &context)
            .await?
            .map_err(|e| AppError::password("newPassword", e))?;
        let hash = self.ports.hasher.hash(&new_password).await?;

        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        let mut stored = self.lock(tx.as_mut(), who, now).await?;
        if let Err(refusal) = sign_in::decide(&stored, &user.password_hash, true, now) {
            return self.refuse_locked(tx, &stored, refusal, &ctx, now).await;
        }
        let expected = stored.version;
        stored.set_password(hash, PasswordSetBy::Owner, now);
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
            &ctx,
            AuditAction::PasswordChange,
            user.id,
            json!({ "revokedSessions": revoked }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Locks the caller's row and checks, under that lock, that the session the request
    /// came in on is still active: a reset or revocation that committed meanwhile wins.
    async fn lock(
        &self,
        tx: &mut dyn Transaction,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<User, AppError> {
        let user = tx
            .user_for_update(who.user.id)
            .await?
            .ok_or(AppError::SessionRevoked)?;
        tx.session_for_update(who.session_id)
            .await?
            .filter(|s| s.user_id == user.id && s.is_active(now))
            .ok_or(AppError::SessionRevoked)?;
        Ok(user)
    }

    /// A check the lock-free copy refused, decided and recorded again on the locked row.
    /// Returns `Ok` only when the row no longer refuses (a lockout ended meanwhile).
    async fn refuse(
        &self,
        who: &Principal,
        checked: &PasswordHash,
        matched: bool,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        let stored = self.lock(tx.as_mut(), who, now).await?;
        match sign_in::decide(&stored, checked, matched, now) {
            Ok(()) => Ok(()),
            Err(refusal) => self.refuse_locked(tx, &stored, refusal, ctx, now).await,
        }
    }

    /// Records `refusal` of `stored`, the row `tx` holds locked, commits, and refuses.
    async fn refuse_locked(
        &self,
        mut tx: Box<dyn Transaction>,
        stored: &User,
        refusal: Refusal,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        self.attempts()
            .record(tx.as_mut(), stored, refusal, Door::PasswordChange, ctx, now)
            .await?;
        tx.commit().await?;
        self.ports.metrics.login_attempt(attempt::outcome(refusal));
        Err(refused(refusal))
    }
}

/// What the client is told: a blocked or deleted account's sessions are gone.
fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::Blocked | Refusal::Deleted | Refusal::UnknownUser => AppError::SessionRevoked,
        Refusal::BadPassword | Refusal::Locked | Refusal::PasswordChanged => {
            AppError::InvalidCredentials
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, actions, committing_tx, Mocks};
    use domain::lockout::LockoutState;
    use domain::ports::{LoginOutcome, MockTransaction};
    use domain::session::SessionId;
    use domain::user::Role;

    const STRONG: &str = "violet-Harbor-engine-42";

    fn cmd(current: &str, new: &str) -> ChangePasswordCommand {
        ChangePasswordCommand {
            current_password: Password::new(current),
            new_password: Password::new(new),
        }
    }

    /// `tx` locks `fresh` and finds the caller's session 900 as `session` says.
    fn locking(tx: &mut MockTransaction, fresh: User, session_live: bool) {
        tx.expect_user_for_update()
            .times(1)
            .returning(move |_| Ok(Some(fresh.clone())));
        tx.expect_session_for_update()
            .times(1)
            .withf(|id| *id == SessionId(testing::id(900)))
            .returning(move |_| {
                let mut s = testing::session(900, testing::user(1, Role::User).id);
                if !session_live {
                    s.revoked_at = Some(testing::now());
                }
                Ok(Some(s))
            });
    }

    async fn change(mocks: Mocks, current: &str, new: &str) -> Result<(), AppError> {
        ChangePassword::new(mocks.ports(), Policy::default())
            .execute(
                &testing::principal(testing::user(1, Role::User)),
                cmd(current, new),
                &RequestContext::default(),
            )
            .await
    }

    #[tokio::test]
    async fn a_change_clears_the_flag_and_revokes_every_other_session() {
        let mut user = testing::user(1, Role::User);
        user.must_change_password = true;
        let (mut tx, audited) = committing_tx();
        locking(&mut tx, user.clone(), true);
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
        let mut mocks = Mocks::new().knowing(user).with_tx(tx).hashing().judging();
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));

        change(mocks, "old-password-1", STRONG).await.unwrap();

        assert_eq!(actions(&audited), ["PASSWORD_CHANGE"]);
    }

    #[tokio::test]
    async fn a_wrong_current_password_counts_as_a_failed_login_and_hashes_nothing_new() {
        let (mut tx, audited) = committing_tx();
        locking(&mut tx, testing::user(1, Role::User), true);
        tx.expect_write_lockout()
            .times(1)
            .withf(|_, state, _| state.failed_attempts == 1)
            .returning(|_, _, _| Ok(()));
        let mut mocks = Mocks::new()
            .knowing(testing::user(1, Role::User))
            .with_tx(tx);
        mocks.hasher.expect_verify().returning(|_, _| Ok(false));
        mocks.hasher.expect_hash().never();
        mocks.strength.expect_judge().never();
        let logins = mocks.logins.clone();

        let err = change(mocks, "wrong-password", STRONG).await.unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
        assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
        assert_eq!(*logins.lock().unwrap(), [LoginOutcome::InvalidCredentials]);
    }

    #[tokio::test]
    async fn the_wrong_password_that_reaches_the_threshold_locks_the_account() {
        let mut user = testing::user(1, Role::User);
        user.failed_login_attempts = 9;
        let (mut tx, audited) = committing_tx();
        locking(&mut tx, user.clone(), true);
        tx.expect_write_lockout()
            .times(1)
            .withf(|_, state, _| state.failed_attempts == 10 && state.locked_until.is_some())
            .returning(|_, _, _| Ok(()));
        let mut mocks = Mocks::new().knowing(user).with_tx(tx);
        mocks.hasher.expect_verify().returning(|_, _| Ok(false));

        let err = change(mocks, "wrong-password", STRONG).await.unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
        assert_eq!(actions(&audited), ["ACCOUNT_LOCKED", "LOGIN_FAILED"]);
    }

    #[tokio::test]
    async fn a_locked_account_is_refused_like_a_login_even_with_the_right_password() {
        let mut user = testing::user(1, Role::User);
        user.failed_login_attempts = 10;
        user.locked_until = Some(testing::now() + chrono::Duration::minutes(5));
        let (mut tx, _) = committing_tx();
        locking(&mut tx, user.clone(), true);
        tx.expect_write_lockout()
            .times(1)
            .returning(|_, _, _| Ok(()));
        tx.expect_update_user().never();
        let mut mocks = Mocks::new().knowing(user).with_tx(tx);
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));
        mocks.hasher.expect_hash().never();
        mocks.strength.expect_judge().never();
        let logins = mocks.logins.clone();

        let err = change(mocks, "old-password-1", STRONG).await.unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
        assert_eq!(*logins.lock().unwrap(), [LoginOutcome::Locked]);
    }

    #[tokio::test]
    async fn a_lockout_that_ended_before_the_lock_lets_the_change_through() {
        let mut read = testing::user(1, Role::User);
        read.locked_until = Some(testing::now() + chrono::Duration::minutes(5));
        let mut fresh = read.clone();
        fresh.locked_until = None;
        let mut first = MockTransaction::new();
        locking(&mut first, fresh.clone(), true);
        let (mut second, audited) = committing_tx();
        locking(&mut second, fresh, true);
        second
            .expect_update_user()
            .times(1)
            .returning(|_, _| Ok(()));
        second
            .expect_revoke_user_sessions()
            .returning(|_, _, _, _| Ok(0));
        let mut mocks = Mocks::new().knowing(read).hashing().judging();
        let mut queue = vec![second, first];
        mocks
            .uow
            .expect_begin()
            .times(2)
            .returning(move || Ok(Box::new(queue.pop().unwrap())));
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));

        change(mocks, "old-password-1", STRONG).await.unwrap();

        assert_eq!(actions(&audited), ["PASSWORD_CHANGE"]);
    }

    #[tokio::test]
    async fn a_reset_that_committed_meanwhile_wins_and_nothing_changes() {
        let read = testing::user(1, Role::User);
        let mut reset = read.clone();
        reset.password_hash = domain::password::PasswordHash::new("$argon2id$temporary");
        reset.must_change_password = true;
        let mut tx = MockTransaction::new();
        locking(&mut tx, reset, false);
        tx.expect_update_user().never();
        tx.expect_commit().never();
        let mut mocks = Mocks::new().knowing(read).with_tx(tx).hashing().judging();
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));

        let err = change(mocks, "old-password-1", STRONG).await.unwrap_err();

        assert!(matches!(err, AppError::SessionRevoked));
    }

    #[tokio::test]
    async fn a_password_replaced_under_a_live_session_refuses_and_counts() {
        let read = testing::user(1, Role::User);
        let mut changed = read.clone();
        changed.password_hash = domain::password::PasswordHash::new("$argon2id$other");
        let (mut tx, audited) = committing_tx();
        locking(&mut tx, changed, true);
        tx.expect_write_lockout()
            .times(1)
            .withf(|_, state, _| {
                *state
                    == LockoutState {
                        failed_attempts: 1,
                        locked_until: None,
                    }
            })
            .returning(|_, _, _| Ok(()));
        tx.expect_update_user().never();
        let mut mocks = Mocks::new().knowing(read).with_tx(tx).hashing().judging();
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));

        let err = change(mocks, "old-password-1", STRONG).await.unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
        assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
    }

    #[tokio::test]
    async fn a_weak_new_password_is_refused_with_feedback_after_the_current_one_matched() {
        let mut mocks = Mocks::new().knowing(testing::user(1, Role::User)).judging();
        mocks
            .hasher
            .expect_verify()
            .times(1)
            .returning(|_, _| Ok(true));

        let err = change(mocks, "old-password-1", "password123")
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
        let mut mocks = Mocks::new().knowing(testing::user(1, Role::User)).judging();
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));

        let err = change(mocks, STRONG, STRONG).await.unwrap_err();

        assert!(matches!(err, AppError::Validation(_)));
    }
}
