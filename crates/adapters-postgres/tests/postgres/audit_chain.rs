//! The keyed audit chain (ADR 0015): sealing order, entry MACs that catch rows inserted
//! or changed before sealing, verification against tampering, checkpoints, retention
//! that moves the (MAC'd) anchor, GDPR erasure that keeps verifying, one sealer / one
//! retention job at a time, writers never blocked, and the list's filters and cursor
//! pages.

use std::time::Duration as StdDuration;

use adapters_postgres::testing::TestDatabase;
use adapters_postgres::PgStore;
use chrono::{DateTime, Duration, Utc};
use diesel_async::SimpleAsyncConnection;
use domain::audit::{
    AuditAction, AuditEntry, AuditFilter, AuditQuery, EntityId, EntityType, RequestContext,
};
use domain::audit_evidence::Checkpoint;
use domain::page::{Limit, Offset, PageRequest, Position};
use domain::ports::{AuditRepository, UnitOfWork};
use domain::user::UserId;
use domain::RepoError;
use uuid::Uuid;

use crate::helpers::{insert, insert_sessions, session, t0, user};

/// "EMS_SEAL" and "EMS_RETN": the adapter's advisory lock keys.
const SEAL_LOCK_KEY: i64 = 0x454D_535F_5345_414C;
const RETENTION_LOCK_KEY: i64 = 0x454D_535F_5245_544E;

fn entry(action: AuditAction, at: DateTime<Utc>) -> AuditEntry {
    let ctx = RequestContext {
        actor: Some(UserId(Uuid::from_u128(7))),
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
        serde_json::json!({"changed": ["role"]}),
        at,
    )
}

/// Appends each entry in its own committed transaction.
async fn append(store: &PgStore, entries: &[&AuditEntry]) {
    for e in entries {
        let mut tx = store.begin().await.unwrap();
        tx.append_audit(e).await.unwrap();
        tx.commit().await.unwrap();
    }
}

async fn seq_of(db: &TestDatabase, id: Uuid) -> i64 {
    db.query_i64(&format!(
        "SELECT chain_seq AS n FROM audit_logs WHERE id = '{id}'"
    ))
    .await
}

/// Three sealed entries created one second apart, oldest first.
async fn sealed_three(db: &TestDatabase, store: &PgStore) -> [AuditEntry; 3] {
    let e = [
        entry(AuditAction::Login, t0()),
        entry(AuditAction::UpdateUser, t0() + Duration::seconds(1)),
        entry(AuditAction::Logout, t0() + Duration::seconds(2)),
    ];
    append(store, &[&e[0], &e[1], &e[2]]).await;
    assert_eq!(store.seal_pending().await.unwrap(), 3);
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM audit_logs WHERE chain_seq IS NULL")
            .await,
        0
    );
    e
}

#[tokio::test]
async fn entries_are_sealed_in_creation_order_with_consecutive_sequence_numbers() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let (late, early, middle) = (
        entry(AuditAction::Login, t0() + Duration::seconds(2)),
        entry(AuditAction::Login, t0()),
        entry(AuditAction::Login, t0() + Duration::seconds(1)),
    );
    append(&store, &[&late, &early, &middle]).await;

    assert_eq!(store.seal_pending().await.unwrap(), 3);
    assert_eq!(
        store.seal_pending().await.unwrap(),
        0,
        "nothing left to seal"
    );

    assert_eq!(seq_of(&db, early.id).await, 1);
    assert_eq!(seq_of(&db, middle.id).await, 2);
    assert_eq!(seq_of(&db, late.id).await, 3);
    // Each link names the previous one's hash; the first names 32 zero bytes.
    assert_eq!(
        db.query_i64(
            "SELECT count(*) AS n FROM audit_logs a JOIN audit_logs b \
             ON b.chain_seq = a.chain_seq + 1 WHERE b.prev_hash = a.hash"
        )
        .await,
        2
    );
    assert_eq!(
        db.query_i64(
            "SELECT count(*) AS n FROM audit_logs \
             WHERE chain_seq = 1 AND prev_hash = decode(repeat('00', 32), 'hex')"
        )
        .await,
        1
    );

    // A later entry continues the chain.
    let next = entry(AuditAction::Logout, t0() - Duration::days(1));
    append(&store, &[&next]).await;
    assert_eq!(store.seal_pending().await.unwrap(), 1);
    assert_eq!(seq_of(&db, next.id).await, 4);
}

