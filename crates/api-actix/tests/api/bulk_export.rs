//! Users export, profile export and the bulk user endpoints over HTTP: the files and
//! their headers, the per-item results, access rules and exactly one audit entry each.

use serde_json::Value;

use crate::helpers::{TestApp, Vars};

fn generous(vars: &mut Vars) {
    vars.insert("LOGIN_RATE_LIMIT".into(), "10000".into());
    vars.insert("RATE_LIMIT".into(), "100000".into());
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(generous).await
}

/// The audit entries of `action`, newest first.
async fn audit_entries(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    let reply = app
        .call(
            "GET",
            &format!("/api/v1/audit-logs?limit=100&action={action}"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().expect("items").clone()
}

/// The CSV data rows (header skipped) as a spreadsheet splitting at `delimiter` reads them.
fn csv_rows(text: &str, delimiter: u8) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("a record").iter().map(str::to_owned).collect())
        .collect()
}

#[actix_rt::test]
async fn no_cell_of_a_csv_export_runs_as_a_formula_whatever_the_separator() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let nasty = [
        ("bob", "Bob;=1+1", "bob@example.org"),
        ("carl", "Carl,@SUM(A1)", "=1+1@example.org"),
        ("dora", "-2+3", "dora@example.org"),
        ("eve", "=HYPERLINK(\"http://x\";\"y\")", "+eve@example.org"),
        ("-fay", "Fay ;  +cmd", "fay@example.org"),
    ];
    for (username, display_name, email) in nasty {
        let reply = app
            .call(
                "POST",
                "/api/v1/users",
                Some(&admin),
                Some(serde_json::json!({
                    "username": username,
                    "displayName": display_name,
                    "email": email,
                    "password": crate::helpers::STRONG,
                })),
            )
            .await;
        assert_eq!(reply.status, 201, "{username}: {}", reply.body);
    }

    let reply = app
        .call("GET", "/api/v1/users/export?format=csv", Some(&admin), None)
        .await;

    assert_eq!(reply.status, 200);
    let text = reply.body.as_str().unwrap();
    for delimiter in [b',', b';', b'\t'] {
        let rows = csv_rows(text, delimiter);
        assert_eq!(rows.len(), 6, "five users and the admin: {text}");
        for cell in rows.iter().flatten() {
            assert!(
                !cell
                    .trim_start_matches(' ')
                    .starts_with(['=', '+', '-', '@', '\t', '\r']),
                "read with {:?}, {cell:?} would run as a formula: {text}",
                delimiter as char
            );
        }
    }
    // With the right separator, the text survives behind its one quote mark.
    let rows = csv_rows(text, b',');
    let bob = rows.iter().find(|r| r[1] == "bob").expect("bob");
    assert_eq!(bob[3], "'Bob;'=1+1");
    let carl = rows.iter().find(|r| r[1] == "carl").expect("carl");
    assert_eq!(carl[2], "'=1+1@example.org");
    let fay = rows
        .iter()
        .find(|r| r[1] == "'-fay")
        .expect("fay, neutralized");
    assert_eq!(fay[3], "'Fay ;  '+cmd");
}

#[actix_rt::test]
async fn a_csv_export_has_the_contract_header_one_row_per_user_and_is_an_attachment() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let ann = app.create_user(&admin, "ann", "USER").await;

    let reply = app
        .call("GET", "/api/v1/users/export?format=csv", Some(&admin), None)
        .await;

    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/csv")));
    let disposition = reply.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"users-") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = reply.body.as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "id,username,email,displayName,role,status,createdAt,lastLoginAt"
    );
    assert_eq!(lines.len(), 3, "header, ann and the admin: {text}");
    let rows = csv_rows(text, b',');
    let cells = rows.iter().find(|r| r[1] == "ann").expect("ann's row");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with('"') && l.ends_with('"')),
        "every data field is quoted: {text}"
    );
    assert_eq!(cells[0], ann["id"].as_str().unwrap());
    assert_eq!(cells[2], "ann@example.org");
    assert_eq!(cells[3], "ann display");
    assert_eq!(cells[4], "USER");
    assert_eq!(cells[5], "ACTIVE");
    assert!(chrono::DateTime::parse_from_rfc3339(&cells[6]).is_ok());
    assert_eq!(cells[7], "", "never logged in");
}

