//! `/api/v1/profile*` against the real server.

use serde_json::json;

use crate::helpers::{token, TestApp, ADMIN, ADMIN_PASSWORD, STRONG};

#[actix_rt::test]
async fn the_profile_has_an_etag_and_answers_304_when_it_matches() {
    let app = TestApp::spawn().await;
    let access = app.admin_token().await;

    let first = app
        .call("GET", "/api/v1/profile", Some(&access), None)
        .await;
    let etag = first.header("etag").expect("an ETag");
    let again = app
        .send(
            "GET",
            "/api/v1/profile",
            Some(&access),
            None,
            &[("If-None-Match", &etag)],
        )
        .await;

    assert_eq!(first.status, 200);
    assert_eq!(first.body["username"], ADMIN);
    assert_eq!(again.status, 304);
}

#[actix_rt::test]
async fn patching_the_profile_changes_it_and_its_etag() {
    let app = TestApp::spawn().await;
    let access = app.admin_token().await;
    let before = app
        .call("GET", "/api/v1/profile", Some(&access), None)
        .await;

    let patched = app
        .call(
            "PATCH",
            "/api/v1/profile",
            Some(&access),
            Some(json!({"displayName": "  The Root ", "email": "root@example.org"})),
        )
        .await;

    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["displayName"], "The Root");
    assert_eq!(patched.body["email"], "root@example.org");
    assert_ne!(patched.header("etag"), before.header("etag"));
    let cleared = app
        .call(
            "PATCH",
            "/api/v1/profile",
            Some(&access),
            Some(json!({"email": null})),
        )
        .await;
    assert_eq!(cleared.body["email"], serde_json::Value::Null);
}

#[actix_rt::test]
async fn an_invalid_profile_patch_names_each_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let access = app.admin_token().await;

    let reply = app
        .call(
            "PATCH",
            "/api/v1/profile",
            Some(&access),
            Some(json!({"displayName": "", "email": "nope"})),
        )
        .await;

    reply.assert_error(400, "VALIDATION_FAILED");
    let fields: Vec<_> = reply.body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].clone())
        .collect();
    assert_eq!(fields, [json!("displayName"), json!("email")]);
    let after = app
        .call("GET", "/api/v1/profile", Some(&access), None)
        .await;
    assert_eq!(after.body["displayName"], ADMIN);
}

#[actix_rt::test]
async fn a_taken_email_is_409_email_taken() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "erin", "USER").await;

    let reply = app
        .call(
            "PATCH",
            "/api/v1/profile",
            Some(&admin),
            Some(json!({"email": "ERIN@example.org"})),
        )
        .await;

    reply.assert_error(409, "EMAIL_TAKEN");
}

#[actix_rt::test]
async fn changing_the_password_revokes_other_sessions_but_not_this_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, mine) = app.user_with_token(&admin, "frank").await;
    let other = token(&app.login("frank", STRONG).await);

    let reply = app
        .call(
            "PUT",
            "/api/v1/profile/password",
            Some(&mine),
            Some(json!({"currentPassword": STRONG, "newPassword": "quartz-Meadow-lantern-19"})),
        )
        .await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(
        app.call("GET", "/api/v1/profile", Some(&mine), None)
            .await
            .status,
        200
    );
    app.call("GET", "/api/v1/profile", Some(&other), None)
        .await
        .assert_error(401, "SESSION_REVOKED");
    app.login("frank", "quartz-Meadow-lantern-19").await;
}

#[actix_rt::test]
async fn a_wrong_current_password_or_a_weak_new_one_is_refused() {
    let app = TestApp::spawn().await;
    let access = app.admin_token().await;

    app.call(
        "PUT",
        "/api/v1/profile/password",
        Some(&access),
        Some(
            json!({"currentPassword": "wrong-one-here", "newPassword": "quartz-Meadow-lantern-19"}),
        ),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");
    let weak = app
        .call(
            "PUT",
            "/api/v1/profile/password",
            Some(&access),
            Some(json!({"currentPassword": ADMIN_PASSWORD, "newPassword": "password1234"})),
        )
        .await;
    weak.assert_error(400, "WEAK_PASSWORD");
    assert!(!weak.body["details"].as_array().unwrap().is_empty());
}

#[actix_rt::test]
async fn preferences_default_then_replace() {
    let app = TestApp::spawn().await;
    let access = app.admin_token().await;

    let defaults = app
        .call("GET", "/api/v1/profile/preferences", Some(&access), None)
        .await;
    let put = app
        .call(
            "PUT",
            "/api/v1/profile/preferences",
            Some(&access),
            Some(json!({"theme": "dark", "language": "de-CH", "notifications": false})),
        )
        .await;
    let read = app
        .call("GET", "/api/v1/profile/preferences", Some(&access), None)
        .await;

    assert_eq!(
        defaults.body,
        json!({"theme": "light", "language": "en", "notifications": true})
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        read.body,
        json!({"theme": "dark", "language": "de-CH", "notifications": false})
    );
}

#[actix_rt::test]
async fn invalid_preferences_are_refused() {
    let app = TestApp::spawn().await;
    let access = app.admin_token().await;

    app.call(
        "PUT",
        "/api/v1/profile/preferences",
        Some(&access),
        Some(json!({"theme": "pink", "language": "en", "notifications": true})),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    app.call(
        "PUT",
        "/api/v1/profile/preferences",
        Some(&access),
        Some(json!({"theme": "dark", "language": "english!", "notifications": true})),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
}

#[actix_rt::test]
async fn a_reset_password_gates_everything_but_profile_password_and_logout() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let user = app.create_user(&admin, "gina", "USER").await;
    let id = user["id"].as_str().unwrap();
    let reset = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{id}/reset-password"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    let temporary = reset.body["temporaryPassword"].as_str().unwrap().to_owned();
    let access = token(&app.login("gina", &temporary).await);

    let profile = app
        .call("GET", "/api/v1/profile", Some(&access), None)
        .await;
    assert_eq!(profile.body["mustChangePassword"], true);
    app.call("GET", "/api/v1/profile/preferences", Some(&access), None)
        .await
        .assert_error(403, "PASSWORD_CHANGE_REQUIRED");
    let changed = app
        .call(
            "PUT",
            "/api/v1/profile/password",
            Some(&access),
            Some(json!({"currentPassword": temporary, "newPassword": "quartz-Meadow-lantern-19"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    assert_eq!(
        app.call("GET", "/api/v1/profile/preferences", Some(&access), None)
            .await
            .status,
        200
    );
}
