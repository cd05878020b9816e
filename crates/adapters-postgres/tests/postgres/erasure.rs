//! GDPR erasure (ADR 0018): what a user leaves outside their row is erased in the
//! caller's transaction, the audit log still verifies, and the purge's work list.

use adapters_postgres::testing::TestDatabase;
use chrono::Duration;
use domain::audit::{AuditAction, AuditEntry, AuditFilter, AuditQuery, EntityType, RequestContext};
use domain::page::{Limit, PageRequest, Position};
use domain::ports::{AuditRepository, SessionRepository, UnitOfWork, UserRepository};
use domain::preferences::{Language, Preferences, Theme};
use domain::token::{RefreshSecret, RefreshToken};
use domain::user::{tombstone_usernames, ErasedData, UserId};
use uuid::Uuid;

use crate::helpers::{insert, insert_sessions, session, t0, user, user_with_email};

fn entry(actor: Option<UserId>, about: Option<UserId>, meta: serde_json::Value) -> AuditEntry {
    let ctx = RequestContext {
        actor,
        ip_address: Some("198.51.100.4".into()),
        user_agent: Some("curl/8".into()),
        request_id: Some("req-1".into()),
    };
    AuditEntry::new(
        Uuid::now_v7(),
        &ctx,
        AuditAction::UpdateUser,
        EntityType::User,
        about.map(|u| u.to_string()),
        meta,
        t0(),
    )
}

async fn entry_by_id(store: &adapters_postgres::PgStore, id: Uuid) -> AuditEntry {
    let page = AuditRepository::list(
        store,
        &AuditQuery {
            filter: AuditFilter::default(),
            page: PageRequest {
                limit: Limit::new(100).unwrap(),
                position: Position::Offset(domain::page::Offset::ZERO),
            },
        },
    )
    .await
    .unwrap();
    page.items.into_iter().find(|e| e.id == id).unwrap()
}

#[tokio::test]
async fn erasure_clears_everything_personal_around_the_user_and_the_log_still_verifies() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user_with_email("ann", "ann@example.org");
    let bob = user("bob");
    insert(&store, &[&ann, &bob]).await;
    let (s_ann, s_bob) = (session(ann.id, t0()), session(bob.id, t0()));
    insert_sessions(&store, &[&s_ann, &s_bob]).await;
    let token = RefreshToken {
        id: Uuid::now_v7(),
        session_id: s_ann.id,
        user_id: ann.id,
        token_hash: RefreshSecret::new("ann-refresh-secret").hash(),
        created_at: t0(),
        expires_at: t0() + Duration::days(7),
        spent_at: None,
        retired_at: None,
    };
    let prefs = Preferences {
        theme: Theme::Dark,
        language: Language::parse("de-CH").unwrap(),
        notifications: false,
    };
    let personal =
        serde_json::json!({"username": "ann", "email": "ann@example.org", "fields": ["email"]});
    let by_ann = entry(Some(ann.id), None, personal.clone());
    let about_ann = entry(Some(bob.id), Some(ann.id), personal.clone());
    let bobs_own = entry(Some(bob.id), Some(bob.id), personal.clone());
    let mut tx = store.begin().await.unwrap();
    tx.insert_refresh_token(&token).await.unwrap();
    tx.put_preferences(ann.id, &prefs).await.unwrap();
    tx.append_audit(&by_ann).await.unwrap();
    tx.commit().await.unwrap();
    // One sealed before the erasure, two sealed after it.
    assert_eq!(store.seal_pending().await.unwrap(), 1);
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&about_ann).await.unwrap();
    tx.append_audit(&bobs_own).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let erased = tx.erase_personal_data(ann.id).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        erased,
        ErasedData {
            sessions: 1,
            refresh_tokens: 1,
            audit_entries: 2
        }
    );
    assert_eq!(store.preferences(ann.id).await.unwrap(), None);
    assert_eq!(store.preferences(bob.id).await.unwrap(), None, "never set");
    let (s, _) = store.find_for_auth(s_ann.id).await.unwrap().unwrap();
    assert_eq!((s.ip_address, s.user_agent), (None, None));
    let (s, _) = store.find_for_auth(s_bob.id).await.unwrap().unwrap();
    assert!(
        s.ip_address.is_some(),
        "another user's session is untouched"
    );
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.refresh_token_for_update(&token.token_hash)
            .await
            .unwrap(),
        None
    );
    drop(tx);
    for id in [by_ann.id, about_ann.id] {
        let e = entry_by_id(&store, id).await;
        assert_eq!((e.ip_address, e.user_agent), (None, None));
        assert_eq!(e.metadata, serde_json::json!({"fields": ["email"]}));
        assert_eq!(e.request_id.as_deref(), Some("req-1"), "public fields stay");
    }
    assert_eq!(entry_by_id(&store, bobs_own.id).await.metadata, personal);
    assert_eq!(
        db.query_i64(
            "SELECT count(*) AS n FROM audit_logs WHERE personal_salt IS NULL \
             AND personal_digest IS NOT NULL"
        )
        .await,
        2,
        "salt gone, digest kept"
    );
    assert!(store.verify(None).await.unwrap().valid);
    assert_eq!(
        store.seal_pending().await.unwrap(),
        2,
        "erased rows still seal"
    );
    let report = store.verify(None).await.unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(report.checked, 3);
}

