//! The audit log over HTTP: one entry per audited action with its actor, entity, request
//! id, client IP and user agent; the list's access rules, filters and pages; keyed tamper
//! evidence (entry MACs, signed checkpoints) that survives retention and restarts; no
//! secret in any entry; `AUDIT_ENABLED=false`; the `AUDIT_HMAC_KEY` setting.

use std::time::Duration;

use adapters_postgres::testing::TestDatabase;
use serde_json::{json, Value};

use crate::helpers::{refresh_token, sealed, token, TestApp, Vars, ADMIN, ADMIN_PASSWORD, STRONG};

/// The user agent every audited request sends.
const UA: &str = "audit-test/1.0 (ems)";
/// Another strong password (does not contain any test user's name).
const NEW_PASSWORD: &str = "cobalt-Meadow-rhythm-58";
/// A third one, for admin resets.
const RESET_PASSWORD: &str = "quartz-Lantern-voyage-31";

fn generous(vars: &mut Vars) {
    vars.insert("LOGIN_RATE_LIMIT".into(), "10000".into());
    vars.insert("RATE_LIMIT".into(), "100000".into());
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(generous).await
}

/// Sends an audited request with its own request id and the test user agent.
async fn audited(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    rid: &str,
) -> crate::helpers::Reply {
    app.send(
        method,
        path,
        token,
        body,
        &[("X-Request-ID", rid), ("User-Agent", UA)],
    )
    .await
}

/// Up to 100 entries, newest first, matching `query`.
async fn entries(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let reply = app
        .call(
            "GET",
            &format!("/api/v1/audit-logs?limit=100&{query}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().expect("items").clone()
}

/// The single entry of `action` left by the request `rid`, after checking that the
/// request left exactly `total` entries and that the entry names the client.
async fn one_entry(app: &TestApp, admin: &str, action: &str, rid: &str, total: usize) -> Value {
    let of_request: Vec<Value> = entries(app, admin, "")
        .await
        .into_iter()
        .filter(|e| e["requestId"] == rid)
        .collect();
    assert_eq!(of_request.len(), total, "entries of {rid}: {of_request:#?}");
    let mine: Vec<&Value> = of_request
        .iter()
        .filter(|e| e["action"] == action)
        .collect();
    assert_eq!(mine.len(), 1, "{action} entries of {rid}: {of_request:#?}");
    let entry = mine[0].clone();
    assert_eq!(entry["ipAddress"], "127.0.0.1", "{entry}");
    assert_eq!(entry["userAgent"], UA, "{entry}");
    assert!(entry["createdAt"].is_string() && entry["id"].is_string());
    entry
}

#[track_caller]
fn assert_about(entry: &Value, actor: &Value, entity_type: &str, entity_id: &Value) {
    assert_eq!(&entry["userId"], actor, "actor of {entry}");
    assert_eq!(entry["entityType"], entity_type, "{entry}");
    assert_eq!(&entry["entityId"], entity_id, "{entry}");
}

#[actix_rt::test]
async fn a_login_leaves_one_login_entry_naming_the_user_session_and_client() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let alice = app.create_user(&admin, "alice", "USER").await;

    let reply = audited(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": "alice", "password": STRONG})),
        "rid-login",
    )
    .await;
    assert_eq!(reply.status, 200);

    let entry = one_entry(&app, &admin, "LOGIN", "rid-login", 1).await;
    assert_about(&entry, &alice["id"], "USER", &alice["id"]);
    assert_eq!(entry["metadata"]["sessionId"], reply.body["sessionId"]);
}

#[actix_rt::test]
async fn failed_logins_are_recorded_for_known_and_unknown_names() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let alice = app.create_user(&admin, "alice", "USER").await;

    let wrong = audited(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": "alice", "password": "not-the-Password-1"})),
        "rid-wrong",
    )
    .await;
    let unknown = audited(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": "ghost", "password": "not-the-Password-1"})),
        "rid-unknown",
    )
    .await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    unknown.assert_error(401, "INVALID_CREDENTIALS");

    let known = one_entry(&app, &admin, "LOGIN_FAILED", "rid-wrong", 1).await;
    assert_about(&known, &alice["id"], "USER", &alice["id"]);
    assert_eq!(known["metadata"]["attempts"], 1);
    let anonymous = one_entry(&app, &admin, "LOGIN_FAILED", "rid-unknown", 1).await;
    assert_about(&anonymous, &Value::Null, "USER", &Value::Null);
    assert_eq!(anonymous["metadata"]["username"], "ghost");
}

