//! `POST /users/{id}/anonymize` (GDPR art. 17) and the automatic purge of users
//! soft-deleted longer than `USER_PURGE_AFTER`: both erase a user the same way, in one
//! transaction under the user's row lock (ADR 0018).

use chrono::{DateTime, Duration, Utc};
use domain::audit::{AuditAction, RequestContext};
use domain::ports::Transaction;
use domain::session::RevocationReason;
use domain::user::{tombstone_usernames, User, UserId, Username};
use serde_json::json;

use super::ensure_another_active_admin;
use crate::audit;
use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// Users anonymized per purge pass at most (the next pass takes the rest).
pub const PURGE_BATCH: i64 = 100;

/// Anonymizes a user for an admin.
pub struct AnonymizeUser {
    ports: Ports,
}

impl AnonymizeUser {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only; `LastAdmin` for oneself or the last active admin, `NotFound`
    /// for an unknown user. A user already anonymized is returned as stored, unchanged
    /// and not audited again.
    #[tracing::instrument(name = "anonymize_user", skip_all, fields(target.id = %id))]
    pub async fn execute(
        &self,
        who: &Principal,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        who.require_admin()?;
        if id == who.user.id {
            return Err(AppError::LastAdmin("an admin cannot anonymize themselves"));
        }
        let username = tombstone_name(&self.ports, id).await?;
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        let user = tx.user_for_update(id).await?.ok_or(AppError::NotFound)?;
        if user.is_anonymized() {
            return Ok(user);
        }
        ensure_another_active_admin(tx.as_mut(), &user).await?;
        let ctx = ctx.clone().with_actor(who.user.id);
        let user = erase(&self.ports, tx.as_mut(), user, username, &ctx, false, now).await?;
        tx.commit().await?;
        Ok(user)
    }
}

/// Anonymizes the users soft-deleted longer than the purge period: the background step
/// of `USER_PURGE_AFTER`.
pub struct PurgeDeletedUsers {
    ports: Ports,
}

impl PurgeDeletedUsers {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs one pass over at most [`PURGE_BATCH`] users deleted more than `after` ago;
    /// returns how many it anonymized. Each is re-checked under its row lock (restored
    /// or already anonymized meanwhile: skipped), so two passes never erase one twice.
    #[tracing::instrument(name = "purge_deleted_users", skip_all, fields(after_s = after.num_seconds()))]
    pub async fn execute(&self, after: Duration) -> Result<u64, AppError> {
        if after <= Duration::zero() {
            return Err(AppError::invalid("purgeAfter", "must be longer than 0s"));
        }
        let cutoff = self.ports.clock.now() - after;
        let due = self.ports.users.deleted_before(cutoff, PURGE_BATCH).await?;
        let mut purged = 0;
        for id in due {
            let username = tombstone_name(&self.ports, id).await?;
            let now = self.ports.clock.now();
            let mut tx = self.ports.uow.begin().await?;
            let Some(user) = tx.user_for_update(id).await? else {
                continue;
            };
            if user.is_anonymized() || user.deleted_at.is_none_or(|at| at >= cutoff) {
                continue;
            }
            erase(
                &self.ports,
                tx.as_mut(),
                user,
                username,
                &RequestContext::default(),
                true,
                now,
            )
            .await?;
            tx.commit().await?;
            purged += 1;
        }
        if purged > 0 {
            tracing::info!(users.purged = purged, "anonymized users deleted long ago");
        }
        Ok(purged)
    }
}

/// The tombstone name for `id`: the short one unless another account holds it (ids
/// created within the same minute share it), then the long one. Read before the
/// transaction; a name taken meanwhile makes the update fail as `UsernameTaken`.
async fn tombstone_name(ports: &Ports, id: UserId) -> Result<Username, AppError> {
    let [short, long] = tombstone_usernames(id);
    Ok(match ports.users.find_by_username(&short).await? {
        Some(holder) if holder.id != id => long,
        _ => short,
    })
}

