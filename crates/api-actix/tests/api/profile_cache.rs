//! `GET /profile` is served from the auth cache's snapshot: every write path that changes
//! the user shows on the very next read, with the in-process cache and with Redis.

use serde_json::{json, Value};

use crate::helpers::{token, TestApp, STRONG};
use crate::sessions::{cache_variants, spawn_cached};

const RENEWED: &str = "cobalt-Meadow-lantern-58";

/// Reads the profile twice (the second read is answered from the snapshot the first
/// stored) and returns it; both reads must agree.
async fn cached_profile(app: &TestApp, access: &str) -> Value {
    let first = app.call("GET", "/api/v1/profile", Some(access), None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = app.call("GET", "/api/v1/profile", Some(access), None).await;
    assert_eq!(second.body, first.body);
    second.body
}

async fn profile_status(app: &TestApp, access: &str) -> u16 {
    app.call("GET", "/api/v1/profile", Some(access), None)
        .await
        .status
}

async fn admin_patch(app: &TestApp, admin: &str, path: &str, body: Value) {
    let reply = app.call("PATCH", path, Some(admin), Some(body)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[actix_rt::test]
async fn a_cached_profile_shows_each_change_to_its_user_on_the_next_read() {
    for (variant, redis) in cache_variants() {
        let app = spawn_cached(redis, "1h").await;
        let admin = app.admin_token().await;
        let ann = app.create_user(&admin, "ann", "USER").await;
        let path = format!("/api/v1/users/{}", ann["id"].as_str().unwrap());
        let access = token(&app.login("ann", STRONG).await);

        // Profile update.
        cached_profile(&app, &access).await;
        let patched = app
            .call(
                "PATCH",
                "/api/v1/profile",
                Some(&access),
                Some(json!({"displayName": "Ann Self"})),
            )
            .await;
        assert_eq!(patched.status, 200, "{}", patched.body);
        let read = cached_profile(&app, &access).await;
        assert_eq!(read["displayName"], "Ann Self", "{variant}");

        // Admin patch of the record, then of the role.
        admin_patch(&app, &admin, &path, json!({"email": "ann@new.example"})).await;
        let read = cached_profile(&app, &access).await;
        assert_eq!(read["email"], "ann@new.example", "{variant}");
        admin_patch(&app, &admin, &path, json!({"role": "ADMIN"})).await;
        let read = cached_profile(&app, &access).await;
        assert_eq!(read["role"], "ADMIN", "{variant}");

        // Password change (the caller's own session stays).
        let before = read["passwordChangedAt"].clone();
        app.advance(std::time::Duration::from_secs(2));
        let changed = app
            .call(
                "PUT",
                "/api/v1/profile/password",
                Some(&access),
                Some(json!({"currentPassword": STRONG, "newPassword": RENEWED})),
            )
            .await;
        assert_eq!(changed.status, 204, "{}", changed.body);
        let read = cached_profile(&app, &access).await;
        assert_ne!(read["passwordChangedAt"], before, "{variant}");

        // A sign-in elsewhere and a failed one change the counters shown.
        let logins = read["loginCount"].as_i64().unwrap();
        app.login("ann", RENEWED).await;
        let read = cached_profile(&app, &access).await;
        assert_eq!(read["loginCount"], logins + 1, "{variant}");
        assert_eq!(app.attempt_login("ann", "wrong-Guess-99").await.status, 401);
        let read = cached_profile(&app, &access).await;
        assert_eq!(read["failedLoginAttempts"], 1, "{variant}");

        // Admin reset: sessions end; the next session sees the gate.
        let reset = app
            .call(
                "PATCH",
                &format!("{path}/reset-password"),
                Some(&admin),
                Some(json!({})),
            )
            .await;
        assert_eq!(reset.status, 200, "{}", reset.body);
        assert_eq!(profile_status(&app, &access).await, 401, "{variant}");
        let temporary = reset.body["temporaryPassword"].as_str().unwrap().to_owned();
        let access = token(&app.login("ann", &temporary).await);
        assert_eq!(
            cached_profile(&app, &access).await["mustChangePassword"],
            true
        );

        // Block ends the session at once; so does a deletion after unblocking.
        admin_patch(&app, &admin, &path, json!({"status": "BLOCKED"})).await;
        assert_eq!(profile_status(&app, &access).await, 401, "{variant}");
        admin_patch(&app, &admin, &path, json!({"status": "ACTIVE"})).await;
        let access = token(&app.login("ann", &temporary).await);
        assert_eq!(cached_profile(&app, &access).await["status"], "ACTIVE");
        let deleted = app.call("DELETE", &path, Some(&admin), None).await;
        assert_eq!(deleted.status, 204, "{}", deleted.body);
        assert_eq!(profile_status(&app, &access).await, 401, "{variant}");

        // Restore: the record reads as restored; anonymizing then ends the session.
        let restored = app
            .call("POST", &format!("{path}/restore"), Some(&admin), None)
            .await;
        assert_eq!(restored.status, 200, "{}", restored.body);
        let access = token(&app.login("ann", &temporary).await);
        assert_eq!(
            cached_profile(&app, &access).await["deletedAt"],
            Value::Null
        );
        let erased = app
            .call("POST", &format!("{path}/anonymize"), Some(&admin), None)
            .await;
        assert_eq!(erased.status, 200, "{}", erased.body);
        assert_eq!(profile_status(&app, &access).await, 401, "{variant}");
    }
}
