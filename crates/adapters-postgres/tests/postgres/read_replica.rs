//! `with_read_replica`: lists and searches (what exports read) come from the replica's
//! pool; single reads, the auth check and every write stay on the primary. The
//! "replica" here is another database, so that each read shows which one answered.

use adapters_postgres::testing::TestDatabase;
use domain::audit::{AuditAction, AuditEntry, AuditQuery, EntityType, RequestContext};
use domain::page::{PageRequest, UserQuery};
use domain::ports::{AuditRepository, SessionRepository, UnitOfWork, UserRepository};
use domain::search::SearchTerm;
use uuid::Uuid;

use crate::helpers::{insert, insert_sessions, session, t0, user};

fn audit_entry() -> AuditEntry {
    AuditEntry::new(
        Uuid::now_v7(),
        &RequestContext::default(),
        AuditAction::Login,
        EntityType::User,
        None,
        serde_json::json!({}),
        t0(),
    )
}

#[tokio::test]
async fn lists_and_searches_read_the_replica_while_auth_reads_and_writes_use_the_primary() {
    // Arrange: "primary-ann" only on the primary, "replica-bob" only on the replica.
    let (primary, replica) = (TestDatabase::new().await, TestDatabase::new().await);
    let store = primary
        .store()
        .with_read_replica(&replica.config())
        .unwrap();
    let ann = user("primary-ann");
    insert(&store, &[&ann]).await;
    let s = session(ann.id, t0());
    insert_sessions(&store, &[&s]).await;
    let bob = user("replica-bob");
    insert(&replica.store(), &[&bob]).await;
    let mut tx = replica.store().begin().await.unwrap();
    tx.append_audit(&audit_entry()).await.unwrap();
    tx.commit().await.unwrap();

    // Act
    let listed = UserRepository::list(&store, &UserQuery::default())
        .await
        .unwrap();
    let found = store
        .search(&SearchTerm::parse("bob").unwrap(), &PageRequest::default())
        .await
        .unwrap();
    let audit = AuditRepository::list(&store, &AuditQuery::default())
        .await
        .unwrap();

    // Assert
    let names = |page: &domain::page::Page<domain::user::User>| -> Vec<String> {
        page.items
            .iter()
            .map(|u| u.username.as_str().to_owned())
            .collect()
    };
    assert_eq!(names(&listed), ["replica-bob"]);
    assert_eq!(names(&found), ["replica-bob"]);
    assert_eq!(audit.items.len(), 1, "the replica's audit log");
    assert_eq!(store.get(ann.id).await.unwrap().map(|u| u.id), Some(ann.id));
    assert!(store.get(bob.id).await.unwrap().is_none());
    let (auth_session, auth_user) = store.find_for_auth(s.id).await.unwrap().unwrap();
    assert_eq!((auth_session.id, auth_user.id), (s.id, ann.id));
    assert_eq!(
        primary.query_i64("SELECT count(*) AS n FROM users").await,
        1,
        "the write went to the primary"
    );
}
