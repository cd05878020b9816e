//! Keeps the [`AuthCache`] honest: a unit of work whose transactions note every user and
//! session they change in a way authentication or the cached profile sees (any field of
//! the user, revocation, expiry) and invalidate their cached snapshots once the change is
//! committed.
//!
//! Invalidating after the commit is enough: a reader that read the old state took its
//! ticket before the invalidation, so its late store is refused. An invalidation that
//! cannot be delivered (Redis unreachable, or refusing writes while it still answers
//! reads) stays pending in [`GuardedAuthCache`]: until it lands, this instance answers
//! every request of those users and sessions from the database, never from the cache, and
//! it retries the delivery at most every [`RETRY_EVERY`] on the next lookup.
//!
//! The same transactions void the [`ListCache`]'s pages after committing any change to a
//! user row (a new user, any field, a sign-in or lockout write); [`GuardedListCache`]
//! keeps an undelivered voiding pending the same way.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::access::{AuthSnapshot, CacheLookup, CacheTicket};
use domain::audit::AuditEntry;
use domain::error::ServiceError;
use domain::lockout::LockoutState;
use domain::ports::{AuthCache, Clock, ListCache, Transaction, UnitOfWork};
use domain::preferences::Preferences;
use domain::session::{RevocationReason, Session, SessionId};
use domain::token::{RefreshToken, TokenHash};
use domain::user::{ErasedData, User, UserId};
use domain::RepoError;
use uuid::Uuid;

mod list_guard;

pub(crate) use list_guard::GuardedListCache;

/// How often a pending invalidation is retried (on the next lookup after that long).
pub(crate) const RETRY_EVERY: Duration = Duration::seconds(1);

/// Whether something pending since `last_try` is due for another try at `now`.
fn retry_due(last_try: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_try.is_none_or(|at| now - at >= RETRY_EVERY)
}

/// Runs a delivery, and once more if it fails: a reconnecting client often answers the
/// second call.
async fn with_one_retry<F, Fut>(mut deliver: F) -> Result<(), ServiceError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ServiceError>>,
{
    match deliver().await {
        Ok(()) => Ok(()),
        Err(_) => deliver().await,
    }
}

/// Users and sessions whose snapshots must go.
#[derive(Debug, Default, Clone, PartialEq)]
struct Stale {
    users: Vec<UserId>,
    sessions: Vec<SessionId>,
}

impl Stale {
    fn is_empty(&self) -> bool {
        self.users.is_empty() && self.sessions.is_empty()
    }

    fn absorb(&mut self, users: &[UserId], sessions: &[SessionId]) {
        self.users.extend_from_slice(users);
        self.sessions.extend_from_slice(sessions);
        self.users.sort_unstable_by_key(|u| u.0);
        self.users.dedup();
        self.sessions.sort_unstable();
        self.sessions.dedup();
    }

    /// Forgets what `delivered` covered (entries added since stay).
    fn remove(&mut self, delivered: &Stale) {
        self.users.retain(|u| !delivered.users.contains(u));
        self.sessions.retain(|s| !delivered.sessions.contains(s));
    }

    fn covers(&self, session: SessionId, user: UserId) -> bool {
        self.users.contains(&user) || self.sessions.contains(&session)
    }
}

#[derive(Debug, Default)]
struct Pending {
    stale: Stale,
    last_try: Option<DateTime<Utc>>,
}

/// The auth cache the use cases see: the adapter plus the invalidations this instance
/// has not delivered yet (see the module docs).
pub(crate) struct GuardedAuthCache {
    inner: Arc<dyn AuthCache>,
    clock: Arc<dyn Clock>,
    pending: Mutex<Pending>,
}