#[tokio::test]
async fn an_untouched_chain_verifies_and_unsealed_entries_are_not_counted() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let empty = store.verify(None).await.unwrap();
    assert!(empty.valid);
    assert_eq!(empty.checked, 0);

    sealed_three(&db, &store).await;
    append(&store, &[&entry(AuditAction::Login, t0())]).await;

    let report = store.verify(None).await.unwrap();
    assert!(report.valid);
    assert_eq!(report.checked, 3);
    assert_eq!(report.first_broken_id, None);
}

#[tokio::test]
async fn an_updated_row_is_the_first_broken_one() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let e = sealed_three(&db, &store).await;

    db.execute(&format!(
        "UPDATE audit_logs SET metadata = '{{\"changed\": []}}' WHERE id = '{}'",
        e[1].id
    ))
    .await;

    let report = store.verify(None).await.unwrap();
    assert!(!report.valid);
    assert_eq!(report.first_broken_id, Some(e[1].id));
    assert_eq!(report.checked, 2);
}

#[tokio::test]
async fn a_sealed_row_stripped_of_its_hash_is_the_first_broken_one_not_an_empty_hash() {
    for (column, value) in [
        ("hash", "NULL"),
        ("hash", "''::bytea"),
        ("prev_hash", "NULL"),
    ] {
        let db = TestDatabase::new().await;
        let store = db.store();
        let e = sealed_three(&db, &store).await;
        // What a writer with table access could do once the check is out of the way.
        db.execute(&format!(
            "ALTER TABLE audit_logs DROP CONSTRAINT audit_logs_sealed_check; \
             UPDATE audit_logs SET {column} = {value} WHERE id = '{}'",
            e[1].id
        ))
        .await;

        let report = store.verify(None).await.unwrap();
        assert!(!report.valid, "{column} = {value}: {report:?}");
        assert_eq!(report.first_broken_id, Some(e[1].id), "{column} = {value}");
        assert_eq!(report.checked, 2, "{column} = {value}");
    }
}

#[tokio::test]
async fn every_field_and_its_evidence_is_covered_by_the_keyed_chain() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let e = sealed_three(&db, &store).await;
    let id = e[1].id;
    db.execute(&format!(
        "CREATE TABLE original AS SELECT * FROM audit_logs WHERE id = '{id}'"
    ))
    .await;
    for change in [
        "user_id = NULL",
        "action = 'DELETE_USER'",
        "entity_type = 'SESSION'",
        "entity_id = '43'",
        "metadata = metadata || '{\"x\": 1}'::jsonb",
        "ip_address = '10.0.0.1'",
        "user_agent = NULL",
        "request_id = 'other'",
        "created_at = created_at + interval '1 microsecond'",
        "prev_hash = sha256('forged'::bytea)",
        "hash = sha256('forged'::bytea)",
        "mac = sha256('forged'::bytea)",
        "personal_digest = sha256('forged'::bytea)",
        "personal_salt = sha256('forged'::bytea)",
        "personal_salt = NULL",
    ] {
        db.execute(&format!("UPDATE audit_logs SET {change} WHERE id = '{id}'"))
            .await;
        let report = store.verify(None).await.unwrap();
        assert!(!report.valid, "{change}");
        assert_eq!(report.first_broken_id, Some(id), "{change}");
        // Put the original back.
        db.execute(&format!(
            "DELETE FROM audit_logs WHERE id = '{id}'; \
             INSERT INTO audit_logs OVERRIDING SYSTEM VALUE SELECT * FROM original"
        ))
        .await;
        assert!(store.verify(None).await.unwrap().valid, "after {change}");
    }
}

#[tokio::test]
async fn removing_the_newest_entries_is_found_without_a_row_to_name() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let e = sealed_three(&db, &store).await;

    db.execute(&format!("DELETE FROM audit_logs WHERE id = '{}'", e[2].id))
        .await;

    let report = store.verify(None).await.unwrap();
    assert!(!report.valid, "{report:?}");
    assert_eq!(report.first_broken_id, None);
    assert_eq!(report.checked, 2);

    // Later entries continue from the recorded head: the gap stays visible at them.
    let later = entry(AuditAction::Login, t0() + Duration::seconds(9));
    append(&store, &[&later]).await;
    assert_eq!(store.seal_pending().await.unwrap(), 1);
    assert_eq!(seq_of(&db, later.id).await, 4);
    assert_eq!(
        store.verify(None).await.unwrap().first_broken_id,
        Some(later.id)
    );
}