#[actix_rt::test]
async fn the_failure_that_locks_an_account_also_records_account_locked_once() {
    let app = TestApp::spawn_with(|vars| {
        generous(vars);
        vars.insert("LOCKOUT_THRESHOLD".into(), "3".into());
    })
    .await;
    let admin = app.admin_token().await;
    let alice = app.create_user(&admin, "alice", "USER").await;

    for i in 1..=4 {
        audited(
            &app,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "alice", "password": "not-the-Password-1"})),
            &format!("rid-fail-{i}"),
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }

    let locked = one_entry(&app, &admin, "ACCOUNT_LOCKED", "rid-fail-3", 2).await;
    assert_about(&locked, &alice["id"], "USER", &alice["id"]);
    assert_eq!(
        entries(&app, &admin, "action=ACCOUNT_LOCKED").await.len(),
        1
    );
}

#[actix_rt::test]
async fn logout_names_the_session_and_logout_all_the_user() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let alice = app.create_user(&admin, "alice", "USER").await;
    let first = app.login("alice", STRONG).await;
    let second = app.login("alice", STRONG).await;

    let out = audited(
        &app,
        "POST",
        "/api/v1/auth/logout",
        Some(&token(&first)),
        None,
        "rid-logout",
    )
    .await;
    let all = audited(
        &app,
        "POST",
        "/api/v1/auth/logout-all",
        Some(&token(&second)),
        None,
        "rid-logout-all",
    )
    .await;
    assert_eq!((out.status, all.status), (204, 204));

    let logout = one_entry(&app, &admin, "LOGOUT", "rid-logout", 1).await;
    assert_about(&logout, &alice["id"], "SESSION", &first["sessionId"]);
    let logout_all = one_entry(&app, &admin, "LOGOUT_ALL", "rid-logout-all", 1).await;
    assert_about(&logout_all, &alice["id"], "USER", &alice["id"]);
    assert_eq!(logout_all["metadata"]["revokedSessions"], 1);
}

#[actix_rt::test]
async fn reusing_a_spent_refresh_token_records_token_reuse_on_its_session() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let alice = app.create_user(&admin, "alice", "USER").await;
    let pair = app.login("alice", STRONG).await;
    let body = json!({"refreshToken": refresh_token(&pair)});
    let rotated = audited(
        &app,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(body.clone()),
        "rid-rotate",
    )
    .await;
    assert_eq!(rotated.status, 200);

    audited(
        &app,
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(body),
        "rid-reuse",
    )
    .await
    .assert_error(401, "TOKEN_REUSED");

    let entry = one_entry(&app, &admin, "TOKEN_REUSE_DETECTED", "rid-reuse", 1).await;
    assert_about(&entry, &alice["id"], "SESSION", &pair["sessionId"]);
    assert!(
        entries(&app, &admin, "")
            .await
            .iter()
            .all(|e| e["requestId"] != "rid-rotate"),
        "a plain rotation is not audited"
    );
}

