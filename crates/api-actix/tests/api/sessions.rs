//! Sessions over HTTP: the caller's list with `current`, revoking one (the current one
//! included), another user's or an unknown session as 404, the admin list and
//! revoke-all, access rules, and one `SESSION_REVOKED` audit entry per revocation.

use serde_json::{json, Value};

use crate::helpers::{token, TestApp, Vars, ADMIN, ADMIN_PASSWORD, STRONG};

/// The user agent of the sessions the tests open.
const UA: &str = "sessions-test/1.0";

fn generous(vars: &mut Vars) {
    vars.insert("LOGIN_RATE_LIMIT".into(), "10000".into());
    vars.insert("RATE_LIMIT".into(), "100000".into());
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(generous).await
}

/// Signs in with the test user agent; returns (session id, access token).
async fn sign_in(app: &TestApp, username: &str, password: &str) -> (String, String) {
    let reply = app
        .send(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": username, "password": password })),
            &[("User-Agent", UA)],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (
        reply.body["sessionId"].as_str().unwrap().to_owned(),
        token(&reply.body),
    )
}

/// `GET path` as `token`, asserting 200; returns the list body.
async fn list(app: &TestApp, path: &str, token: &str) -> Value {
    let reply = app.call("GET", path, Some(token), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The audit entries of `action` for `entity_id`.
async fn audit_entries(app: &TestApp, admin: &str, action: &str, entity_id: &str) -> Vec<Value> {
    list(
        app,
        &format!("/api/v1/audit-logs?action={action}&entityId={entity_id}&limit=100"),
        admin,
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[actix_rt::test]
async fn the_list_shows_my_active_sessions_newest_first_with_the_current_one_marked() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "ann", "USER").await;
    let (first, _) = sign_in(&app, "ann", STRONG).await;
    let (second, access) = sign_in(&app, "ann", STRONG).await;
    sign_in(&app, ADMIN, ADMIN_PASSWORD).await;

    let body = list(&app, "/api/v1/sessions", &access).await;

    assert_eq!(body["total"], 2, "{body}");
    assert_eq!(
        (body["limit"].clone(), body["offset"].clone()),
        (json!(20), json!(0))
    );
    assert!(body["nextCursor"].is_null());
    assert_eq!(ids(&body), [second.clone(), first.clone()]);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["current"], true);
    assert_eq!(items[1]["current"], false);
    let item = &items[0];
    for key in ["createdAt", "lastUsedAt", "expiresAt"] {
        assert!(item[key].is_string(), "{key} in {item}");
    }
    assert_eq!(item["ipAddress"], "127.0.0.1");
    assert_eq!(item["userAgent"], UA);
    let mut keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "createdAt",
            "current",
            "expiresAt",
            "id",
            "ipAddress",
            "lastUsedAt",
            "userAgent"
        ]
    );
}

#[actix_rt::test]
async fn the_list_pages_by_offset_and_by_cursor() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "ann", "USER").await;
    let mut opened = Vec::new();
    for _ in 0..3 {
        opened.push(sign_in(&app, "ann", STRONG).await.0);
    }
    let access = sign_in(&app, "ann", STRONG).await.1;

    let first = list(&app, "/api/v1/sessions?limit=2&offset=2", &access).await;
    assert_eq!(first["total"], 4);
    assert_eq!(first["offset"], 2);
    assert_eq!(ids(&first), [opened[1].clone(), opened[0].clone()]);

    let page = list(&app, "/api/v1/sessions?limit=3", &access).await;
    let cursor = page["nextCursor"].as_str().expect("a next page").to_owned();
    let rest = list(
        &app,
        &format!("/api/v1/sessions?limit=3&cursor={cursor}"),
        &access,
    )
    .await;
    assert!(rest["total"].is_null());
    assert_eq!(ids(&rest), [opened[0].clone()]);

    app.call("GET", "/api/v1/sessions?limit=0", Some(&access), None)
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.call("GET", "/api/v1/sessions?cursor=bm9wZQ", Some(&access), None)
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

#[actix_rt::test]
async fn revoking_one_session_ends_only_that_session_and_audits_it() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "ann", "USER").await;
    let (victim, victim_access) = sign_in(&app, "ann", STRONG).await;
    let (_, access) = sign_in(&app, "ann", STRONG).await;

    let reply = app
        .send(
            "DELETE",
            &format!("/api/v1/sessions/{victim}"),
            Some(&access),
            None,
            &[("X-Request-ID", "revoke-one")],
        )
        .await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    app.call("GET", "/api/v1/profile", Some(&victim_access), None)
        .await
        .assert_error(401, "SESSION_REVOKED");
    let left = list(&app, "/api/v1/sessions", &access).await;
    assert_eq!(left["total"], 1);
    app.call(
        "DELETE",
        &format!("/api/v1/sessions/{victim}"),
        Some(&access),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    let entries = audit_entries(&app, &admin, "SESSION_REVOKED", &victim).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let entry = &entries[0];
    assert_eq!(entry["entityType"], "SESSION");
    assert_eq!(entry["requestId"], "revoke-one");
    assert_eq!(entry["metadata"]["current"], false);
}

