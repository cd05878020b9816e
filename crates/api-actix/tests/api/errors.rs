//! The contract's error body for actix's own failures.

use serde_json::{json, Value};

use crate::helpers::{
    bring_database_back, eventually, take_database_down, token, TestApp, ADMIN, ADMIN_PASSWORD,
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

const SORT: &str =
    "must list username, displayName, email, createdAt or lastLoginAt, optionally prefixed with '-'";
const NOT_A_NUMBER: &str = "invalid digit found in string";

/// Bad parameters of every admin list route, with the message and details an admin is
/// answered (400 `VALIDATION_FAILED`, as before validation moved after authorization).
/// `{id}` is a user's id.
fn bad_admin_lists() -> Vec<(String, String, Value)> {
    let long = "x".repeat(101);
    let detail = |field: &str, message: &str| json!([{ "field": field, "message": message }]);
    let alone = |field: &str, message: &str| format!("{field}: {message}");
    let invalid = "The request is invalid.";
    vec![
        (
            "/api/v1/users?sort=nope".into(),
            alone("sort", SORT),
            detail("sort", SORT),
        ),
        (
            "/api/v1/users?sort=username,username".into(),
            alone("sort", "lists a field twice"),
            detail("sort", "lists a field twice"),
        ),
        (
            "/api/v1/users?limit=0".into(),
            alone("limit", "must be between 1 and 100"),
            detail("limit", "must be between 1 and 100"),
        ),
        (
            "/api/v1/users?limit=abc".into(),
            invalid.into(),
            detail("query", NOT_A_NUMBER),
        ),
        (
            "/api/v1/users?offset=-1".into(),
            alone("offset", "must be between 0 and 1000000"),
            detail("offset", "must be between 0 and 1000000"),
        ),
        (
            "/api/v1/users?offset=abc".into(),
            invalid.into(),
            detail("query", NOT_A_NUMBER),
        ),
        (
            "/api/v1/users?offset=1&cursor=x".into(),
            alone("cursor", "cannot be combined with offset"),
            detail("cursor", "cannot be combined with offset"),
        ),
        (
            format!("/api/v1/users?cursor={}", "c".repeat(513)),
            alone("cursor", "is not a cursor of this list"),
            detail("cursor", "is not a cursor of this list"),
        ),
        (
            format!("/api/v1/users?q={long}"),
            alone(
                "q",
                "must be at most 100 characters without control characters",
            ),
            detail(
                "q",
                "must be at most 100 characters without control characters",
            ),
        ),
        (
            "/api/v1/users?role=ROOT".into(),
            invalid.into(),
            detail("role", "has an unknown value, expected `USER` or `ADMIN`"),
        ),
        (
            "/api/v1/users?sort=nope&limit=0&q=a%00".into(),
            invalid.into(),
            json!([
                { "field": "limit", "message": "must be between 1 and 100" },
                { "field": "sort", "message": SORT },
                { "field": "q", "message": "must be at most 100 characters without control characters" },
            ]),
        ),
        (
            "/api/v1/users/search".into(),
            invalid.into(),
            detail("q", "is required"),
        ),
        (
            "/api/v1/users/search?q=".into(),
            alone(
                "q",
                "must be 1 to 100 characters without control characters",
            ),
            detail(
                "q",
                "must be 1 to 100 characters without control characters",
            ),
        ),
        (
            "/api/v1/users/search?q=ann&limit=101".into(),
            alone("limit", "must be between 1 and 100"),
            detail("limit", "must be between 1 and 100"),
        ),
        (
            "/api/v1/users/search?q=ann&limit=abc".into(),
            invalid.into(),
            detail("query", NOT_A_NUMBER),
        ),
        (
            "/api/v1/users/export?sort=nope".into(),
            alone("sort", SORT),
            detail("sort", SORT),
        ),
        (
            "/api/v1/users/export?format=xml&sort=nope".into(),
            invalid.into(),
            json!([
                { "field": "sort", "message": SORT },
                { "field": "format", "message": "must be csv or json" },
            ]),
        ),
        (
            "/api/v1/users/export?includeDeleted=maybe".into(),
            invalid.into(),
            detail("query", "provided string was not `true` or `false`"),
        ),
        (
            "/api/v1/audit-logs?limit=0".into(),
            alone("limit", "must be between 1 and 100"),
            detail("limit", "must be between 1 and 100"),
        ),
        (
            "/api/v1/audit-logs?limit=abc".into(),
            invalid.into(),
            detail("query", NOT_A_NUMBER),
        ),
        (
            "/api/v1/audit-logs?cursor=".into(),
            alone("cursor", "is not a cursor of this list"),
            detail("cursor", "is not a cursor of this list"),
        ),
        (
            format!("/api/v1/audit-logs?entityId={long}"),
            alone("entityId", "must be 1 to 100 characters"),
            detail("entityId", "must be 1 to 100 characters"),
        ),
        (
            "/api/v1/audit-logs?entityId=".into(),
            alone("entityId", "must be 1 to 100 characters"),
            detail("entityId", "must be 1 to 100 characters"),
        ),
        (
            "/api/v1/audit-logs?action=NOPE&offset=2000000".into(),
            invalid.into(),
            json!([
                { "field": "offset", "message": "must be between 0 and 1000000" },
                { "field": "action", "message": "is not a known audit action" },
            ]),
        ),
        (
            "/api/v1/audit-logs?userId=nope".into(),
            invalid.into(),
            detail(
                "query",
                "UUID parsing failed: invalid character: found `n` at 0",
            ),
        ),
        (
            "/api/v1/users/{id}/sessions?limit=0".into(),
            alone("limit", "must be between 1 and 100"),
            detail("limit", "must be between 1 and 100"),
        ),
        (
            "/api/v1/users/{id}/sessions?offset=abc".into(),
            invalid.into(),
            detail("query", NOT_A_NUMBER),
        ),
    ]
}

#[actix_rt::test]
async fn admin_lists_refuse_a_regular_user_before_reading_the_parameters() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, regular) = app.user_with_token(&admin, "nosy").await;
    let id = user["id"].as_str().unwrap();

    for (path, _, _) in bad_admin_lists() {
        let path = path.replace("{id}", id);
        let reply = app.call("GET", &path, Some(&regular), None).await;
        assert_eq!(reply.status, 403, "{path}: {}", reply.body);
        reply.assert_error(403, "FORBIDDEN");
        app.call("GET", &path, None, None)
            .await
            .assert_error(401, "UNAUTHORIZED");
    }
}