#[actix_rt::test]
async fn a_json_export_is_one_array_of_users_and_applies_the_list_filters() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    for n in 0..3 {
        app.create_user(&admin, &format!("member{n}"), "USER").await;
    }
    app.create_user(&admin, "boss", "ADMIN").await;

    let all = app
        .call(
            "GET",
            "/api/v1/users/export?format=json",
            Some(&admin),
            None,
        )
        .await;
    let filtered = app
        .call(
            "GET",
            "/api/v1/users/export?format=json&role=USER&q=member&sort=username",
            Some(&admin),
            None,
        )
        .await;

    assert_eq!(all.status, 200);
    assert!(all
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment;") && d.ends_with(".json\"")));
    assert_eq!(all.body.as_array().unwrap().len(), 5);
    let names: Vec<&str> = filtered
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["member0", "member1", "member2"]);
    assert!(filtered.body[0].get("passwordHash").is_none());
}

#[actix_rt::test]
async fn an_export_larger_than_one_page_streams_every_user() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let users: Vec<Value> = (0..120)
        .map(|n| {
            serde_json::json!({
                "username": format!("bulk{n:03}"),
                "displayName": "Bulk",
                "password": crate::helpers::STRONG,
            })
        })
        .collect();
    let created = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(serde_json::json!({ "users": users })),
        )
        .await;
    if created.status != 201 {
        // Without bulk create, seed one by one.
        for n in 0..120 {
            app.create_user(&admin, &format!("bulk{n:03}"), "USER")
                .await;
        }
    }

    let reply = app
        .call("GET", "/api/v1/users/export?format=csv", Some(&admin), None)
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.as_str().unwrap().lines().count(), 1 + 121);
}

#[actix_rt::test]
async fn an_export_needs_an_admin_a_token_and_a_known_format() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (_, user) = app.user_with_token(&admin, "plain").await;

    app.call("GET", "/api/v1/users/export?format=csv", Some(&user), None)
        .await
        .assert_error(403, "FORBIDDEN");
    app.call("GET", "/api/v1/users/export?format=csv", None, None)
        .await
        .assert_error(401, "UNAUTHORIZED");
    let bad = app
        .call("GET", "/api/v1/users/export?format=xml", Some(&admin), None)
        .await;
    bad.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(bad.body["details"][0]["field"], "format");
    assert!(audit_entries(&app, &admin, "EXPORT_USERS").await.is_empty());
}

#[actix_rt::test]
async fn an_export_leaves_exactly_one_audit_entry_with_its_filters_and_no_data() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "ann", "USER").await;

    let reply = app
        .call(
            "GET",
            "/api/v1/users/export?format=json&status=ACTIVE",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);

    let entries = audit_entries(&app, &admin, "EXPORT_USERS").await;
    assert_eq!(entries.len(), 1);
    let meta = &entries[0]["metadata"];
    assert_eq!(meta["format"], "json");
    assert_eq!(meta["filters"]["status"], "ACTIVE");
    assert!(!meta.to_string().contains("ann@example.org"));
}

#[actix_rt::test]
async fn a_profile_export_holds_the_user_preferences_sessions_and_audit_entries() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (user, token) = app.user_with_token(&admin, "dora").await;
    let prefs = app
        .call(
            "PUT",
            "/api/v1/profile/preferences",
            Some(&token),
            Some(serde_json::json!({"theme": "dark", "language": "de-CH", "notifications": false})),
        )
        .await;
    assert_eq!(prefs.status, 200, "{}", prefs.body);

    let reply = app
        .call("GET", "/api/v1/profile/export", Some(&token), None)
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment;")));
    let doc = &reply.body;
    assert_eq!(doc["user"]["id"], user["id"]);
    assert!(doc["user"].get("passwordHash").is_none());
    assert_eq!(doc["preferences"]["theme"], "dark");
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], true);
    let actions: Vec<&str> = doc["auditEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in ["DATA_EXPORT", "PREFERENCES_UPDATE", "LOGIN", "CREATE_USER"] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert_eq!(audit_entries(&app, &admin, "DATA_EXPORT").await.len(), 1);
}