#[actix_rt::test]
async fn every_admin_change_to_a_user_leaves_one_entry_by_the_admin() {
    let app = spawn().await;
    let admin_pair = app.login(ADMIN, ADMIN_PASSWORD).await;
    let admin = token(&admin_pair);
    let root_id = admin_pair["user"]["id"].clone();

    let created = audited(
        &app,
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(json!({"username": "bob", "displayName": "Bob", "password": STRONG})),
        "rid-create",
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let bob = created.body["id"].clone();
    let path = format!("/api/v1/users/{}", bob.as_str().unwrap());
    let steps: [(&str, &str, String, Option<Value>, &str); 7] = [
        (
            "PATCH",
            "UPDATE_USER",
            path.clone(),
            Some(json!({"displayName": "Robert"})),
            "rid-update",
        ),
        (
            "PATCH",
            "ROLE_CHANGE",
            path.clone(),
            Some(json!({"role": "ADMIN"})),
            "rid-role",
        ),
        (
            "PATCH",
            "BLOCK_USER",
            path.clone(),
            Some(json!({"status": "BLOCKED"})),
            "rid-block",
        ),
        (
            "PATCH",
            "UNBLOCK_USER",
            path.clone(),
            Some(json!({"status": "ACTIVE"})),
            "rid-unblock",
        ),
        (
            "PATCH",
            "PASSWORD_RESET",
            format!("{path}/reset-password"),
            Some(json!({"newPassword": RESET_PASSWORD})),
            "rid-reset",
        ),
        ("DELETE", "DELETE_USER", path.clone(), None, "rid-delete"),
        (
            "POST",
            "RESTORE_USER",
            format!("{path}/restore"),
            None,
            "rid-restore",
        ),
    ];
    for (method, _, url, body, rid) in &steps {
        let reply = audited(&app, method, url, Some(&admin), body.clone(), rid).await;
        assert!(reply.status < 300, "{rid}: {} {}", reply.status, reply.body);
    }

    let create = one_entry(&app, &admin, "CREATE_USER", "rid-create", 1).await;
    assert_about(&create, &root_id, "USER", &bob);
    for (_, action, _, _, rid) in &steps {
        let entry = one_entry(&app, &admin, action, rid, 1).await;
        assert_about(&entry, &root_id, "USER", &bob);
    }
    let role = one_entry(&app, &admin, "ROLE_CHANGE", "rid-role", 1).await;
    assert!(role["metadata"]["role"].is_object() || role["metadata"]["role"].is_string());
    assert!(
        role["metadata"].to_string().contains("ADMIN"),
        "{}",
        role["metadata"]
    );
    let block = one_entry(&app, &admin, "BLOCK_USER", "rid-block", 1).await;
    assert!(block["metadata"].to_string().contains("BLOCKED"));
}

#[actix_rt::test]
async fn profile_changes_are_recorded_as_the_user_about_themselves() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (alice, alice_token) = app.user_with_token(&admin, "alice").await;

    let steps = [
        (
            "PATCH",
            "/api/v1/profile",
            json!({"displayName": "Alice A."}),
            "PROFILE_UPDATE",
            "rid-profile",
        ),
        (
            "PUT",
            "/api/v1/profile/preferences",
            json!({"theme": "dark", "language": "de-CH", "notifications": false}),
            "PREFERENCES_UPDATE",
            "rid-prefs",
        ),
        (
            "PUT",
            "/api/v1/profile/password",
            json!({"currentPassword": STRONG, "newPassword": NEW_PASSWORD}),
            "PASSWORD_CHANGE",
            "rid-password",
        ),
    ];
    for (method, path, body, _, rid) in &steps {
        let reply = audited(
            &app,
            method,
            path,
            Some(&alice_token),
            Some(body.clone()),
            rid,
        )
        .await;
        assert!(reply.status < 300, "{rid}: {} {}", reply.status, reply.body);
    }

    for (_, _, _, action, rid) in &steps {
        let entry = one_entry(&app, &admin, action, rid, 1).await;
        assert_about(&entry, &alice["id"], "USER", &alice["id"]);
    }
}

#[actix_rt::test]
async fn only_admins_read_the_audit_log() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (_, user_token) = app.user_with_token(&admin, "alice").await;

    for path in [
        "/api/v1/audit-logs",
        "/api/v1/audit-logs/verify",
        "/api/v1/audit-logs/checkpoint",
    ] {
        app.call("GET", path, Some(&user_token), None)
            .await
            .assert_error(403, "FORBIDDEN");
        app.call("GET", path, None, None)
            .await
            .assert_error(401, "UNAUTHORIZED");
        assert_eq!(app.call("GET", path, Some(&admin), None).await.status, 200);
    }
}

#[actix_rt::test]
async fn bad_filters_are_validation_errors() {
    let app = spawn().await;
    let admin = app.admin_token().await;

    for query in [
        "action=NOPE",
        "entityType=GROUP",
        "userId=not-a-uuid",
        "from=yesterday",
        "from=2026-11-24T10:00:00Z&to=2026-11-23T10:00:00Z",
        "limit=0",
        "limit=101",
        "cursor=garbage",
        "offset=1&cursor=x",
    ] {
        app.call(
            "GET",
            &format!("/api/v1/audit-logs?{query}"),
            Some(&admin),
            None,
        )
        .await
        .assert_error(400, "VALIDATION_FAILED");
    }
}

