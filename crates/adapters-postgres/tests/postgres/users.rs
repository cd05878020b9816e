//! Users: insert, read, uniqueness, optimistic updates, login bookkeeping.

use adapters_postgres::testing::TestDatabase;
use chrono::Duration;
use domain::lockout::{FailedAttempt, LockoutPolicy, LockoutState};
use domain::ports::{UnitOfWork, UserRepository};
use domain::user::{Email, Role, User, UserId, UserStatus, Username};
use domain::RepoError;
use uuid::Uuid;

use crate::helpers::{insert, t0, user, user_with_email, wait_until};

#[tokio::test]
async fn an_inserted_user_reads_back_identical() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut ann = user_with_email("ann", "Ann@Example.org");
    ann.last_login_at = Some(t0() + Duration::microseconds(123_456));
    ann.locked_until = Some(t0() + Duration::minutes(15));
    ann.role = Role::Admin;
    insert(&store, &[&ann]).await;

    assert_eq!(store.get(ann.id).await.unwrap(), Some(ann));
}

#[tokio::test]
async fn get_of_an_unknown_id_is_none() {
    let db = TestDatabase::new().await;
    assert_eq!(db.store().get(UserId(Uuid::now_v7())).await.unwrap(), None);
}

#[tokio::test]
async fn find_by_username_ignores_case_and_includes_deleted_users() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut ann = user("Ann.Smith");
    ann.deleted_at = Some(t0());
    insert(&store, &[&ann]).await;

    let found = store
        .find_by_username(&Username::parse("ann.SMITH").unwrap())
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(ann.id));
    let none = store
        .find_by_username(&Username::parse("bob").unwrap())
        .await
        .unwrap();
    assert_eq!(none, None);
}

#[tokio::test]
async fn a_username_differing_only_in_case_is_taken() {
    let db = TestDatabase::new().await;
    let store = db.store();
    insert(&store, &[&user("ann")]).await;

    let mut tx = store.begin().await.unwrap();
    let err = tx.insert_user(&user("ANN")).await.unwrap_err();
    assert!(matches!(err, RepoError::UsernameTaken), "{err:?}");
}

#[tokio::test]
async fn an_email_differing_only_in_case_is_taken() {
    let db = TestDatabase::new().await;
    let store = db.store();
    insert(&store, &[&user_with_email("ann", "ann@example.org")]).await;

    let mut tx = store.begin().await.unwrap();
    let err = tx
        .insert_user(&user_with_email("bob", "ANN@EXAMPLE.ORG"))
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::EmailTaken), "{err:?}");
}

#[tokio::test]
async fn a_soft_deleted_user_keeps_name_and_email_reserved() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut ann = user_with_email("ann", "ann@example.org");
    ann.deleted_at = Some(t0());
    insert(&store, &[&ann]).await;

    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.insert_user(&user("ann")).await,
        Err(RepoError::UsernameTaken)
    ));
    assert!(matches!(
        tx.insert_user(&user_with_email("bob", "ann@example.org"))
            .await,
        Err(RepoError::EmailTaken)
    ));
}

#[tokio::test]
async fn taken_names_finds_held_names_and_emails_case_insensitively_deleted_included() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut gone = user_with_email("Gone.User", "Gone@Example.org");
    gone.deleted_at = Some(t0());
    insert(
        &store,
        &[
            &user_with_email("Ann", "ann@example.org"),
            &user("bob"),
            &gone,
        ],
    )
    .await;
    let names = ["ann", "bob", "gone.user", "carl"].map(String::from);
    let emails = ["ann@example.org", "gone@example.org", "carl@example.org"].map(String::from);

    let taken = store.taken_names(&names, &emails).await.unwrap();

    let mut usernames: Vec<_> = taken.usernames.into_iter().collect();
    usernames.sort();
    let mut held: Vec<_> = taken.emails.into_iter().collect();
    held.sort();
    assert_eq!(usernames, ["ann", "bob", "gone.user"]);
    assert_eq!(held, ["ann@example.org", "gone@example.org"]);
    let none = store.taken_names(&[], &[]).await.unwrap();
    assert!(none.usernames.is_empty() && none.emails.is_empty());
}

#[tokio::test]
async fn users_without_email_do_not_clash() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let (ann, bob) = (user("ann"), user("bob"));
    insert(&store, &[&ann, &bob]).await;
    assert_eq!(store.get(ann.id).await.unwrap().unwrap().email, None);
    assert_eq!(store.get(bob.id).await.unwrap().unwrap().email, None);
}

#[tokio::test]
async fn a_failed_insert_leaves_the_transaction_usable() {
    let db = TestDatabase::new().await;
    let store = db.store();
    insert(&store, &[&user("ann")]).await;

    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_user(&user("ann")).await.is_err());
    let bob = user("bob");
    tx.insert_user(&bob).await.unwrap();
    tx.commit().await.unwrap();

    assert!(store.get(bob.id).await.unwrap().is_some());
}