#[actix_rt::test]
async fn a_profile_export_needs_a_token_and_a_changed_password() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (user, _) = app.user_with_token(&admin, "erin").await;
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
    let gated = crate::helpers::token(&app.login("erin", &temporary).await);

    app.call("GET", "/api/v1/profile/export", None, None)
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.call("GET", "/api/v1/profile/export", Some(&gated), None)
        .await
        .assert_error(403, "PASSWORD_CHANGE_REQUIRED");
}

#[actix_rt::test]
async fn a_bulk_delete_reports_each_id_and_leaves_one_audit_entry() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (ann, ann_token) = app.user_with_token(&admin, "ann").await;
    let bob = app.create_user(&admin, "bob", "USER").await;
    let me = app
        .call("GET", "/api/v1/profile", Some(&admin), None)
        .await
        .body;
    let unknown = "00000000-0000-7000-8000-000000000001";

    let reply = app
        .call(
            "DELETE",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(serde_json::json!({"ids": [ann["id"], bob["id"], unknown, me["id"]]})),
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let statuses: Vec<(&str, &str)> = reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            (ann["id"].as_str().unwrap(), "DELETED"),
            (bob["id"].as_str().unwrap(), "DELETED"),
            (unknown, "NOT_FOUND"),
            (me["id"].as_str().unwrap(), "FORBIDDEN"),
        ]
    );
    app.call("GET", "/api/v1/profile", Some(&ann_token), None)
        .await
        .assert_error(401, "SESSION_REVOKED");
    let gone = app
        .call(
            "GET",
            &format!("/api/v1/users/{}", bob["id"].as_str().unwrap()),
            Some(&admin),
            None,
        )
        .await;
    assert!(gone.body["deletedAt"].is_string());
    let entries = audit_entries(&app, &admin, "BULK_DELETE_USERS").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["metadata"]["deleted"], 2);
    assert_eq!(entries[0]["metadata"]["notFound"], 1);
    assert_eq!(entries[0]["metadata"]["forbidden"], 1);
}

#[actix_rt::test]
async fn a_bulk_delete_needs_an_admin_and_a_valid_list() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (_, user) = app.user_with_token(&admin, "plain").await;

    app.call(
        "DELETE",
        "/api/v1/users/bulk",
        Some(&user),
        Some(serde_json::json!({"ids": []})),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    app.call(
        "DELETE",
        "/api/v1/users/bulk",
        Some(&admin),
        Some(serde_json::json!({"ids": []})),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    app.call(
        "DELETE",
        "/api/v1/users/bulk",
        Some(&admin),
        Some(serde_json::json!({"ids": [], "force": true})),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    assert!(audit_entries(&app, &admin, "BULK_DELETE_USERS")
        .await
        .is_empty());
}

fn body(username: &str) -> Value {
    serde_json::json!({
        "username": username,
        "displayName": format!("{username} display"),
        "email": format!("{username}@example.org"),
        "password": crate::helpers::STRONG,
    })
}

#[actix_rt::test]
async fn an_atomic_bulk_create_makes_every_user_and_leaves_one_audit_entry() {
    let app = spawn().await;
    let admin = app.admin_token().await;

    let reply = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(serde_json::json!({"users": [body("ann"), body("bob")]})),
        )
        .await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    let names: Vec<&str> = reply.body["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann", "bob"]);
    app.login("bob", crate::helpers::STRONG).await;
    let entries = audit_entries(&app, &admin, "BULK_CREATE_USERS").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["metadata"]["created"], 2);
}

