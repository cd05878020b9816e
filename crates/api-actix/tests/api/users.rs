//! `/api/v1/users*` against the real server.

use serde_json::{json, Value};

use crate::helpers::{token, TestApp, ADMIN, STRONG};

fn id_of(user: &Value) -> String {
    user["id"].as_str().expect("an id").to_owned()
}

#[actix_rt::test]
async fn creating_a_user_answers_201_with_location_and_etag() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;

    let reply = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"username": "hank", "displayName": "Hank", "password": STRONG})),
        )
        .await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["role"], "USER");
    assert_eq!(reply.body["status"], "ACTIVE");
    assert_eq!(reply.body["email"], Value::Null);
    let location = reply.header("location").unwrap();
    assert_eq!(location, format!("/api/v1/users/{}", id_of(&reply.body)));
    assert!(reply.header("etag").is_some());
}

#[actix_rt::test]
async fn usernames_and_emails_are_unique_case_insensitively() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "ivy", "USER").await;

    app.call(
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(json!({"username": "IVY", "displayName": "x", "password": STRONG})),
    )
    .await
    .assert_error(409, "USERNAME_TAKEN");
    app.call("POST", "/api/v1/users", Some(&admin), Some(json!({"username": "ivy2", "email": "Ivy@Example.org", "displayName": "x", "password": STRONG})))
        .await
        .assert_error(409, "EMAIL_TAKEN");
}

#[actix_rt::test]
async fn invalid_create_bodies_are_refused_with_details() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;

    let bad = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"username": "a b", "email": "x", "displayName": " ", "password": STRONG})),
        )
        .await;
    bad.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(bad.body["details"].as_array().unwrap().len(), 3);
    app.call(
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(json!({"username": "weak", "displayName": "x", "password": "password1234"})),
    )
    .await
    .assert_error(400, "WEAK_PASSWORD");
    app.call(
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(json!({"username": "role", "displayName": "x", "password": STRONG, "role": "ROOT"})),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    let listed = app.call("GET", "/api/v1/users", Some(&admin), None).await;
    assert_eq!(listed.body["total"], 1, "nothing was created");
}

#[actix_rt::test]
async fn regular_users_get_403_and_anonymous_callers_401() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, user) = app.user_with_token(&admin, "jack").await;

    app.call("GET", "/api/v1/users", Some(&user), None)
        .await
        .assert_error(403, "FORBIDDEN");
    app.call("GET", "/api/v1/users", None, None)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[actix_rt::test]
async fn the_list_filters_sorts_and_pages_by_offset_and_cursor() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for name in ["kim", "lee", "max", "ned", "oli"] {
        app.create_user(&admin, name, "USER").await;
    }

    let first = app
        .call(
            "GET",
            "/api/v1/users?sort=username&limit=2&role=USER",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["total"], 5);
    assert_eq!(first.body["limit"], 2);
    assert_eq!(first.body["offset"], 0);
    let mut seen: Vec<String> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = first.body["nextCursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = app
            .call(
                "GET",
                &format!("/api/v1/users?sort=username&limit=2&role=USER&cursor={c}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(
            page.body["total"],
            Value::Null,
            "cursor pages have no total"
        );
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_owned()),
        );
        cursor = page.body["nextCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, ["kim", "lee", "max", "ned", "oli"]);

    let desc = app
        .call(
            "GET",
            "/api/v1/users?sort=-username&limit=1&offset=1&role=USER",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(desc.body["items"][0]["username"], "ned");
    let q = app
        .call("GET", "/api/v1/users?q=MAX", Some(&admin), None)
        .await;
    assert_eq!(q.body["total"], 1);
}

#[actix_rt::test]
async fn bad_list_parameters_are_validation_errors() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;

    for query in [
        "limit=0",
        "limit=101",
        "offset=-1",
        "sort=password",
        "role=ROOT",
        "createdFrom=yesterday",
        "cursor=not-a-cursor",
        "includeDeleted=maybe",
    ] {
        app.call("GET", &format!("/api/v1/users?{query}"), Some(&admin), None)
            .await
            .assert_error(400, "VALIDATION_FAILED");
    }
}