#[actix_rt::test]
async fn revoking_the_current_session_is_allowed_and_its_token_dies() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "ann", "USER").await;
    let (other, other_access) = sign_in(&app, "ann", STRONG).await;
    let (current, access) = sign_in(&app, "ann", STRONG).await;

    let reply = app
        .call(
            "DELETE",
            &format!("/api/v1/sessions/{current}"),
            Some(&access),
            None,
        )
        .await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    app.call("GET", "/api/v1/sessions", Some(&access), None)
        .await
        .assert_error(401, "SESSION_REVOKED");
    let left = list(&app, "/api/v1/sessions", &other_access).await;
    assert_eq!(ids(&left), [other]);
    let entries = audit_entries(&app, &admin, "SESSION_REVOKED", &current).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["metadata"]["current"], true);
}

#[actix_rt::test]
async fn another_users_session_and_unknown_ids_are_404_and_a_malformed_id_is_400() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "ann", "USER").await;
    app.create_user(&admin, "bob", "USER").await;
    let (_, ann) = sign_in(&app, "ann", STRONG).await;
    let (bobs, bob) = sign_in(&app, "bob", STRONG).await;

    app.call(
        "DELETE",
        &format!("/api/v1/sessions/{bobs}"),
        Some(&ann),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.call(
        "DELETE",
        "/api/v1/sessions/0190f0d2-0000-7000-8000-000000000000",
        Some(&ann),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.call("DELETE", "/api/v1/sessions/not-a-uuid", Some(&ann), None)
        .await
        .assert_error(400, "VALIDATION_FAILED");

    assert_eq!(list(&app, "/api/v1/sessions", &bob).await["total"], 1);
    assert!(audit_entries(&app, &admin, "SESSION_REVOKED", &bobs)
        .await
        .is_empty());
}

#[actix_rt::test]
async fn an_admin_lists_and_revokes_every_session_of_a_user_with_one_audit_entry() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let ann = app.create_user(&admin, "ann", "USER").await;
    let ann_id = ann["id"].as_str().unwrap();
    let (_, one) = sign_in(&app, "ann", STRONG).await;
    let (_, two) = sign_in(&app, "ann", STRONG).await;
    let (_, bob) = app.user_with_token(&admin, "bob").await;

    let path = format!("/api/v1/users/{ann_id}/sessions");
    let listed = list(&app, &path, &admin).await;
    assert_eq!(listed["total"], 2, "{listed}");
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["current"] == false));

    let reply = app
        .send(
            "DELETE",
            &path,
            Some(&admin),
            None,
            &[("X-Request-ID", "revoke-all")],
        )
        .await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    for access in [one, two] {
        app.call("GET", "/api/v1/profile", Some(&access), None)
            .await
            .assert_error(401, "SESSION_REVOKED");
    }
    assert_eq!(
        app.call("GET", "/api/v1/profile", Some(&bob), None)
            .await
            .status,
        200,
        "other users keep their sessions"
    );
    assert_eq!(list(&app, &path, &admin).await["total"], 0);
    let entries = audit_entries(&app, &admin, "SESSION_REVOKED", ann_id).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let entry = &entries[0];
    assert_eq!(entry["entityType"], "USER");
    assert_eq!(entry["requestId"], "revoke-all");
    assert_eq!(entry["metadata"]["revokedSessions"], 2);
    assert_ne!(entry["userId"], ann["id"], "the admin is the actor");
}

#[actix_rt::test]
async fn the_admin_routes_are_404_for_an_unknown_user_403_for_users_and_401_without_a_token() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (ann, user) = app.user_with_token(&admin, "ann").await;
    let ann_sessions = format!("/api/v1/users/{}/sessions", ann["id"].as_str().unwrap());
    let unknown = "/api/v1/users/0190f0d2-0000-7000-8000-000000000000/sessions";

    for method in ["GET", "DELETE"] {
        app.call(method, unknown, Some(&admin), None)
            .await
            .assert_error(404, "NOT_FOUND");
        app.call(method, "/api/v1/users/nope/sessions", Some(&admin), None)
            .await
            .assert_error(400, "VALIDATION_FAILED");
        app.call(method, &ann_sessions, Some(&user), None)
            .await
            .assert_error(403, "FORBIDDEN");
        app.call(method, &ann_sessions, None, None)
            .await
            .assert_error(401, "UNAUTHORIZED");
    }
    app.call("GET", "/api/v1/sessions", None, None)
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.call(
        "DELETE",
        "/api/v1/sessions/0190f0d2-0000-7000-8000-000000000000",
        None,
        None,
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        app.call("GET", "/api/v1/profile", Some(&user), None)
            .await
            .status,
        200,
        "a refused revoke-all changed nothing"
    );
}

