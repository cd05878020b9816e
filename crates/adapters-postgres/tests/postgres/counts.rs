//! List totals from the `user_counts` notes: exact for every filter of role, status and
//! deletion, whatever writes (any statement, any write path) and folds run, concurrently
//! included; sign-ins leave no note.

use std::sync::Arc;

use adapters_postgres::testing::TestDatabase;
use adapters_postgres::PgStore;
use chrono::Duration;
use domain::lockout::LockoutState;
use domain::page::{Limit, Offset, PageRequest, Position, UserFilter, UserQuery};
use domain::ports::{UnitOfWork, UserRepository};
use domain::user::{Role, User, UserStatus};

use crate::helpers::{insert, t0, user};

const ROLES: [Option<Role>; 3] = [None, Some(Role::Admin), Some(Role::User)];
const STATUSES: [Option<UserStatus>; 3] =
    [None, Some(UserStatus::Active), Some(UserStatus::Blocked)];

/// `total` of the first offset page of `filter`, as the list answers it.
async fn listed_total(store: &PgStore, filter: &UserFilter) -> u64 {
    let query = UserQuery {
        filter: filter.clone(),
        page: PageRequest {
            limit: Limit::new(1).unwrap(),
            position: Position::Offset(Offset::ZERO),
        },
        ..UserQuery::default()
    };
    store
        .list(&query)
        .await
        .unwrap()
        .total
        .expect("offset pages carry a total")
}

/// `count(*)` of the same filter, read from the users themselves.
async fn counted(db: &TestDatabase, filter: &UserFilter) -> u64 {
    let mut sql = "SELECT count(*) AS n FROM users WHERE TRUE".to_owned();
    if !filter.include_deleted {
        sql.push_str(" AND deleted_at IS NULL");
    }
    if let Some(role) = filter.role {
        sql.push_str(&format!(" AND role = '{}'", role.as_str()));
    }
    if let Some(status) = filter.status {
        sql.push_str(&format!(" AND status = '{}'", status.as_str()));
    }
    u64::try_from(db.query_i64(&sql).await).unwrap()
}

/// Every filter of role, status and deletion answers what `count(*)` says.
async fn assert_exact(db: &TestDatabase, store: &PgStore, when: &str) {
    for role in ROLES {
        for status in STATUSES {
            for include_deleted in [false, true] {
                let filter = UserFilter {
                    role,
                    status,
                    include_deleted,
                    ..UserFilter::default()
                };
                assert_eq!(
                    listed_total(store, &filter).await,
                    counted(db, &filter).await,
                    "{when}: {filter:?}"
                );
            }
        }
    }
}

fn varied(n: usize) -> Vec<User> {
    (0..n)
        .map(|i| {
            let mut u = user(&format!("counted{i}"));
            u.role = if i % 4 == 0 { Role::Admin } else { Role::User };
            u.status = if i % 3 == 0 {
                UserStatus::Blocked
            } else {
                UserStatus::Active
            };
            u.deleted_at = (i % 5 == 0).then(t0);
            u
        })
        .collect()
}

async fn notes(db: &TestDatabase) -> i64 {
    db.query_i64("SELECT count(*) AS n FROM user_counts").await
}

#[tokio::test]
async fn totals_stay_exact_through_every_kind_of_write_and_fold() {
    let db = TestDatabase::new().await;
    let store = db.store();
    assert_exact(&db, &store, "empty").await;

    let users = varied(30);
    insert(&store, &users.iter().collect::<Vec<_>>()).await;
    assert_exact(&db, &store, "after inserts").await;

    // Whatever statement changes a counted column is counted: the notes are the
    // database's, not one write path's.
    db.execute(
        "UPDATE users SET role = 'ADMIN' WHERE username LIKE 'counted1%'; \
         UPDATE users SET status = 'BLOCKED' WHERE username LIKE 'counted2%'; \
         UPDATE users SET deleted_at = now() WHERE username = 'counted7'; \
         UPDATE users SET deleted_at = NULL WHERE username = 'counted10'; \
         UPDATE users SET deleted_at = deleted_at + interval '1 day' WHERE username = 'counted15'; \
         UPDATE users SET role = 'USER', status = 'ACTIVE' WHERE username = 'counted0'; \
         DELETE FROM users WHERE username IN ('counted3', 'counted5');",
    )
    .await;
    assert_exact(&db, &store, "after updates and deletes").await;

    let before = notes(&db).await;
    let folded = store.fold_counts().await.unwrap();
    assert!(
        folded > 0 && folded <= u64::try_from(before).unwrap(),
        "{folded} of {before} notes folded"
    );
    assert!(
        notes(&db).await <= 8,
        "one row per role, status and deletion at most: {}",
        notes(&db).await
    );
    assert_exact(&db, &store, "after a fold").await;
    assert_eq!(
        store.fold_counts().await.unwrap(),
        0,
        "nothing left to fold"
    );

    db.execute("DELETE FROM users").await;
    assert_exact(&db, &store, "after deleting everyone").await;
    store.fold_counts().await.unwrap();
    assert_eq!(notes(&db).await, 0, "sums of zero are dropped");
    assert_exact(&db, &store, "empty again").await;
}

#[tokio::test]
async fn a_sign_in_or_a_lockout_write_leaves_no_note() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let before = notes(&db).await;
    let mut tx = store.begin().await.unwrap();
    tx.record_login(ann.id, LockoutState::default(), t0() + Duration::minutes(1))
        .await
        .unwrap();
    tx.write_lockout(
        ann.id,
        LockoutState {
            failed_attempts: 3,
            locked_until: Some(t0() + Duration::minutes(20)),
        },
        t0() + Duration::minutes(2),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(notes(&db).await, before);
}

#[tokio::test]
async fn concurrent_writers_and_folds_on_several_stores_lose_no_count() {
    let db = TestDatabase::new().await;
    // Two stores, as two instances: each folds while both write.
    let stores = [Arc::new(db.store()), Arc::new(db.store())];
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let store = stores[writer % 2].clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0..5 {
                let users: Vec<User> = varied(6)
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut u)| {
                        u.username =
                            domain::user::Username::parse(&format!("w{writer}b{batch}u{i}"))
                                .unwrap();
                        u
                    })
                    .collect();
                insert(&store, &users.iter().collect::<Vec<_>>()).await;
            }
        }));
    }
    for folder in 0..4 {
        let store = stores[folder % 2].clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                store.fold_counts().await.unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM users").await,
        8 * 5 * 6
    );
    assert_exact(&db, &stores[0], "after concurrent writes and folds").await;
    stores[1].fold_counts().await.unwrap();
    assert_exact(&db, &stores[1], "after a last fold").await;
}
