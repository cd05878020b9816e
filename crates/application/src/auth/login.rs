//! `POST /auth/login`: password sign-in with lockout and a timing-safe failure path.
//!
//! The hash is compared on a copy read without locks (it is slow); the decision is then
//! taken again on the row as locked in the transaction that records it
//! ([`domain::sign_in::decide`]), so a lockout, block, deletion or password change that
//! committed meanwhile is never missed, and concurrent correct logins all succeed.

use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, RequestContext};
use domain::lockout::LockoutState;
use domain::password::Password;
use domain::ports::{LoginOutcome, Transaction};
use domain::session::{Session, SessionId};
use domain::sign_in::{self, Refusal};
use domain::user::{User, Username};
use serde_json::json;

use super::attempt::{self, Attempts, Door};
use crate::audit;
use crate::error::AppError;
use crate::issue::{mint, TokenPair};
use crate::ports::{Policy, Ports};

/// How many characters of an unknown username the audit entry keeps.
const ATTEMPTED_NAME_CHARS: usize = 64;

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

impl Login {
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

    /// Runs it.
    #[tracing::instrument(name = "login", skip_all)]
    pub async fn execute(
        &self,
        cmd: LoginCommand,
        ctx: &RequestContext,
    ) -> Result<TokenPair, AppError> {
        // A tombstone is nobody: its attempts are an unknown user's, so they cost the
        // same dummy hash and tie no new entry to the erased account.
        let user = match Username::parse(&cmd.username) {
            Ok(name) => self
                .ports
                .users
                .find_by_username(&name)
                .await?
                .filter(|u| !u.is_anonymized()),
            Err(_) => None,
        };
        let Some(user) = user else {
            self.ports.hasher.verify_dummy(&cmd.password).await?;
            return self.refuse_unknown(&cmd.username, ctx).await;
        };
        // Always verify, so every failure costs one hash whatever the reason.
        let matched = self
            .ports
            .hasher
            .verify(&cmd.password, &user.password_hash)
            .await?;
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        let Some(fresh) = tx.user_for_update(user.id).await? else {
            drop(tx);
            return self.refuse_unknown(&cmd.username, ctx).await;
        };
        let ctx = ctx.clone().with_actor(user.id);
        let lockout = self.policy.lockout();
        let decided = sign_in::decide(&fresh, &user.password_hash, matched, now).and_then(|()| {
            lockout
                .on_success(LockoutState::of(&fresh), now)
                .ok_or(Refusal::Locked)
        });
        match decided {
            Ok(reset) => {
                let pair = self
                    .open_session(tx.as_mut(), &fresh, reset, &ctx, now)
                    .await?;
                tx.commit().await?;
                self.ports.metrics.login_attempt(LoginOutcome::Success);
                Ok(pair)
            }
            Err(refusal) => {
                self.attempts()
                    .record(tx.as_mut(), &fresh, refusal, Door::Login, &ctx, now)
                    .await?;
                tx.commit().await?;
                self.ports.metrics.login_attempt(attempt::outcome(refusal));
                Err(AppError::InvalidCredentials)
            }
        }
    }

    /// Audits a sign-in of a name that matches no user, and refuses it.
    async fn refuse_unknown(
        &self,
        attempted: &str,
        ctx: &RequestContext,
    ) -> Result<TokenPair, AppError> {
        let now = self.ports.clock.now();
        // Control characters (a NUL above all, which PostgreSQL's jsonb refuses) are
        // dropped: the name is evidence, not something to store byte for byte.
        let attempted: String = attempted
            .chars()
            .filter(|c| !c.is_control())
            .take(ATTEMPTED_NAME_CHARS)
            .collect();
        let entry = domain::audit::AuditEntry::new(
            self.ports.ids.new_id(),
            ctx,
            AuditAction::LoginFailed,
            domain::audit::EntityType::User,
            None,
            json!({ "username": attempted, "reason": Refusal::UnknownUser.as_str() }),
            now,
        );
        let mut tx = self.ports.uow.begin().await?;
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        self.ports
            .metrics
            .login_attempt(attempt::outcome(Refusal::UnknownUser));
        Err(AppError::InvalidCredentials)
    }

