//! Sessions: auth lookup, revocation, active list.

use adapters_postgres::testing::TestDatabase;
use chrono::Duration;
use domain::page::{Cursor, Limit, Offset, PageRequest, Position};
use domain::ports::{SessionRepository, UnitOfWork};
use domain::session::{RevocationReason, SessionId};
use domain::user::UserStatus;
use domain::RepoError;
use uuid::Uuid;

use crate::helpers::{insert, insert_sessions, session, t0, user, CountingObserver};

#[tokio::test]
async fn find_for_auth_returns_the_session_with_its_current_user() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut ann = user("ann");
    ann.status = UserStatus::Blocked;
    insert(&store, &[&ann]).await;
    let s = session(ann.id, t0());
    insert_sessions(&store, &[&s]).await;

    let found = store.find_for_auth(s.id).await.unwrap();
    assert_eq!(found, Some((s, ann)));
    assert_eq!(
        store
            .find_for_auth(SessionId(Uuid::now_v7()))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn revoking_a_session_once_succeeds_and_twice_reports_false() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let s = session(ann.id, t0());
    insert_sessions(&store, &[&s]).await;

    let at = t0() + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .revoke_session(s.id, at, RevocationReason::Logout)
        .await
        .unwrap());
    assert!(!tx
        .revoke_session(s.id, at, RevocationReason::Logout)
        .await
        .unwrap());
    assert!(!tx
        .revoke_session(SessionId(Uuid::now_v7()), at, RevocationReason::Logout)
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let (found, _) = store.find_for_auth(s.id).await.unwrap().unwrap();
    assert_eq!(found.revoked_at, Some(at));
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM sessions WHERE revoked_reason = 'LOGOUT'")
            .await,
        1
    );
}

#[tokio::test]
async fn revoking_all_sessions_but_one_leaves_that_one_and_other_users_alone() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let (ann, bob) = (user("ann"), user("bob"));
    insert(&store, &[&ann, &bob]).await;
    let keep = session(ann.id, t0());
    let (s2, s3) = (session(ann.id, t0()), session(ann.id, t0()));
    let other = session(bob.id, t0());
    insert_sessions(&store, &[&keep, &s2, &s3, &other]).await;

    let at = t0() + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    let n = tx
        .revoke_user_sessions(ann.id, at, RevocationReason::PasswordChange, Some(keep.id))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(n, 2);

    let active = |id| {
        let store = store.clone();
        async move {
            let (s, _) = store.find_for_auth(id).await.unwrap().unwrap();
            s.revoked_at.is_none()
        }
    };
    assert!(active(keep.id).await);
    assert!(!active(s2.id).await);
    assert!(!active(s3.id).await);
    assert!(active(other.id).await);

    let mut tx = store.begin().await.unwrap();
    let n = tx
        .revoke_user_sessions(ann.id, at, RevocationReason::LogoutAll, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(n, 1, "only the kept one was still active");
}

#[tokio::test]
async fn touch_session_moves_last_use_and_expiry() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let s = session(ann.id, t0());
    insert_sessions(&store, &[&s]).await;

    let (used, expires) = (t0() + Duration::hours(1), t0() + Duration::days(8));
    let mut tx = store.begin().await.unwrap();
    let locked = tx.session_for_update(s.id).await.unwrap().unwrap();
    assert_eq!(locked, s);
    tx.touch_session(s.id, used, expires).await.unwrap();
    assert!(matches!(
        tx.touch_session(SessionId(Uuid::now_v7()), used, expires)
            .await,
        Err(RepoError::NotFound)
    ));
    tx.commit().await.unwrap();

    let (found, _) = store.find_for_auth(s.id).await.unwrap().unwrap();
    assert_eq!((found.last_used_at, found.expires_at), (used, expires));
}

#[tokio::test]
async fn list_active_shows_unrevoked_unexpired_sessions_newest_first() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let (ann, bob) = (user("ann"), user("bob"));
    insert(&store, &[&ann, &bob]).await;
    let old = session(ann.id, t0() - Duration::days(1));
    let new = session(ann.id, t0());
    let mut expired = session(ann.id, t0() - Duration::days(30));
    expired.expires_at = t0() - Duration::days(23);
    let revoked = session(ann.id, t0());
    let others = session(bob.id, t0());
    insert_sessions(&store, &[&old, &new, &expired, &revoked, &others]).await;
    let mut tx = store.begin().await.unwrap();
    tx.revoke_session(revoked.id, t0(), RevocationReason::Revoked)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let page = store
        .list_active(ann.id, t0(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items, vec![new, old]);
    assert_eq!(page.total, Some(2));
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn list_active_pages_by_cursor_through_every_session_once() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    // Pairs share a creation time, so the id tie-breaker matters.
    let sessions: Vec<_> = (0..7)
        .map(|i| session(ann.id, t0() - Duration::minutes(i / 2)))
        .collect();
    insert_sessions(&store, &sessions.iter().collect::<Vec<_>>()).await;

    let mut seen = Vec::new();
    let mut position = Position::Offset(Offset::ZERO);
    loop {
        let page = store
            .list_active(
                ann.id,
                t0(),
                &PageRequest {
                    limit: Limit::new(2).unwrap(),
                    position: position.clone(),
                },
            )
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|s| s.id));
        match page.next_cursor {
            Some(c) => position = Position::After(c),
            None => break,
        }
    }
    let mut expected: Vec<_> = sessions.iter().map(|s| (s.created_at, s.id)).collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        seen,
        expected.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn list_active_refuses_a_foreign_cursor() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let err = store
        .list_active(
            ann.id,
            t0(),
            &PageRequest {
                limit: Limit::default(),
                position: Position::After(Cursor("bm9wZQ".into())),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::InvalidCursor), "{err:?}");
}

