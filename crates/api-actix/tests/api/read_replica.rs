//! `DATABASE_READ_URL`: lists, searches and exports come from the replica; the login,
//! the per-request auth check, single reads and writes from the primary. The "replica"
//! is another (empty) database, so each answer shows which one served it.

use adapters_postgres::testing::TestDatabase;
use serde_json::json;

use crate::helpers::{TestApp, STRONG};

#[actix_rt::test]
async fn lists_searches_and_exports_read_the_replica_and_everything_else_the_primary() {
    // Arrange: the admin and "ivy" exist on the primary only.
    let replica = TestDatabase::new().await;
    let app = TestApp::spawn_with(|vars| {
        vars.insert("DATABASE_READ_URL".into(), replica.url().into());
    })
    .await;
    let admin = app.admin_token().await;
    let created = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"username": "ivy", "displayName": "Ivy", "password": STRONG})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let ivy = created.body["id"].as_str().expect("an id").to_owned();

    // Act
    let listed = app.call("GET", "/api/v1/users", Some(&admin), None).await;
    let searched = app
        .call("GET", "/api/v1/users/search?q=ivy", Some(&admin), None)
        .await;
    let exported = app
        .call(
            "GET",
            "/api/v1/users/export?format=json",
            Some(&admin),
            None,
        )
        .await;
    let single = app
        .call("GET", &format!("/api/v1/users/{ivy}"), Some(&admin), None)
        .await;

    // Assert: the replica has no user; the primary has both.
    assert_eq!(
        (listed.status, listed.body["total"].clone()),
        (200, json!(0))
    );
    assert_eq!(searched.status, 200, "{}", searched.body);
    assert_eq!(searched.body["items"], json!([]), "{}", searched.body);
    assert_eq!((exported.status, exported.body.clone()), (200, json!([])));
    assert_eq!(single.status, 200, "a single read uses the primary");
    assert_eq!(single.body["username"], "ivy");
    assert_eq!(
        replica.query_i64("SELECT count(*) AS n FROM users").await,
        0,
        "no write reached the replica"
    );
}
