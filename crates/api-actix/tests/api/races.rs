//! Races of the hardening issue, driven with real concurrency through the contract alone:
//! each test fires a burst of at least 50 requests at once, then checks that what every
//! request was told and what the server stored equal some serial order of them.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{
    eventually, refresh_token, token, LogCapture, Reply, TestApp, ADMIN, ADMIN_PASSWORD, STRONG,
};

/// Users per burst: two requests each make a burst of 50.
const PAIRS: usize = 25;
/// A second strong password.
const NEW_PASSWORD: &str = "quartz-Meadow-lantern-58";

/// Creates `n` users named `{prefix}{i}` with [`STRONG`] in one bulk call; returns their ids.
async fn users(app: &TestApp, admin: &str, prefix: &str, n: usize) -> Vec<(String, String)> {
    let bodies: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "username": format!("{prefix}{i}"),
                "displayName": format!("{prefix} {i}"),
                "password": STRONG,
            })
        })
        .collect();
    let reply = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(admin),
            Some(json!({ "users": bodies })),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_owned(),
                u["username"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn login(app: &TestApp, username: &str, password: &str) -> Reply {
    app.attempt_login(username, password).await
}

async fn user(app: &TestApp, admin: &str, id: &str) -> Value {
    let reply = app
        .call("GET", &format!("/api/v1/users/{id}"), Some(admin), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

async fn patch_user(app: &TestApp, admin: &str, id: &str, body: Value) -> Reply {
    app.call(
        "PATCH",
        &format!("/api/v1/users/{id}"),
        Some(admin),
        Some(body),
    )
    .await
}

async fn reset_password(app: &TestApp, admin: &str, id: &str) -> Reply {
    app.call(
        "PATCH",
        &format!("/api/v1/users/{id}/reset-password"),
        Some(admin),
        Some(json!({})),
    )
    .await
}

async fn change_password(app: &TestApp, access: &str, current: &str, new: &str) -> Reply {
    app.call(
        "PUT",
        "/api/v1/profile/password",
        Some(access),
        Some(json!({ "currentPassword": current, "newPassword": new })),
    )
    .await
}

async fn refresh(app: &TestApp, refresh: &str) -> Reply {
    app.call(
        "POST",
        "/api/v1/auth/refresh",
        None,
        Some(json!({ "refreshToken": refresh })),
    )
    .await
}

/// The access token of a login, if it succeeded, still reaches the profile or not.
async fn still_signed_in(app: &TestApp, reply: &Reply) -> bool {
    let profile = app
        .call("GET", "/api/v1/profile", Some(&token(&reply.body)), None)
        .await;
    match profile.status {
        200 => true,
        401 => {
            profile.assert_error(401, "SESSION_REVOKED");
            false
        }
        other => panic!("unexpected {other}: {}", profile.body),
    }
}

#[actix_rt::test]
async fn a_right_password_racing_the_failure_that_locks_never_clears_the_lock() {
    let app = TestApp::spawn_with(|v| {
        v.insert("LOCKOUT_THRESHOLD".into(), "2".into());
    })
    .await;
    let admin = app.admin_token().await;
    let people = users(&app, &admin, "lock", PAIRS).await;
    for reply in join_all(
        people
            .iter()
            .map(|(_, name)| login(&app, name, "wrong-password")),
    )
    .await
    {
        reply.assert_error(401, "INVALID_CREDENTIALS");
    }

    // One failure short of the lock: a wrong and the right password at the same instant.
    let burst = people.iter().flat_map(|(_, name)| {
        [
            login(&app, name, "wrong-password"),
            login(&app, name, STRONG),
        ]
    });
    let replies = join_all(burst).await;

    let (mut won, mut lost) = (0, 0);
    for ((id, name), pair) in people.iter().zip(replies.chunks(2)) {
        pair[0].assert_error(401, "INVALID_CREDENTIALS");
        let stored = user(&app, &admin, id).await;
        if pair[1].status == 200 {
            // Right, then wrong: the count restarted and the wrong one is the only failure.
            won += 1;
            assert_eq!(stored["failedLoginAttempts"], 1, "{name}: {stored}");
            assert!(stored["lockedUntil"].is_null(), "{name}: {stored}");
        } else {
            // Wrong (locks), then right (refused, and counted while locked).
            lost += 1;
            pair[1].assert_error(401, "INVALID_CREDENTIALS");
            assert!(stored["lockedUntil"].is_string(), "{name}: {stored}");
            assert_eq!(stored["failedLoginAttempts"], 3, "{name}: {stored}");
            login(&app, name, STRONG)
                .await
                .assert_error(401, "INVALID_CREDENTIALS");
        }
    }
    assert_eq!(won + lost, PAIRS);
}

#[actix_rt::test]
async fn concurrent_correct_logins_all_succeed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let people = users(&app, &admin, "many", 1).await;
    let (id, name) = &people[0];

    let replies = join_all((0..50).map(|_| login(&app, name, STRONG))).await;

    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let stored = user(&app, &admin, id).await;
    assert_eq!(stored["loginCount"], 50);
    assert_eq!(stored["failedLoginAttempts"], 0);
}

/// When, after the burst starts, each user's logins go out: spread over the time the
/// server takes to compare a hash, so that some land inside another request's window.
const LOGIN_OFFSETS_MS: [u64; 4] = [0, 25, 50, 100];

/// A login of `name` sent `delay_ms` after the call.
async fn login_after(app: &TestApp, delay_ms: u64, name: &str, password: &str) -> Reply {
    actix_rt::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
    login(app, name, password).await
}

#[actix_rt::test]
async fn a_login_racing_a_password_change_never_gets_a_session_the_change_missed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let people = users(&app, &admin, "chg", 3).await;
    let mut changers = Vec::new();
    for (_, name) in &people {
        let reply = login(&app, name, STRONG).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        changers.push(token(&reply.body));
    }

    // Per user: the change, and 21 logins with the old password, one every 10 ms from
    // its start: the change compares one hash and makes another, so some of them read
    // the user before it commits and record their success after.
    let offsets: Vec<u64> = (0..=200).step_by(10).collect();
    let changes = changers
        .iter()
        .map(|access| change_password(&app, access, STRONG, NEW_PASSWORD));
    let logins = people.iter().flat_map(|(_, name)| {
        offsets
            .iter()
            .map(|delay| login_after(&app, *delay, name, STRONG))
    });
    let (changed, logged_in) = futures_util::join!(join_all(changes), join_all(logins));

    let per_user = offsets.len();
    for (i, (_, name)) in people.iter().enumerate() {
        assert_eq!(changed[i].status, 204, "{name}: {}", changed[i].body);
        for login in &logged_in[i * per_user..(i + 1) * per_user] {
            if login.status == 200 {
                // It committed first, so the change revoked it.
                assert!(
                    !still_signed_in(&app, login).await,
                    "{name}: the old password opened a session the change did not revoke"
                );
            } else {
                login.assert_error(401, "INVALID_CREDENTIALS");
            }
        }
    }
    for access in &changers {
        let profile = app.call("GET", "/api/v1/profile", Some(access), None).await;
        assert_eq!(profile.status, 200, "the changer's own session lives on");
    }
}

#[actix_rt::test]
async fn a_login_racing_a_block_never_yields_a_session_that_outlives_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let people = users(&app, &admin, "blk", 10).await;

    let blocks = people
        .iter()
        .map(|(id, _)| patch_user(&app, &admin, id, json!({ "status": "BLOCKED" })));
    let logins = people.iter().flat_map(|(_, name)| {
        LOGIN_OFFSETS_MS
            .iter()
            .map(|delay| login_after(&app, *delay, name, STRONG))
    });
    let (blocked, logged_in) = futures_util::join!(join_all(blocks), join_all(logins));
    // Unblocking must not bring back a session that a login opened around the block.
    for (id, _) in &people {
        let reply = patch_user(&app, &admin, id, json!({ "status": "ACTIVE" })).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    let per_user = LOGIN_OFFSETS_MS.len();
    for (i, (_, name)) in people.iter().enumerate() {
        assert_eq!(blocked[i].status, 200, "{name}: {}", blocked[i].body);
        for login in &logged_in[i * per_user..(i + 1) * per_user] {
            if login.status == 200 {
                assert!(
                    !still_signed_in(&app, login).await,
                    "{name}: a session opened around the block outlived it"
                );
            } else {
                login.assert_error(401, "INVALID_CREDENTIALS");
            }
        }
    }
}

async fn login_fails(app: &TestApp, name: &str, password: &str) {
    login(app, name, password)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

#[actix_rt::test]
async fn an_admin_reset_always_holds_against_racing_password_changes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let people = users(&app, &admin, "rst", 10).await;
    let mut sessions = Vec::new();
    for (_, name) in &people {
        sessions.push(token(&login(&app, name, STRONG).await.body));
    }
    let alternatives = [
        NEW_PASSWORD,
        "cobalt-Ferry-summit-31",
        "maple-Orbit-violin-64",
        "ember-Glacier-pocket-95",
    ];

    // Per user: the admin's reset and four changes of the user's own, all at once.
    let resets = people
        .iter()
        .map(|(id, _)| reset_password(&app, &admin, id));
    let app_ref = &app;
    let changes = sessions.iter().flat_map(|access| {
        alternatives
            .iter()
            .map(move |new| change_password(app_ref, access, STRONG, new))
    });
    let (reset, changed) = futures_util::join!(join_all(resets), join_all(changes));

    for (i, (id, name)) in people.iter().enumerate() {
        let reset = &reset[i];
        assert_eq!(reset.status, 200, "{name}: {}", reset.body);
        let mine = &changed[i * alternatives.len()..(i + 1) * alternatives.len()];
        let succeeded = mine.iter().filter(|r| r.status == 204).count();
        assert!(
            succeeded <= 1,
            "{name}: {succeeded} changes from one old password"
        );
        for refused in mine.iter().filter(|r| r.status != 204) {
            assert_eq!(refused.status, 401, "{name}: {}", refused.body);
        }
        let temporary = reset.body["temporaryPassword"].as_str().unwrap();
        let signed_in = login(&app, name, temporary).await;
        assert_eq!(
            signed_in.status, 200,
            "{name}: the temporary password stopped working: {}",
            signed_in.body
        );
        assert_eq!(signed_in.body["user"]["mustChangePassword"], true, "{name}");
        assert_eq!(user(&app, &admin, id).await["mustChangePassword"], true);
    }
}

#[actix_rt::test]
async fn wrong_current_passwords_count_as_failed_logins_and_lock_the_account() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let people = users(&app, &admin, "guess", 1).await;
    let (id, name) = &people[0];
    let access = token(&login(&app, name, STRONG).await.body);

    let guesses: Vec<String> = (0..50).map(|i| format!("guess-number-{i}")).collect();
    let replies = join_all(
        guesses
            .iter()
            .map(|guess| change_password(&app, &access, guess, NEW_PASSWORD)),
    )
    .await;

    for reply in &replies {
        reply.assert_error(401, "INVALID_CREDENTIALS");
    }
    let stored = user(&app, &admin, id).await;
    assert_eq!(stored["failedLoginAttempts"], 50, "{stored}");
    assert!(stored["lockedUntil"].is_string(), "{stored}");
    // Locked: the right current password is refused like a login, and changes nothing.
    change_password(&app, &access, STRONG, NEW_PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    login_fails(&app, name, STRONG).await;
    login_fails(&app, name, NEW_PASSWORD).await;
}

#[actix_rt::test]
async fn a_grace_retry_retires_the_earlier_child_so_the_family_never_forks() {
    let app = TestApp::spawn_with(|v| {
        v.insert("REFRESH_REUSE_GRACE".into(), "30s".into());
    })
    .await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "fork", "USER").await;
    let r0 = refresh_token(&app.login("fork", STRONG).await);

    let first = refresh(&app, &r0).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let retry = refresh(&app, &r0).await;
    assert_eq!(
        retry.status, 200,
        "a retry within the grace window: {}",
        retry.body
    );
    let (r1, r2) = (refresh_token(&first.body), refresh_token(&retry.body));

    // R1 was replaced by the retry before its holder used it: presenting it is reuse.
    refresh(&app, &r1).await.assert_error(401, "TOKEN_REUSED");
    refresh(&app, &r2)
        .await
        .assert_error(401, "SESSION_REVOKED");
}

