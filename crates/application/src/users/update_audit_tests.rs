//! Which audit entry `PATCH /users/{id}` writes for which change, and that a patch which
//! changes nothing writes nothing.

use std::sync::{Arc, Mutex};

use domain::audit::{AuditEntry, RequestContext};
use domain::ports::MockTransaction;
use domain::user::{Role, User, UserStatus};
use serde_json::json;

use super::{UpdateUser, UserPatch};
use crate::testing::{self, Mocks};

fn admin() -> User {
    testing::user(1, Role::Admin)
}

/// A transaction that locks `stored`, expects one update and one commit, and keeps
/// every audit entry appended.
fn updating(stored: User) -> (MockTransaction, Arc<Mutex<Vec<AuditEntry>>>) {
    let mut tx = MockTransaction::new();
    tx.expect_user_for_update()
        .returning(move |_| Ok(Some(stored.clone())));
    tx.expect_update_user().times(1).returning(|_, _| Ok(()));
    let entries: Arc<Mutex<Vec<AuditEntry>>> = Arc::default();
    let sink = entries.clone();
    tx.expect_append_audit().returning(move |entry| {
        sink.lock().expect("not poisoned").push(entry.clone());
        Ok(())
    });
    tx.expect_commit().times(1).returning(|| Ok(()));
    (tx, entries)
}

async fn patch(mocks: Mocks, target: &User, patch: UserPatch) -> User {
    UpdateUser::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            target.id,
            patch,
            None,
            &RequestContext::default(),
        )
        .await
        .expect("updated")
}

#[tokio::test]
async fn unblocking_a_user_audits_unblock_user_and_revokes_nothing() {
    let mut blocked = testing::user(2, Role::User);
    blocked.status = UserStatus::Blocked;
    // No `revoke_user_sessions` expectation: only a block revokes sessions.
    let (tx, entries) = updating(blocked.clone());
    let mocks = Mocks::new().with_tx(tx);

    let user = patch(
        mocks,
        &blocked,
        UserPatch {
            status: Some(UserStatus::Active),
            ..UserPatch::default()
        },
    )
    .await;

    assert_eq!(user.status, UserStatus::Active);
    let entries = entries.lock().expect("not poisoned");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action.as_str(), "UNBLOCK_USER");
    assert_eq!(
        entries[0].metadata,
        json!({ "fields": ["status"], "status": { "old": "BLOCKED", "new": "ACTIVE" } })
    );
    assert_eq!(
        entries[0].user_id,
        Some(admin().id),
        "the admin is the actor"
    );
}

#[tokio::test]
async fn a_rename_alone_is_audited_as_update_user_naming_the_field_only() {
    let target = testing::user(2, Role::User);
    let (tx, entries) = updating(target.clone());
    let mocks = Mocks::new().with_tx(tx);

    let user = patch(
        mocks,
        &target,
        UserPatch {
            display_name: Some("Renamed Person".into()),
            ..UserPatch::default()
        },
    )
    .await;

    assert_eq!(user.display_name.as_str(), "Renamed Person");
    let entries = entries.lock().expect("not poisoned");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action.as_str(), "UPDATE_USER");
    // The new name is personal data: the entry names the field, not its value.
    assert_eq!(entries[0].metadata, json!({ "fields": ["displayName"] }));
}

#[tokio::test]
async fn a_patch_that_changes_nothing_writes_and_audits_nothing() {
    let target = testing::user(2, Role::User);
    let stored = target.clone();
    // Only the read: an update, audit entry or commit would fail the test.
    let mut tx = MockTransaction::new();
    tx.expect_user_for_update()
        .returning(move |_| Ok(Some(stored.clone())));
    let mocks = Mocks::new().with_tx(tx);

    let user = patch(
        mocks,
        &target,
        UserPatch {
            display_name: Some(target.display_name.as_str().to_owned()),
            role: Some(Role::User),
            status: Some(UserStatus::Active),
            email: None,
        },
    )
    .await;

    assert_eq!(user, target, "returned as stored, version unchanged");
}
