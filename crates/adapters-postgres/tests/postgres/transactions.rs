//! Transactions: commit, rollback on drop, pool hygiene, admin serialization.

use std::time::Duration;

use adapters_postgres::testing::TestDatabase;
use adapters_postgres::PgStore;
use domain::ports::{UnitOfWork, UserRepository};
use domain::user::Role;

use crate::helpers::{insert, user, wait_until};

#[tokio::test]
async fn a_committed_insert_is_visible_to_other_connections() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    let mut tx = store.begin().await.unwrap();
    tx.insert_user(&ann).await.unwrap();
    assert_eq!(store.get(ann.id).await.unwrap(), None, "not before commit");
    tx.commit().await.unwrap();
    assert!(store.get(ann.id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_dropped_transaction_rolls_back_and_its_connection_is_reused_clean() {
    let db = TestDatabase::new().await;
    let mut cfg = db.config();
    cfg.max_connections = 1;
    cfg.acquire_timeout = Duration::from_secs(5);
    let store = PgStore::new(&cfg).unwrap();
    let ann = user("ann");

    let mut tx = store.begin().await.unwrap();
    tx.insert_user(&ann).await.unwrap();
    drop(tx);

    // The only connection must come back, outside any transaction.
    assert_eq!(store.get(ann.id).await.unwrap(), None);
    for name in ["bob", "cat", "dan"] {
        let u = user(name);
        let mut tx = store.begin().await.unwrap();
        tx.insert_user(&u).await.unwrap();
        tx.commit().await.unwrap();
        assert!(store.get(u.id).await.unwrap().is_some());
    }
    assert_eq!(store.get(ann.id).await.unwrap(), None);
    assert_eq!(store.pool_status().size, 1);
    assert_eq!(
        db.query_i64(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn many_dropped_transactions_never_exhaust_a_small_pool() {
    let db = TestDatabase::new().await;
    let mut cfg = db.config();
    cfg.max_connections = 2;
    let store = PgStore::new(&cfg).unwrap();
    for i in 0..20 {
        let mut tx = store.begin().await.unwrap();
        tx.insert_user(&user(&format!("user-{i}"))).await.unwrap();
    }
    assert_eq!(db.query_i64("SELECT count(*) AS n FROM users").await, 0);
}

#[tokio::test]
async fn commit_twice_is_an_error_not_a_panic() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut tx = store.begin().await.unwrap();
    tx.commit().await.unwrap();
    assert!(tx.commit().await.is_err());
    assert!(tx.insert_user(&user("ann")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counting_admins_serializes_admin_affecting_transactions() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut a = user("admin-a");
    a.role = Role::Admin;
    let mut b = user("admin-b");
    b.role = Role::Admin;
    insert(&store, &[&a, &b]).await;

    // The first transaction counts two admins and demotes one.
    let mut first = store.begin().await.unwrap();
    assert_eq!(first.count_active_admins().await.unwrap(), 2);
    let mut demoted = first.user_for_update(a.id).await.unwrap().unwrap();
    demoted.role = Role::User;
    demoted.touch(demoted.updated_at);
    first.update_user(&demoted, a.version).await.unwrap();

    // The second must wait for it, then see its outcome.
    let second = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.count_active_admins().await.unwrap()
        })
    };
    wait_until("the second count waits on a lock", || async {
        db.sessions_where("wait_event_type = 'Lock'").await == 1
    })
    .await;
    assert!(
        !second.is_finished(),
        "the second count must wait for the lock"
    );
    first.commit().await.unwrap();

    assert_eq!(second.await.unwrap(), 1);
}
