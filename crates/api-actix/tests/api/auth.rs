//! `/api/v1/auth/*` against the real server.

use serde_json::json;

use crate::helpers::{refresh_token, token, TestApp, ADMIN, ADMIN_PASSWORD, STRONG};

#[actix_rt::test]
async fn login_returns_a_token_pair_with_the_user() {
    let app = TestApp::spawn().await;

    let pair = app.login(ADMIN, ADMIN_PASSWORD).await;

    assert_eq!(pair["tokenType"], "Bearer");
    assert_eq!(pair["expiresIn"], 900);
    assert_eq!(pair["refreshExpiresIn"], 7 * 86_400);
    assert!(pair["sessionId"].is_string());
    assert_eq!(pair["user"]["username"], ADMIN);
    assert_eq!(pair["user"]["role"], "ADMIN");
    assert_eq!(pair["user"]["loginCount"], 1);
    assert!(pair["user"].get("passwordHash").is_none());
    let jwt_parts = token(&pair).split('.').count();
    assert_eq!(jwt_parts, 3);
}

#[actix_rt::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = TestApp::spawn().await;

    let wrong = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": ADMIN, "password": "not-the-password"})),
        )
        .await;
    let unknown = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "ghost", "password": "not-the-password"})),
        )
        .await;

    wrong.assert_error(401, "INVALID_CREDENTIALS");
    unknown.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.body["message"], unknown.body["message"]);
}

#[actix_rt::test]
async fn a_login_body_with_unknown_or_missing_fields_is_refused() {
    let app = TestApp::spawn().await;

    let extra = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": ADMIN, "password": "x", "remember": true})),
        )
        .await;
    let missing = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": ADMIN})),
        )
        .await;

    extra.assert_error(400, "VALIDATION_FAILED");
    missing.assert_error(400, "VALIDATION_FAILED");
}

#[actix_rt::test]
async fn refresh_rotates_and_the_new_pair_works() {
    let app = TestApp::spawn().await;
    let first = app.login(ADMIN, ADMIN_PASSWORD).await;

    let second = app
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refreshToken": refresh_token(&first)})),
        )
        .await;

    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["sessionId"], first["sessionId"]);
    assert_ne!(second.body["refreshToken"], first["refreshToken"]);
    let profile = app
        .call("GET", "/api/v1/profile", Some(&token(&second.body)), None)
        .await;
    assert_eq!(profile.status, 200);
}

#[actix_rt::test]
async fn refresh_with_a_spent_token_revokes_the_session() {
    let app = TestApp::spawn().await;
    let first = app.login(ADMIN, ADMIN_PASSWORD).await;
    let other_session = app.login(ADMIN, ADMIN_PASSWORD).await;
    let spent = refresh_token(&first);
    let second = app
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refreshToken": spent})),
        )
        .await;
    assert_eq!(second.status, 200);

    let reuse = app
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refreshToken": spent})),
        )
        .await;

    reuse.assert_error(401, "TOKEN_REUSED");
    let newest = app
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refreshToken": refresh_token(&second.body)})),
        )
        .await;
    newest.assert_error(401, "SESSION_REVOKED");
    let access = app
        .call("GET", "/api/v1/profile", Some(&token(&second.body)), None)
        .await;
    access.assert_error(401, "SESSION_REVOKED");
    let untouched = app
        .call("GET", "/api/v1/profile", Some(&token(&other_session)), None)
        .await;
    assert_eq!(untouched.status, 200, "other sessions live on");
}

#[actix_rt::test]
async fn a_spent_token_retried_within_the_grace_window_gets_a_fresh_pair() {
    let app = TestApp::spawn_with(|v| {
        v.insert("REFRESH_REUSE_GRACE".into(), "30s".into());
    })
    .await;
    let first = app.login(ADMIN, ADMIN_PASSWORD).await;
    let body = json!({"refreshToken": refresh_token(&first)});
    let once = app
        .call("POST", "/api/v1/auth/refresh", None, Some(body.clone()))
        .await;
    assert_eq!(once.status, 200);

    let retry = app
        .call("POST", "/api/v1/auth/refresh", None, Some(body))
        .await;

    assert_eq!(retry.status, 200, "{}", retry.body);
    assert_eq!(retry.body["sessionId"], first["sessionId"]);
}