#[actix_rt::test]
async fn search_ranks_the_exact_username_first() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "pat-smith", "USER").await;
    app.create_user(&admin, "pat", "USER").await;

    let reply = app
        .call("GET", "/api/v1/users/search?q=pat", Some(&admin), None)
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["items"][0]["username"], "pat");
    assert_eq!(reply.body["items"][1]["username"], "pat-smith");
    app.call("GET", "/api/v1/users/search?q=", Some(&admin), None)
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

#[actix_rt::test]
async fn get_answers_etag_304_and_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let user = app.create_user(&admin, "quinn", "USER").await;
    let path = format!("/api/v1/users/{}", id_of(&user));

    let got = app.call("GET", &path, Some(&admin), None).await;
    let etag = got.header("etag").unwrap();
    let cached = app
        .send(
            "GET",
            &path,
            Some(&admin),
            None,
            &[("If-None-Match", &etag)],
        )
        .await;

    assert_eq!(got.body["username"], "quinn");
    assert_eq!(cached.status, 304);
    app.call(
        "GET",
        "/api/v1/users/00000000-0000-7000-8000-000000000000",
        Some(&admin),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.call("GET", "/api/v1/users/not-a-uuid", Some(&admin), None)
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

#[actix_rt::test]
async fn patch_with_a_stale_if_match_is_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let user = app.create_user(&admin, "rita", "USER").await;
    let path = format!("/api/v1/users/{}", id_of(&user));
    let etag = app
        .call("GET", &path, Some(&admin), None)
        .await
        .header("etag")
        .unwrap();
    let fresh = app
        .send(
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"displayName": "Rita"})),
            &[("If-Match", &etag)],
        )
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_ne!(fresh.header("etag").unwrap(), etag);

    let stale = app
        .send(
            "PATCH",
            &path,
            Some(&admin),
            Some(json!({"displayName": "Stale"})),
            &[("If-Match", &etag)],
        )
        .await;

    stale.assert_error(412, "PRECONDITION_FAILED");
    assert_eq!(
        app.call("GET", &path, Some(&admin), None).await.body["displayName"],
        "Rita"
    );
}

#[actix_rt::test]
async fn blocking_revokes_the_sessions_and_a_demoted_admin_loses_rights_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, user_token) = app.user_with_token(&admin, "sam").await;
    let other_admin = app.create_user(&admin, "tess", "ADMIN").await;
    let tess = token(&app.login("tess", STRONG).await);

    let blocked = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{}", id_of(&user)),
            Some(&admin),
            Some(json!({"status": "BLOCKED"})),
        )
        .await;
    assert_eq!(blocked.body["status"], "BLOCKED");
    app.call("GET", "/api/v1/profile", Some(&user_token), None)
        .await
        .assert_error(401, "SESSION_REVOKED");
    app.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": "sam", "password": STRONG})),
    )
    .await
    .assert_error(401, "INVALID_CREDENTIALS");

    assert_eq!(
        app.call("GET", "/api/v1/users", Some(&tess), None)
            .await
            .status,
        200
    );
    app.call(
        "PATCH",
        &format!("/api/v1/users/{}", id_of(&other_admin)),
        Some(&admin),
        Some(json!({"role": "USER"})),
    )
    .await;
    app.call("GET", "/api/v1/users", Some(&tess), None)
        .await
        .assert_error(403, "FORBIDDEN");
}

#[actix_rt::test]
async fn an_admin_cannot_remove_themselves_and_the_last_admin_stays() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let me = app.call("GET", "/api/v1/profile", Some(&admin), None).await;
    let path = format!("/api/v1/users/{}", id_of(&me.body));

    app.call("DELETE", &path, Some(&admin), None)
        .await
        .assert_error(409, "LAST_ADMIN");
    app.call("PATCH", &path, Some(&admin), Some(json!({"role": "USER"})))
        .await
        .assert_error(409, "LAST_ADMIN");
    app.call(
        "PATCH",
        &path,
        Some(&admin),
        Some(json!({"status": "BLOCKED"})),
    )
    .await
    .assert_error(409, "LAST_ADMIN");
    assert_eq!(
        app.call("GET", &path, Some(&admin), None).await.body["role"],
        "ADMIN"
    );
}

