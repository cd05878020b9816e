//! Logs under real traffic: every request leaves one access line naming its route
//! template, status, request id and caller, and no password or token reaches any line,
//! at any level.

use serde_json::{json, Value};

use crate::helpers::{refresh_token, token, LogCapture, TestApp, ADMIN, ADMIN_PASSWORD, STRONG};

const NEW_PASSWORD: &str = "quartz-Meadow-lantern-58";
const WRONG_PASSWORD: &str = "wrong-Pebble-castle-31";

/// The access line of the request with this id.
fn access_line<'a>(lines: &'a [Value], request_id: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["message"] == "request completed" && l["http.request.id"] == request_id)
        .unwrap_or_else(|| panic!("no access line for {request_id}"))
}

/// The test cluster's URL with a password in it, and that password: the one it has,
/// or one added (a trust-authenticated cluster ignores it) when it has none.
fn with_database_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let Some((user_info, host)) = rest.split_once('@') else {
        return (url.to_owned(), None);
    };
    match user_info.split_once(':') {
        Some((_, password)) => (url.to_owned(), Some(password.to_owned())),
        None => {
            let password = "db-Secret-walnut-64";
            (
                format!("{scheme}://{user_info}:{password}@{host}"),
                Some(password.to_owned()),
            )
        }
    }
}

#[actix_rt::test]
async fn no_password_or_token_reaches_any_log_line_even_at_trace_level() {
    // Arrange: capture everything from before the server starts (the admin bootstrap).
    let capture = LogCapture::start();
    let mut database_password = None;
    let app = TestApp::spawn_with(|vars| {
        let (url, password) = with_database_password(&vars["DATABASE_URL"]);
        vars.insert("DATABASE_URL".to_owned(), url);
        database_password = password;
    })
    .await;
    let admin_pair = app.login(ADMIN, ADMIN_PASSWORD).await;
    let admin = token(&admin_pair);
    let user = app.create_user(&admin, "logan", "USER").await;
    let user_id = user["id"].as_str().unwrap().to_owned();

    // Act: logins (good and bad), a password change, refreshes (good and reused), logout.
    let login = app
        .send(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "logan", "password": STRONG})),
            &[("X-Request-ID", "log-login")],
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let first = login.body;
    let wrong = app
        .send(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "logan", "password": WRONG_PASSWORD})),
            &[("X-Request-ID", "log-wrong-login")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    let change = app
        .send(
            "PUT",
            "/api/v1/profile/password",
            Some(&token(&first)),
            Some(json!({"currentPassword": STRONG, "newPassword": NEW_PASSWORD})),
            &[("X-Request-ID", "log-change-password")],
        )
        .await;
    assert_eq!(change.status, 204, "{}", change.body);
    let second = app.login("logan", NEW_PASSWORD).await;
    let refreshed = app
        .send(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refreshToken": refresh_token(&second)})),
            &[("X-Request-ID", "log-refresh")],
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let third = refreshed.body;
    let me = app
        .send(
            "GET",
            "/api/v1/profile",
            Some(&token(&third)),
            None,
            &[("X-Request-ID", "log-profile")],
        )
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    let reused = app
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refreshToken": refresh_token(&second)})),
        )
        .await;
    assert_eq!(reused.status, 401);
    let logout = app
        .call(
            "POST",
            "/api/v1/auth/logout",
            Some(&token(&admin_pair)),
            Some(json!({"refreshToken": refresh_token(&admin_pair)})),
        )
        .await;
    assert_eq!(logout.status, 204, "{}", logout.body);
    let logs = capture.contents();
    drop(capture);

    // Assert: no secret anywhere...
    let mut secrets = vec![
        ADMIN_PASSWORD.to_owned(),
        STRONG.to_owned(),
        NEW_PASSWORD.to_owned(),
        WRONG_PASSWORD.to_owned(),
    ];
    secrets.extend(database_password);
    for pair in [&admin_pair, &first, &second, &third] {
        let access = token(pair);
        let signature = access.rsplit('.').next().unwrap().to_owned();
        secrets.extend([access, signature, refresh_token(pair)]);
    }
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret ({}…) reached the logs",
            &secret[..6]
        );
    }
    assert!(!logs.to_ascii_lowercase().contains("bearer ey"));

    // ...while the capture did see the traffic, at every level, in the JSON format.
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["log.level"] == "debug" || l["log.level"] == "trace"),
        "the capture runs below info"
    );
    let ok_login = access_line(&lines, "log-login");
    assert_eq!(ok_login["http.route"], "/api/v1/auth/login");
    assert_eq!(ok_login["http.request.method"], "POST");
    assert_eq!(ok_login["http.response.status_code"], 200);
    assert!(ok_login["event.duration"].as_u64().is_some());
    assert_eq!(
        access_line(&lines, "log-wrong-login")["http.response.status_code"],
        401
    );
    let changed = access_line(&lines, "log-change-password");
    assert_eq!(changed["http.route"], "/api/v1/profile/password");
    assert_eq!(changed["http.response.status_code"], 204);
    assert_eq!(changed["user.id"], user_id.as_str());
    assert_eq!(
        access_line(&lines, "log-refresh")["http.response.status_code"],
        200
    );
    assert_eq!(
        access_line(&lines, "log-profile")["user.id"],
        user_id.as_str()
    );
}

#[actix_rt::test]
async fn an_access_line_names_the_route_template_not_the_ids() {
    let capture = LogCapture::start();
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let user = app.create_user(&admin, "tmpl", "USER").await;
    let id = user["id"].as_str().unwrap();

    let reply = app
        .send(
            "GET",
            &format!("/api/v1/users/{id}"),
            Some(&admin),
            None,
            &[("X-Request-ID", "log-template")],
        )
        .await;
    let logs = capture.contents();

    assert_eq!(reply.status, 200);
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let line = access_line(&lines, "log-template");
    assert_eq!(line["http.route"], "/api/v1/users/{id}");
    assert_eq!(line["url.path"], format!("/api/v1/users/{id}"));
    assert_eq!(line["http.response.status_code"], 200);
    assert!(line["user.id"].is_string(), "{line}");
}