#[actix_rt::test]
async fn parallel_grace_retries_leave_exactly_one_live_refresh_token() {
    let app = TestApp::spawn_with(|v| {
        v.insert("REFRESH_REUSE_GRACE".into(), "30s".into());
    })
    .await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "retry", "USER").await;
    let pair = app.login("retry", STRONG).await;
    let session = pair["sessionId"].as_str().unwrap().to_owned();
    let r0 = refresh_token(&pair);
    let first = refresh(&app, &r0).await;
    assert_eq!(first.status, 200);

    let retries = join_all((0..50).map(|_| refresh(&app, &r0))).await;

    for reply in &retries {
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["sessionId"], session.as_str());
    }
    let live = app
        .db
        .query_i64(&format!(
            "SELECT count(*) AS n FROM refresh_tokens \
             WHERE session_id = '{session}' AND spent_at IS NULL"
        ))
        .await;
    assert_eq!(live, 1, "one live refresh token per session");

    // Every child, the first one included, presented at once: at most one is live.
    let children: Vec<String> = std::iter::once(&first)
        .chain(&retries)
        .map(|r| refresh_token(&r.body))
        .collect();
    let spent = join_all(children.iter().map(|c| refresh(&app, c))).await;
    let refreshed = spent.iter().filter(|r| r.status == 200).count();
    assert!(
        refreshed <= 1,
        "{refreshed} children of one token were refreshed"
    );
    for reply in spent.iter().filter(|r| r.status != 200) {
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert!(
            ["TOKEN_REUSED", "SESSION_REVOKED"].contains(&reply.code()),
            "{}",
            reply.body
        );
    }
}