#[actix_rt::test]
async fn a_pending_password_change_gates_the_session_routes() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let ann = app.create_user(&admin, "ann", "USER").await;
    let reset = app
        .call(
            "PATCH",
            &format!(
                "/api/v1/users/{}/reset-password",
                ann["id"].as_str().unwrap()
            ),
            Some(&admin),
            Some(json!({ "newPassword": STRONG })),
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    let (session, access) = sign_in(&app, "ann", STRONG).await;

    app.call("GET", "/api/v1/sessions", Some(&access), None)
        .await
        .assert_error(403, "PASSWORD_CHANGE_REQUIRED");
    app.call(
        "DELETE",
        &format!("/api/v1/sessions/{session}"),
        Some(&access),
        None,
    )
    .await
    .assert_error(403, "PASSWORD_CHANGE_REQUIRED");
}

#[actix_rt::test]
async fn the_openapi_document_describes_the_session_routes() {
    let app = TestApp::spawn().await;

    let doc = app.call("GET", "/api/docs/openapi.json", None, None).await;

    for (path, method) in [
        ("/api/v1/sessions", "get"),
        ("/api/v1/sessions/{id}", "delete"),
        ("/api/v1/users/{id}/sessions", "get"),
        ("/api/v1/users/{id}/sessions", "delete"),
    ] {
        let op = &doc.body["paths"][path][method];
        assert!(op["security"].is_array(), "{method} {path}: {op}");
        assert!(op["responses"]["404"].is_object(), "{method} {path}");
    }
    let item = &doc.body["components"]["schemas"]["SessionList"]["properties"]["items"]["items"];
    assert_eq!(item["properties"]["current"]["type"], "boolean");
}

#[actix_rt::test]
async fn concurrent_revocations_of_one_session_succeed_once_and_audit_once() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "ann", "USER").await;
    let (victim, _) = sign_in(&app, "ann", STRONG).await;
    let (_, access) = sign_in(&app, "ann", STRONG).await;
    let path = format!("/api/v1/sessions/{victim}");

    let replies = futures_util::future::join_all(
        (0..5).map(|_| app.call("DELETE", &path, Some(&access), None)),
    )
    .await;

    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 404, 404, 404, 404]);
    let entries = audit_entries(&app, &admin, "SESSION_REVOKED", &victim).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
}

/// The auth-cache variants every state-change test runs on: the in-process twin, and
/// Redis when `EMS_TEST_REDIS_URL` is set (as `cargo xtask test` does when installed).
pub(crate) fn cache_variants() -> Vec<(&'static str, Option<String>)> {
    let mut variants = vec![("in-process", None)];
    if let Some(url) = adapters_redis::testing::redis_url() {
        variants.push(("redis", Some(url)));
    }
    variants
}

pub(crate) async fn spawn_cached(redis: Option<String>, flush: &str) -> TestApp {
    let flush = flush.to_owned();
    TestApp::spawn_with(move |vars| {
        generous(vars);
        vars.insert("SESSION_ACTIVITY_FLUSH_INTERVAL".into(), flush);
        if let Some(url) = redis {
            vars.insert("REDIS_URL".into(), url);
        }
    })
    .await
}