#[tokio::test]
async fn update_writes_every_mutable_field_when_the_version_matches() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;

    let mut changed = ann.clone();
    changed.username = Username::parse("ann2").unwrap();
    changed.email = Some(Email::parse("ann2@example.org").unwrap());
    changed.role = Role::Admin;
    changed.status = UserStatus::Blocked;
    changed.must_change_password = true;
    changed.deleted_at = Some(t0() + Duration::hours(1));
    changed.touch(t0() + Duration::hours(1));
    let mut tx = store.begin().await.unwrap();
    tx.update_user(&changed, ann.version).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(store.get(ann.id).await.unwrap(), Some(changed));
}

#[tokio::test]
async fn update_with_a_stale_version_is_a_conflict_and_changes_nothing() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;

    let mut changed = ann.clone();
    changed.role = Role::Admin;
    changed.touch(t0());
    let mut tx = store.begin().await.unwrap();
    let err = tx.update_user(&changed, ann.version + 5).await.unwrap_err();
    assert!(matches!(err, RepoError::Conflict), "{err:?}");
    tx.commit().await.unwrap();

    assert_eq!(store.get(ann.id).await.unwrap(), Some(ann));
}

#[tokio::test]
async fn update_of_a_missing_user_is_not_found() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut tx = store.begin().await.unwrap();
    let err = tx.update_user(&user("ghost"), 1).await.unwrap_err();
    assert!(matches!(err, RepoError::NotFound), "{err:?}");
}

#[tokio::test]
async fn update_to_a_taken_username_is_username_taken() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann, &user("bob")]).await;

    let mut renamed = ann.clone();
    renamed.username = Username::parse("BOB").unwrap();
    let mut tx = store.begin().await.unwrap();
    let err = tx.update_user(&renamed, ann.version).await.unwrap_err();
    assert!(matches!(err, RepoError::UsernameTaken), "{err:?}");
}

#[tokio::test]
async fn user_for_update_reads_the_user_or_none() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.user_for_update(ann.id).await.unwrap(), Some(ann));
    assert_eq!(
        tx.user_for_update(UserId(Uuid::now_v7())).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn record_login_writes_the_decided_lockout_state_and_counts_the_login() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut ann = user("ann");
    ann.failed_login_attempts = 3;
    ann.locked_until = Some(t0() - Duration::minutes(1));
    ann.login_count = 4;
    insert(&store, &[&ann]).await;

    let at = t0() + Duration::minutes(5);
    let mut tx = store.begin().await.unwrap();
    let after = tx
        .record_login(ann.id, LockoutState::default(), at)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(after.last_login_at, Some(at));
    assert_eq!(after.login_count, 5);
    assert_eq!(after.failed_login_attempts, 0);
    assert_eq!(after.locked_until, None);
    assert_eq!(after.version, ann.version + 1);
    assert_eq!(after.updated_at, at);
    assert_eq!(store.get(ann.id).await.unwrap(), Some(after));
}

#[tokio::test]
async fn record_login_and_write_lockout_of_a_missing_user_are_not_found() {
    let db = TestDatabase::new().await;
    let mut tx = db.store().begin().await.unwrap();
    let ghost = UserId(Uuid::now_v7());
    assert!(matches!(
        tx.record_login(ghost, LockoutState::default(), t0()).await,
        Err(RepoError::NotFound)
    ));
    assert!(matches!(
        tx.write_lockout(ghost, LockoutState::default(), t0()).await,
        Err(RepoError::NotFound)
    ));
}

