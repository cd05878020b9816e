//! What the invalidating transaction does with the calls it does not act on, and the
//! guarded cache's stores: a change authentication sees is invalidated after the commit,
//! anything else reaches the store unaltered and invalidates nothing.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use domain::access::{AuthSnapshot, CacheTicket};
use domain::audit::{AuditAction, AuditEntry, EntityType, RequestContext};
use domain::error::ServiceError;
use domain::ports::{AuthCache, MockAuthCache, MockTransaction, MockUnitOfWork, UnitOfWork};
use domain::preferences::Preferences;
use domain::session::{Session, SessionId};
use domain::token::{RefreshToken, TokenHash};
use domain::user::{ErasedData, Role, User, UserId};
use domain::RepoError;

use super::{GuardedAuthCache, InvalidatingUnitOfWork};
use crate::testing;

/// Every `invalidate` the cache was asked for.
type Calls = Arc<Mutex<Vec<(Vec<UserId>, Vec<SessionId>)>>>;

fn at() -> DateTime<Utc> {
    testing::now()
}

fn wrapped(tx: MockTransaction) -> (InvalidatingUnitOfWork, Calls) {
    let mut uow = MockUnitOfWork::new();
    uow.expect_begin()
        .return_once(move || Ok(Box::new(tx) as Box<dyn domain::ports::Transaction>));
    let calls: Calls = Arc::default();
    let sink = calls.clone();
    let mut cache = MockAuthCache::new();
    cache.expect_invalidate().returning(move |users, sessions| {
        sink.lock()
            .expect("not poisoned")
            .push((users.to_vec(), sessions.to_vec()));
        Ok(())
    });
    (
        InvalidatingUnitOfWork::new(Arc::new(uow), Arc::new(cache), super::tests::quiet_lists()),
        calls,
    )
}

fn invalidations(calls: &Calls) -> Vec<(Vec<UserId>, Vec<SessionId>)> {
    calls.lock().expect("not poisoned").clone()
}

