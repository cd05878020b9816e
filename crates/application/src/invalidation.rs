//! Keeps the [`AuthCache`] honest: a unit of work whose transactions note every user and
//! session they change in a way authentication sees (role, status, gate, revocation,
//! expiry) and invalidate their cached snapshots once the change is committed.
//!
//! Invalidating after the commit is enough: a reader that read the old state took its
//! ticket before the invalidation, so its late store is refused. If the invalidation
//! itself fails (Redis unreachable from this instance) it is retried with the next one;
//! until then the adapter's short snapshot lifetime bounds how long another instance
//! that still reaches Redis can serve the old state.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::audit::AuditEntry;
use domain::ports::{AuthCache, FailedLogin, Transaction, UnitOfWork};
use domain::preferences::Preferences;
use domain::session::{RevocationReason, Session, SessionId};
use domain::token::{RefreshToken, TokenHash};
use domain::user::{User, UserId};
use domain::RepoError;
use uuid::Uuid;

/// Users and sessions whose snapshots must go.
#[derive(Debug, Default)]
struct Stale {
    users: Vec<UserId>,
    sessions: Vec<SessionId>,
}

impl Stale {
    fn is_empty(&self) -> bool {
        self.users.is_empty() && self.sessions.is_empty()
    }

    fn absorb(&mut self, other: Stale) {
        self.users.extend(other.users);
        self.sessions.extend(other.sessions);
        self.users.sort_unstable_by_key(|u| u.0);
        self.users.dedup();
        self.sessions.sort_unstable();
        self.sessions.dedup();
    }
}

/// Wraps the real unit of work; see the module docs.
pub(crate) struct InvalidatingUnitOfWork {
    inner: Arc<dyn UnitOfWork>,
    cache: Arc<dyn AuthCache>,
    /// Invalidations that failed, retried with the next commit that invalidates.
    backlog: Arc<Mutex<Stale>>,
}

impl InvalidatingUnitOfWork {
    pub(crate) fn new(inner: Arc<dyn UnitOfWork>, cache: Arc<dyn AuthCache>) -> Self {
        Self {
            inner,
            cache,
            backlog: Arc::default(),
        }
    }
}

#[async_trait]
impl UnitOfWork for InvalidatingUnitOfWork {
    async fn begin(&self) -> Result<Box<dyn Transaction>, RepoError> {
        Ok(Box::new(InvalidatingTransaction {
            inner: self.inner.begin().await?,
            cache: self.cache.clone(),
            backlog: self.backlog.clone(),
            stale: Stale::default(),
        }))
    }
}

struct InvalidatingTransaction {
    inner: Box<dyn Transaction>,
    cache: Arc<dyn AuthCache>,
    backlog: Arc<Mutex<Stale>>,
    stale: Stale,
}

impl InvalidatingTransaction {
    async fn invalidate(&mut self) {
        let mut stale = std::mem::take(&mut self.stale);
        if let Ok(mut backlog) = self.backlog.lock() {
            stale.absorb(std::mem::take(&mut *backlog));
        }
        if stale.is_empty() {
            return;
        }
        // One retry: a reconnecting client often answers the second call.
        for attempt in 0..2 {
            match self.cache.invalidate(&stale.users, &stale.sessions).await {
                Ok(()) => return,
                Err(err) if attempt == 1 => {
                    tracing::error!(
                        error = %err,
                        users = stale.users.len(),
                        sessions = stale.sessions.len(),
                        "could not invalidate cached auth state; retried with the next change"
                    );
                }
                Err(_) => {}
            }
        }
        if let Ok(mut backlog) = self.backlog.lock() {
            backlog.absorb(stale);
        }
    }
}

#[async_trait]
impl Transaction for InvalidatingTransaction {
    async fn user_for_update(&mut self, id: UserId) -> Result<Option<User>, RepoError> {
        self.inner.user_for_update(id).await
    }

    async fn insert_user(&mut self, user: &User) -> Result<(), RepoError> {
        self.inner.insert_user(user).await
    }

