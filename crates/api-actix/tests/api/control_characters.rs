//! No string makes a 500: a NUL or another control character in any body field, query
//! parameter, path segment or header is refused as 400 `VALIDATION_FAILED` naming the
//! field (a login name: 401 like any unknown user), or harmlessly dropped (headers).

use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::{Reply, TestApp, ADMIN, ADMIN_PASSWORD, STRONG};

async fn spawn() -> TestApp {
    TestApp::spawn_with(|vars| {
        vars.insert("LOGIN_RATE_LIMIT".into(), "1000".into());
        vars.insert("RATE_LIMIT".into(), "100000".into());
    })
    .await
}

#[track_caller]
fn assert_refused(reply: &Reply, field: &str, what: &str) {
    assert_eq!(reply.status, 400, "{what}: {}", reply.body);
    reply.assert_error(400, "VALIDATION_FAILED");
    let fields: Vec<&str> = reply.body["details"]
        .as_array()
        .map(|d| d.iter().filter_map(|i| i["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(fields.contains(&field), "{what}: {field} not in {fields:?}");
}

/// Text with a control character, as JSON sends it.
const NUL: &str = "an\u{0}n";

#[actix_rt::test]
async fn a_control_character_in_a_login_is_invalid_credentials_never_a_500() {
    let app = spawn().await;

    for (username, password) in [
        ("ro\u{0}ot", ADMIN_PASSWORD),
        ("\u{0}", "whatever-password"),
        ("root\n", ADMIN_PASSWORD),
        ("ro\u{1b}[0mot", ADMIN_PASSWORD),
        (ADMIN, "violet-Harbor\u{0}-engine-42"),
    ] {
        let reply = app.attempt_login(username, password).await;
        reply.assert_error(401, "INVALID_CREDENTIALS");
    }
    let admin = app.admin_token().await;
    let failed = app
        .call(
            "GET",
            "/api/v1/audit-logs?action=LOGIN_FAILED&limit=100",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(failed.status, 200, "{}", failed.body);
    let names: Vec<String> = failed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["metadata"]["username"].as_str().map(str::to_owned))
        .collect();
    assert!(names.contains(&"ro\u{FFFD}ot".to_owned()), "{names:?}");
}

#[actix_rt::test]
async fn a_control_character_in_any_body_field_is_refused_naming_the_field() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let ann = app.create_user(&admin, "ann", "USER").await;
    let ann_path = format!("/api/v1/users/{}", ann["id"].as_str().unwrap());
    let create = |field: &str, value: &str| {
        let mut body = json!({
            "username": "zed",
            "displayName": "Zed",
            "email": "zed@example.org",
            "password": STRONG,
        });
        body[field] = Value::String(value.to_owned());
        body
    };

    for field in ["username", "displayName", "email", "password"] {
        let reply = app
            .call(
                "POST",
                "/api/v1/users",
                Some(&admin),
                Some(create(field, NUL)),
            )
            .await;
        assert_refused(&reply, field, &format!("create {field}"));
        let tabbed = app
            .call(
                "POST",
                "/api/v1/users",
                Some(&admin),
                Some(create(field, "Tab\tbed-Value-93!")),
            )
            .await;
        assert_refused(&tabbed, field, &format!("create {field} with a tab"));
    }
    let bulk = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(json!({ "users": [create("displayName", NUL)] })),
        )
        .await;
    assert_refused(&bulk, "users[0].displayName", "bulk create");
    let partial = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(json!({ "users": [create("email", NUL)], "atomic": false })),
        )
        .await;
    assert_eq!(partial.status, 207, "{}", partial.body);
    for (field, body) in [
        ("displayName", json!({ "displayName": NUL })),
        ("email", json!({ "email": NUL })),
    ] {
        let reply = app
            .call("PATCH", &ann_path, Some(&admin), Some(body.clone()))
            .await;
        assert_refused(&reply, field, &format!("update {field}"));
        let own = app
            .call("PATCH", "/api/v1/profile", Some(&admin), Some(body))
            .await;
        assert_refused(&own, field, &format!("profile {field}"));
    }
    let language = app
        .call(
            "PUT",
            "/api/v1/profile/preferences",
            Some(&admin),
            Some(json!({ "theme": "dark", "language": "en\u{0}", "notifications": true })),
        )
        .await;
    assert_refused(&language, "language", "preferences language");
    let theme = app
        .call(
            "PUT",
            "/api/v1/profile/preferences",
            Some(&admin),
            Some(json!({ "theme": "da\u{0}rk", "language": "en", "notifications": true })),
        )
        .await;
    assert_refused(&theme, "theme", "preferences theme");
    let role = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(json!({ "users": [create("role", "ADM\u{0}IN")] })),
        )
        .await;
    assert_refused(&role, "users[0].role", "bulk create role");
    let reset = app
        .call(
            "PATCH",
            &format!("{ann_path}/reset-password"),
            Some(&admin),
            Some(json!({ "newPassword": "amber-Kettle\u{0}-orbit-77" })),
        )
        .await;
    assert_refused(&reset, "newPassword", "reset-password");
    let change = app
        .call(
            "PUT",
            "/api/v1/profile/password",
            Some(&admin),
            Some(json!({ "currentPassword": ADMIN_PASSWORD, "newPassword": "amber-Kettle\u{0}-orbit-77" })),
        )
        .await;
    assert_refused(&change, "newPassword", "password change");
    let wrong_current = app
        .call(
            "PUT",
            "/api/v1/profile/password",
            Some(&admin),
            Some(json!({ "currentPassword": "violet\u{0}", "newPassword": STRONG })),
        )
        .await;
    wrong_current.assert_error(401, "INVALID_CREDENTIALS");
    let refresh = app
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({ "refreshToken": "a\u{0}b" })),
        )
        .await;
    assert_eq!(refresh.status, 401, "{}", refresh.body);
}

