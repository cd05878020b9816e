//! `POST /users/import`: CSV and JSON, dry run, per-row results, one transaction and one
//! audit entry, malformed files refused with their row and column.

use serde_json::{json, Value};

use crate::helpers::{sealed, TestApp, STRONG};

const HEAD: &str = "username,email,displayName,role,password\n";

/// `POST /users/import` with `query` (e.g. `?dryRun=false`).
async fn import(
    app: &TestApp,
    token: &str,
    query: &str,
    content_type: &str,
    body: &[u8],
) -> crate::helpers::Reply {
    app.send_bytes(
        &format!("/api/v1/users/import{query}"),
        Some(token),
        content_type,
        body.to_vec(),
    )
    .await
}

async fn csv(app: &TestApp, token: &str, query: &str, rows: &str) -> crate::helpers::Reply {
    import(
        app,
        token,
        query,
        "text/csv",
        format!("{HEAD}{rows}").as_bytes(),
    )
    .await
}

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

async fn user_count(app: &TestApp, admin: &str) -> i64 {
    let reply = app
        .call(
            "GET",
            "/api/v1/users?includeDeleted=true",
            Some(admin),
            None,
        )
        .await;
    reply.body["total"].as_i64().expect("a total")
}

/// Each result's status and its errors' fields.
fn statuses(reply: &crate::helpers::Reply) -> Vec<(String, Vec<String>)> {
    reply.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let fields = r["errors"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .map(|d| d["field"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (r["status"].as_str().unwrap().to_owned(), fields)
        })
        .collect()
}

fn row(status: &str, fields: &[&str]) -> (String, Vec<String>) {
    (
        status.to_owned(),
        fields.iter().map(|f| (*f).to_owned()).collect(),
    )
}

#[actix_rt::test]
async fn a_csv_import_creates_the_valid_rows_in_one_audited_step_and_reports_the_rest() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rows = format!(
        "ann,ann@example.org,Ann,ADMIN,{STRONG}\r\n\
         bob,,Bob,,\r\n\
         x,,X,USER,{STRONG}\r\n\
         ANN,,Ann again,,{STRONG}\r\n\
         root,,Root,,{STRONG}\r\n\
         cat,ANN@example.org,Cat,,\r\n"
    );

    let reply = csv(&app, &admin, "?dryRun=false", &rows).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["dryRun"], false);
    assert_eq!(
        (
            reply.body["created"].as_i64(),
            reply.body["failed"].as_i64()
        ),
        (Some(2), Some(4))
    );
    assert_eq!(
        statuses(&reply),
        [
            row("CREATED", &[]),
            row("CREATED", &[]),
            row("INVALID", &["username"]),
            row("INVALID", &["username"]),
            row("INVALID", &["username"]),
            row("INVALID", &["email"]),
        ]
    );
    let results = &reply.body["results"];
    assert_eq!(results[0]["row"], 1);
    assert_eq!(results[5]["row"], 6);
    assert_eq!(
        results[3]["errors"][0]["message"],
        "repeats the username of row 1"
    );
    assert_eq!(results[4]["errors"][0]["message"], "is taken");
    let (ann, bob) = (&results[0]["user"], &results[1]["user"]);
    assert_eq!(
        (ann["role"].as_str(), ann["mustChangePassword"].as_bool()),
        (Some("ADMIN"), Some(false))
    );
    assert_eq!(bob["email"], Value::Null);
    assert_eq!(
        (bob["role"].as_str(), bob["mustChangePassword"].as_bool()),
        (Some("USER"), Some(true))
    );
    let text = reply.body.to_string();
    assert!(
        !text.contains(STRONG) && !text.contains("\"password\""),
        "{text}"
    );
    assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    // The given password signs in; the generated one was never shown.
    app.login("ann", STRONG).await;
    let entries = audit_entries(&app, &admin, "IMPORT_USERS").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        entries[0]["metadata"],
        json!({"rows": 6, "created": 2, "failed": 4, "generatedPasswords": 1})
    );
    let creates = audit_entries(&app, &admin, "CREATE_USER").await;
    assert!(
        creates.iter().all(|e| e["metadata"]["username"] != "ann"),
        "an imported user has no entry of its own: {creates:?}"
    );
    let report = sealed(&app, &admin, 3).await;
    assert_eq!(report["valid"], true, "{report}");
}