#[tokio::test]
async fn a_log_wiped_with_its_anchor_row_is_broken_not_a_fresh_chain() {
    let db = TestDatabase::new().await;
    let store = db.store();
    sealed_three(&db, &store).await;
    let pending = entry(AuditAction::Login, t0() + Duration::seconds(9));
    append(&store, &[&pending]).await;

    db.execute("DELETE FROM audit_chain_anchor").await;

    let report = store.verify(None).await.unwrap();
    assert!(!report.valid, "{report:?}");
    assert_eq!((report.checked, report.first_broken_id), (0, None));
    let sealing = store.seal_pending().await;
    assert!(matches!(sealing, Err(RepoError::Unknown(_))), "{sealing:?}");
    assert_eq!(
        unsealed(&db).await,
        1,
        "nothing sealed onto a missing anchor"
    );
    // Retention leaves the log alone but still purges sessions.
    let purged = store
        .purge_before(t0() + Duration::days(1), t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(purged.audit_entries, 0);
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM audit_logs").await,
        4
    );

    db.execute("DELETE FROM audit_logs").await;
    assert!(
        !store.verify(None).await.unwrap().valid,
        "an emptied log too"
    );
}

#[tokio::test]
async fn a_deleted_row_breaks_the_chain_at_the_next_row() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let e = sealed_three(&db, &store).await;

    db.execute(&format!("DELETE FROM audit_logs WHERE id = '{}'", e[0].id))
        .await;

    let report = store.verify(None).await.unwrap();
    assert!(!report.valid);
    assert_eq!(report.first_broken_id, Some(e[1].id));
}

#[tokio::test]
async fn purging_old_entries_moves_the_anchor_and_the_chain_still_verifies() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let old: Vec<AuditEntry> = (0..3)
        .map(|i| {
            entry(
                AuditAction::Login,
                t0() - Duration::days(100) + Duration::seconds(i),
            )
        })
        .collect();
    let recent: Vec<AuditEntry> = (0..2)
        .map(|i| entry(AuditAction::Logout, t0() + Duration::seconds(i)))
        .collect();
    append(&store, &old.iter().chain(&recent).collect::<Vec<_>>()).await;
    assert_eq!(store.seal_pending().await.unwrap(), 5);

    let report = store
        .purge_before(t0() - Duration::days(90), t0() - Duration::days(1))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(report.audit_entries, 3);
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM audit_logs").await,
        2
    );
    assert_eq!(
        db.query_i64("SELECT chain_seq AS n FROM audit_chain_anchor")
            .await,
        3
    );
    let verified = store.verify(None).await.unwrap();
    assert!(verified.valid, "{verified:?}");
    assert_eq!(verified.checked, 2);

    // Purging everything, then sealing more, still verifies.
    store
        .purge_before(t0() + Duration::days(1), t0())
        .await
        .unwrap();
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM audit_logs").await,
        0
    );
    append(&store, &[&entry(AuditAction::Login, t0())]).await;
    assert_eq!(store.seal_pending().await.unwrap(), 1);
    let verified = store.verify(None).await.unwrap();
    assert!(verified.valid && verified.checked == 1, "{verified:?}");

    // Deleting behind the anchor's back is still found.
    let more = entry(AuditAction::Logout, t0() + Duration::seconds(5));
    let last = entry(AuditAction::Logout, t0() + Duration::seconds(6));
    append(&store, &[&more, &last]).await;
    store.seal_pending().await.unwrap();
    db.execute(&format!("DELETE FROM audit_logs WHERE id = '{}'", more.id))
        .await;
    assert_eq!(
        store.verify(None).await.unwrap().first_broken_id,
        Some(last.id)
    );
}

#[tokio::test]
async fn retention_purges_sessions_that_ended_more_than_the_cut_ago_with_their_tokens() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let owner = user("owner");
    insert(&store, &[&owner]).await;
    let expired = session(owner.id, t0() - Duration::days(10)); // expired t0 - 3d
    let mut revoked = session(owner.id, t0() - Duration::days(1));
    revoked.revoked_at = Some(t0() - Duration::days(2));
    let mut recently_revoked = session(owner.id, t0());
    recently_revoked.revoked_at = Some(t0() - Duration::hours(1));
    let live = session(owner.id, t0());
    insert_sessions(&store, &[&expired, &revoked, &recently_revoked, &live]).await;
    db.execute(&format!(
        "INSERT INTO refresh_tokens (id, session_id, user_id, token_hash, created_at, expires_at) \
         VALUES ('{}', '{}', '{}', sha256('a'::bytea), now(), now())",
        Uuid::now_v7(),
        expired.id,
        owner.id
    ))
    .await;

    let report = store
        .purge_before(t0() - Duration::days(90), t0() - Duration::days(1))
        .await
        .unwrap()
        .unwrap();

    assert_eq!(report.sessions, 2);
    assert_eq!(db.query_i64("SELECT count(*) AS n FROM sessions").await, 2);
    assert_eq!(
        db.query_i64("SELECT count(*) AS n FROM refresh_tokens")
            .await,
        0
    );
}