#[actix_rt::test]
async fn an_admin_demoted_during_a_slow_admin_write_writes_nothing() {
    let app = TestApp::spawn().await;
    let root = app.admin_token().await;
    let deputy = app.create_user(&root, "deputy", "ADMIN").await;
    let deputy_token = token(&app.login("deputy", STRONG).await);
    let bodies: Vec<Value> = (0..200)
        .map(|i| json!({ "username": format!("late{i}"), "displayName": "Late", "password": STRONG }))
        .collect();

    // The bulk create hashes 200 passwords before its transaction opens; the demotion
    // commits meanwhile, once the bulk create has passed authentication as an admin
    // (its use case span opens then).
    const RID: &str = "race-demoted-during-bulk";
    let capture = LogCapture::start();
    let bulk = app.send(
        "POST",
        "/api/v1/users/bulk",
        Some(&deputy_token),
        Some(json!({ "users": bodies })),
        &[("X-Request-ID", RID)],
    );
    let demote = async {
        let started = eventually(Duration::from_secs(30), || {
            let opened = capture.contents().lines().any(|line| {
                line.contains(r#""span.name":"bulk_create_users""#) && line.contains(RID)
            });
            async move { opened }
        })
        .await;
        drop(capture);
        assert!(started, "the bulk create never started");
        patch_user(
            &app,
            &root,
            deputy["id"].as_str().unwrap(),
            json!({ "role": "USER" }),
        )
        .await
    };
    let (bulk, demoted) = futures_util::join!(bulk, demote);

    assert_eq!(demoted.status, 200, "{}", demoted.body);
    bulk.assert_error(403, "FORBIDDEN");
    let listed = app
        .call("GET", "/api/v1/users?q=late", Some(&root), None)
        .await;
    assert_eq!(listed.body["total"], 0, "{}", listed.body);
}

#[actix_rt::test]
async fn instances_starting_together_on_an_empty_database_create_the_admin_once() {
    use adapters_postgres::testing::TestDatabase;
    use api_actix::config::Settings;
    use api_actix::startup::Application;

    for round in 0..3 {
        let db = TestDatabase::new().await;
        let settings = || {
            Settings::from_vars(
                [
                    ("DATABASE_URL", db.url()),
                    ("BIND_ADDR", "127.0.0.1:0"),
                    ("APP_ENV", "test"),
                    ("ADMIN_USERNAME", ADMIN),
                    ("ADMIN_PASSWORD", ADMIN_PASSWORD),
                    ("DATABASE_MAX_CONNECTIONS", "4"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
            )
            .unwrap()
        };

        let started = join_all((0..3).map(|_| Application::build(settings()))).await;

        for app in &started {
            assert!(app.is_ok(), "round {round}: an instance failed to start");
        }
        let admins = db
            .query_i64("SELECT count(*) AS n FROM users WHERE role = 'ADMIN'")
            .await;
        assert_eq!(admins, 1, "round {round}");
    }
}

#[actix_rt::test]
async fn a_profile_export_shows_no_ip_or_user_agent_of_the_admins_acting_on_the_user() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ann = app.create_user(&admin, "ann", "USER").await;
    let id = ann["id"].as_str().unwrap();
    for status in ["BLOCKED", "ACTIVE"] {
        let reply = app
            .send(
                "PATCH",
                &format!("/api/v1/users/{id}"),
                Some(&admin),
                Some(json!({ "status": status })),
                &[("User-Agent", "admin-console/7")],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let mine = app
        .send(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": "ann", "password": STRONG })),
            &[("User-Agent", "ann-phone/1")],
        )
        .await;
    let access = token(&mine.body);

    let export = app
        .call("GET", "/api/v1/profile/export", Some(&access), None)
        .await;

    assert_eq!(export.status, 200, "{}", export.body);
    let text = export.body.to_string();
    assert!(!text.contains("admin-console"), "{text}");
    let entries = export.body["auditEntries"].as_array().unwrap();
    let by_admin: Vec<&Value> = entries
        .iter()
        .filter(|e| e["userId"] != json!(id))
        .collect();
    assert!(
        by_admin.len() >= 2,
        "the admin's entries are listed: {entries:#?}"
    );
    for entry in by_admin {
        assert!(entry["ipAddress"].is_null(), "{entry}");
        assert!(entry["userAgent"].is_null(), "{entry}");
    }
    assert!(
        text.contains("ann-phone/1"),
        "the caller's own entries keep theirs"
    );
}