impl GuardedAuthCache {
    pub(crate) fn new(inner: Arc<dyn AuthCache>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            clock,
            pending: Mutex::default(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tries to deliver everything pending once; what was delivered is no longer pending.
    async fn deliver(&self) -> Result<(), ServiceError> {
        let batch = {
            let mut pending = self.pending();
            pending.last_try = Some(self.clock.now());
            pending.stale.clone()
        };
        if batch.is_empty() {
            return Ok(());
        }
        self.inner.invalidate(&batch.users, &batch.sessions).await?;
        self.pending().stale.remove(&batch);
        Ok(())
    }

    /// Whether a lookup or store of these must bypass the cache; retries the delivery
    /// first when the last try is old enough.
    async fn bypasses(&self, session: SessionId, user: UserId) -> bool {
        let retry = {
            let pending = self.pending();
            !pending.stale.is_empty() && retry_due(pending.last_try, self.clock.now())
        };
        if retry {
            if let Err(err) = self.deliver().await {
                tracing::debug!(error = %err, "pending auth-cache invalidation still not delivered");
            }
        }
        self.pending().stale.covers(session, user)
    }
}

#[async_trait]
impl AuthCache for GuardedAuthCache {
    async fn lookup(&self, session: SessionId, user: UserId) -> Result<CacheLookup, ServiceError> {
        if self.bypasses(session, user).await {
            return Err(ServiceError(
                "an invalidation of this session or user is pending".into(),
            ));
        }
        self.inner.lookup(session, user).await
    }

    async fn store(
        &self,
        ticket: &CacheTicket,
        snapshot: &AuthSnapshot,
    ) -> Result<(), ServiceError> {
        if self.bypasses(ticket.session_id, ticket.user_id).await {
            return Ok(());
        }
        self.inner.store(ticket, snapshot).await
    }

    /// Pending from the first moment, so lookups bypass even while it is being sent.
    async fn invalidate(
        &self,
        users: &[UserId],
        sessions: &[SessionId],
    ) -> Result<(), ServiceError> {
        self.pending().stale.absorb(users, sessions);
        let result = with_one_retry(|| self.deliver()).await;
        if let Err(err) = &result {
            let stale = self.pending().stale.clone();
            tracing::error!(
                error = %err,
                users = stale.users.len(),
                sessions = stale.sessions.len(),
                "could not invalidate cached auth state; this instance reads those from the \
                 database until a retry lands"
            );
        }
        result
    }
}

/// Wraps the real unit of work; see the module docs.
pub(crate) struct InvalidatingUnitOfWork {
    inner: Arc<dyn UnitOfWork>,
    cache: Arc<dyn AuthCache>,
    lists: Arc<dyn ListCache>,
}

impl InvalidatingUnitOfWork {
    pub(crate) fn new(
        inner: Arc<dyn UnitOfWork>,
        cache: Arc<dyn AuthCache>,
        lists: Arc<dyn ListCache>,
    ) -> Self {
        Self {
            inner,
            cache,
            lists,
        }
    }
}

#[async_trait]
impl UnitOfWork for InvalidatingUnitOfWork {
    async fn begin(&self) -> Result<Box<dyn Transaction>, RepoError> {
        Ok(Box::new(InvalidatingTransaction {
            inner: self.inner.begin().await?,
            cache: self.cache.clone(),
            lists: self.lists.clone(),
            stale: Stale::default(),
            users_changed: false,
        }))
    }
}

struct InvalidatingTransaction {
    inner: Box<dyn Transaction>,
    cache: Arc<dyn AuthCache>,
    lists: Arc<dyn ListCache>,
    stale: Stale,
    /// Whether any user row changed: every list page may show it.
    users_changed: bool,
}

impl InvalidatingTransaction {
    async fn invalidate(&mut self) {
        let noted = std::mem::take(&mut self.stale);
        if noted.is_empty() {
            return;
        }
        // A login notes its user twice (lockout, then login): send each once.
        let mut stale = Stale::default();
        stale.absorb(&noted.users, &noted.sessions);
        // A failure stays pending in the guarded cache, which logs it.
        let _ = self.cache.invalidate(&stale.users, &stale.sessions).await;
    }

    async fn void_lists(&mut self) {
        if std::mem::take(&mut self.users_changed) {
            // A failure stays pending in the guarded list cache, which logs it.
            let _ = self.lists.invalidate().await;
        }
    }
}

#[async_trait]
impl Transaction for InvalidatingTransaction {
    async fn user_for_update(&mut self, id: UserId) -> Result<Option<User>, RepoError> {
        self.inner.user_for_update(id).await
    }

    async fn user(&mut self, id: UserId) -> Result<Option<User>, RepoError> {
        self.inner.user(id).await
    }

    async fn insert_user(&mut self, user: &User) -> Result<(), RepoError> {
        self.inner.insert_user(user).await?;
        // No snapshot of a new user exists, but list pages change.
        self.users_changed = true;
        Ok(())
    }

    async fn update_user(&mut self, user: &User, expected_version: i64) -> Result<(), RepoError> {
        self.inner.update_user(user, expected_version).await?;
        self.stale.users.push(user.id);
        self.users_changed = true;
        Ok(())
    }

    async fn write_lockout(
        &mut self,
        id: UserId,
        state: LockoutState,
        at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        // A lockout stops sign-in, not the sessions already open; but the failed-attempt
        // count and the lockout end are part of the cached profile.
        self.inner.write_lockout(id, state, at).await?;
        self.stale.users.push(id);
        self.users_changed = true;
        Ok(())
    }

    async fn record_login(
        &mut self,
        id: UserId,
        state: LockoutState,
        at: DateTime<Utc>,
    ) -> Result<User, RepoError> {
        let user = self.inner.record_login(id, state, at).await?;
        // The login time and count are part of the cached profile and of list rows.
        self.stale.users.push(id);
        self.users_changed = true;
        Ok(user)
    }

    async fn acting_admin(&mut self, id: UserId) -> Result<Option<User>, RepoError> {
        self.inner.acting_admin(id).await
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

    async fn erase_personal_data(&mut self, id: UserId) -> Result<ErasedData, RepoError> {
        // Session details and refresh tokens are not part of a cached snapshot; the
        // user's own change goes through `update_user`. Lists count it anyway, in case an
        // adapter's erasure touches the row itself.
        let erased = self.inner.erase_personal_data(id).await?;
        self.users_changed = true;
        Ok(erased)
    }

    async fn refresh_token_for_update(
        &mut self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshToken>, RepoError> {
        self.inner.refresh_token_for_update(hash).await
    }

    async fn retire_refresh_tokens(
        &mut self,
        session_id: SessionId,
        at: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        // Refresh tokens are not part of a cached snapshot.
        self.inner.retire_refresh_tokens(session_id, at).await
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
        self.void_lists().await;
        Ok(())
    }
}

#[cfg(test)]
mod passthrough_tests;

#[cfg(test)]
mod list_tests;

#[cfg(test)]
mod tests {
    use super::*;
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

    /// A list cache that takes any voiding.
    pub(super) fn quiet_lists() -> Arc<dyn ListCache> {
        let mut lists = domain::ports::MockListCache::new();
        lists.expect_invalidate().returning(|| Ok(()));
        Arc::new(lists)
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
        let wrapped = InvalidatingUnitOfWork::new(uow(tx), cache, quiet_lists());

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
        let wrapped = InvalidatingUnitOfWork::new(uow(tx), cache, quiet_lists());
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
    async fn logins_and_lockouts_invalidate_their_user_and_refresh_tokens_nothing() {
        let mut tx = MockTransaction::new();
        tx.expect_write_lockout().returning(|_, _, _| Ok(()));
        tx.expect_record_login()
            .returning(|_, _, _| Ok(crate::testing::user(1, domain::user::Role::User)));
        tx.expect_retire_refresh_tokens().returning(|_, _| Ok(1));
        tx.expect_commit().returning(|| Ok(()));
        let (cache, calls) = recording_cache(0);
        let wrapped = InvalidatingUnitOfWork::new(uow(tx), cache, quiet_lists());
        let mut tx = wrapped.begin().await.unwrap();
        tx.write_lockout(user_id(1), LockoutState::default(), Utc::now())
            .await
            .unwrap();
        tx.record_login(user_id(1), LockoutState::default(), Utc::now())
            .await
            .unwrap();
        tx.retire_refresh_tokens(SessionId(Uuid::from_u128(3)), Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        // Login time, login count, failed attempts and lockout end are in the cached
        // profile; refresh tokens are in no snapshot.
        assert_eq!(
            calls.lock().unwrap().as_slice(),
            [(vec![user_id(1)], vec![])]
        );
    }

    /// A clock the test moves by hand.
    fn manual_clock() -> (Arc<dyn Clock>, Arc<Mutex<DateTime<Utc>>>) {
        let now = Arc::new(Mutex::new(crate::testing::now()));
        let read = now.clone();
        let mut clock = domain::ports::MockClock::new();
        clock.expect_now().returning(move || *read.lock().unwrap());
        (Arc::new(clock), now)
    }

    #[tokio::test]
    async fn a_failed_invalidation_is_retried_once_then_carried_into_the_next_change() {
        let (cache, calls) = recording_cache(2);
        let (clock, _) = manual_clock();
        let guarded: Arc<dyn AuthCache> = Arc::new(GuardedAuthCache::new(cache, clock));
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
        let wrapped = InvalidatingUnitOfWork::new(Arc::new(inner), guarded, quiet_lists());

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

    #[tokio::test]
    async fn while_an_invalidation_is_pending_its_users_and_sessions_bypass_the_cache() {
        let (cache_inner, calls) = {
            let calls: Calls = Arc::default();
            let sink = calls.clone();
            let mut cache = MockAuthCache::new();
            // Redis refusing writes while it still answers reads: every invalidation fails
            // until the test lets them through.
            let refuse = Arc::new(Mutex::new(true));
            let gate = refuse.clone();
            cache.expect_invalidate().returning(move |users, sessions| {
                sink.lock()
                    .unwrap()
                    .push((users.to_vec(), sessions.to_vec()));
                if *gate.lock().unwrap() {
                    Err(ServiceError("OOM command not allowed".into()))
                } else {
                    Ok(())
                }
            });
            cache
                .expect_lookup()
                .returning(|session, user| Ok(CacheLookup::Miss(ticket(session, user))));
            cache.expect_store().returning(|_, _| Ok(()));
            ((cache, refuse), calls)
        };
        let (cache, refuse) = cache_inner;
        let (clock, now) = manual_clock();
        let guarded = GuardedAuthCache::new(Arc::new(cache), clock);
        let (ann, ann_session) = (user_id(1), SessionId(Uuid::from_u128(10)));
        let (bob, bob_session) = (user_id(2), SessionId(Uuid::from_u128(20)));

        assert!(guarded.invalidate(&[ann], &[]).await.is_err());
        assert_eq!(calls.lock().unwrap().len(), 2, "tried twice");

        assert!(
            guarded.lookup(ann_session, ann).await.is_err(),
            "a pending user is read from the database"
        );
        assert!(
            guarded.lookup(bob_session, bob).await.is_ok(),
            "others are not"
        );
        assert_eq!(
            calls.lock().unwrap().len(),
            2,
            "no retry within a second of the last"
        );

        *now.lock().unwrap() += RETRY_EVERY;
        assert!(
            guarded.lookup(ann_session, ann).await.is_err(),
            "still refused"
        );
        assert_eq!(calls.lock().unwrap().len(), 3, "retried on the lookup");

        *refuse.lock().unwrap() = false;
        *now.lock().unwrap() += RETRY_EVERY;
        assert!(
            guarded.lookup(ann_session, ann).await.is_ok(),
            "the cache answers again once the invalidation landed"
        );
        assert_eq!(calls.lock().unwrap()[3], (vec![ann], vec![]));
    }

    fn ticket(session_id: SessionId, user_id: UserId) -> CacheTicket {
        CacheTicket {
            session_id,
            user_id,
            stamp: "g0".into(),
        }
    }
}