#[actix_rt::test]
async fn delete_hides_the_user_until_restored() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, user_token) = app.user_with_token(&admin, "uma").await;
    let path = format!("/api/v1/users/{}", id_of(&user));

    assert_eq!(
        app.call("DELETE", &path, Some(&admin), None).await.status,
        204
    );
    app.call("GET", "/api/v1/profile", Some(&user_token), None)
        .await
        .assert_error(401, "SESSION_REVOKED");
    let hidden = app
        .call("GET", "/api/v1/users?q=uma", Some(&admin), None)
        .await;
    assert_eq!(hidden.body["total"], 0);
    let shown = app
        .call(
            "GET",
            "/api/v1/users?q=uma&includeDeleted=true",
            Some(&admin),
            None,
        )
        .await;
    assert!(shown.body["items"][0]["deletedAt"].is_string());
    app.call("DELETE", &path, Some(&admin), None)
        .await
        .assert_error(404, "NOT_FOUND");

    let restored = app
        .call("POST", &format!("{path}/restore"), Some(&admin), None)
        .await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(restored.body["deletedAt"], Value::Null);
    app.login("uma", STRONG).await;
    app.call("POST", &format!("{path}/restore"), Some(&admin), None)
        .await
        .assert_error(409, "CONFLICT");
}

#[actix_rt::test]
async fn reset_password_with_a_given_password_revokes_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (user, user_token) = app.user_with_token(&admin, "vera").await;

    let reply = app
        .call(
            "PATCH",
            &format!("/api/v1/users/{}/reset-password", id_of(&user)),
            Some(&admin),
            Some(json!({"newPassword": "tidal-Compass-marble-58"})),
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["temporaryPassword"], "tidal-Compass-marble-58");
    app.call("GET", "/api/v1/profile", Some(&user_token), None)
        .await
        .assert_error(401, "SESSION_REVOKED");
    let pair = app.login("vera", "tidal-Compass-marble-58").await;
    assert_eq!(pair["user"]["mustChangePassword"], true);
    let _ = ADMIN;
}

#[actix_rt::test]
async fn list_pages_carry_an_etag_that_answers_304_until_the_list_changes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "tagged", "USER").await;
    for path in [
        "/api/v1/users?limit=5",
        "/api/v1/users/search?q=tagged",
        "/api/v1/audit-logs?limit=5",
        "/api/v1/sessions",
    ] {
        let first = app.call("GET", path, Some(&admin), None).await;
        assert_eq!(first.status, 200, "{path}");
        let tag = first
            .header("etag")
            .unwrap_or_else(|| panic!("{path}: no ETag"));
        let again = app
            .send("GET", path, Some(&admin), None, &[("If-None-Match", &tag)])
            .await;
        if path == "/api/v1/sessions" && again.status == 200 {
            // The caller's own requests move its session's `lastUsedAt`: a 200 then
            // must carry the changed page under a new tag.
            assert_ne!(again.body, first.body, "{path}: 200 for an unchanged page");
            assert_ne!(again.header("etag"), Some(tag.clone()), "{path}");
            continue;
        }
        assert_eq!(again.status, 304, "{path}");
        assert_eq!(
            again.header("etag").as_deref(),
            Some(tag.as_str()),
            "{path}"
        );
        let other = app
            .send(
                "GET",
                path,
                Some(&admin),
                None,
                &[("If-None-Match", "\"l0\"")],
            )
            .await;
        assert_eq!(other.status, 200, "{path}: another tag is no match");
        assert_eq!(other.body, first.body, "{path}");
    }

    // A change to the listed users changes the page and its tag.
    let before = app
        .call("GET", "/api/v1/users?limit=5", Some(&admin), None)
        .await;
    let tag = before.header("etag").unwrap();
    app.create_user(&admin, "tagged2", "USER").await;
    let after = app
        .send(
            "GET",
            "/api/v1/users?limit=5",
            Some(&admin),
            None,
            &[("If-None-Match", &tag)],
        )
        .await;
    assert_eq!(after.status, 200);
    assert_ne!(after.header("etag"), Some(tag));
}