#[actix_rt::test]
async fn the_list_filters_and_pages_newest_first() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (alice, alice_token) = app.user_with_token(&admin, "alice").await;
    for i in 0..4 {
        let reply = app
            .call(
                "PATCH",
                "/api/v1/profile",
                Some(&alice_token),
                Some(json!({"displayName": format!("Alice {i}")})),
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    let alice_id = alice["id"].as_str().unwrap();

    let first = app
        .call(
            "GET",
            &format!("/api/v1/audit-logs?userId={alice_id}&action=PROFILE_UPDATE&limit=3"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["total"], 4);
    assert_eq!(first.body["limit"], 3);
    assert_eq!(first.body["offset"], 0);
    let cursor = first.body["nextCursor"].as_str().expect("a next page");
    let second = app
        .call(
            "GET",
            &format!(
                "/api/v1/audit-logs?userId={alice_id}&action=PROFILE_UPDATE&limit=3&cursor={cursor}"
            ),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body["total"], Value::Null);
    assert_eq!(second.body["nextCursor"], Value::Null);
    let items: Vec<Value> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["items"].as_array().unwrap())
        .cloned()
        .collect();
    let names: Vec<&str> = items
        .iter()
        .map(|e| e["createdAt"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(items.len(), 4);
    assert_eq!(names, sorted, "newest first");

    let now = chrono::Utc::now();
    let window = format!(
        "from={}&to={}",
        (now - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        (now + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let in_window = entries(
        &app,
        &admin,
        &format!("{window}&entityType=USER&entityId={alice_id}"),
    )
    .await;
    assert!(in_window.len() >= 5, "create, login and four updates");
    let later = entries(&app, &admin, "from=2999-01-01T00:00:00Z").await;
    assert!(later.is_empty());
}

/// `n` failed logins of ten days ago, one second apart, appended through the store (so
/// bound to the database's audit key, which the servers of this database use too).
async fn old_entries(db: &TestDatabase, n: i64) {
    use domain::audit::{AuditAction, AuditEntry, EntityType, RequestContext};
    use domain::ports::UnitOfWork;
    let store = db.store();
    for g in 1..=n {
        let at = chrono::Utc::now() - chrono::Duration::days(10) + chrono::Duration::seconds(g);
        let entry = AuditEntry::new(
            uuid::Uuid::now_v7(),
            &RequestContext::default(),
            AuditAction::LoginFailed,
            EntityType::User,
            None,
            json!({}),
            at,
        );
        let mut tx = store.begin().await.unwrap();
        tx.append_audit(&entry).await.unwrap();
        tx.commit().await.unwrap();
    }
}

async fn count(db: &TestDatabase, sql: &str) -> i64 {
    db.query_i64(sql).await
}

#[actix_rt::test]
async fn a_row_edited_in_the_database_after_sealing_fails_verification_at_that_row() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (alice, _) = app.user_with_token(&admin, "alice").await;
    let rows = count(&app.db, "SELECT count(*) AS n FROM audit_logs").await;
    let started = std::time::Instant::now();
    let report = sealed(&app, &admin, rows).await;
    let lag = started.elapsed();
    assert_eq!(
        report,
        json!({"valid": true, "checked": rows, "firstBrokenId": null})
    );
    eprintln!("sealing lag: all {rows} entries sealed within {lag:?}");

    let login = entries(
        &app,
        &admin,
        &format!("action=LOGIN&userId={}", alice["id"].as_str().unwrap()),
    )
    .await;
    let id = login[0]["id"].as_str().unwrap();
    app.db
        .execute(&format!(
            "UPDATE audit_logs SET ip_address = '10.9.9.9' WHERE id = '{id}'"
        ))
        .await;

    let reply = app
        .call("GET", "/api/v1/audit-logs/verify", Some(&admin), None)
        .await;
    assert_eq!(reply.body["valid"], false, "{}", reply.body);
    assert_eq!(reply.body["firstBrokenId"], id);
}

#[actix_rt::test]
async fn a_row_deleted_in_the_database_fails_verification_at_the_next_row() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "alice", "USER").await;
    app.create_user(&admin, "bob", "USER").await;
    let rows = count(&app.db, "SELECT count(*) AS n FROM audit_logs").await;
    sealed(&app, &admin, rows).await;

    // The entry sealed second, and the one after it.
    app.db
        .execute("DELETE FROM audit_logs WHERE chain_seq = 2")
        .await;
    let next = entries(&app, &admin, "action=CREATE_USER").await;
    let reply = app
        .call("GET", "/api/v1/audit-logs/verify", Some(&admin), None)
        .await;
    assert_eq!(reply.body["valid"], false, "{}", reply.body);
    let broken = reply.body["firstBrokenId"].as_str().unwrap().to_owned();
    assert!(
        count(
            &app.db,
            &format!(
                "SELECT count(*) AS n FROM audit_logs WHERE chain_seq = 3 AND id = '{broken}'"
            )
        )
        .await
            == 1,
        "the row after the gap: {broken} ({next:?})"
    );
}

#[actix_rt::test]
async fn retention_purges_old_entries_and_ended_sessions_and_the_log_still_verifies() {
    // Entries from ten days ago, written (with the server's key) before it starts.
    let db = TestDatabase::new().await;
    old_entries(&db, 3).await;
    let app = TestApp::spawn_on(db, |vars| {
        generous(vars);
        vars.insert("AUDIT_RETENTION_DAYS".into(), "1".into());
        vars.insert("AUDIT_RETENTION_INTERVAL".into(), "1s".into());
    })
    .await;
    let admin = app.admin_token().await;
    let (_, alice_token) = app.user_with_token(&admin, "alice").await;
    // A session of alice that ended two days ago goes, with its refresh token; the live
    // sessions (the admin's and alice's other one) stay.
    let ended = app.login("alice", STRONG).await;
    app.db
        .execute(&format!(
            "UPDATE sessions SET created_at = now() - interval '9 days', \
             expires_at = now() - interval '2 days' WHERE id = '{}'",
            ended["sessionId"].as_str().unwrap()
        ))
        .await;

    let mut purged = false;
    for _ in 0..100 {
        if count(
            &app.db,
            "SELECT count(*) AS n FROM audit_logs WHERE created_at < now() - interval '1 day'",
        )
        .await
            == 0
            && count(&app.db, "SELECT chain_seq AS n FROM audit_chain_anchor").await == 3
        {
            purged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(purged, "old entries were not purged within 10 s");
    let rows = count(&app.db, "SELECT count(*) AS n FROM audit_logs").await;
    let report = sealed(&app, &admin, rows).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["checked"], rows);
    for _ in 0..100 {
        if count(&app.db, "SELECT count(*) AS n FROM sessions").await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count(&app.db, "SELECT count(*) AS n FROM sessions").await,
        2
    );
    assert_eq!(
        count(
            &app.db,
            &format!(
                "SELECT count(*) AS n FROM refresh_tokens WHERE session_id = '{}'",
                ended["sessionId"].as_str().unwrap()
            )
        )
        .await,
        0
    );
    assert_eq!(
        app.call("GET", "/api/v1/profile", Some(&alice_token), None)
            .await
            .status,
        200
    );
}

#[actix_rt::test]
async fn no_password_or_token_ends_up_in_any_audit_entry() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let pair = app.login(ADMIN, ADMIN_PASSWORD).await;
    app.create_user(&admin, "alice", "USER").await;
    let bob = app.create_user(&admin, "bob", "USER").await;
    let bob_path = format!("/api/v1/users/{}", bob["id"].as_str().unwrap());
    let mut secrets: Vec<String> = vec![
        ADMIN_PASSWORD.into(),
        STRONG.into(),
        NEW_PASSWORD.into(),
        RESET_PASSWORD.into(),
        admin.clone(),
        token(&pair),
        refresh_token(&pair),
        "wrong-Guess-password-9".into(),
    ];
    for who in [ADMIN, "alice", "nobody"] {
        app.call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": who, "password": "wrong-Guess-password-9"})),
        )
        .await;
    }
    let alice = app.login("alice", STRONG).await;
    secrets.extend([token(&alice), refresh_token(&alice)]);
    let refreshed = app
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refreshToken": refresh_token(&alice)})),
        )
        .await;
    secrets.extend([token(&refreshed.body), refresh_token(&refreshed.body)]);
    let changed = app
        .call(
            "PUT",
            "/api/v1/profile/password",
            Some(&token(&refreshed.body)),
            Some(json!({"currentPassword": STRONG, "newPassword": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    app.call(
        "PATCH",
        &format!("{bob_path}/reset-password"),
        Some(&admin),
        Some(json!({"newPassword": RESET_PASSWORD})),
    )
    .await;
    let generated = app
        .call(
            "PATCH",
            &format!("{bob_path}/reset-password"),
            Some(&admin),
            None,
        )
        .await;
    let temporary = generated.body["temporaryPassword"]
        .as_str()
        .expect("a temporary password")
        .to_owned();
    secrets.push(temporary);

    let rows = count(&app.db, "SELECT count(*) AS n FROM audit_logs").await;
    assert!(rows >= 10, "the run was audited: {rows}");
    let listed = serde_json::to_string(&entries(&app, &admin, "").await).unwrap();
    for secret in &secrets {
        assert!(!listed.contains(secret.as_str()), "a secret is listed");
        let escaped = secret.replace('\'', "''");
        let hits = count(
            &app.db,
            &format!(
                "SELECT count(*) AS n FROM audit_logs a WHERE strpos(a::text, '{escaped}') > 0"
            ),
        )
        .await;
        assert_eq!(hits, 0, "a secret is stored in an audit row");
    }
}

#[actix_rt::test]
async fn audit_disabled_records_nothing() {
    let app = TestApp::spawn_with(|vars| {
        generous(vars);
        vars.insert("AUDIT_ENABLED".into(), "false".into());
    })
    .await;
    let admin = app.admin_token().await;
    let (_, alice_token) = app.user_with_token(&admin, "alice").await;
    app.call(
        "PATCH",
        "/api/v1/profile",
        Some(&alice_token),
        Some(json!({"displayName": "Alice"})),
    )
    .await;

    assert_eq!(
        count(&app.db, "SELECT count(*) AS n FROM audit_logs").await,
        0
    );
    assert!(entries(&app, &admin, "").await.is_empty());
    let report = app
        .call("GET", "/api/v1/audit-logs/verify", Some(&admin), None)
        .await;
    assert_eq!(
        report.body,
        json!({"valid": true, "checked": 0, "firstBrokenId": null})
    );
}

/// A second `ems serve` process; killed when dropped.
struct OtherInstance {
    child: std::process::Child,
    address: String,
}

impl Drop for OtherInstance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real binary over `database_url` and waits until it answers.
async fn other_instance(database_url: &str, vars: &[(&str, &str)]) -> OtherInstance {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ems"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("APP_ENV", "test")
        .env("RUST_LOG", "error")
        .envs(vars.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the ems binary starts");
    let instance = OtherInstance {
        child,
        address: format!("http://127.0.0.1:{port}"),
    };
    let client = awc::Client::default();
    for _ in 0..100 {
        if let Ok(res) = client
            .get(format!("{}/api/health", instance.address))
            .send()
            .await
        {
            if res.status().is_success() {
                return instance;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the second instance did not start");
}

#[actix_rt::test]
async fn two_processes_seal_and_purge_one_chain_without_conflict() {
    let db = TestDatabase::new().await;
    old_entries(&db, 5).await;
    let fast = [
        ("AUDIT_SEAL_INTERVAL", "100ms"),
        ("AUDIT_RETENTION_INTERVAL", "100ms"),
        ("AUDIT_RETENTION_DAYS", "1"),
        ("LOGIN_RATE_LIMIT", "10000"),
        ("RATE_LIMIT", "100000"),
    ];
    let app = TestApp::spawn_on(db, |vars| {
        for (k, v) in fast {
            vars.insert(k.into(), v.into());
        }
    })
    .await;
    let key_file = crate::helpers::audit_key_file(&app.db);
    let mut vars = fast.to_vec();
    vars.push(("AUDIT_HMAC_KEY", key_file.to_str().unwrap()));
    let other = other_instance(app.db.url(), &vars).await;
    let admin = app.admin_token().await;

    // Logins through both processes at once; both seal and purge the same log.
    let client = awc::Client::default();
    let through_other = (0..15).map(|_| {
        let client = client.clone();
        let url = format!("{}/api/v1/auth/login", other.address);
        async move {
            let res = client
                .post(url)
                .send_json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 200);
        }
    });
    let through_this = (0..15).map(|_| app.login(ADMIN, ADMIN_PASSWORD));
    futures_util::future::join(
        futures_util::future::join_all(through_other),
        futures_util::future::join_all(through_this),
    )
    .await;

    let mut report = Value::Null;
    for _ in 0..100 {
        let rows = count(&app.db, "SELECT count(*) AS n FROM audit_logs").await;
        let old = count(
            &app.db,
            "SELECT count(*) AS n FROM audit_logs WHERE created_at < now() - interval '1 day'",
        )
        .await;
        report = app
            .call("GET", "/api/v1/audit-logs/verify", Some(&admin), None)
            .await
            .body;
        if old == 0 && report["checked"] == rows {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(
        count(&app.db, "SELECT chain_seq AS n FROM audit_chain_anchor").await,
        5,
        "the old entries were purged once, from the head of the chain"
    );
    // Contiguous sequence numbers: the two sealers never interleaved.
    assert_eq!(
        count(
            &app.db,
            "SELECT (max(chain_seq) - min(chain_seq) + 1 - count(*)) AS n FROM audit_logs"
        )
        .await,
        0
    );
    assert!(report["checked"].as_i64().unwrap() >= 31, "{report}");
    drop(other);
}

#[actix_rt::test]
async fn bulk_and_export_actions_leave_one_entry_naming_the_actor_and_client() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let me = app
        .call("GET", "/api/v1/profile", Some(&admin), None)
        .await
        .body;
    let doomed = app.create_user(&admin, "doomed", "USER").await;
    let create = json!({"users": [
        {"username": "bulk1", "displayName": "Bulk One", "password": STRONG},
        {"username": "bulk2", "displayName": "Bulk Two", "password": STRONG},
    ]});

    let created = audited(
        &app,
        "POST",
        "/api/v1/users/bulk",
        Some(&admin),
        Some(create),
        "rid-bulk-create",
    )
    .await;
    let deleted = audited(
        &app,
        "DELETE",
        "/api/v1/users/bulk",
        Some(&admin),
        Some(json!({"ids": [doomed["id"]]})),
        "rid-bulk-delete",
    )
    .await;
    let exported = audited(
        &app,
        "GET",
        "/api/v1/users/export?format=csv",
        Some(&admin),
        None,
        "rid-export",
    )
    .await;
    let data = audited(
        &app,
        "GET",
        "/api/v1/profile/export",
        Some(&admin),
        None,
        "rid-data-export",
    )
    .await;

    assert_eq!(
        (created.status, deleted.status, exported.status, data.status),
        (201, 200, 200, 200)
    );
    let entry = one_entry(&app, &admin, "BULK_CREATE_USERS", "rid-bulk-create", 1).await;
    assert_about(&entry, &me["id"], "USER", &Value::Null);
    let entry = one_entry(&app, &admin, "BULK_DELETE_USERS", "rid-bulk-delete", 1).await;
    assert_about(&entry, &me["id"], "USER", &Value::Null);
    let entry = one_entry(&app, &admin, "EXPORT_USERS", "rid-export", 1).await;
    assert_about(&entry, &me["id"], "USER", &Value::Null);
    let entry = one_entry(&app, &admin, "DATA_EXPORT", "rid-data-export", 1).await;
    assert_about(&entry, &me["id"], "USER", &me["id"]);
}

/// A signed checkpoint of the log as it is now.
async fn checkpoint(app: &TestApp, admin: &str) -> String {
    let reply = app
        .call("GET", "/api/v1/audit-logs/checkpoint", Some(admin), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["checkpoint"]
        .as_str()
        .expect("a checkpoint")
        .to_owned()
}

async fn verify_with(app: &TestApp, admin: &str, checkpoint: &str) -> crate::helpers::Reply {
    app.call(
        "GET",
        &format!("/api/v1/audit-logs/verify?checkpoint={checkpoint}"),
        Some(admin),
        None,
    )
    .await
}

#[actix_rt::test]
async fn a_checkpoint_is_a_jws_over_the_sealed_head_verifiable_with_the_jwks() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "alice", "USER").await;
    let rows = count(&app.db, "SELECT count(*) AS n FROM audit_logs").await;
    sealed(&app, &admin, rows).await;

    let jws = checkpoint(&app, &admin).await;

    let header = jsonwebtoken::decode_header(&jws).unwrap();
    assert_eq!(header.typ.as_deref(), Some("ems-audit-checkpoint+jws"));
    let kid = header.kid.expect("a kid");
    let jwks = app.call("GET", "/.well-known/jwks.json", None, None).await;
    let jwk_value = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the kid is published")
        .clone();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk_value).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(
        &jws,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .expect("the JWKS verifies the checkpoint")
    .claims;
    let head = count(&app.db, "SELECT head_seq AS n FROM audit_chain_anchor").await;
    assert!(head >= rows, "{claims}");
    assert_eq!(claims["seq"], head, "{claims}");
    assert_eq!(claims["count"], head, "nothing purged: {claims}");
    assert_eq!(
        claims["hash"].as_str().unwrap().len(),
        43,
        "32 bytes base64url"
    );
    let iat = claims["iat"].as_i64().unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - iat).abs() < 60,
        "{claims}"
    );
}

#[actix_rt::test]
async fn verify_with_a_checkpoint_holds_until_a_row_before_it_is_changed() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "alice", "USER").await;
    let rows = count(&app.db, "SELECT count(*) AS n FROM audit_logs").await;
    sealed(&app, &admin, rows).await;
    let jws = checkpoint(&app, &admin).await;
    app.create_user(&admin, "bob", "USER").await;

    let reply = verify_with(&app, &admin, &jws).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["valid"], true, "{}", reply.body);

    app.db
        .execute("UPDATE audit_logs SET request_id = 'forged' WHERE chain_seq = 1")
        .await;
    let reply = verify_with(&app, &admin, &jws).await;
    assert_eq!(reply.body["valid"], false, "{}", reply.body);
    assert!(reply.body["firstBrokenId"].is_string(), "{}", reply.body);
}

#[actix_rt::test]
async fn a_checkpoint_finds_the_newest_rows_removed_with_the_head_moved_back() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let rows = count(&app.db, "SELECT count(*) AS n FROM audit_logs").await;
    sealed(&app, &admin, rows).await;
    // The head as it was, kept by the attacker.
    app.db
        .execute("CREATE TABLE old_anchor AS SELECT * FROM audit_chain_anchor")
        .await;
    app.create_user(&admin, "alice", "USER").await;
    sealed(&app, &admin, rows + 1).await;
    let jws = checkpoint(&app, &admin).await;

    let old_head = count(&app.db, "SELECT head_seq AS n FROM old_anchor").await;
    app.db
        .execute(&format!(
            "DELETE FROM audit_logs WHERE chain_seq > {old_head}; \
             UPDATE audit_chain_anchor AS a SET head_seq = o.head_seq, \
                 head_hash = o.head_hash, head_mac = o.head_mac FROM old_anchor AS o"
        ))
        .await;

    let reply = verify_with(&app, &admin, &jws).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["valid"], false, "{}", reply.body);
}

#[actix_rt::test]
async fn a_malformed_or_foreign_checkpoint_is_a_validation_error_naming_it() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let jws = checkpoint(&app, &admin).await;
    let (head, _) = jws.rsplit_once('.').unwrap();
    let bad_signature = format!("{head}.AAAA");
    for token in ["garbage", "a.b.c", bad_signature.as_str(), admin.as_str()] {
        let reply = verify_with(&app, &admin, token).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(
            reply.body["details"][0]["field"], "checkpoint",
            "{}",
            reply.body
        );
    }
    // One signed by another server's key.
    let other = TestApp::spawn_with(generous).await;
    let other_admin = other.admin_token().await;
    let foreign = checkpoint(&other, &other_admin).await;
    let reply = verify_with(&app, &admin, &foreign).await;
    reply.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(reply.body["details"][0]["field"], "checkpoint");
}