#[actix_rt::test]
async fn a_cached_session_still_ends_on_the_very_next_request_after_each_change() {
    for (variant, redis) in cache_variants() {
        let app = spawn_cached(redis, "1h").await;
        let admin = app.admin_token().await;
        let user = app.create_user(&admin, "ann", "ADMIN").await;
        let user_path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
        let profile = |token: String| {
            let app = &app;
            async move { app.call("GET", "/api/v1/profile", Some(&token), None).await }
        };

        // Demotion: an admin token that authenticated a moment ago loses admin rights.
        let (_, ann) = sign_in(&app, "ann", STRONG).await;
        for _ in 0..2 {
            assert_eq!(
                list(&app, "/api/v1/users", &ann).await["total"],
                2,
                "{variant}"
            );
        }
        let demoted = app
            .call(
                "PATCH",
                &user_path,
                Some(&admin),
                Some(json!({"role": "USER"})),
            )
            .await;
        assert_eq!(demoted.status, 200, "{variant}: {}", demoted.body);
        app.call("GET", "/api/v1/users", Some(&ann), None)
            .await
            .assert_error(403, "FORBIDDEN");

        // Logout, revoke and block each end a session that was just used.
        let (_, t) = sign_in(&app, "ann", STRONG).await;
        assert_eq!(profile(t.clone()).await.status, 200, "{variant}");
        let out = app
            .call("POST", "/api/v1/auth/logout", Some(&t), None)
            .await;
        assert_eq!(out.status, 204, "{variant}");
        profile(t).await.assert_error(401, "SESSION_REVOKED");

        let (sid, t) = sign_in(&app, "ann", STRONG).await;
        assert_eq!(profile(t.clone()).await.status, 200, "{variant}");
        let revoked = app
            .call(
                "DELETE",
                &format!("{user_path}/sessions"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(revoked.status, 204, "{variant}: {sid}");
        profile(t).await.assert_error(401, "SESSION_REVOKED");

        let (_, t) = sign_in(&app, "ann", STRONG).await;
        assert_eq!(profile(t.clone()).await.status, 200, "{variant}");
        let reset = app
            .call(
                "PATCH",
                &format!("{user_path}/reset-password"),
                Some(&admin),
                Some(json!({})),
            )
            .await;
        assert_eq!(reset.status, 200, "{variant}: {}", reset.body);
        profile(t).await.assert_error(401, "SESSION_REVOKED");
        let temporary = reset.body["temporaryPassword"].as_str().unwrap().to_owned();

        let (_, t) = sign_in(&app, "ann", &temporary).await;
        app.call("GET", "/api/v1/sessions", Some(&t), None)
            .await
            .assert_error(403, "PASSWORD_CHANGE_REQUIRED");
        assert_eq!(profile(t.clone()).await.status, 200, "{variant}");
        let blocked = app
            .call(
                "PATCH",
                &user_path,
                Some(&admin),
                Some(json!({"status": "BLOCKED"})),
            )
            .await;
        assert_eq!(blocked.status, 200, "{variant}: {}", blocked.body);
        profile(t).await.assert_error(401, "SESSION_REVOKED");
    }
}

#[actix_rt::test]
async fn last_used_at_follows_requests_at_once_and_reaches_the_database_only_in_batches() {
    use domain::ports::SessionRepository;
    use domain::session::SessionId;

    for (variant, redis) in cache_variants() {
        // A write-behind that never runs during the test: requests alone write nothing.
        let app = spawn_cached(redis.clone(), "1h").await;
        let admin = app.admin_token().await;
        app.create_user(&admin, "ann", "USER").await;
        let (sid, t) = sign_in(&app, "ann", STRONG).await;
        let session = SessionId(sid.parse().unwrap());
        let stored = |app: &TestApp| {
            let store = app.db.store();
            async move {
                let (s, _) = store.find_for_auth(session).await.unwrap().unwrap();
                s.last_used_at
            }
        };
        let signed_in = stored(&app).await;
        // A use a while after the sign-in, on the server's clock.
        app.advance(std::time::Duration::from_millis(1100));
        assert_eq!(profile_status(&app, &t).await, 200);

        let listed = list(&app, "/api/v1/sessions", &t).await;
        let shown: chrono::DateTime<chrono::Utc> = listed["items"][0]["lastUsedAt"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            shown > signed_in,
            "{variant}: the list shows the use at once"
        );
        assert_eq!(
            stored(&app).await,
            signed_in,
            "{variant}: no database write per request"
        );

        // A short write-behind moves it into the database.
        let app = spawn_cached(redis, "200ms").await;
        let admin = app.admin_token().await;
        app.create_user(&admin, "ann", "USER").await;
        let (sid, t) = sign_in(&app, "ann", STRONG).await;
        let session = SessionId(sid.parse().unwrap());
        let store = app.db.store();
        let (before, _) = store.find_for_auth(session).await.unwrap().unwrap();
        app.advance(std::time::Duration::from_millis(1100));
        assert_eq!(profile_status(&app, &t).await, 200);
        let mut written = before.last_used_at;
        for _ in 0..100 {
            written = store
                .find_for_auth(session)
                .await
                .unwrap()
                .unwrap()
                .0
                .last_used_at;
            if written > before.last_used_at {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(
            written > before.last_used_at,
            "{variant}: the write-behind moved lastUsedAt"
        );
    }
}

async fn profile_status(app: &TestApp, token: &str) -> u16 {
    app.call("GET", "/api/v1/profile", Some(token), None)
        .await
        .status
}
