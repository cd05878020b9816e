//! Migrations: every up has a working down, and re-running is a no-op.

use adapters_postgres::testing::{revert_all_migrations, TestDatabase};
use adapters_postgres::{embedded_versions, run_migrations};

#[tokio::test]
async fn every_migration_can_be_reverted_and_reapplied() {
    let db = TestDatabase::new().await;
    let versions = embedded_versions().unwrap();
    assert!(!versions.is_empty());

    let mut reverted = revert_all_migrations(db.url()).await.unwrap();
    reverted.reverse();
    assert_eq!(reverted, versions);
    assert_eq!(
        db.query_i64(
            "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' \
             AND tablename <> '__diesel_schema_migrations'"
        )
        .await,
        0
    );

    assert_eq!(run_migrations(db.url()).await.unwrap(), versions);
    assert_eq!(
        run_migrations(db.url()).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn migrations_of_a_template_clone_are_already_applied() {
    let db = TestDatabase::new().await;
    assert!(run_migrations(db.url()).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_migration_runs_apply_each_migration_once() {
    let db = TestDatabase::new().await;
    revert_all_migrations(db.url()).await.unwrap();
    let (a, b) = tokio::join!(run_migrations(db.url()), run_migrations(db.url()));
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    a.append(&mut b);
    a.sort();
    assert_eq!(a, embedded_versions().unwrap());
}