#[actix_rt::test]
async fn a_row_inserted_in_the_database_is_found_before_it_could_be_sealed() {
    let app = TestApp::spawn_with(|vars| {
        generous(vars);
        // The sealer never runs during this test.
        vars.insert("AUDIT_SEAL_INTERVAL".into(), "1h".into());
    })
    .await;
    let admin = app.admin_token().await;
    // Whether the start-up tick has sealed the bootstrap entries yet does not matter: the
    // forged row carries no MAC, so no sealer run can ever seal it, and verify walks the
    // unsealed entries too. (Waiting for that tick made this test fail under load, when
    // the tick was slower than the wait.)
    let forged = uuid::Uuid::now_v7();
    app.db
        .execute(&format!(
            "INSERT INTO audit_logs (id, action, entity_type, metadata, created_at) \
             VALUES ('{forged}', 'LOGIN', 'USER', '{{}}'::jsonb, now() - interval '30 days')"
        ))
        .await;

    let reply = app
        .call("GET", "/api/v1/audit-logs/verify", Some(&admin), None)
        .await;

    assert_eq!(reply.body["valid"], false, "{}", reply.body);
    assert_eq!(reply.body["firstBrokenId"], forged.to_string());
}

#[actix_rt::test]
async fn a_server_restarted_over_the_same_database_still_verifies_its_log() {
    // A kept signing key, as in production: the checkpoint outlives the process too.
    let keep = |vars: &mut Vars| {
        generous(vars);
        vars.insert(
            "JWT_SIGNING_KEYS".into(),
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../adapters-crypto/tests/fixtures/jwt-ed25519.pem"
            )
            .into(),
        );
    };
    let app = TestApp::spawn_with(keep).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "alice", "USER").await;
    let rows = count(&app.db, "SELECT count(*) AS n FROM audit_logs").await;
    sealed(&app, &admin, rows).await;
    let jws = checkpoint(&app, &admin).await;

    let db = app.stop().await;
    let app = TestApp::spawn_on(db, keep).await;
    let admin = app.admin_token().await;
    let reply = verify_with(&app, &admin, &jws).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["valid"], true, "{}", reply.body);
}

