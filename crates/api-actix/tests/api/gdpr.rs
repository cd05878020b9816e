//! GDPR access and erasure (`/users/{id}/export`, `/users/{id}/anonymize`), the
//! automatic purge after `USER_PURGE_AFTER`, and password expiry (`PASSWORD_MAX_AGE`).

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{sealed, token, TestApp, STRONG};

fn id_of(user: &Value) -> String {
    user["id"].as_str().expect("an id").to_owned()
}

/// Verify, once every entry written so far is sealed (the sealer runs every second).
async fn verified_after_sealing(app: &TestApp, admin: &str) -> Value {
    let rows = app
        .db
        .query_i64("SELECT count(*) AS n FROM audit_logs")
        .await;
    // The verify calls themselves are not audited; every row counted gets sealed.
    sealed(app, admin, rows).await
}

#[actix_rt::test]
async fn an_admin_exports_any_users_document_with_no_store_and_it_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ann, ann_token) = app.user_with_token(&admin, "ann").await;
    let path = format!("/api/v1/users/{}/export", id_of(&ann));

    let reply = app.call("GET", &path, Some(&admin), None).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    assert!(reply
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment")));
    assert_eq!(reply.body["user"]["id"], ann["id"]);
    assert_eq!(reply.body["user"]["username"], "ann");
    assert_eq!(reply.body["preferences"]["theme"], "light");
    let sessions = reply.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], false);
    let actions: Vec<&str> = reply.body["auditEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"EXPORT_USER_DATA"), "{actions:?}");
    assert!(actions.contains(&"LOGIN") && actions.contains(&"CREATE_USER"));

    // The same document as the user's own export, bar the export's own entries.
    let own = app
        .call("GET", "/api/v1/profile/export", Some(&ann_token), None)
        .await;
    assert_eq!(own.status, 200);
    assert_eq!(own.body["user"], reply.body["user"]);
    assert_eq!(own.body["preferences"], reply.body["preferences"]);
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&own.body), keys(&reply.body));

    let audit = app
        .call(
            "GET",
            "/api/v1/audit-logs?action=EXPORT_USER_DATA",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(audit.body["total"], 1);
    assert_eq!(audit.body["items"][0]["entityId"], ann["id"]);
}