#[actix_rt::test]
async fn an_unknown_refresh_token_is_token_invalid() {
    let app = TestApp::spawn().await;

    let reply = app
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refreshToken": "made-up"})),
        )
        .await;

    reply.assert_error(401, "TOKEN_INVALID");
}

#[actix_rt::test]
async fn logout_revokes_the_current_session_at_once() {
    let app = TestApp::spawn().await;
    let pair = app.login(ADMIN, ADMIN_PASSWORD).await;
    let access = token(&pair);

    let out = app
        .call("POST", "/api/v1/auth/logout", Some(&access), None)
        .await;

    assert_eq!(out.status, 204);
    app.call("GET", "/api/v1/profile", Some(&access), None)
        .await
        .assert_error(401, "SESSION_REVOKED");
    app.call(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refreshToken": refresh_token(&pair)})),
    )
    .await
    .assert_error(401, "SESSION_REVOKED");
}

#[actix_rt::test]
async fn logout_accepts_an_optional_refresh_token_body() {
    let app = TestApp::spawn().await;
    let pair = app.login(ADMIN, ADMIN_PASSWORD).await;

    let out = app
        .call(
            "POST",
            "/api/v1/auth/logout",
            Some(&token(&pair)),
            Some(json!({"refreshToken": refresh_token(&pair)})),
        )
        .await;

    assert_eq!(out.status, 204);
}

#[actix_rt::test]
async fn logout_all_revokes_every_session_of_the_user() {
    let app = TestApp::spawn().await;
    let one = token(&app.login(ADMIN, ADMIN_PASSWORD).await);
    let two = token(&app.login(ADMIN, ADMIN_PASSWORD).await);

    let out = app
        .call("POST", "/api/v1/auth/logout-all", Some(&one), None)
        .await;

    assert_eq!(out.status, 204);
    for access in [one, two] {
        app.call("GET", "/api/v1/profile", Some(&access), None)
            .await
            .assert_error(401, "SESSION_REVOKED");
    }
}

#[actix_rt::test]
async fn protected_routes_need_a_bearer_token() {
    let app = TestApp::spawn().await;

    app.call("GET", "/api/v1/profile", None, None)
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.call("GET", "/api/v1/profile", Some("not.a.jwt"), None)
        .await
        .assert_error(401, "TOKEN_INVALID");
}

#[actix_rt::test]
async fn an_expired_access_token_is_token_expired() {
    let app = TestApp::spawn().await;
    let access = app.admin_token().await;

    // Still good two seconds short of its 15 minutes, refused once past them.
    app.advance(std::time::Duration::from_secs(15 * 60 - 2));
    let before = app
        .call("GET", "/api/v1/profile", Some(&access), None)
        .await;
    app.advance(std::time::Duration::from_secs(4));
    let after = app
        .call("GET", "/api/v1/profile", Some(&access), None)
        .await;

    assert_eq!(before.status, 200, "{}", before.body);
    after.assert_error(401, "TOKEN_EXPIRED");
}

#[actix_rt::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let app = TestApp::spawn_with(|v| {
        v.insert("LOCKOUT_THRESHOLD".into(), "3".into());
    })
    .await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "carol", "USER").await;
    for _ in 0..3 {
        app.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "carol", "password": "wrong-password"})),
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }

    let right = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "carol", "password": STRONG})),
        )
        .await;

    right.assert_error(401, "INVALID_CREDENTIALS");
    let listed = app
        .call("GET", "/api/v1/users?q=carol", Some(&admin), None)
        .await;
    let carol = &listed.body["items"][0];
    assert!(carol["lockedUntil"].is_string(), "{carol}");
    assert_eq!(carol["failedLoginAttempts"], 4);
}

#[actix_rt::test]
async fn parallel_wrong_passwords_count_exactly() {
    let app = TestApp::spawn_with(|v| {
        v.insert("LOCKOUT_THRESHOLD".into(), "50".into());
    })
    .await;
    let admin = app.admin_token().await;
    let user = app.create_user(&admin, "dave", "USER").await;

    let attempts = (0..12).map(|_| {
        app.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "dave", "password": "wrong-password"})),
        )
    });
    let replies = futures_util::future::join_all(attempts).await;

    assert!(replies.iter().all(|r| r.status == 401));
    let id = user["id"].as_str().unwrap();
    let stored = app
        .call("GET", &format!("/api/v1/users/{id}"), Some(&admin), None)
        .await;
    assert_eq!(stored.body["failedLoginAttempts"], 12);
}