#[tokio::test]
async fn write_lockout_stores_exactly_the_decided_state() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let state = LockoutState {
        failed_attempts: 7,
        locked_until: Some(t0() + Duration::minutes(15)),
    };

    let mut tx = store.begin().await.unwrap();
    tx.write_lockout(ann.id, state, t0() + Duration::seconds(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let stored = store.get(ann.id).await.unwrap().unwrap();
    assert_eq!(LockoutState::of(&stored), state);
    assert_eq!(stored.version, ann.version + 1);
    assert_eq!(stored.updated_at, t0() + Duration::seconds(1));
}

/// One failed attempt as the login use case records it: lock the row, decide with the
/// domain's machine on what it holds, write the result.
async fn fail_once(store: &adapters_postgres::PgStore, id: UserId) -> FailedAttempt {
    let policy = LockoutPolicy {
        threshold: 10,
        duration: Duration::minutes(15),
    };
    let mut tx = store.begin().await.unwrap();
    let locked = tx.user_for_update(id).await.unwrap().unwrap();
    let attempt = policy.on_failure(LockoutState::of(&locked), t0());
    tx.write_lockout(id, attempt.state, t0()).await.unwrap();
    tx.commit().await.unwrap();
    attempt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_failures_decided_under_the_row_lock_count_fifty_and_lock_once() {
    let db = TestDatabase::new().await;
    let mut cfg = db.config();
    cfg.max_connections = 10;
    let store = adapters_postgres::PgStore::new(&cfg).unwrap();
    let ann = user("ann");
    insert(&store, &[&ann]).await;

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { fail_once(&store, ann.id).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }

    let mut attempts: Vec<i32> = outcomes.iter().map(|o| o.state.failed_attempts).collect();
    attempts.sort_unstable();
    assert_eq!(attempts, (1..=50).collect::<Vec<_>>());
    assert_eq!(outcomes.iter().filter(|o| o.newly_locked).count(), 1);
    let locker = outcomes.iter().find(|o| o.newly_locked).unwrap();
    assert_eq!(locker.state.failed_attempts, 10);
    let stored = store.get(ann.id).await.unwrap().unwrap();
    assert_eq!(stored.failed_login_attempts, 50);
    assert_eq!(stored.locked_until, Some(t0() + Duration::minutes(15)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acting_admin_waits_for_a_demotion_in_flight_and_reads_its_outcome() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut root = user("root");
    root.role = Role::Admin;
    let mut other = user("other");
    other.role = Role::Admin;
    insert(&store, &[&root, &other]).await;

    // A demotion of `root` holds the admin lock, as every admin removal does.
    let mut demotion = store.begin().await.unwrap();
    demotion.count_active_admins().await.unwrap();
    let mut demoted = demotion.user_for_update(root.id).await.unwrap().unwrap();
    let expected = demoted.version;
    demoted.role = Role::User;
    demoted.version += 1;
    demotion.update_user(&demoted, expected).await.unwrap();

    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.acting_admin(root.id).await.unwrap()
        })
    };
    wait_until("acting_admin waits on a lock", || async {
        db.sessions_where("wait_event_type = 'Lock'").await == 1
    })
    .await;
    assert!(
        !reader.is_finished(),
        "acting_admin waits for the admin lock"
    );
    demotion.commit().await.unwrap();

    let seen = reader.await.unwrap().unwrap();
    assert_eq!(seen.role, Role::User, "the committed demotion is seen");
}

#[tokio::test]
async fn any_admin_ignores_deleted_admins() {
    let db = TestDatabase::new().await;
    let store = db.store();
    assert!(!store.any_admin().await.unwrap());
    let mut gone = user("gone");
    gone.role = Role::Admin;
    gone.deleted_at = Some(t0());
    insert(&store, &[&gone, &user("plain")]).await;
    assert!(!store.any_admin().await.unwrap());

    let mut admin = user("admin");
    admin.role = Role::Admin;
    insert(&store, &[&admin]).await;
    assert!(store.any_admin().await.unwrap());
}

#[tokio::test]
async fn count_active_admins_counts_only_active_undeleted_admins() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut a = user("admin-a");
    a.role = Role::Admin;
    let mut blocked = user("admin-b");
    blocked.role = Role::Admin;
    blocked.status = UserStatus::Blocked;
    let mut deleted = user("admin-c");
    deleted.role = Role::Admin;
    deleted.deleted_at = Some(t0());
    insert(&store, &[&a, &blocked, &deleted, &user("plain")]).await;

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.count_active_admins().await.unwrap(), 1);
}

#[tokio::test]
async fn the_active_admin_count_is_the_domain_rule_applied_to_every_kind_of_account() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let account = |name: &str, role: Role, status: UserStatus, deleted: bool| {
        let mut u = user(name);
        u.role = role;
        u.status = status;
        u.deleted_at = deleted.then(t0);
        u
    };
    let accounts = [
        account("active-admin", Role::Admin, UserStatus::Active, false),
        account("blocked-admin", Role::Admin, UserStatus::Blocked, false),
        account("deleted-admin", Role::Admin, UserStatus::Active, true),
        account("gone-admin", Role::Admin, UserStatus::Blocked, true),
        account("active-user", Role::User, UserStatus::Active, false),
        account("blocked-user", Role::User, UserStatus::Blocked, false),
        // A lockout is no part of the rule: a locked-out admin still counts.
        User {
            locked_until: Some(t0() + Duration::days(365 * 100)),
            ..account("locked-admin", Role::Admin, UserStatus::Active, false)
        },
    ];
    insert(&store, &accounts.iter().collect::<Vec<_>>()).await;

    let expected: Vec<&str> = accounts
        .iter()
        .filter(|u| u.is_active_admin())
        .map(|u| u.username.as_str())
        .collect();
    assert_eq!(expected, ["active-admin", "locked-admin"]);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.count_active_admins().await.unwrap(), 2);
    drop(tx);
    assert!(
        store.any_admin().await.unwrap(),
        "a blocked admin still exists"
    );

    let mut tx = store.begin().await.unwrap();
    for name in expected {
        let mut u = store
            .find_by_username(&Username::parse(name).unwrap())
            .await
            .unwrap()
            .unwrap();
        let version = u.version;
        u.status = UserStatus::Blocked;
        u.version += 1;
        tx.update_user(&u, version).await.unwrap();
    }
    assert_eq!(
        tx.count_active_admins().await.unwrap(),
        0,
        "blocked admins do not count"
    );
}