#[actix_rt::test]
async fn the_user_export_is_admin_only_and_404_for_an_unknown_id() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ann, ann_token) = app.user_with_token(&admin, "ann").await;

    app.call(
        "GET",
        &format!("/api/v1/users/{}/export", id_of(&ann)),
        Some(&ann_token),
        None,
    )
    .await
    .assert_error(403, "FORBIDDEN");
    app.call(
        "GET",
        &format!("/api/v1/users/{}/export", uuid::Uuid::now_v7()),
        Some(&admin),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.call(
        "GET",
        &format!("/api/v1/users/{}/export", id_of(&ann)),
        None,
        None,
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
}

#[actix_rt::test]
async fn anonymizing_erases_the_person_keeps_the_log_valid_and_is_idempotent() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ann, ann_token) = app.user_with_token(&admin, "ann").await;
    let id = id_of(&ann);
    app.call(
        "PUT",
        "/api/v1/profile/preferences",
        Some(&ann_token),
        Some(json!({"theme": "dark", "language": "de-CH", "notifications": false})),
    )
    .await;
    assert!(verified_after_sealing(&app, &admin).await["valid"]
        .as_bool()
        .unwrap());

    let reply = app
        .call(
            "POST",
            &format!("/api/v1/users/{id}/anonymize"),
            Some(&admin),
            None,
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let tombstone = reply.body.clone();
    let prefix: String = id.chars().filter(|c| *c != '-').take(8).collect();
    assert_eq!(tombstone["username"], format!("deleted-{prefix}"));
    assert_eq!(tombstone["email"], Value::Null);
    assert_eq!(tombstone["displayName"], "Deleted user");
    assert_eq!(tombstone["status"], "BLOCKED");
    assert!(tombstone["deletedAt"].is_string());
    // The old session is revoked at once.
    app.call("GET", "/api/v1/profile", Some(&ann_token), None)
        .await
        .assert_error(401, "SESSION_REVOKED");
    // Nothing personal is left in the database.
    let left = |sql: String| {
        let db = &app.db;
        async move { db.query_i64(&sql).await }
    };
    assert_eq!(
        left(format!(
            "SELECT count(*) AS n FROM users WHERE id = '{id}' AND (email IS NOT NULL \
             OR username ILIKE '%ann%' OR display_name ILIKE '%ann%')"
        ))
        .await,
        0
    );
    assert_eq!(
        left(format!(
            "SELECT count(*) AS n FROM user_preferences WHERE user_id = '{id}'"
        ))
        .await,
        0
    );
    assert_eq!(
        left(format!(
            "SELECT count(*) AS n FROM sessions WHERE user_id = '{id}' \
             AND (ip_address IS NOT NULL OR user_agent IS NOT NULL)"
        ))
        .await,
        0
    );
    assert_eq!(
        left(format!(
            "SELECT count(*) AS n FROM refresh_tokens WHERE user_id = '{id}'"
        ))
        .await,
        0
    );
    assert_eq!(
        left(format!(
            "SELECT count(*) AS n FROM audit_logs WHERE (user_id = '{id}' OR entity_id = '{id}') \
             AND action <> 'ANONYMIZE_USER' AND (ip_address IS NOT NULL OR user_agent IS NOT NULL \
             OR personal_salt IS NOT NULL OR metadata::text ILIKE '%ann%')"
        ))
        .await,
        0
    );
    assert_eq!(
        left(
            "SELECT count(*) AS n FROM audit_logs WHERE metadata::text ILIKE '%ann@example.org%' \
              OR metadata::text ILIKE '%\"ann\"%'"
                .into()
        )
        .await,
        0,
        "the ANONYMIZE_USER entry names nobody either"
    );
    let report = verified_after_sealing(&app, &admin).await;
    assert_eq!(report["valid"], true, "{report}");
    // Nobody signs in under either name; a try at the tombstone's is an unknown user's,
    // tied to no account.
    app.attempt_login("ann", STRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.attempt_login(tombstone["username"].as_str().unwrap(), STRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(
        left(format!(
            "SELECT count(*) AS n FROM audit_logs WHERE user_id = '{id}' \
             AND action = 'LOGIN_FAILED'"
        ))
        .await,
        0
    );

    // Twice: the same tombstone, no second change, no second entry.
    let again = app
        .call(
            "POST",
            &format!("/api/v1/users/{id}/anonymize"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    let stored = app
        .call("GET", &format!("/api/v1/users/{id}"), Some(&admin), None)
        .await;
    assert_eq!(again.body, stored.body, "the tombstone as stored");
    assert_eq!(again.body["username"], tombstone["username"]);
    assert_eq!(
        again.header("etag"),
        reply.header("etag"),
        "no second change"
    );
    let audit = app
        .call(
            "GET",
            "/api/v1/audit-logs?action=ANONYMIZE_USER",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(audit.body["total"], 1);

    // A tombstone is deleted for good.
    app.call(
        "POST",
        &format!("/api/v1/users/{id}/restore"),
        Some(&admin),
        None,
    )
    .await
    .assert_error(409, "CONFLICT");
    assert_eq!(verified_after_sealing(&app, &admin).await["valid"], true);
}

#[actix_rt::test]
async fn anonymize_refuses_users_unknown_ids_and_the_admin_themselves() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (ann, ann_token) = app.user_with_token(&admin, "ann").await;
    let me = app
        .call("GET", "/api/v1/profile", Some(&admin), None)
        .await
        .body;

    app.call(
        "POST",
        &format!("/api/v1/users/{}/anonymize", id_of(&ann)),
        Some(&ann_token),
        None,
    )
    .await
    .assert_error(403, "FORBIDDEN");
    app.call(
        "POST",
        &format!("/api/v1/users/{}/anonymize", uuid::Uuid::now_v7()),
        Some(&admin),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.call(
        "POST",
        &format!("/api/v1/users/{}/anonymize", id_of(&me)),
        Some(&admin),
        None,
    )
    .await
    .assert_error(409, "LAST_ADMIN");
}

#[actix_rt::test]
async fn users_created_together_get_distinct_tombstone_names() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let a = app.create_user(&admin, "ann", "USER").await;
    let b = app.create_user(&admin, "bob", "USER").await;

    let mut names = Vec::new();
    for user in [&a, &b] {
        let reply = app
            .call(
                "POST",
                &format!("/api/v1/users/{}/anonymize", id_of(user)),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let name = reply.body["username"].as_str().unwrap().to_owned();
        let hex: String = id_of(user).chars().filter(|c| *c != '-').collect();
        assert!(
            hex.starts_with(name.trim_start_matches("deleted-")),
            "{name}"
        );
        names.push(name);
    }
    assert_ne!(names[0], names[1]);
}

#[actix_rt::test]
async fn soft_deleted_users_are_anonymized_after_user_purge_after_and_not_restorable() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("USER_PURGE_AFTER".into(), "2s".into());
        vars.insert("AUDIT_RETENTION_INTERVAL".into(), "1s".into());
    })
    .await;
    let admin = app.admin_token().await;
    let ann = app.create_user(&admin, "ann", "USER").await;
    let bob = app.create_user(&admin, "bob", "USER").await;
    let (ann_id, bob_id) = (id_of(&ann), id_of(&bob));
    for id in [&ann_id, &bob_id] {
        let deleted = app
            .call("DELETE", &format!("/api/v1/users/{id}"), Some(&admin), None)
            .await;
        assert_eq!(deleted.status, 204);
    }
    // Before the period is over, a deleted user can be restored.
    let restored = app
        .call(
            "POST",
            &format!("/api/v1/users/{bob_id}/restore"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(restored.status, 200, "{}", restored.body);
    assert_eq!(restored.body["username"], "bob");

    let mut purged = Value::Null;
    for _ in 0..100 {
        let reply = app
            .call(
                "GET",
                &format!("/api/v1/users/{ann_id}"),
                Some(&admin),
                None,
            )
            .await;
        if reply.body["username"] != "ann" {
            purged = reply.body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        purged["username"]
            .as_str()
            .is_some_and(|n| n.starts_with("deleted-")),
        "not purged within 10 s: {purged}"
    );
    assert_eq!(purged["email"], Value::Null);
    app.call(
        "POST",
        &format!("/api/v1/users/{ann_id}/restore"),
        Some(&admin),
        None,
    )
    .await
    .assert_error(409, "CONFLICT");
    let bob_now = app
        .call(
            "GET",
            &format!("/api/v1/users/{bob_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        bob_now.body["username"], "bob",
        "a restored user is never purged"
    );
    let audit = app
        .call(
            "GET",
            "/api/v1/audit-logs?action=ANONYMIZE_USER",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(audit.body["total"], 1);
    assert_eq!(
        audit.body["items"][0]["userId"],
        Value::Null,
        "done by the server"
    );
    assert_eq!(audit.body["items"][0]["metadata"]["automatic"], true);
    assert_eq!(verified_after_sealing(&app, &admin).await["valid"], true);
}

#[actix_rt::test]
async fn a_login_with_a_password_older_than_password_max_age_is_gated() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("PASSWORD_MAX_AGE".into(), "90d".into());
    })
    .await;
    let admin = app.admin_token().await;
    let ann = app.create_user(&admin, "ann", "USER").await;
    let fresh = app.login("ann", STRONG).await;
    assert_eq!(fresh["user"]["mustChangePassword"], false);
    app.db
        .execute(&format!(
            "UPDATE users SET password_changed_at = now() - interval '91 days' \
             WHERE id = '{}'",
            id_of(&ann)
        ))
        .await;

    let pair = app.login("ann", STRONG).await;

    assert_eq!(pair["user"]["mustChangePassword"], true);
    let ann_token = token(&pair);
    app.call("GET", "/api/v1/sessions", Some(&ann_token), None)
        .await
        .assert_error(403, "PASSWORD_CHANGE_REQUIRED");
    let stored = app
        .call(
            "GET",
            &format!("/api/v1/users/{}", id_of(&ann)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(stored.body["mustChangePassword"], true, "persisted");
    let changed = app
        .call(
            "PUT",
            "/api/v1/profile/password",
            Some(&ann_token),
            Some(json!({"currentPassword": STRONG, "newPassword": "quartz-Meadow-violin-58"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    let after = app.login("ann", "quartz-Meadow-violin-58").await;
    assert_eq!(after["user"]["mustChangePassword"], false);
}

#[actix_rt::test]
async fn without_password_max_age_old_passwords_never_expire() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ann = app.create_user(&admin, "ann", "USER").await;
    app.db
        .execute(&format!(
            "UPDATE users SET password_changed_at = now() - interval '3650 days' \
             WHERE id = '{}'",
            id_of(&ann)
        ))
        .await;

    let pair = app.login("ann", STRONG).await;

    assert_eq!(pair["user"]["mustChangePassword"], false);
}