#[actix_rt::test]
async fn a_failed_atomic_bulk_create_reports_each_index_and_creates_nothing() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "taken", "USER").await;

    let invalid = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(serde_json::json!({"users": [body("ann"), body("x"), body("ANN")]})),
        )
        .await;
    let clash = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(serde_json::json!({"users": [body("carl"), body("taken")], "atomic": true})),
        )
        .await;

    invalid.assert_error(400, "VALIDATION_FAILED");
    let fields: Vec<&str> = invalid.body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"users[1].username"), "{fields:?}");
    assert!(fields.contains(&"users[2].username"), "{fields:?}");
    assert!(
        !fields.iter().any(|f| f.starts_with("users[0]")),
        "{fields:?}"
    );
    clash.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(clash.body["details"][0]["field"], "users[1].username");
    let listed = app
        .call("GET", "/api/v1/users?q=carl", Some(&admin), None)
        .await;
    assert_eq!(listed.body["total"], 0, "nothing was created");
    let listed = app
        .call("GET", "/api/v1/users?q=ann", Some(&admin), None)
        .await;
    assert_eq!(listed.body["total"], 0, "nothing was created");
    assert!(audit_entries(&app, &admin, "BULK_CREATE_USERS")
        .await
        .is_empty());
}

#[actix_rt::test]
async fn a_non_atomic_bulk_create_answers_207_with_a_result_per_item() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "taken", "USER").await;

    let reply = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(serde_json::json!({
                "users": [body("dan"), body("taken"), body("x"), body("DAN")],
                "atomic": false,
            })),
        )
        .await;

    assert_eq!(reply.status, 207, "{}", reply.body);
    let results = reply.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["index"], 0);
    assert_eq!(results[0]["status"], 201);
    assert_eq!(results[0]["user"]["username"], "dan");
    assert_eq!(results[1]["status"], 409);
    assert_eq!(results[1]["error"]["code"], "USERNAME_TAKEN");
    assert_eq!(results[2]["status"], 400);
    assert_eq!(results[2]["error"]["code"], "VALIDATION_FAILED");
    assert_eq!(results[2]["error"]["details"][0]["field"], "username");
    assert_eq!(results[3]["status"], 400);
    assert!(results[3].get("user").is_none());
    app.login("dan", crate::helpers::STRONG).await;
    let entries = audit_entries(&app, &admin, "BULK_CREATE_USERS").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["metadata"]["created"], 1);
    assert_eq!(entries[0]["metadata"]["failed"], 3);
}

#[actix_rt::test]
async fn a_bulk_create_needs_an_admin_and_one_to_a_thousand_users() {
    let app = spawn().await;
    let admin = app.admin_token().await;
    let (_, user) = app.user_with_token(&admin, "plain").await;

    app.call(
        "POST",
        "/api/v1/users/bulk",
        Some(&user),
        Some(serde_json::json!({"users": [body("eve")]})),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    app.call(
        "POST",
        "/api/v1/users/bulk",
        Some(&admin),
        Some(serde_json::json!({"users": []})),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    let many: Vec<Value> = (0..1001).map(|n| body(&format!("u{n:04}"))).collect();
    let too_many = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(serde_json::json!({ "users": many })),
        )
        .await;
    too_many.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(too_many.body["details"][0]["field"], "users");
}

#[actix_rt::test]
async fn a_bulk_create_of_long_punctuation_passwords_is_judged_quickly() {
    // Each of these took zxcvbn about a second on its own before its input was bounded.
    let app = spawn().await;
    let admin = app.admin_token().await;
    let unit: Vec<char> = "9'!;2)*1@,5:4.(|7-+0#6&$3%8?".chars().collect();
    let users: Vec<Value> = (0..40)
        .map(|i| {
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64 + i as u64;
            let password: String = (0..128)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    unit[(seed % unit.len() as u64) as usize]
                })
                .collect();
            serde_json::json!({
                "username": format!("punct{i}"),
                "displayName": format!("Punct {i}"),
                "password": password,
            })
        })
        .collect();

    let started = std::time::Instant::now();
    let reply = app
        .call(
            "POST",
            "/api/v1/users/bulk",
            Some(&admin),
            Some(serde_json::json!({ "users": users })),
        )
        .await;
    let took = started.elapsed();

    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["created"].as_array().unwrap().len(), 40);
    // About 15 s before (40 times 0.7 s on two cores); about 1 s now.
    assert!(took < std::time::Duration::from_secs(8), "{took:?}");
}