#[tokio::test]
async fn sealing_and_retention_run_on_one_instance_at_a_time() {
    let db = TestDatabase::new().await;
    let store = db.store();
    append(&store, &[&entry(AuditAction::Login, t0())]).await;
    let mut other = db.connection().await;
    other
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({SEAL_LOCK_KEY}); \
             SELECT pg_advisory_xact_lock({RETENTION_LOCK_KEY})"
        ))
        .await
        .unwrap();

    assert_eq!(
        store.seal_pending().await.unwrap(),
        0,
        "another instance seals"
    );
    assert_eq!(
        store.purge_before(t0(), t0()).await.unwrap(),
        None,
        "another instance runs retention"
    );

    other.batch_execute("COMMIT").await.unwrap();
    assert_eq!(store.seal_pending().await.unwrap(), 1);
}

#[tokio::test]
async fn writers_are_not_blocked_by_sealing_and_uncommitted_entries_wait() {
    let db = TestDatabase::new().await;
    let store = db.store();
    // An open writer transaction: its entry is invisible to the sealer until commit.
    let pending = entry(AuditAction::Login, t0() - Duration::seconds(10));
    let mut open = store.begin().await.unwrap();
    open.append_audit(&pending).await.unwrap();
    append(&store, &[&entry(AuditAction::Logout, t0())]).await;
    assert_eq!(store.seal_pending().await.unwrap(), 1);

    // A sealer holding its lock (mid-run on another instance) blocks no writer.
    let mut sealer = db.connection().await;
    sealer
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({SEAL_LOCK_KEY}); \
             UPDATE audit_logs SET sealed_at = sealed_at WHERE chain_seq IS NOT NULL"
        ))
        .await
        .unwrap();
    let writers = (0..16).map(|i| {
        let store = store.clone();
        async move {
            let e = entry(AuditAction::UpdateUser, t0() + Duration::milliseconds(i));
            let mut tx = store.begin().await.unwrap();
            tx.append_audit(&e).await.unwrap();
            tx.commit().await.unwrap();
        }
    });
    tokio::time::timeout(
        StdDuration::from_secs(5),
        futures_util::future::join_all(writers),
    )
    .await
    .expect("writers finish while a sealer holds its lock");
    sealer.batch_execute("COMMIT").await.unwrap();

    open.commit().await.unwrap();
    // Sealing concurrent with more writers, then a final pass: every entry is linked.
    let writers = (0..16).map(|i| {
        let store = store.clone();
        async move {
            append(
                &store,
                &[&entry(AuditAction::Login, t0() + Duration::seconds(i))],
            )
            .await;
        }
    });
    let seals = async {
        for _ in 0..5 {
            store.seal_pending().await.unwrap();
        }
    };
    tokio::join!(futures_util::future::join_all(writers), seals);
    store.seal_pending().await.unwrap();

    let report = store.verify(None).await.unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(report.checked, 34);
    // The late-committed entry is linked after the ones sealed before it committed.
    assert!(seq_of(&db, pending.id).await > 1);
}

async fn unsealed(db: &TestDatabase) -> i64 {
    db.query_i64("SELECT count(*) AS n FROM audit_logs WHERE chain_seq IS NULL")
        .await
}

#[tokio::test]
async fn a_row_inserted_in_sql_even_back_dated_is_never_sealed_and_never_verifies() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let genuine = sealed_three(&db, &store).await;
    let forged = Uuid::now_v7();
    db.execute(&format!(
        "INSERT INTO audit_logs (id, action, entity_type, metadata, created_at) \
         VALUES ('{forged}', 'LOGIN', 'USER', '{{}}'::jsonb, now() - interval '30 days')"
    ))
    .await;

    let report = store.verify(None).await.unwrap();
    assert!(!report.valid, "found before sealing: {report:?}");
    assert_eq!(report.first_broken_id, Some(forged));

    assert_eq!(
        store.seal_pending().await.unwrap(),
        0,
        "the forged row is refused"
    );
    assert_eq!(unsealed(&db).await, 1);
    assert_eq!(
        db.query_i64(&format!(
            "SELECT count(*) AS n FROM audit_logs WHERE id = '{forged}' AND mac_rejected_at IS NOT NULL"
        ))
        .await,
        1
    );
    let report = store.verify(None).await.unwrap();
    assert!(!report.valid);
    assert_eq!(report.first_broken_id, Some(forged));
    assert_eq!(report.checked, 3, "the genuine chain is intact");

    // A copy of a genuine row's evidence under another id does not verify either.
    let copy = Uuid::now_v7();
    db.execute(&format!(
        "DELETE FROM audit_logs WHERE id = '{forged}'; \
         INSERT INTO audit_logs (id, user_id, action, entity_type, entity_id, metadata, \
             ip_address, user_agent, request_id, created_at, mac, personal_salt, personal_digest) \
         SELECT '{copy}', user_id, action, entity_type, entity_id, metadata, ip_address, \
             user_agent, request_id, created_at, mac, personal_salt, personal_digest \
         FROM audit_logs WHERE id = '{}'",
        genuine[0].id
    ))
    .await;
    assert_eq!(store.seal_pending().await.unwrap(), 0);
    assert_eq!(
        store.verify(None).await.unwrap().first_broken_id,
        Some(copy)
    );
}

