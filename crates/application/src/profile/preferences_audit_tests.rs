//! What `PUT /profile/preferences` audits: the fields that changed, and nothing (no
//! write at all) when nothing did.

use std::sync::{Arc, Mutex};

use domain::audit::{AuditEntry, RequestContext};
use domain::ports::MockTransaction;
use domain::preferences::Preferences;
use domain::user::Role;
use serde_json::json;

use super::{PreferencesInput, UpdatePreferences};
use crate::testing::{self, Mocks};

/// The stored defaults: light, en, notifications on.
fn input(notifications: bool) -> PreferencesInput {
    PreferencesInput {
        theme: "light".into(),
        language: "en".into(),
        notifications,
    }
}

#[tokio::test]
async fn turning_notifications_off_stores_and_audits_that_field_alone() {
    let mut tx = MockTransaction::new();
    tx.expect_put_preferences()
        .times(1)
        .withf(|_, p| !p.notifications)
        .returning(|_, _| Ok(()));
    let entries: Arc<Mutex<Vec<AuditEntry>>> = Arc::default();
    let sink = entries.clone();
    tx.expect_append_audit().returning(move |entry| {
        sink.lock().expect("not poisoned").push(entry.clone());
        Ok(())
    });
    tx.expect_commit().times(1).returning(|| Ok(()));
    let mut mocks = Mocks::new().with_tx(tx);
    mocks.users.expect_preferences().returning(|_| Ok(None));

    let prefs = UpdatePreferences::new(mocks.ports())
        .execute(
            &testing::principal(testing::user(1, Role::User)),
            input(false),
            &RequestContext::default(),
        )
        .await
        .expect("stored");

    assert!(!prefs.notifications);
    let entries = entries.lock().expect("not poisoned");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action.as_str(), "PREFERENCES_UPDATE");
    assert_eq!(entries[0].metadata, json!({ "fields": ["notifications"] }));
}

#[tokio::test]
async fn preferences_equal_to_the_stored_ones_are_neither_written_nor_audited() {
    // No `begin` expectation: a transaction would fail the test.
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_preferences()
        .returning(|_| Ok(Some(Preferences::default())));

    let prefs = UpdatePreferences::new(mocks.ports())
        .execute(
            &testing::principal(testing::user(1, Role::User)),
            input(true),
            &RequestContext::default(),
        )
        .await
        .expect("nothing to store");

    assert_eq!(prefs, Preferences::default());
}