#[tokio::test]
async fn erasure_rewrites_every_batch_of_a_long_history() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let mut tx = store.begin().await.unwrap();
    for _ in 0..1_201 {
        let e = entry(
            Some(ann.id),
            None,
            serde_json::json!({"displayName": "Ann"}),
        );
        tx.append_audit(&e).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let erased = tx.erase_personal_data(ann.id).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(erased.audit_entries, 1_201);
    assert_eq!(
        db.query_i64(
            "SELECT count(*) AS n FROM audit_logs WHERE ip_address IS NOT NULL \
             OR metadata ? 'displayName' OR personal_salt IS NOT NULL"
        )
        .await,
        0
    );
    assert!(store.verify(None).await.unwrap().valid);
}

#[tokio::test]
async fn the_purge_list_holds_users_deleted_before_the_cut_that_are_not_tombstones() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut old = user("old");
    old.deleted_at = Some(t0());
    let mut older = user("older");
    older.deleted_at = Some(t0() - Duration::days(1));
    let mut recent = user("recent");
    recent.deleted_at = Some(t0() + Duration::days(2));
    let live = user("live");
    let mut gone = user("gone");
    gone.deleted_at = Some(t0() - Duration::days(3));
    let [name, _] = tombstone_usernames(gone.id);
    gone.anonymize(name, t0());
    insert(&store, &[&old, &older, &recent, &live, &gone]).await;

    let cut = t0() + Duration::days(1);
    assert_eq!(
        store.deleted_before(cut, 10).await.unwrap(),
        [older.id, old.id]
    );
    assert_eq!(store.deleted_before(cut, 1).await.unwrap(), [older.id]);
}

/// How long erasing a long history takes (10,000 audit entries, sealed, then verified):
/// `cargo test -p adapters-postgres --test postgres -- --ignored erasure_timing
/// --nocapture`. A measurement, not an assertion.
#[tokio::test]
#[ignore = "benchmark"]
async fn erasure_timing() {
    const ENTRIES: usize = 10_000;
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    let mut tx = store.begin().await.unwrap();
    for _ in 0..ENTRIES {
        let e = entry(Some(ann.id), None, serde_json::json!({"username": "ann"}));
        tx.append_audit(&e).await.unwrap();
    }
    tx.commit().await.unwrap();
    while store.seal_pending().await.unwrap() > 0 {}

    let started = std::time::Instant::now();
    let mut tx = store.begin().await.unwrap();
    let erased = tx.erase_personal_data(ann.id).await.unwrap();
    tx.commit().await.unwrap();
    let erase = started.elapsed();
    let started = std::time::Instant::now();
    let report = store.verify(None).await.unwrap();
    let verify = started.elapsed();

    assert_eq!(erased.audit_entries, ENTRIES as u64);
    assert!(report.valid);
    println!("erased {ENTRIES} audit entries in {erase:?}; verify of the log after: {verify:?}");
}
