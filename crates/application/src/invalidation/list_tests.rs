//! Which transaction calls void the list cache: every change to a user row, once per
//! committed transaction and only after the commit; nothing else.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use domain::lockout::LockoutState;
use domain::ports::{MockAuthCache, MockListCache, MockTransaction, MockUnitOfWork, UnitOfWork};
use domain::session::{RevocationReason, SessionId};
use domain::user::{ErasedData, Role, UserId};
use domain::RepoError;

use super::InvalidatingUnitOfWork;
use crate::testing;

fn at() -> DateTime<Utc> {
    testing::now()
}

/// The wrapped unit of work over `tx`, and the events "commit" and "void" in order.
fn wrapped(mut tx: MockTransaction) -> (InvalidatingUnitOfWork, Arc<Mutex<Vec<&'static str>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let committed = events.clone();
    tx.expect_commit().returning(move || {
        committed.lock().expect("not poisoned").push("commit");
        Ok(())
    });
    let mut uow = MockUnitOfWork::new();
    uow.expect_begin()
        .return_once(move || Ok(Box::new(tx) as Box<dyn domain::ports::Transaction>));
    let mut cache = MockAuthCache::new();
    cache.expect_invalidate().returning(|_, _| Ok(()));
    let voided = events.clone();
    let mut lists = MockListCache::new();
    lists.expect_invalidate().returning(move || {
        voided.lock().expect("not poisoned").push("void");
        Ok(())
    });
    (
        InvalidatingUnitOfWork::new(Arc::new(uow), Arc::new(cache), Arc::new(lists)),
        events,
    )
}

fn events(log: &Arc<Mutex<Vec<&'static str>>>) -> Vec<&'static str> {
    log.lock().expect("not poisoned").clone()
}

#[tokio::test]
async fn each_change_to_a_user_row_voids_the_lists_once_after_the_commit() {
    type Change = fn(&mut MockTransaction);
    let changes: [(&str, Change); 5] = [
        ("insert", |tx| {
            tx.expect_insert_user().returning(|_| Ok(()));
        }),
        ("update", |tx| {
            tx.expect_update_user().returning(|_, _| Ok(()));
        }),
        ("lockout", |tx| {
            tx.expect_write_lockout().returning(|_, _, _| Ok(()));
        }),
        ("login", |tx| {
            tx.expect_record_login()
                .returning(|_, _, _| Ok(testing::user(2, Role::User)));
        }),
        ("erasure", |tx| {
            tx.expect_erase_personal_data().returning(|_| {
                Ok(ErasedData {
                    sessions: 0,
                    refresh_tokens: 0,
                    audit_entries: 0,
                })
            });
        }),
    ];
    let user = testing::user(2, Role::User);
    for (name, expect) in changes {
        let mut tx = MockTransaction::new();
        expect(&mut tx);
        let (uow, log) = wrapped(tx);
        let mut tx = uow.begin().await.expect("begins");
        match name {
            "insert" => tx.insert_user(&user).await.expect("inserts"),
            "update" => tx.update_user(&user, 1).await.expect("updates"),
            "lockout" => tx
                .write_lockout(user.id, LockoutState::default(), at())
                .await
                .expect("writes"),
            "login" => {
                tx.record_login(user.id, LockoutState::default(), at())
                    .await
                    .expect("records");
            }
            _ => {
                tx.erase_personal_data(user.id).await.expect("erases");
            }
        }
        // Twice in one transaction is still one voiding.
        if name == "insert" {
            tx.insert_user(&user).await.expect("inserts");
        }
        assert!(events(&log).is_empty(), "{name}: nothing before the commit");
        tx.commit().await.expect("commits");
        assert_eq!(events(&log), ["commit", "void"], "{name}");
    }
}

#[tokio::test]
async fn a_refused_change_and_session_changes_void_nothing() {
    let mut tx = MockTransaction::new();
    tx.expect_update_user()
        .returning(|_, _| Err(RepoError::Conflict));
    tx.expect_revoke_session().returning(|_, _, _| Ok(true));
    tx.expect_revoke_user_sessions()
        .returning(|_, _, _, _| Ok(1));
    tx.expect_touch_session().returning(|_, _, _| Ok(()));
    tx.expect_put_preferences().returning(|_, _| Ok(()));
    let (uow, log) = wrapped(tx);
    let user = testing::user(2, Role::User);
    let session = SessionId(testing::id(20));

    let mut tx = uow.begin().await.expect("begins");
    assert!(tx.update_user(&user, 1).await.is_err());
    tx.revoke_session(session, at(), RevocationReason::Logout)
        .await
        .expect("revokes");
    tx.revoke_user_sessions(
        UserId(testing::id(2)),
        at(),
        RevocationReason::LogoutAll,
        None,
    )
    .await
    .expect("revokes");
    tx.touch_session(session, at(), at())
        .await
        .expect("touches");
    tx.put_preferences(user.id, &domain::preferences::Preferences::default())
        .await
        .expect("stores");
    tx.commit().await.expect("commits");

    assert_eq!(events(&log), ["commit"]);
}

#[tokio::test]
async fn a_failed_commit_voids_nothing() {
    let mut tx = MockTransaction::new();
    tx.expect_insert_user().returning(|_| Ok(()));
    tx.expect_commit().returning(|| Err(RepoError::Conflict));
    let mut uow = MockUnitOfWork::new();
    uow.expect_begin()
        .return_once(move || Ok(Box::new(tx) as Box<dyn domain::ports::Transaction>));
    let mut lists = MockListCache::new();
    lists.expect_invalidate().never();
    let wrapped = InvalidatingUnitOfWork::new(
        Arc::new(uow),
        Arc::new(MockAuthCache::new()),
        Arc::new(lists),
    );
    let mut tx = wrapped.begin().await.expect("begins");
    tx.insert_user(&testing::user(2, Role::User))
        .await
        .expect("inserts");
    assert!(tx.commit().await.is_err());
}