fn ems_serve(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ems"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("LOG_FORMAT", "pretty")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_production_start_without_an_audit_key_stops_with_one_line() {
    let signing_key =
        std::env::temp_dir().join(format!("ems-audit-prod-{}.pem", std::process::id()));
    std::fs::write(
        &signing_key,
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../adapters-crypto/tests/fixtures/jwt-ed25519.pem"
        ))
        .unwrap(),
    )
    .unwrap();

    let (code, stderr) = ems_serve(&[
        ("APP_ENV", "production"),
        ("JWT_SIGNING_KEYS", signing_key.to_str().unwrap()),
    ]);

    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("ems: configuration error: AUDIT_HMAC_KEY: is required"),
        "{stderr}"
    );
    std::fs::remove_file(signing_key).unwrap();
}

#[test]
fn a_short_audit_key_file_stops_the_start_with_one_line_naming_it() {
    let key = std::env::temp_dir().join(format!("ems-audit-short-{}.key", std::process::id()));
    std::fs::write(&key, "too-short-key-material\n").unwrap();

    let (code, stderr) = ems_serve(&[
        ("APP_ENV", "test"),
        ("AUDIT_HMAC_KEY", key.to_str().unwrap()),
    ]);

    assert_ne!(code, Some(0), "{stderr}");
    let last = stderr.trim().lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("ems: AUDIT_HMAC_KEY: "), "{stderr}");
    assert!(
        !stderr.contains("too-short-key-material"),
        "the key is never printed: {stderr}"
    );
    std::fs::remove_file(key).unwrap();
}
