//! Audit entries: appended with the transaction, or not at all when disabled.

use adapters_postgres::testing::TestDatabase;
use adapters_postgres::PgStore;
use std::sync::Arc;

use chrono::Duration;
use domain::audit::{AuditAction, AuditEntry, AuditQuery, EntityType, RequestContext};
use domain::ports::{AuditRepository, UnitOfWork};
use uuid::Uuid;

use crate::helpers::{t0, user, CountingObserver};

fn entry(action: AuditAction) -> AuditEntry {
    let ctx = RequestContext {
        actor: Some(user("actor").id),
        ip_address: Some("198.51.100.4".into()),
        user_agent: Some("curl/8".into()),
        request_id: Some("req-1".into()),
    };
    AuditEntry::new(
        Uuid::now_v7(),
        &ctx,
        action,
        EntityType::User,
        Some("42".into()),
        serde_json::json!({"changed": ["role"], "from": "USER", "to": "ADMIN"}),
        t0(),
    )
}

#[tokio::test]
async fn audit_entries_are_stored_with_every_field_in_insertion_order() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let (a, b) = (entry(AuditAction::RoleChange), entry(AuditAction::Login));
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&a).await.unwrap();
    tx.append_audit(&b).await.unwrap();
    tx.commit().await.unwrap();

    let sql = format!(
        "SELECT count(*) AS n FROM audit_logs WHERE id = '{}' AND user_id = '{}' \
         AND action = 'ROLE_CHANGE' AND entity_type = 'USER' AND entity_id = '42' \
         AND metadata = '{{\"changed\": [\"role\"], \"from\": \"USER\", \"to\": \"ADMIN\"}}'::jsonb \
         AND ip_address = '198.51.100.4' AND user_agent = 'curl/8' AND request_id = 'req-1' \
         AND created_at = '2026-11-24T10:00:00Z'",
        a.id,
        a.user_id.unwrap()
    );
    assert_eq!(db.query_i64(&sql).await, 1);
    let ordered = format!(
        "SELECT count(*) AS n FROM audit_logs x, audit_logs y \
         WHERE x.id = '{}' AND y.id = '{}' AND x.seq < y.seq",
        a.id, b.id
    );
    assert_eq!(db.query_i64(&ordered).await, 1);
}

#[tokio::test]
async fn audit_entries_of_a_rolled_back_transaction_vanish() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&entry(AuditAction::DeleteUser))
        .await
        .unwrap();
    drop(tx);
    // The rollback runs in the background; the next transaction waits for nothing, so
    // check through a fresh transaction on the same small pool.
    let mut tx = store.begin().await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM audit_logs").await,
        0
    );
}

#[tokio::test]
async fn appending_audit_is_a_no_op_when_auditing_is_disabled() {
    let db = TestDatabase::new().await;
    let mut cfg = db.config();
    cfg.audit_enabled = false;
    let store = PgStore::new(&cfg).unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&entry(AuditAction::Login)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM audit_logs").await,
        0
    );
}

#[tokio::test]
async fn every_audit_port_call_is_timed_by_the_observer() {
    let db = TestDatabase::new().await;
    let calls = Arc::new(CountingObserver::default());
    let store = db.store().with_observer(calls.clone());
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&entry(AuditAction::Login)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(calls.calls(), 3, "begin, append, commit");

    assert_eq!(store.seal_pending().await.unwrap(), 1);
    assert_eq!(calls.calls(), 4, "seal_pending");
    let page = AuditRepository::list(&store, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(calls.calls(), 5, "list");
    assert!(store.verify(None).await.unwrap().valid);
    assert_eq!(calls.calls(), 6, "verify");
    let purged = store
        .purge_before(t0() + Duration::days(1), t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(purged.audit_entries, 1);
    assert_eq!(calls.calls(), 7, "purge_before");
}