#[tokio::test]
async fn a_row_changed_right_after_it_was_written_is_found_before_and_after_sealing() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let kept = entry(AuditAction::Login, t0());
    let changed = entry(AuditAction::RoleChange, t0() + Duration::seconds(1));
    append(&store, &[&kept, &changed]).await;

    db.execute(&format!(
        "UPDATE audit_logs SET metadata = '{{\"changed\": []}}' WHERE id = '{}'",
        changed.id
    ))
    .await;

    let report = store.verify(None).await.unwrap();
    assert!(!report.valid, "{report:?}");
    assert_eq!(report.first_broken_id, Some(changed.id));
    assert_eq!(
        store.seal_pending().await.unwrap(),
        1,
        "only the intact row is sealed"
    );
    let report = store.verify(None).await.unwrap();
    assert_eq!((report.valid, report.checked), (false, 1));
    assert_eq!(report.first_broken_id, Some(changed.id));
}

#[tokio::test]
async fn entries_bound_to_another_key_do_not_verify() {
    let db = TestDatabase::new().await;
    sealed_three(&db, &db.store()).await;
    let mut cfg = db.config();
    cfg.audit_key = std::sync::Arc::new(adapters_postgres::ephemeral_audit_key());
    let stranger = PgStore::new(&cfg).unwrap();

    let report = stranger.verify(None).await.unwrap();

    assert!(!report.valid);
    assert_eq!(report.checked, 1);
    assert!(
        stranger.seal_pending().await.is_err(),
        "it refuses to extend a head it cannot verify"
    );
}

#[tokio::test]
async fn removing_the_newest_rows_and_moving_the_head_back_is_found() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let e = sealed_three(&db, &store).await;

    // Naively: the head's MAC no longer matches.
    db.execute(&format!(
        "DELETE FROM audit_logs WHERE id = '{}'; \
         UPDATE audit_chain_anchor SET head_seq = 2, \
             head_hash = (SELECT hash FROM audit_logs WHERE chain_seq = 2)",
        e[2].id
    ))
    .await;
    let report = store.verify(None).await.unwrap();
    assert!(!report.valid, "{report:?}");
    assert_eq!(report.first_broken_id, None);
    assert!(
        store.seal_pending().await.is_err(),
        "no sealer extends a moved head"
    );
}

#[tokio::test]
async fn a_checkpoint_catches_newest_rows_removed_with_an_old_head_replayed() {
    let db = TestDatabase::new().await;
    let store = db.store();
    sealed_three(&db, &store).await;
    // The attacker keeps a copy of the anchor row as it is now (head at 3) ...
    db.execute("CREATE TABLE old_anchor AS SELECT * FROM audit_chain_anchor")
        .await;
    let more = [
        entry(AuditAction::Logout, t0() + Duration::seconds(3)),
        entry(AuditAction::Login, t0() + Duration::seconds(4)),
    ];
    append(&store, &[&more[0], &more[1]]).await;
    assert_eq!(store.seal_pending().await.unwrap(), 2);
    let taken = store.verify(None).await.unwrap();
    assert!(taken.valid);
    let checkpoint = Checkpoint {
        head: taken.head.clone(),
        issued_at: 0,
    };
    assert_eq!((checkpoint.head.seq, checkpoint.head.count), (5, 5));
    let holds = store.verify(Some(checkpoint.clone())).await.unwrap();
    assert!(holds.valid, "{holds:?}");

    // ... deletes the two newest rows and puts the old head (with its MAC) back.
    db.execute(
        "DELETE FROM audit_logs WHERE chain_seq > 3; \
         UPDATE audit_chain_anchor AS a SET head_seq = o.head_seq, head_hash = o.head_hash, \
             head_mac = o.head_mac FROM old_anchor AS o",
    )
    .await;

    let without = store.verify(None).await.unwrap();
    assert!(
        without.valid,
        "a replayed head is the limit without a checkpoint"
    );
    let with = store.verify(Some(checkpoint)).await.unwrap();
    assert!(!with.valid, "{with:?}");
    assert_eq!(with.first_broken_id, None);
}