#[actix_rt::test]
async fn a_control_character_in_a_query_or_path_is_refused_naming_the_parameter() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        json!({ "s": "users:username", "v": ["a\u{0}b"], "id": "0190c8a0-0000-7000-8000-000000000000" })
            .to_string(),
    );
    let cases = [
        ("/api/v1/users?q=a%00b", "q"),
        ("/api/v1/users?q=a%1Bb", "q"),
        ("/api/v1/users?sort=user%00name", "sort"),
        ("/api/v1/users?role=AD%00MIN", "role"),
        ("/api/v1/users/export?status=ACTIVE%00", "status"),
        ("/api/v1/users?cursor=%00", "cursor"),
        (
            &*format!("/api/v1/users?sort=username&cursor={forged}"),
            "cursor",
        ),
        ("/api/v1/users/search?q=%00", "q"),
        ("/api/v1/users/export?q=a%00", "q"),
        ("/api/v1/users/export?format=csv%00", "format"),
        ("/api/v1/audit-logs?action=LOGIN%00", "action"),
        ("/api/v1/audit-logs?entityType=USER%00", "entityType"),
        ("/api/v1/audit-logs?entityId=a%00b", "entityId"),
        ("/api/v1/audit-logs?cursor=a%00b", "cursor"),
        ("/api/v1/sessions?cursor=%00", "cursor"),
    ];
    for (path, field) in cases {
        let reply = app.call("GET", path, Some(&admin), None).await;
        assert_refused(&reply, field, path);
    }
    for (method, path) in [
        ("GET", "/api/v1/users/%00"),
        ("GET", "/api/v1/audit-logs?userId=%00"),
        ("DELETE", "/api/v1/sessions/a%00b"),
        ("GET", "/api/v1/users/x%0Ay/sessions"),
    ] {
        let reply = app.call(method, path, Some(&admin), None).await;
        assert_eq!(reply.status, 400, "{method} {path}: {}", reply.body);
        reply.assert_error(400, "VALIDATION_FAILED");
    }
}

#[actix_rt::test]
async fn odd_bytes_in_headers_are_dropped_never_a_500() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let odd = |bytes: &'static [u8]| awc::http::header::HeaderValue::from_bytes(bytes).unwrap();

    for (name, value) in [
        ("User-Agent", odd(b"Mozilla/5.0 \xff\xfe (x)")),
        ("User-Agent", odd(b"curl/8\t\xc2\x85 \xc3\xa4")),
        ("X-Request-ID", odd(b"abc\xff")),
        ("X-Forwarded-For", odd(b"1.2.3.4\xff, \xfe")),
    ] {
        let mut res = awc::Client::default()
            .post(format!("{}/api/v1/auth/login", app.address))
            .insert_header((name, value.clone()))
            .send_json(&json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
            .await
            .expect("an answer");
        let body = res.body().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{name}: {value:?}: {body:?}");
        let created = awc::Client::default()
            .get(format!("{}/api/v1/sessions", app.address))
            .insert_header(("Authorization", format!("Bearer {admin}")))
            .insert_header((name, value.clone()))
            .send()
            .await
            .expect("an answer");
        assert_eq!(created.status().as_u16(), 200, "{name}: {value:?}");
    }
    let sessions = app
        .call("GET", "/api/v1/sessions?limit=100", Some(&admin), None)
        .await;
    let agents: Vec<&str> = sessions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["userAgent"].as_str())
        .collect();
    assert!(
        agents.iter().all(|a| !a.chars().any(char::is_control)),
        "{agents:?}"
    );
    assert!(
        agents.contains(&"Mozilla/5.0 \u{FFFD}\u{FFFD} (x)"),
        "{agents:?}"
    );
}