/// Erases `user` (row-locked in `tx`, not yet anonymized) and audits `ANONYMIZE_USER`
/// with counts only: the entry names nobody.
async fn erase(
    ports: &Ports,
    tx: &mut dyn Transaction,
    mut user: User,
    username: Username,
    ctx: &RequestContext,
    automatic: bool,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    let expected = user.version;
    user.anonymize(username, now);
    tx.update_user(&user, expected).await?;
    let revoked = tx
        .revoke_user_sessions(user.id, now, RevocationReason::AccountDisabled, None)
        .await?;
    // Before the entry below is appended: it is about the user too, and keeps its own
    // (the acting admin's) fields.
    let erased = tx.erase_personal_data(user.id).await?;
    let entry = audit::about_user(
        ports,
        ctx,
        AuditAction::AnonymizeUser,
        user.id,
        json!({
            "automatic": automatic,
            "revokedSessions": revoked,
            "erasedAuditEntries": erased.audit_entries,
        }),
        now,
    );
    tx.append_audit(&entry).await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use domain::ports::MockTransaction;
    use domain::user::{ErasedData, Role, UserStatus, ERASED_PASSWORD_HASH};

    use super::*;
    use crate::testing::{self, Mocks};

    fn admin() -> User {
        testing::user(1, Role::Admin)
    }

    fn target() -> User {
        let mut u = testing::user(2, Role::User);
        u.email = Some(domain::user::Email::parse("ann@example.org").unwrap());
        u
    }

    type Recorded = std::sync::Arc<std::sync::Mutex<Vec<domain::audit::AuditEntry>>>;

    /// A transaction that locks `user` and expects the whole erasure, committed once;
    /// with the entries it appended.
    fn erasing_tx(user: User) -> (MockTransaction, Recorded) {
        let mut tx = MockTransaction::new();
        let entries = Recorded::default();
        let sink = entries.clone();
        tx.expect_append_audit().returning(move |e| {
            sink.lock().unwrap().push(e.clone());
            Ok(())
        });
        tx.expect_commit().times(1).returning(|| Ok(()));
        tx.expect_user_for_update()
            .returning(move |_| Ok(Some(user.clone())));
        tx.expect_update_user()
            .times(1)
            .withf(|u, expected| u.is_anonymized() && *expected == 1)
            .returning(|_, _| Ok(()));
        tx.expect_revoke_user_sessions()
            .times(1)
            .withf(|_, _, reason, except| {
                *reason == RevocationReason::AccountDisabled && except.is_none()
            })
            .returning(|_, _, _, _| Ok(2));
        tx.expect_erase_personal_data().times(1).returning(|_| {
            Ok(ErasedData {
                sessions: 2,
                refresh_tokens: 1,
                audit_entries: 5,
            })
        });
        (tx, entries)
    }

    fn recorded(entries: &Recorded) -> Vec<&'static str> {
        entries
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.action.as_str())
            .collect()
    }

    fn no_name_clash(mocks: &mut Mocks) {
        mocks
            .users
            .expect_find_by_username()
            .returning(|_| Ok(None));
    }

    #[tokio::test]
    async fn anonymizing_erases_the_account_revokes_and_shreds_in_one_audited_transaction() {
        let (tx, entries) = erasing_tx(target());
        let mut mocks = Mocks::new().with_tx(tx);
        no_name_clash(&mut mocks);

        let user = AnonymizeUser::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                target().id,
                &RequestContext::default(),
            )
            .await
            .unwrap();

        let [short, _] = tombstone_usernames(target().id);
        assert_eq!(user.username, short);
        assert_eq!(user.email, None);
        assert_eq!(user.status, UserStatus::Blocked);
        assert_eq!(user.deleted_at, Some(testing::now()));
        assert_eq!(user.password_hash.as_str(), ERASED_PASSWORD_HASH);
        let entries = entries.lock().unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(entry.action, AuditAction::AnonymizeUser);
        assert_eq!(entry.user_id, Some(admin().id));
        let text = entry.metadata.to_string();
        assert!(
            !text.contains("user2") && !text.contains("ann@example.org"),
            "{text}"
        );
        assert_eq!(entry.metadata["erasedAuditEntries"], 5);
        assert_eq!(entry.metadata["automatic"], false);
    }

    #[tokio::test]
    async fn the_long_tombstone_name_is_taken_when_another_account_holds_the_short_one() {
        let (tx, entries) = erasing_tx(target());
        let mut mocks = Mocks::new().with_tx(tx);
        mocks.users.expect_find_by_username().returning(|_| {
            let mut other = testing::user(3, Role::User);
            other.password_hash = domain::password::PasswordHash::new(ERASED_PASSWORD_HASH);
            Ok(Some(other))
        });

        let user = AnonymizeUser::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                target().id,
                &RequestContext::default(),
            )
            .await
            .unwrap();

        let [_, long] = tombstone_usernames(target().id);
        assert_eq!(user.username, long);
        assert_eq!(recorded(&entries), ["ANONYMIZE_USER"]);
    }

    #[tokio::test]
    async fn anonymizing_twice_changes_and_audits_nothing_the_second_time() {
        let mut gone = target();
        let [short, _] = tombstone_usernames(gone.id);
        gone.anonymize(short, testing::now());
        let stored = gone.clone();
        let mut tx = MockTransaction::new();
        tx.expect_user_for_update()
            .returning(move |_| Ok(Some(gone.clone())));
        tx.expect_update_user().never();
        tx.expect_erase_personal_data().never();
        tx.expect_append_audit().never();
        tx.expect_commit().never();
        let mut mocks = Mocks::new().with_tx(tx);
        no_name_clash(&mut mocks);

        let user = AnonymizeUser::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                stored.id,
                &RequestContext::default(),
            )
            .await
            .unwrap();

        assert_eq!(user, stored);
    }

    #[tokio::test]
    async fn the_last_active_admin_and_oneself_are_refused() {
        let other_admin = testing::user(3, Role::Admin);
        let mut tx = MockTransaction::new();
        let locked = other_admin.clone();
        tx.expect_user_for_update()
            .returning(move |_| Ok(Some(locked.clone())));
        tx.expect_count_active_admins().returning(|| Ok(1));
        tx.expect_update_user().never();
        tx.expect_commit().never();
        let mut mocks = Mocks::new().with_tx(tx);
        no_name_clash(&mut mocks);

        let err = AnonymizeUser::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                other_admin.id,
                &RequestContext::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::LastAdmin(_)));

        let err = AnonymizeUser::new(Mocks::new().ports())
            .execute(
                &testing::principal(admin()),
                admin().id,
                &RequestContext::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::LastAdmin(_)));
    }

    #[tokio::test]
    async fn a_regular_user_may_not_anonymize_and_an_unknown_id_is_not_found() {
        let err = AnonymizeUser::new(Mocks::new().ports())
            .execute(
                &testing::principal(testing::user(4, Role::User)),
                target().id,
                &RequestContext::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden));

        let mut tx = MockTransaction::new();
        tx.expect_user_for_update().returning(|_| Ok(None));
        tx.expect_commit().never();
        let mut mocks = Mocks::new().with_tx(tx);
        no_name_clash(&mut mocks);
        let err = AnonymizeUser::new(mocks.ports())
            .execute(
                &testing::principal(admin()),
                target().id,
                &RequestContext::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound));
    }

    #[tokio::test]
    async fn the_purge_anonymizes_users_deleted_before_the_cut_and_skips_restored_ones() {
        let after = Duration::days(30);
        let mut due = target();
        due.deleted_at = Some(testing::now() - Duration::days(31));
        let mut restored = testing::user(3, Role::User);
        restored.deleted_at = None;
        let (due_tx, entries) = erasing_tx(due.clone());
        let mut restored_tx = MockTransaction::new();
        let r = restored.clone();
        restored_tx
            .expect_user_for_update()
            .returning(move |_| Ok(Some(r.clone())));
        restored_tx.expect_update_user().never();
        restored_tx.expect_commit().never();
        let mut mocks = Mocks::new();
        let (due_id, restored_id) = (due.id, restored.id);
        mocks
            .users
            .expect_deleted_before()
            .withf(move |cut, limit| *cut == testing::now() - after && *limit == PURGE_BATCH)
            .returning(move |_, _| Ok(vec![due_id, restored_id]));
        no_name_clash(&mut mocks);
        let mut txs = vec![restored_tx, due_tx];
        mocks
            .uow
            .expect_begin()
            .times(2)
            .returning(move || Ok(Box::new(txs.pop().unwrap())));

        let purged = PurgeDeletedUsers::new(mocks.ports())
            .execute(after)
            .await
            .unwrap();

        assert_eq!(purged, 1);
        assert_eq!(recorded(&entries), ["ANONYMIZE_USER"]);
    }

    #[tokio::test]
    async fn a_purge_period_of_zero_is_refused() {
        let err = PurgeDeletedUsers::new(Mocks::new().ports())
            .execute(Duration::zero())
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Validation(_)));
    }
}