#[actix_rt::test]
async fn a_json_import_takes_create_bodies_with_an_optional_password() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = json!({"users": [
        {"username": "dan", "displayName": "Dan", "password": STRONG, "role": "USER"},
        {"username": "eve", "displayName": "Eve", "email": "not-an-email"},
        {"username": "fay", "displayName": "Fay", "password": "password123"},
    ]});

    let reply = import(
        &app,
        &admin,
        "?dryRun=false",
        "application/json",
        body.to_string().as_bytes(),
    )
    .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        statuses(&reply),
        [
            row("CREATED", &[]),
            row("INVALID", &["email"]),
            row("INVALID", &["password"])
        ]
    );
    assert_eq!(reply.body["results"][0]["user"]["username"], "dan");
    app.login("dan", STRONG).await;
    let unknown = json!({"users": [{"username": "gil", "displayName": "Gil", "x": 1}]});
    import(
        &app,
        &admin,
        "",
        "application/json",
        unknown.to_string().as_bytes(),
    )
    .await
    .assert_error(400, "VALIDATION_FAILED");
    import(&app, &admin, "", "application/json", b"{\"users\": [")
        .await
        .assert_error(400, "INVALID_JSON");
}

#[actix_rt::test]
async fn a_dry_run_is_the_default_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let before = user_count(&app, &admin).await;
    let rows = format!("ann,,Ann,,{STRONG}\nbob,,Bob,,\nx,,X,,\n");

    for query in ["", "?dryRun=true"] {
        let reply = csv(&app, &admin, query, &rows).await;

        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["dryRun"], true);
        assert_eq!(
            (
                reply.body["created"].as_i64(),
                reply.body["failed"].as_i64()
            ),
            (Some(0), Some(1))
        );
        assert_eq!(
            statuses(&reply),
            [
                row("VALID", &[]),
                row("VALID", &[]),
                row("INVALID", &["username"])
            ]
        );
        assert!(reply.body["results"][0].get("user").is_none());
    }
    assert_eq!(user_count(&app, &admin).await, before);
    assert!(audit_entries(&app, &admin, "IMPORT_USERS").await.is_empty());
    let bad = csv(&app, &admin, "?dryRun=yes", &rows).await;
    bad.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(bad.body["details"][0]["field"], "dryRun");
}

#[actix_rt::test]
async fn only_an_admin_may_import_and_is_told_so_before_the_file_is_read() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, user) = app.user_with_token(&admin, "ursula").await;

    let anonymous = app
        .send_bytes(
            "/api/v1/users/import",
            None,
            "text/csv",
            HEAD.as_bytes().to_vec(),
        )
        .await;
    let forbidden = import(&app, &user, "?dryRun=nope", "text/csv", b"not,a,header\n").await;

    anonymous.assert_error(401, "UNAUTHORIZED");
    forbidden.assert_error(403, "FORBIDDEN");
}

#[actix_rt::test]
async fn a_body_of_another_media_type_is_a_415() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = format!("{HEAD}ann,,Ann,,\n");

    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/csv; charset=latin1",
        "",
    ] {
        import(&app, &admin, "", content_type, body.as_bytes())
            .await
            .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
}