#[tokio::test]
async fn a_checkpoint_catches_a_changed_row_before_it() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let e = sealed_three(&db, &store).await;
    let checkpoint = Checkpoint {
        head: store.verify(None).await.unwrap().head,
        issued_at: 0,
    };
    db.execute(&format!(
        "UPDATE audit_logs SET request_id = 'other' WHERE id = '{}'",
        e[0].id
    ))
    .await;

    let report = store.verify(Some(checkpoint)).await.unwrap();

    assert!(!report.valid);
    assert_eq!(report.first_broken_id, Some(e[0].id));
}

#[tokio::test]
async fn retention_after_a_checkpoint_keeps_it_valid_but_a_faked_purge_is_found() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let old: Vec<AuditEntry> = (0..3)
        .map(|i| {
            entry(
                AuditAction::Login,
                t0() - Duration::days(100) + Duration::seconds(i),
            )
        })
        .collect();
    append(&store, &old.iter().collect::<Vec<_>>()).await;
    store.seal_pending().await.unwrap();
    let at_three = Checkpoint {
        head: store.verify(None).await.unwrap().head,
        issued_at: 0,
    };
    let recent: Vec<AuditEntry> = (0..3)
        .map(|i| entry(AuditAction::Logout, t0() + Duration::seconds(i)))
        .collect();
    append(&store, &recent.iter().collect::<Vec<_>>()).await;
    store.seal_pending().await.unwrap();
    let at_four = {
        let mut c = at_three.clone();
        c.head.seq = 4;
        c.head.count = 4;
        c.head.hash = hash_at(&db, 4).await;
        c
    };

    let purged = store
        .purge_before(t0() - Duration::days(90), t0() - Duration::days(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(purged.audit_entries, 3);

    // The checkpoint at the new anchor, and one after it, still hold.
    for cp in [&at_three, &at_four] {
        let report = store.verify(Some(cp.clone())).await.unwrap();
        assert!(report.valid, "{cp:?}: {report:?}");
        assert_eq!(report.checked, 3);
    }
    // Retention again, past the checkpoint at 4: still valid.
    store
        .purge_before(t0() + Duration::milliseconds(1500), t0())
        .await
        .unwrap();
    assert_eq!(
        db.query_i64("SELECT chain_seq AS n FROM audit_chain_anchor")
            .await,
        5
    );
    let report = store.verify(Some(at_four.clone())).await.unwrap();
    assert!(report.valid, "{report:?}");

    // An attacker faking a purge (delete the oldest row, move the anchor) cannot MAC it.
    db.execute(
        "DELETE FROM audit_logs WHERE chain_seq = 6; \
         UPDATE audit_chain_anchor SET chain_seq = 6, hash = decode(repeat('11', 32), 'hex')",
    )
    .await;
    let report = store.verify(None).await.unwrap();
    assert!(!report.valid, "{report:?}");
    let purged = store
        .purge_before(t0() + Duration::days(1), t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(purged.audit_entries, 0, "no fresh MAC on a faked anchor");
    assert_eq!(
        db.query_i64("SELECT chain_seq AS n FROM audit_chain_anchor")
            .await,
        6
    );
    assert!(!store.verify(None).await.unwrap().valid);
}

async fn hash_at(db: &TestDatabase, seq: i64) -> Vec<u8> {
    use diesel::sql_types::Bytea;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct H {
        #[diesel(sql_type = Bytea)]
        hash: Vec<u8>,
    }
    diesel::sql_query(format!(
        "SELECT hash FROM audit_logs WHERE chain_seq = {seq}"
    ))
    .get_result::<H>(&mut db.connection().await)
    .await
    .unwrap()
    .hash
}

#[tokio::test]
async fn erasing_personal_fields_with_their_salt_keeps_the_log_valid_but_not_without_it() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let failed = AuditEntry {
        metadata: serde_json::json!({"username": "ghost", "reason": "UNKNOWN_USER"}),
        ..entry(AuditAction::LoginFailed, t0())
    };
    let unsealed_failed = AuditEntry {
        id: Uuid::now_v7(),
        ..failed.clone()
    };
    append(&store, &[&failed]).await;
    store.seal_pending().await.unwrap();
    append(&store, &[&unsealed_failed]).await;
    let erase = |id: Uuid| {
        format!(
            "UPDATE audit_logs SET ip_address = NULL, user_agent = NULL, \
             metadata = metadata - 'username', personal_salt = NULL WHERE id = '{id}'"
        )
    };
    db.execute(&erase(failed.id)).await;
    db.execute(&erase(unsealed_failed.id)).await;

    let report = store.verify(None).await.unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(
        store.seal_pending().await.unwrap(),
        1,
        "an erased entry is sealed"
    );
    assert!(store.verify(None).await.unwrap().valid);

    // Personal fields back (changed) while the salt is gone: never valid.
    db.execute(&format!(
        "UPDATE audit_logs SET ip_address = '203.0.113.9' WHERE id = '{}'",
        failed.id
    ))
    .await;
    let report = store.verify(None).await.unwrap();
    assert!(!report.valid);
    assert_eq!(report.first_broken_id, Some(failed.id));
}

#[tokio::test]
async fn rows_from_before_the_keyed_migration_are_retired_behind_the_anchor() {
    let db = TestDatabase::new().await;
    // The schema as it was before 2026-12-03-000010_audit_mac, with a legacy chain of two
    // sealed rows (their old SHA-256 links) and one row the old sealer had not reached.
    db.execute(include_str!(
        "../../../../migrations/2026-12-03-000010_audit_mac/down.sql"
    ))
    .await;
    db.execute(
        "DELETE FROM __diesel_schema_migrations WHERE version = '20261203000010'; \
         INSERT INTO audit_logs (id, action, entity_type, metadata, created_at, chain_seq, \
             prev_hash, hash, sealed_at) VALUES \
           (gen_random_uuid(), 'LOGIN', 'USER', '{}', now() - interval '3 days', 1, \
            decode(repeat('00', 32), 'hex'), sha256('one'::bytea), now()), \
           (gen_random_uuid(), 'LOGOUT', 'USER', '{}', now() - interval '2 days', 2, \
            sha256('one'::bytea), sha256('two'::bytea), now()); \
         INSERT INTO audit_logs (id, action, entity_type, metadata, created_at) \
           VALUES (gen_random_uuid(), 'LOGIN', 'USER', '{}', now() - interval '1 day'); \
         UPDATE audit_chain_anchor SET head_seq = 2, head_hash = sha256('two'::bytea)",
    )
    .await;
    assert_eq!(
        adapters_postgres::run_migrations(db.url()).await.unwrap(),
        vec!["20261203000010".to_owned()]
    );
    let store = db.store();

    // Anchor and head both at the retired third row; nothing left to verify or seal.
    assert_eq!(
        db.query_i64("SELECT chain_seq AS n FROM audit_chain_anchor WHERE head_seq = 3")
            .await,
        3
    );
    assert_eq!(unsealed(&db).await, 0);
    let report = store.verify(None).await.unwrap();
    assert!(report.valid && report.checked == 0, "{report:?}");

    // The keyed chain continues from the old head; retention purges the legacy rows
    // without moving the anchor back, then moves it with its MAC.
    let new = entry(AuditAction::Login, Utc::now());
    append(&store, &[&new]).await;
    assert_eq!(store.seal_pending().await.unwrap(), 1);
    assert_eq!(seq_of(&db, new.id).await, 4);
    let report = store.verify(None).await.unwrap();
    assert!(report.valid && report.checked == 1, "{report:?}");
    let purged = store
        .purge_before(Utc::now() - Duration::hours(1), Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(purged.audit_entries, 3);
    assert_eq!(
        db.query_i64("SELECT chain_seq AS n FROM audit_chain_anchor")
            .await,
        3
    );
    assert!(store.verify(None).await.unwrap().valid);
    store
        .purge_before(Utc::now() + Duration::hours(1), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        db.query_i64("SELECT chain_seq AS n FROM audit_chain_anchor")
            .await,
        4
    );
    append(&store, &[&entry(AuditAction::Logout, Utc::now())]).await;
    assert_eq!(store.seal_pending().await.unwrap(), 1);
    let report = store.verify(None).await.unwrap();
    assert!(report.valid && report.checked == 1, "{report:?}");
}

fn page(limit: i64, position: Position) -> PageRequest {
    PageRequest {
        limit: Limit::new(limit).unwrap(),
        position,
    }
}

#[tokio::test]
async fn the_list_filters_and_pages_newest_first_by_offset_or_cursor() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let entries: Vec<AuditEntry> = (0..5)
        .map(|i| entry(AuditAction::Login, t0() + Duration::seconds(i)))
        .collect();
    let other = AuditEntry {
        user_id: None,
        entity_type: EntityType::Session,
        entity_id: None,
        ..entry(AuditAction::LoginFailed, t0() + Duration::seconds(2))
    };
    append(&store, &entries.iter().chain([&other]).collect::<Vec<_>>()).await;
    let logins = AuditFilter {
        action: Some(AuditAction::Login),
        ..AuditFilter::default()
    };

    let mut seen = Vec::new();
    let mut position = Position::After(domain::page::Cursor(String::new()));
    let first = store
        .list(&AuditQuery {
            filter: logins.clone(),
            page: page(2, Position::Offset(Offset::ZERO)),
        })
        .await
        .unwrap();
    assert_eq!(first.total, Some(5));
    seen.extend(first.items.iter().map(|e| e.id));
    if let Some(c) = first.next_cursor {
        position = Position::After(c);
    }
    loop {
        let p = store
            .list(&AuditQuery {
                filter: logins.clone(),
                page: page(2, position.clone()),
            })
            .await
            .unwrap();
        assert_eq!(p.total, None);
        seen.extend(p.items.iter().map(|e| e.id));
        match p.next_cursor {
            Some(c) => position = Position::After(c),
            None => break,
        }
    }
    let newest_first: Vec<Uuid> = entries.iter().rev().map(|e| e.id).collect();
    assert_eq!(seen, newest_first);

    let anonymous = store
        .list(&AuditQuery {
            filter: AuditFilter {
                entity_type: Some(EntityType::Session),
                from: Some(t0() + Duration::seconds(2)),
                to: Some(t0() + Duration::seconds(2)),
                ..AuditFilter::default()
            },
            page: PageRequest::default(),
        })
        .await
        .unwrap();
    assert_eq!(anonymous.items, vec![other.clone()]);
    let by_user = store
        .list(&AuditQuery {
            filter: AuditFilter {
                user_id: entries[0].user_id,
                entity_id: Some(EntityId::parse("42").unwrap()),
                ..AuditFilter::default()
            },
            page: PageRequest::default(),
        })
        .await
        .unwrap();
    assert_eq!(by_user.total, Some(5));

    let bad = store
        .list(&AuditQuery {
            filter: AuditFilter::default(),
            page: page(2, Position::After(domain::page::Cursor("nope".into()))),
        })
        .await;
    assert!(matches!(bad, Err(domain::RepoError::InvalidCursor)));
}

/// Audited writes per second with and without audit, with the sealer running every
/// second: `cargo test -p adapters-postgres --test postgres -- --ignored --nocapture
/// audited_write_throughput`. A measurement, not an assertion.
#[tokio::test]
#[ignore = "benchmark"]
async fn audited_write_throughput() {
    const WRITERS: usize = 8;
    const RUN: StdDuration = StdDuration::from_secs(3);
    for audit_enabled in [false, true] {
        let db = TestDatabase::new().await;
        let mut cfg = db.config();
        cfg.audit_enabled = audit_enabled;
        cfg.max_connections = WRITERS + 2;
        let store = PgStore::new(&cfg).unwrap();
        let users: Vec<_> = (0..WRITERS).map(|i| user(&format!("writer{i}"))).collect();
        insert(&store, &users.iter().collect::<Vec<_>>()).await;
        let deadline = tokio::time::Instant::now() + RUN;
        let sealer = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut sealed = 0;
                let mut max_step = StdDuration::ZERO;
                while tokio::time::Instant::now() < deadline {
                    // real timer: the benchmark's sealer period (1 s)
                    tokio::time::sleep(StdDuration::from_secs(1)).await;
                    let started = std::time::Instant::now();
                    sealed += store.seal_pending().await.unwrap();
                    max_step = max_step.max(started.elapsed());
                }
                (sealed, max_step)
            })
        };
        let writers = users.into_iter().map(|u| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while tokio::time::Instant::now() < deadline {
                    let mut tx = store.begin().await.unwrap();
                    tx.record_login(u.id, domain::lockout::LockoutState::default(), Utc::now())
                        .await
                        .unwrap();
                    tx.append_audit(&entry(AuditAction::Login, Utc::now()))
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                    n += 1;
                }
                n
            })
        });
        let total: u64 = futures_util::future::join_all(writers)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        let (sealed, max_step) = sealer.await.unwrap();
        let started = std::time::Instant::now();
        let rest = store.seal_pending().await.unwrap();
        let report = store.verify(None).await.unwrap();
        eprintln!(
            "audit {}: {:.0} audited writes/s ({WRITERS} writers, {total} in {RUN:?}); \
             sealed {sealed} while writing (slowest step {max_step:?}), {rest} after in {:?}; \
             verify {report:?}",
            if audit_enabled { "on" } else { "off" },
            total as f64 / RUN.as_secs_f64(),
            started.elapsed()
        );
    }
}
