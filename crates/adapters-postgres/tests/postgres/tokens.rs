//! Refresh tokens: stored by hash, looked up by hash, spent once.

use adapters_postgres::testing::TestDatabase;
use chrono::Duration;
use domain::ports::UnitOfWork;
use domain::token::{RefreshSecret, RefreshToken};
use domain::RepoError;
use uuid::Uuid;

use crate::helpers::{insert, insert_sessions, session, t0, user};

#[tokio::test]
async fn a_refresh_token_is_found_by_its_hash_and_spent_once() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let s = session(ann.id, t0());
    insert_sessions(&store, &[&s]).await;
    let secret = RefreshSecret::new("a-very-secret-refresh-token");
    let token = RefreshToken {
        id: Uuid::now_v7(),
        session_id: s.id,
        user_id: ann.id,
        token_hash: secret.hash(),
        created_at: t0(),
        expires_at: t0() + Duration::days(7),
        spent_at: None,
        retired_at: None,
    };

    let mut tx = store.begin().await.unwrap();
    tx.insert_refresh_token(&token).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let found = tx.refresh_token_for_update(&secret.hash()).await.unwrap();
    assert_eq!(found.as_ref(), Some(&token));
    let spent_at = t0() + Duration::minutes(1);
    tx.spend_refresh_token(token.id, spent_at).await.unwrap();
    // A second spend keeps the first time (the reuse grace window starts there).
    tx.spend_refresh_token(token.id, spent_at + Duration::minutes(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let spent = tx
        .refresh_token_for_update(&secret.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spent.spent_at, Some(spent_at));
    assert_eq!(
        tx.refresh_token_for_update(&RefreshSecret::new("other").hash())
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        tx.spend_refresh_token(Uuid::now_v7(), spent_at).await,
        Err(RepoError::NotFound)
    ));
}

#[tokio::test]
async fn only_the_hash_of_a_refresh_secret_is_stored() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let s = session(ann.id, t0());
    insert_sessions(&store, &[&s]).await;
    let secret = RefreshSecret::new("plain-secret-value");
    let mut tx = store.begin().await.unwrap();
    tx.insert_refresh_token(&RefreshToken {
        id: Uuid::now_v7(),
        session_id: s.id,
        user_id: ann.id,
        token_hash: secret.hash(),
        created_at: t0(),
        expires_at: t0() + Duration::days(7),
        spent_at: None,
        retired_at: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        db.query_i64(
            "SELECT count(*) AS n FROM refresh_tokens \
             WHERE position(convert_to('plain-secret-value', 'UTF8') in token_hash) > 0 \
                OR octet_length(token_hash) <> 32"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn retiring_spends_and_marks_only_the_live_tokens_of_that_session() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let (mine, other) = (session(ann.id, t0()), session(ann.id, t0()));
    insert_sessions(&store, &[&mine, &other]).await;
    let token = |session_id, secret: &str, spent_at| RefreshToken {
        id: Uuid::now_v7(),
        session_id,
        user_id: ann.id,
        token_hash: RefreshSecret::new(secret).hash(),
        created_at: t0(),
        expires_at: t0() + Duration::days(7),
        spent_at,
        retired_at: None,
    };
    let spent = token(mine.id, "spent", Some(t0()));
    let live = token(mine.id, "live", None);
    let elsewhere = token(other.id, "elsewhere", None);
    let mut tx = store.begin().await.unwrap();
    for t in [&spent, &live, &elsewhere] {
        tx.insert_refresh_token(t).await.unwrap();
    }
    tx.commit().await.unwrap();

    let at = t0() + Duration::seconds(3);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.retire_refresh_tokens(mine.id, at).await.unwrap(), 1);
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let read = |t: &RefreshToken| t.token_hash;
    let retired = tx
        .refresh_token_for_update(&read(&live))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((retired.spent_at, retired.retired_at), (Some(at), Some(at)));
    let kept = tx
        .refresh_token_for_update(&read(&spent))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((kept.spent_at, kept.retired_at), (Some(t0()), None));
    let untouched = tx
        .refresh_token_for_update(&read(&elsewhere))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((untouched.spent_at, untouched.retired_at), (None, None));
}