#[actix_rt::test]
async fn a_malformed_csv_is_a_400_naming_its_row_and_column() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let head = HEAD.as_bytes();
    let long_line = [head, b"ann,,", &vec![b'x'; 64 * 1024], b",,\n"].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "wrong header",
            b"username,mail,displayName,role,password\nann,,Ann,,\n".to_vec(),
            "row 0, column 2",
        ),
        ("no header", b"ann,,Ann,,\n".to_vec(), "row 0, column 1"),
        ("empty", Vec::new(), "row 0, column 1"),
        (
            "stray quote",
            [head, b"ann,a\"b,Ann,,\n"].concat(),
            "row 1, column 2",
        ),
        (
            "unclosed quote",
            [head, b"ann,,Ann,,\nbob,,\"Bob,,\n"].concat(),
            "row 2, column 3",
        ),
        (
            "too few columns",
            [head, b"ann,,Ann,USER\n"].concat(),
            "row 1, column 5",
        ),
        (
            "too many columns",
            [head, b"ann,,Ann,,,extra\n"].concat(),
            "row 1, column 6",
        ),
        ("NUL", [head, b"ann,,A\0nn,,\n"].concat(), "row 1, column 3"),
        (
            "invalid UTF-8",
            [head, b"ann,,Zo\xEB,,\n"].concat(),
            "row 1, column 3",
        ),
        ("long line", long_line, "row 1, column 3"),
    ];

    for (what, body, place) in cases {
        let reply = import(&app, &admin, "?dryRun=false", "text/csv", &body).await;

        reply.assert_error(400, "VALIDATION_FAILED");
        let message = reply.body["details"][0]["message"].as_str().unwrap_or("");
        assert!(message.starts_with(place), "{what}: {}", reply.body);
    }
    assert_eq!(user_count(&app, &admin).await, 1, "nothing was created");
}

#[actix_rt::test]
async fn a_byte_order_mark_and_crlf_line_ends_are_accepted() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = [
        b"\xEF\xBB\xBF".as_slice(),
        b"username,email,displayName,role,password\r\nann,,Ann,,\r\n\r\nbob,,Bob,,",
    ]
    .concat();

    let reply = import(&app, &admin, "", "text/csv; charset=utf-8", &body).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(statuses(&reply), [row("VALID", &[]), row("VALID", &[])]);
}

#[actix_rt::test]
async fn more_than_ten_thousand_rows_are_refused_naming_the_limit() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let rows: String = (0..10_001)
        .map(|i| format!("user{i},,User {i},,\n"))
        .collect();

    let too_many = csv(&app, &admin, "?dryRun=false", &rows).await;
    let none = csv(&app, &admin, "", "").await;

    too_many.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(too_many.body["details"][0]["field"], "rows");
    assert!(too_many.body["details"][0]["message"]
        .as_str()
        .unwrap()
        .contains("10000"));
    none.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(user_count(&app, &admin).await, 1);
}

#[actix_rt::test]
async fn a_user_created_while_an_import_runs_is_one_row_invalid_or_a_409_never_both() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // Rows that hash first keep the import busy between its lookup and its inserts.
    let mut rows: String = (0..6)
        .map(|i| format!("pad{i},,Pad {i},,{STRONG}\n"))
        .collect();
    rows.push_str(&format!("zed,zed@example.org,Zed,,{STRONG}\n"));
    let create = app.call(
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(json!({"username": "ZED", "displayName": "Other Zed", "password": STRONG})),
    );

    let (imported, created) = tokio::join!(csv(&app, &admin, "?dryRun=false", &rows), create);

    assert_eq!(imported.status, 200, "{}", imported.body);
    let zed = &imported.body["results"][6];
    match created.status {
        201 => {
            assert_eq!(zed["status"], "INVALID", "{}", imported.body);
            assert_eq!(zed["errors"][0]["field"], "username");
        }
        409 => assert_eq!(zed["status"], "CREATED", "{}", imported.body),
        other => panic!("POST /users answered {other}: {}", created.body),
    }
    assert_eq!(
        imported.body["created"].as_i64(),
        Some(6 + i64::from(created.status == 409))
    );
    let listed = app
        .call("GET", "/api/v1/users?q=zed", Some(&admin), None)
        .await;
    assert_eq!(listed.body["total"], 1, "exactly one zed: {}", listed.body);
}