#[actix_rt::test]
async fn admin_lists_answer_an_admin_the_same_validation_errors_as_before() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let user = app.create_user(&admin, "listed", "USER").await;
    let id = user["id"].as_str().unwrap();

    for (path, message, details) in bad_admin_lists() {
        let path = path.replace("{id}", id);
        let reply = app.call("GET", &path, Some(&admin), None).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.body["message"], message, "{path}");
        assert_eq!(reply.body["details"], details, "{path}");
    }
}

#[actix_rt::test]
async fn a_pending_password_change_is_told_before_a_bad_page_of_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, _) = app.user_with_token(&admin, "gated").await;
    let reset = app
        .call(
            "PATCH",
            &format!(
                "/api/v1/users/{}/reset-password",
                user["id"].as_str().unwrap()
            ),
            Some(&admin),
            None,
        )
        .await;
    let temporary = reset.body["temporaryPassword"].as_str().unwrap().to_owned();
    let gated = token(&app.login("gated", &temporary).await);

    for query in ["limit=0", "limit=abc", "offset=1&cursor=x"] {
        app.call(
            "GET",
            &format!("/api/v1/sessions?{query}"),
            Some(&gated),
            None,
        )
        .await
        .assert_error(403, "PASSWORD_CHANGE_REQUIRED");
        app.call(
            "GET",
            &format!("/api/v1/sessions?{query}"),
            Some(&admin),
            None,
        )
        .await
        .assert_error(400, "VALIDATION_FAILED");
    }
}