#[tokio::test]
async fn count_active_users_counts_each_user_with_an_active_session_once() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let (ann, bob, cat) = (user("ann"), user("bob"), user("cat"));
    insert(&store, &[&ann, &bob, &cat]).await;
    assert_eq!(store.count_active_users(t0()).await.unwrap(), 0);
    let ann_1 = session(ann.id, t0());
    let ann_2 = session(ann.id, t0() - Duration::hours(1));
    let bob_revoked = session(bob.id, t0());
    let mut cat_expired = session(cat.id, t0() - Duration::days(30));
    cat_expired.expires_at = t0() - Duration::days(23);
    insert_sessions(&store, &[&ann_1, &ann_2, &bob_revoked, &cat_expired]).await;
    let mut tx = store.begin().await.unwrap();
    tx.revoke_session(bob_revoked.id, t0(), RevocationReason::Logout)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(store.count_active_users(t0()).await.unwrap(), 1);
    assert_eq!(
        store
            .count_active_users(t0() + Duration::days(8))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn an_observer_times_every_read_and_transaction_statement() {
    let db = TestDatabase::new().await;
    let calls = std::sync::Arc::new(CountingObserver::default());
    let store = db.store().with_observer(calls.clone());
    let ann = user("ann");

    insert(&store, &[&ann]).await; // begin, insert, commit
    store.count_active_users(t0()).await.unwrap();

    assert_eq!(calls.calls(), 4);
    let pool = domain::ports::HealthCheck::pool_stats(&store).unwrap();
    assert!(pool.size >= 1 && pool.idle <= pool.size && pool.waiting == 0);
}

#[tokio::test]
async fn session_for_update_reads_revoked_sessions_so_the_caller_can_judge_them() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let (ann, bob) = (user("ann"), user("bob"));
    insert(&store, &[&ann, &bob]).await;
    let (mine, theirs) = (session(ann.id, t0()), session(bob.id, t0()));
    insert_sessions(&store, &[&mine, &theirs]).await;
    let at = t0() + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .revoke_session(mine.id, at, RevocationReason::Revoked)
        .await
        .unwrap());
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let revoked = tx.session_for_update(mine.id).await.unwrap().unwrap();
    let other = tx.session_for_update(theirs.id).await.unwrap().unwrap();
    let unknown = tx
        .session_for_update(SessionId(Uuid::now_v7()))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!((revoked.user_id, revoked.revoked_at), (ann.id, Some(at)));
    assert!(!revoked.is_active(at));
    assert_eq!((other.user_id, other.revoked_at), (bob.id, None));
    assert_eq!(unknown, None);
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM sessions WHERE revoked_reason = 'REVOKED'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_admin_revocation_of_every_session_counts_only_unrevoked_ones() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let sessions: Vec<_> = (0..3).map(|_| session(ann.id, t0())).collect();
    insert_sessions(&store, &sessions.iter().collect::<Vec<_>>()).await;
    let mut tx = store.begin().await.unwrap();
    tx.revoke_session(sessions[0].id, t0(), RevocationReason::Logout)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let n = tx
        .revoke_user_sessions(ann.id, t0(), RevocationReason::Revoked, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(n, 2);
    let page = store
        .list_active(ann.id, t0(), &PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM sessions WHERE revoked_reason = 'REVOKED'")
            .await,
        2
    );
}

#[tokio::test]
async fn record_activity_moves_last_used_forward_in_one_batch_and_never_back() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let a = session(ann.id, t0());
    let b = session(ann.id, t0());
    insert_sessions(&store, &[&a, &b]).await;

    let later = t0() + Duration::minutes(5);
    let earlier = t0() - Duration::minutes(5);
    let unknown = SessionId(Uuid::now_v7());
    let moved = store
        .record_activity(&[(a.id, later), (b.id, earlier), (unknown, later)])
        .await
        .unwrap();

    assert_eq!(moved, 1, "only the forward move of a counts");
    let (a_now, _) = store.find_for_auth(a.id).await.unwrap().unwrap();
    let (b_now, _) = store.find_for_auth(b.id).await.unwrap().unwrap();
    assert_eq!(a_now.last_used_at, later);
    assert_eq!(b_now.last_used_at, b.last_used_at, "never moved backwards");
    assert_eq!(store.record_activity(&[]).await.unwrap(), 0);
}
