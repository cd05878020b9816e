//! Migrations: every up has a working down, and re-running is a no-op.

use adapters_postgres::testing::{revert_all_migrations, TestDatabase};
use adapters_postgres::{embedded_versions, revert_migrations, run_migrations};

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
async fn the_newest_migrations_revert_and_reapply_and_too_many_revert_nothing() {
    let db = TestDatabase::new().await;
    let versions = embedded_versions().unwrap();
    let newest_two: Vec<String> = versions.iter().rev().take(2).cloned().collect();

    assert_eq!(revert_migrations(db.url(), 2).await.unwrap(), newest_two);
    let mut reapplied = run_migrations(db.url()).await.unwrap();
    reapplied.reverse();
    assert_eq!(reapplied, newest_two, "exactly the reverted ones come back");

    let err = revert_migrations(db.url(), versions.len() + 1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only"), "{err}");
    assert!(
        run_migrations(db.url()).await.unwrap().is_empty(),
        "a refused revert reverted nothing"
    );
    assert!(revert_migrations(db.url(), 0).await.unwrap().is_empty());
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