    /// Records the login with the reset lockout `state`, opens a session and mints its
    /// first pair, in `tx` (the caller commits).
    async fn open_session(
        &self,
        tx: &mut dyn Transaction,
        user: &User,
        state: LockoutState,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, AppError> {
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
        let mut user = tx.record_login(user.id, state, now).await?;
        let expired = user.password_expired(self.policy.password_max_age, now);
        if expired && !user.must_change_password {
            // Persisted, so the gate holds on every later request, not just this pair.
            let expected = user.version;
            user.must_change_password = true;
            user.touch(now);
            tx.update_user(&user, expected).await?;
        }
        tx.insert_session(&session).await?;
        let pair = mint(&self.ports, &self.policy, tx, user, session.id, now).await?;
        let entry = audit::about_user(
            &self.ports,
            ctx,
            AuditAction::Login,
            pair.user.id,
            json!({ "sessionId": session.id.to_string(), "passwordExpired": expired }),
            now,
        );
        tx.append_audit(&entry).await?;
        Ok(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, actions, committing_tx, Mocks};
    use domain::password::PasswordHash;
    use domain::ports::MockTransaction;
    use domain::token::RefreshSecret;
    use domain::user::{Role, UserStatus};

    fn cmd(username: &str, password: &str) -> LoginCommand {
        LoginCommand {
            username: username.into(),
            password: Password::new(password),
        }
    }

    /// The lock-free read finds `read`; the transaction then locks `fresh`.
    fn known(mocks: &mut Mocks, read: User) {
        mocks
            .users
            .expect_find_by_username()
            .returning(move |_| Ok(Some(read.clone())));
    }

    fn locking(tx: &mut MockTransaction, fresh: User) {
        tx.expect_user_for_update()
            .times(1)
            .returning(move |_| Ok(Some(fresh.clone())));
    }

    fn minutes(n: i64) -> chrono::Duration {
        chrono::Duration::minutes(n)
    }

    /// Runs a login of `user1` whose lock-free copy is `read` and whose locked row is
    /// `fresh`; the hash comparison answers `matched`.
    async fn attempt(
        read: User,
        fresh: User,
        matched: bool,
        tx: MockTransaction,
    ) -> (Result<TokenPair, AppError>, Vec<LoginOutcome>) {
        let mut tx = tx;
        locking(&mut tx, fresh);
        let mut mocks = Mocks::new().with_tx(tx).minting();
        known(&mut mocks, read);
        mocks
            .hasher
            .expect_verify()
            .times(1)
            .returning(move |_, _| Ok(matched));
        let logins = mocks.logins.clone();
        let login = Login::new(mocks.ports(), Policy::default());
        let result = login
            .execute(cmd("user1", "some-password"), &RequestContext::default())
            .await;
        let outcomes = logins.lock().unwrap().clone();
        (result, outcomes)
    }

    #[tokio::test]
    async fn the_right_password_opens_a_session_and_audits_login() {
        let ann = testing::user(1, Role::User);
        let (mut tx, audited) = committing_tx();
        let stored = ann.clone();
        tx.expect_record_login()
            .times(1)
            .withf(|_, state, _| *state == LockoutState::default())
            .returning(move |_, _, _| Ok(stored.clone()));
        tx.expect_insert_session().times(1).returning(|_| Ok(()));
        tx.expect_insert_refresh_token()
            .times(1)
            .withf(|t| t.token_hash == RefreshSecret::new("fresh-secret").hash())
            .returning(|_| Ok(()));

        let (result, outcomes) = attempt(ann.clone(), ann.clone(), true, tx).await;

        let pair = result.unwrap();
        assert_eq!(pair.access_token, "signed.jwt");
        assert_eq!(pair.refresh_token, "fresh-secret");
        assert_eq!(pair.expires_in, 900);
        assert_eq!(pair.refresh_expires_in, 7 * 86_400);
        assert_eq!(pair.user.id, ann.id);
        assert_eq!(actions(&audited), ["LOGIN"]);
        assert_eq!(outcomes, [LoginOutcome::Success]);
    }

    /// A correct login of `ann` under `policy`, at the mocked clock's now; `update_user`
    /// is expected `updates` times.
    async fn login_with_policy(ann: User, policy: Policy, updates: usize) -> TokenPair {
        let (mut tx, audited) = committing_tx();
        let stored = ann.clone();
        tx.expect_record_login()
            .times(1)
            .returning(move |_, _, _| Ok(stored.clone()));
        let version = ann.version;
        tx.expect_update_user()
            .times(updates)
            .withf(move |u, expected| u.must_change_password && *expected == version)
            .returning(|_, _| Ok(()));
        tx.expect_insert_session().returning(|_| Ok(()));
        tx.expect_insert_refresh_token().returning(|_| Ok(()));
        locking(&mut tx, ann.clone());
        let mut mocks = Mocks::new().with_tx(tx).minting();
        known(&mut mocks, ann);
        mocks.hasher.expect_verify().returning(|_, _| Ok(true));
        let pair = Login::new(mocks.ports(), policy)
            .execute(cmd("user1", "some-password"), &RequestContext::default())
            .await
            .unwrap();
        assert_eq!(actions(&audited), ["LOGIN"]);
        pair
    }

    #[tokio::test]
    async fn a_password_older_than_the_maximum_age_signs_in_behind_the_change_gate() {
        let mut ann = testing::user(1, Role::User);
        ann.password_changed_at = testing::now() - chrono::Duration::days(91);
        let policy = Policy {
            password_max_age: Some(chrono::Duration::days(90)),
            ..Policy::default()
        };

        let pair = login_with_policy(ann, policy, 1).await;

        assert!(
            pair.user.must_change_password,
            "the gate is set and persisted"
        );
    }

    #[tokio::test]
    async fn a_younger_password_or_no_maximum_age_leaves_the_gate_alone() {
        let mut ann = testing::user(1, Role::User);
        ann.password_changed_at = testing::now() - chrono::Duration::days(89);
        let policy = Policy {
            password_max_age: Some(chrono::Duration::days(90)),
            ..Policy::default()
        };
        let pair = login_with_policy(ann.clone(), policy, 0).await;
        assert!(!pair.user.must_change_password);

        ann.password_changed_at = testing::now() - chrono::Duration::days(10_000);
        let pair = login_with_policy(ann, Policy::default(), 0).await;
        assert!(
            !pair.user.must_change_password,
            "unset: passwords never expire"
        );
    }

    #[tokio::test]
    async fn a_concurrent_logins_counters_on_the_locked_row_do_not_refuse_a_correct_one() {
        let ann = testing::user(1, Role::User);
        let mut fresh = ann.clone();
        fresh.failed_login_attempts = 4;
        fresh.login_count = 12;
        fresh.version = 30;
        let (mut tx, _) = committing_tx();
        let stored = ann.clone();
        tx.expect_record_login()
            .times(1)
            .withf(|_, state, _| *state == LockoutState::default())
            .returning(move |_, _, _| Ok(stored.clone()));
        tx.expect_insert_session().returning(|_| Ok(()));
        tx.expect_insert_refresh_token().returning(|_| Ok(()));

        let (result, outcomes) = attempt(ann, fresh, true, tx).await;

        assert!(result.is_ok());
        assert_eq!(outcomes, [LoginOutcome::Success]);
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
    async fn an_anonymized_account_signs_in_as_nobody_and_its_attempt_is_anonymous() {
        let mut gone = testing::user(1, Role::User);
        let [name, _] = domain::user::tombstone_usernames(gone.id);
        gone.anonymize(name, testing::now());
        let mut tx = MockTransaction::new();
        tx.expect_append_audit()
            .times(1)
            .withf(|e| e.user_id.is_none() && e.action == AuditAction::LoginFailed)
            .returning(|_| Ok(()));
        tx.expect_user_for_update().never();
        tx.expect_commit().times(1).returning(|| Ok(()));
        let mut mocks = Mocks::new().with_tx(tx);
        known(&mut mocks, gone);
        mocks.hasher.expect_verify().never();
        mocks
            .hasher
            .expect_verify_dummy()
            .times(1)
            .returning(|_| Ok(false));

        let err = Login::new(mocks.ports(), Policy::default())
            .execute(cmd("deleted-00000000", "x"), &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
    }

    #[tokio::test]
    async fn a_malformed_username_is_just_an_unknown_user() {
        for name in ["x", "ann\u{0}", "a\u{7}bc"] {
            let (tx, audited) = committing_tx();
            let mut mocks = Mocks::new().with_tx(tx);
            mocks
                .hasher
                .expect_verify_dummy()
                .times(1)
                .returning(|_| Ok(false));
            let login = Login::new(mocks.ports(), Policy::default());

            let err = login
                .execute(cmd(name, "whatever-pass"), &RequestContext::default())
                .await
                .unwrap_err();

            assert!(matches!(err, AppError::InvalidCredentials), "{name:?}");
            assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
        }
    }

    #[tokio::test]
    async fn control_characters_of_an_unknown_name_never_reach_the_audit_entry() {
        let mut tx = MockTransaction::new();
        tx.expect_append_audit()
            .times(1)
            .withf(|e| e.metadata["username"] == "ghost")
            .returning(|_| Ok(()));
        tx.expect_commit().times(1).returning(|| Ok(()));
        let mut mocks = Mocks::new().with_tx(tx);
        mocks.hasher.expect_verify_dummy().returning(|_| Ok(false));
        let login = Login::new(mocks.ports(), Policy::default());

        let err = login
            .execute(
                cmd("gh\u{0}o\u{1b}st", "whatever-pass"),
                &RequestContext::default(),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::InvalidCredentials));
    }

    #[tokio::test]
    async fn a_wrong_password_is_counted_on_the_row_as_locked() {
        let read = testing::user(1, Role::User);
        let mut fresh = read.clone();
        fresh.failed_login_attempts = 2;
        let (mut tx, audited) = committing_tx();
        tx.expect_write_lockout()
            .times(1)
            .withf(|_, state, _| {
                *state
                    == LockoutState {
                        failed_attempts: 3,
                        locked_until: None,
                    }
            })
            .returning(|_, _, _| Ok(()));

        let (result, outcomes) = attempt(read, fresh, false, tx).await;

        assert!(matches!(result, Err(AppError::InvalidCredentials)));
        assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
        assert_eq!(outcomes, [LoginOutcome::InvalidCredentials]);
    }

    #[tokio::test]
    async fn the_failure_that_reaches_the_threshold_also_audits_the_lockout() {
        let read = testing::user(1, Role::User);
        let mut fresh = read.clone();
        fresh.failed_login_attempts = 9;
        let (mut tx, audited) = committing_tx();
        tx.expect_write_lockout()
            .times(1)
            .withf(|_, state, at| {
                state.failed_attempts == 10 && state.locked_until == Some(*at + minutes(15))
            })
            .returning(|_, _, _| Ok(()));

        let (result, _) = attempt(read, fresh, false, tx).await;

        assert!(matches!(result, Err(AppError::InvalidCredentials)));
        assert_eq!(actions(&audited), ["ACCOUNT_LOCKED", "LOGIN_FAILED"]);
    }

    #[tokio::test]
    async fn a_locked_account_is_refused_even_with_the_right_password() {
        let mut locked = testing::user(1, Role::User);
        locked.failed_login_attempts = 10;
        locked.locked_until = Some(testing::now() + minutes(5));
        let (mut tx, audited) = committing_tx();
        tx.expect_write_lockout()
            .times(1)
            .withf(|_, state, _| {
                state.failed_attempts == 11
                    && state.locked_until == Some(testing::now() + minutes(5))
            })
            .returning(|_, _, _| Ok(()));

        let (result, outcomes) = attempt(locked.clone(), locked, true, tx).await;

        assert!(matches!(result, Err(AppError::InvalidCredentials)));
        assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
        assert_eq!(outcomes, [LoginOutcome::Locked]);
    }

    #[tokio::test]
    async fn a_lock_that_committed_during_the_hash_check_refuses_the_right_password() {
        let read = testing::user(1, Role::User);
        let mut fresh = read.clone();
        fresh.failed_login_attempts = 10;
        fresh.locked_until = Some(testing::now() + minutes(15));
        let (mut tx, audited) = committing_tx();
        tx.expect_write_lockout()
            .times(1)
            .returning(|_, _, _| Ok(()));
        tx.expect_record_login().never();

        let (result, outcomes) = attempt(read, fresh, true, tx).await;

        assert!(matches!(result, Err(AppError::InvalidCredentials)));
        assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
        assert_eq!(outcomes, [LoginOutcome::Locked]);
    }

    #[tokio::test]
    async fn a_password_changed_during_the_hash_check_refuses_and_counts() {
        let read = testing::user(1, Role::User);
        let mut fresh = read.clone();
        fresh.password_hash = PasswordHash::new("$argon2id$changed");
        let (mut tx, audited) = committing_tx();
        tx.expect_write_lockout()
            .times(1)
            .withf(|_, state, _| state.failed_attempts == 1)
            .returning(|_, _, _| Ok(()));
        tx.expect_record_login().never();
        tx.expect_insert_session().never();

        let (result, outcomes) = attempt(read, fresh, true, tx).await;

        assert!(matches!(result, Err(AppError::InvalidCredentials)));
        assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
        assert_eq!(outcomes, [LoginOutcome::InvalidCredentials]);
    }

    #[tokio::test]
    async fn blocked_and_deleted_accounts_are_refused_without_counting_even_when_it_happened_meanwhile(
    ) {
        for (deleted, meanwhile) in [(false, false), (true, false), (false, true), (true, true)] {
            let read = testing::user(1, Role::User);
            let mut fresh = read.clone();
            if deleted {
                fresh.deleted_at = Some(testing::now());
            } else {
                fresh.status = UserStatus::Blocked;
            }
            let read = if meanwhile { read } else { fresh.clone() };
            let (mut tx, audited) = committing_tx();
            tx.expect_write_lockout().never();
            tx.expect_insert_session().never();

            let (result, outcomes) = attempt(read, fresh, true, tx).await;

            assert!(matches!(result, Err(AppError::InvalidCredentials)));
            assert_eq!(actions(&audited), ["LOGIN_FAILED"]);
            assert_eq!(outcomes, [LoginOutcome::InvalidCredentials]);
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