#[tokio::test]
async fn an_updated_user_is_invalidated_once_the_update_is_committed() {
    let mut promoted = testing::user(2, Role::User);
    promoted.role = Role::Admin;
    let mut tx = MockTransaction::new();
    tx.expect_update_user()
        .withf(|user, version| user.id == UserId(testing::id(2)) && *version == 4)
        .times(1)
        .returning(|_, _| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let (uow, calls) = wrapped(tx);

    let mut tx = uow.begin().await.expect("begins");
    tx.update_user(&promoted, 4).await.expect("updates");
    assert!(
        invalidations(&calls).is_empty(),
        "nothing before the commit"
    );
    tx.commit().await.expect("commits");

    assert_eq!(
        invalidations(&calls),
        [(vec![UserId(testing::id(2))], vec![])]
    );
}

#[tokio::test]
async fn an_update_the_store_refused_invalidates_nothing() {
    let mut tx = MockTransaction::new();
    tx.expect_update_user()
        .returning(|_, _| Err(RepoError::Conflict));
    tx.expect_commit().returning(|| Ok(()));
    let (uow, calls) = wrapped(tx);

    let mut tx = uow.begin().await.expect("begins");
    let err = tx
        .update_user(&testing::user(2, Role::User), 1)
        .await
        .unwrap_err();
    tx.commit().await.expect("commits");

    assert!(matches!(err, RepoError::Conflict), "{err:?}");
    assert!(invalidations(&calls).is_empty());
}

/// Every call below changes nothing a cached snapshot holds: each must reach the store
/// with the values given, hand back what the store answered, and invalidate nothing.
#[tokio::test]
async fn calls_that_change_no_cached_state_pass_through_and_invalidate_nothing() {
    let user = testing::user(2, Role::User);
    let session = testing::session(20, user.id);
    let token = RefreshToken {
        id: testing::id(30),
        session_id: session.id,
        user_id: user.id,
        token_hash: TokenHash([3; 32]),
        created_at: at(),
        expires_at: at() + Duration::days(7),
        spent_at: None,
        retired_at: None,
    };
    let entry = AuditEntry::new(
        testing::id(40),
        &RequestContext::default(),
        AuditAction::CreateUser,
        EntityType::User,
        Some(user.id.0.to_string()),
        serde_json::json!({}),
        at(),
    );
    let erased = ErasedData {
        sessions: 2,
        refresh_tokens: 3,
        audit_entries: 4,
    };
    let prefs = Preferences::default();

    let mut tx = MockTransaction::new();
    let found = user.clone();
    tx.expect_user_for_update()
        .withf(|id| *id == UserId(testing::id(2)))
        .returning(move |_| Ok(Some(found.clone())));
    tx.expect_user()
        .withf(|id| *id == UserId(testing::id(3)))
        .returning(|_| Ok(None));
    let inserted = user.clone();
    tx.expect_insert_user()
        .withf(move |u| *u == inserted)
        .returning(|_| Ok(()));
    tx.expect_acting_admin()
        .withf(|id| *id == UserId(testing::id(1)))
        .returning(|_| Ok(None));
    tx.expect_count_active_admins().returning(|| Ok(7));
    let stored_prefs = prefs.clone();
    tx.expect_put_preferences()
        .withf(move |id, p| *id == UserId(testing::id(2)) && *p == stored_prefs)
        .returning(|_, _| Ok(()));
    let opened = session.clone();
    tx.expect_insert_session()
        .withf(move |s| *s == opened)
        .returning(|_| Ok(()));
    let locked = session.clone();
    tx.expect_session_for_update()
        .withf(|id| *id == SessionId(testing::id(20)))
        .returning(move |_| Ok(Some(locked.clone())));
    let issued = token.clone();
    tx.expect_insert_refresh_token()
        .withf(move |t| *t == issued)
        .returning(|_| Ok(()));
    tx.expect_erase_personal_data()
        .withf(|id| *id == UserId(testing::id(2)))
        .returning(move |_| Ok(erased));
    let presented = token.clone();
    tx.expect_refresh_token_for_update()
        .withf(|hash| hash.0 == [3; 32])
        .returning(move |_| Ok(Some(presented.clone())));
    tx.expect_spend_refresh_token()
        .withf(|id, when| *id == testing::id(30) && *when == at())
        .returning(|_, _| Ok(()));
    let audited = entry.clone();
    tx.expect_append_audit()
        .withf(move |e| *e == audited)
        .returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let (uow, calls) = wrapped(tx);

    let mut tx = uow.begin().await.expect("begins");
    assert_eq!(
        tx.user_for_update(user.id).await.expect("reads"),
        Some(user.clone())
    );
    assert_eq!(tx.user(UserId(testing::id(3))).await.expect("reads"), None);
    tx.insert_user(&user).await.expect("inserts");
    assert_eq!(
        tx.acting_admin(UserId(testing::id(1)))
            .await
            .expect("reads"),
        None
    );
    assert_eq!(tx.count_active_admins().await.expect("counts"), 7);
    tx.put_preferences(user.id, &prefs).await.expect("stores");
    tx.insert_session(&session).await.expect("inserts");
    assert_eq!(
        tx.session_for_update(session.id).await.expect("reads"),
        Some(session.clone())
    );
    tx.insert_refresh_token(&token).await.expect("inserts");
    assert_eq!(
        tx.erase_personal_data(user.id).await.expect("erases"),
        erased
    );
    assert_eq!(
        tx.refresh_token_for_update(&TokenHash([3; 32]))
            .await
            .expect("reads"),
        Some(token.clone())
    );
    tx.spend_refresh_token(token.id, at())
        .await
        .expect("spends");
    tx.append_audit(&entry).await.expect("appends");
    tx.commit().await.expect("commits");

    assert!(
        invalidations(&calls).is_empty(),
        "{:?}",
        invalidations(&calls)
    );
}

/// A guarded cache over `inner` whose invalidations fail, so they stay pending.
fn guarded(inner: MockAuthCache) -> GuardedAuthCache {
    let mut clock = domain::ports::MockClock::new();
    clock.expect_now().returning(testing::now);
    GuardedAuthCache::new(Arc::new(inner), Arc::new(clock))
}

fn snapshot_of(session: &Session, user: &User) -> (CacheTicket, AuthSnapshot) {
    let ticket = CacheTicket {
        session_id: session.id,
        user_id: user.id,
        stamp: "g0".into(),
    };
    let snapshot = AuthSnapshot::of(session, user, at()).expect("an active session");
    (ticket, snapshot)
}

#[tokio::test]
async fn a_snapshot_of_a_pending_user_is_not_stored_and_others_are() {
    let (ann, bob) = (testing::user(1, Role::User), testing::user(2, Role::User));
    let (ann_session, bob_session) = (testing::session(10, ann.id), testing::session(20, bob.id));
    let stored: Arc<Mutex<Vec<UserId>>> = Arc::default();
    let sink = stored.clone();
    let mut inner = MockAuthCache::new();
    inner
        .expect_invalidate()
        .returning(|_, _| Err(ServiceError("OOM command not allowed".into())));
    inner.expect_store().returning(move |ticket, _| {
        sink.lock().expect("not poisoned").push(ticket.user_id);
        Ok(())
    });
    let cache = guarded(inner);
    assert!(cache.invalidate(&[ann.id], &[]).await.is_err());

    let (ticket, snapshot) = snapshot_of(&ann_session, &ann);
    cache
        .store(&ticket, &snapshot)
        .await
        .expect("a skipped store is not an error");
    let (ticket, snapshot) = snapshot_of(&bob_session, &bob);
    cache.store(&ticket, &snapshot).await.expect("stored");

    assert_eq!(
        stored.lock().expect("not poisoned").as_slice(),
        [bob.id],
        "the pending user's snapshot never reached the cache"
    );
}

#[tokio::test]
async fn an_empty_invalidation_does_not_reach_the_cache() {
    // No `invalidate` expectation: a call would fail the test.
    let cache = guarded(MockAuthCache::new());

    cache.invalidate(&[], &[]).await.expect("nothing to send");
}