    async fn update_user(&mut self, user: &User, expected_version: i64) -> Result<(), RepoError> {
        self.inner.update_user(user, expected_version).await?;
        self.stale.users.push(user.id);
        Ok(())
    }

    async fn record_failed_login(
        &mut self,
        id: UserId,
        at: DateTime<Utc>,
        threshold: i32,
        lock_until: DateTime<Utc>,
    ) -> Result<FailedLogin, RepoError> {
        // A lockout stops sign-in, not the sessions already open: nothing cached changes.
        self.inner
            .record_failed_login(id, at, threshold, lock_until)
            .await
    }

    async fn record_login(&mut self, id: UserId, at: DateTime<Utc>) -> Result<User, RepoError> {
        self.inner.record_login(id, at).await
    }

    async fn count_active_admins(&mut self) -> Result<i64, RepoError> {
        self.inner.count_active_admins().await
    }

    async fn put_preferences(&mut self, id: UserId, prefs: &Preferences) -> Result<(), RepoError> {
        self.inner.put_preferences(id, prefs).await
    }

    async fn insert_session(&mut self, session: &Session) -> Result<(), RepoError> {
        self.inner.insert_session(session).await
    }

    async fn session_for_update(&mut self, id: SessionId) -> Result<Option<Session>, RepoError> {
        self.inner.session_for_update(id).await
    }

    async fn touch_session(
        &mut self,
        id: SessionId,
        last_used_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.inner
            .touch_session(id, last_used_at, expires_at)
            .await?;
        // The cached expiry is now too early; drop it rather than refuse a live session.
        self.stale.sessions.push(id);
        Ok(())
    }

    async fn revoke_session(
        &mut self,
        id: SessionId,
        at: DateTime<Utc>,
        reason: RevocationReason,
    ) -> Result<bool, RepoError> {
        let revoked = self.inner.revoke_session(id, at, reason).await?;
        self.stale.sessions.push(id);
        Ok(revoked)
    }

    async fn revoke_user_sessions(
        &mut self,
        user_id: UserId,
        at: DateTime<Utc>,
        reason: RevocationReason,
        except: Option<SessionId>,
    ) -> Result<u64, RepoError> {
        let revoked = self
            .inner
            .revoke_user_sessions(user_id, at, reason, except)
            .await?;
        self.stale.users.push(user_id);
        Ok(revoked)
    }

    async fn insert_refresh_token(&mut self, token: &RefreshToken) -> Result<(), RepoError> {
        self.inner.insert_refresh_token(token).await
    }

