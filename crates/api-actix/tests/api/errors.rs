//! The contract's error body for actix's own failures.

use serde_json::json;

use crate::helpers::{
    bring_database_back, eventually, take_database_down, TestApp, ADMIN, ADMIN_PASSWORD,
};

#[actix_rt::test]
async fn unknown_routes_and_wrong_methods_use_the_error_body() {
    let app = TestApp::spawn().await;

    app.call("GET", "/api/v1/nope", None, None)
        .await
        .assert_error(404, "NOT_FOUND");
    let wrong = app.call("DELETE", "/api/v1/auth/login", None, None).await;
    wrong.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(wrong.header("allow").as_deref(), Some("POST"));
    let several = app.call("PUT", "/api/v1/profile", None, None).await;
    assert_eq!(several.header("allow").as_deref(), Some("GET, PATCH"));
}

#[actix_rt::test]
async fn malformed_json_wrong_content_type_and_oversized_bodies_are_refused() {
    let app = TestApp::spawn().await;

    app.send_raw(
        "POST",
        "/api/v1/auth/login",
        "application/json",
        b"{\"username\":".to_vec(),
    )
    .await
    .assert_error(400, "INVALID_JSON");
    app.send_raw(
        "POST",
        "/api/v1/auth/login",
        "text/plain",
        b"username=root".to_vec(),
    )
    .await
    .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let huge =
        serde_json::to_vec(&json!({"username": ADMIN, "password": "x".repeat(200_000)})).unwrap();
    app.send_raw("POST", "/api/v1/auth/login", "application/json", huge)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[actix_rt::test]
async fn a_sane_request_id_is_echoed_and_an_insane_one_replaced() {
    let app = TestApp::spawn().await;

    let sane = app
        .send(
            "GET",
            "/api/health",
            None,
            None,
            &[("X-Request-ID", "abc.DEF-123_x")],
        )
        .await;
    let insane = app
        .send(
            "GET",
            "/api/health",
            None,
            None,
            &[("X-Request-ID", "bad id!")],
        )
        .await;

    assert_eq!(
        sane.header("x-request-id").as_deref(),
        Some("abc.DEF-123_x")
    );
    let replaced = insane.header("x-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(&replaced).is_ok());
}

#[actix_rt::test]
async fn a_database_outage_is_a_fast_503_and_readiness_fails() {
    let app = TestApp::spawn_with(|v| {
        v.insert("DATABASE_TIMEOUT".into(), "1s".into());
    })
    .await;
    let admin = app.admin_token().await;
    take_database_down(&app.db).await;

    let started = std::time::Instant::now();
    let ready = app.call("GET", "/api/health/ready", None, None).await;
    let login = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": ADMIN, "password": ADMIN_PASSWORD})),
        )
        .await;
    let elapsed = started.elapsed();

    ready.assert_error(503, "SERVICE_UNAVAILABLE");
    login.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(
        elapsed.as_secs() < 15,
        "answers within the pool timeout, took {elapsed:?}"
    );
    bring_database_back(&app.db).await;
    let (app, admin) = (&app, &admin);
    let recovered = eventually(std::time::Duration::from_secs(15), move || async move {
        app.call("GET", "/api/v1/profile", Some(admin), None)
            .await
            .status
            == 200
    })
    .await;
    assert!(recovered, "the server recovers by itself");
}

#[actix_rt::test]
async fn a_json_array_in_place_of_an_object_body_is_refused() {
    let app = TestApp::spawn().await;
    let access = app.admin_token().await;

    let login = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!([ADMIN, ADMIN_PASSWORD])),
        )
        .await;
    let patch = app
        .call(
            "PATCH",
            "/api/v1/profile",
            Some(&access),
            Some(json!(["Array Name", null])),
        )
        .await;

    login.assert_error(400, "VALIDATION_FAILED");
    patch.assert_error(400, "VALIDATION_FAILED");
    let profile = app
        .call("GET", "/api/v1/profile", Some(&access), None)
        .await;
    assert_eq!(profile.body["displayName"], ADMIN, "nothing changed");
}