    async fn refresh_token_for_update(
        &mut self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshToken>, RepoError> {
        self.inner.refresh_token_for_update(hash).await
    }

    async fn spend_refresh_token(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<(), RepoError> {
        self.inner.spend_refresh_token(id, at).await
    }

    async fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), RepoError> {
        self.inner.append_audit(entry).await
    }

    async fn commit(&mut self) -> Result<(), RepoError> {
        self.inner.commit().await?;
        self.invalidate().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::error::ServiceError;
    use domain::ports::{MockAuthCache, MockTransaction, MockUnitOfWork};

    type Calls = Arc<Mutex<Vec<(Vec<UserId>, Vec<SessionId>)>>>;

    fn uow(tx: MockTransaction) -> Arc<dyn UnitOfWork> {
        let mut uow = MockUnitOfWork::new();
        uow.expect_begin()
            .return_once(move || Ok(Box::new(tx) as Box<dyn Transaction>));
        Arc::new(uow)
    }

    fn recording_cache(fail_first: usize) -> (Arc<dyn AuthCache>, Calls) {
        let calls: Calls = Arc::default();
        let sink = calls.clone();
        let mut cache = MockAuthCache::new();
        let failures = Arc::new(Mutex::new(fail_first));
        cache.expect_invalidate().returning(move |users, sessions| {
            sink.lock()
                .unwrap()
                .push((users.to_vec(), sessions.to_vec()));
            let mut left = failures.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                Err(ServiceError("redis down".into()))
            } else {
                Ok(())
            }
        });
        (Arc::new(cache), calls)
    }

    fn user_id(n: u128) -> UserId {
        UserId(Uuid::from_u128(n))
    }

    #[tokio::test]
    async fn a_committed_revocation_invalidates_its_user_and_session_after_the_commit() {
        let order = Arc::new(Mutex::new(Vec::<&str>::new()));
        let mut tx = MockTransaction::new();
        tx.expect_revoke_session().returning(|_, _, _| Ok(true));
        tx.expect_revoke_user_sessions()
            .returning(|_, _, _, _| Ok(2));
        let committed = order.clone();
        tx.expect_commit().returning(move || {
            committed.lock().unwrap().push("commit");
            Ok(())
        });
        let (cache, calls) = recording_cache(0);
        let wrapped = InvalidatingUnitOfWork::new(uow(tx), cache);

        let mut tx = wrapped.begin().await.unwrap();
        let s = SessionId(Uuid::from_u128(9));
        tx.revoke_session(s, Utc::now(), RevocationReason::Logout)
            .await
            .unwrap();
        tx.revoke_user_sessions(user_id(1), Utc::now(), RevocationReason::LogoutAll, None)
            .await
            .unwrap();
        assert!(
            calls.lock().unwrap().is_empty(),
            "nothing before the commit"
        );
        tx.commit().await.unwrap();

        assert_eq!(order.lock().unwrap().as_slice(), ["commit"]);
        assert_eq!(
            calls.lock().unwrap().as_slice(),
            [(vec![user_id(1)], vec![s])]
        );
    }

    #[tokio::test]
    async fn a_rolled_back_or_failed_commit_invalidates_nothing() {
        let mut tx = MockTransaction::new();
        tx.expect_revoke_session().returning(|_, _, _| Ok(true));
        tx.expect_commit().returning(|| Err(RepoError::Conflict));
        let (cache, calls) = recording_cache(0);
        let wrapped = InvalidatingUnitOfWork::new(uow(tx), cache);
        let mut tx = wrapped.begin().await.unwrap();
        tx.revoke_session(
            SessionId(Uuid::from_u128(9)),
            Utc::now(),
            RevocationReason::Logout,
        )
        .await
        .unwrap();
        assert!(tx.commit().await.is_err());
        assert!(calls.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn logins_and_lockouts_leave_the_cache_alone() {
        let mut tx = MockTransaction::new();
        tx.expect_record_failed_login().returning(|_, _, _, _| {
            Ok(FailedLogin {
                attempts: 1,
                locked_until: None,
                newly_locked: false,
            })
        });
        tx.expect_commit().returning(|| Ok(()));
        let (cache, calls) = recording_cache(0);
        let wrapped = InvalidatingUnitOfWork::new(uow(tx), cache);
        let mut tx = wrapped.begin().await.unwrap();
        tx.record_failed_login(user_id(1), Utc::now(), 10, Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(calls.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_invalidation_is_retried_once_then_carried_into_the_next_change() {
        let (cache, calls) = recording_cache(2);
        let mut first = MockTransaction::new();
        first
            .expect_revoke_user_sessions()
            .returning(|_, _, _, _| Ok(1));
        first.expect_commit().returning(|| Ok(()));
        let mut second = MockTransaction::new();
        second.expect_touch_session().returning(|_, _, _| Ok(()));
        second.expect_commit().returning(|| Ok(()));
        let mut inner = MockUnitOfWork::new();
        let mut queue = vec![second, first];
        inner
            .expect_begin()
            .returning(move || Ok(Box::new(queue.pop().unwrap()) as Box<dyn Transaction>));
        let wrapped = InvalidatingUnitOfWork::new(Arc::new(inner), cache);

        let mut tx = wrapped.begin().await.unwrap();
        tx.revoke_user_sessions(user_id(1), Utc::now(), RevocationReason::Revoked, None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = wrapped.begin().await.unwrap();
        let s = SessionId(Uuid::from_u128(7));
        tx.touch_session(s, Utc::now(), Utc::now()).await.unwrap();
        tx.commit().await.unwrap();

        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 3, "two failed tries, then the combined retry");
        assert_eq!(calls[2], (vec![user_id(1)], vec![s]));
    }
}
