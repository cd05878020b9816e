//! `/metrics` and `/api/health/detailed`: what a scrape shows after real traffic, the
//! metrics token, and the admin-only health report.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{bring_database_back, eventually, take_database_down, TestApp, STRONG};

/// Scrapes `/metrics`; panics unless it answers 200 with text.
async fn scrape(app: &TestApp, token: Option<&str>) -> String {
    let reply = app.call("GET", "/metrics", token, None).await;
    assert_eq!(reply.status, 200, "scrape: {}", reply.body);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("text/plain; version=0.0.4"),
        "the Prometheus text format"
    );
    reply.body.as_str().expect("a text body").to_owned()
}

/// The value of the sample named exactly `series` (name and labels as exported).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[actix_rt::test]
async fn a_scrape_after_a_workload_shows_route_templates_login_outcomes_and_pool_gauges() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let user = app.create_user(&admin, "mira", "USER").await;
    let id = user["id"].as_str().unwrap().to_owned();
    app.login("mira", STRONG).await;
    let failed = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": "mira", "password": "not-her-password-1" })),
        )
        .await;
    assert_eq!(failed.status, 401);
    for _ in 0..2 {
        let got = app
            .call("GET", &format!("/api/v1/users/{id}"), Some(&admin), None)
            .await;
        assert_eq!(got.status, 200);
    }
    let missing = app
        .call("GET", "/api/v1/no-such-thing/12345", None, None)
        .await;
    assert_eq!(missing.status, 404);

    // The probe behind the database and pool gauges runs at start, then every 5 s.
    assert!(wait_for_database_up(&app, 1.0).await);
    let text = scrape(&app, None).await;

    let user_route = r#"method="GET",route="/api/v1/users/{id}",status="200""#;
    assert_eq!(
        sample(&text, &format!("http_requests_total{{{user_route}}}")),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("http_request_duration_seconds_count{{{user_route}}}")
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("http_request_duration_seconds_bucket{{{user_route},le=\"+Inf\"}}")
        ),
        Some(2.0)
    );
    assert!(
        text.contains(r#"route="/api/v1/auth/login",status="401""#),
        "failed logins are counted by status:\n{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(1.0)
    );
    assert!(!text.contains(&id), "no raw id in any label");
    assert!(!text.contains("no-such-thing"), "no raw path in any label");
    assert_eq!(
        sample(&text, r#"ems_login_attempts_total{outcome="success"}"#),
        Some(2.0),
        "the admin and mira signed in"
    );
    assert_eq!(
        sample(
            &text,
            r#"ems_login_attempts_total{outcome="invalid_credentials"}"#
        ),
        Some(1.0)
    );
    for series in [
        r#"ems_login_attempts_total{outcome="locked"}"#,
        r#"ems_login_attempts_total{outcome="rate_limited"}"#,
    ] {
        assert_eq!(sample(&text, series), Some(0.0), "{series}");
    }
    let size = sample(&text, r#"ems_db_pool_connections{state="size"}"#).unwrap();
    let idle = sample(&text, r#"ems_db_pool_connections{state="idle"}"#).unwrap();
    assert!(size >= 1.0 && idle <= size, "pool size {size}, idle {idle}");
    assert!(sample(&text, r#"ems_db_pool_connections{state="waiting"}"#).is_some());
    assert_eq!(sample(&text, "ems_database_up"), Some(1.0));
    assert!(sample(&text, "ems_active_users").is_some());
    assert!(sample(&text, "ems_db_query_duration_seconds_count").unwrap() >= 5.0);
    assert!(text.contains("# TYPE ems_redis_call_duration_seconds histogram"));
    assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 0.0);
    assert!(sample(&text, "process_cpu_seconds_total").is_some());
}

#[actix_rt::test]
async fn the_metrics_token_is_required_when_set() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("METRICS_TOKEN".into(), "scrape-secret-8f2c".into());
    })
    .await;

    let none = app.call("GET", "/metrics", None, None).await;
    let wrong = app
        .call("GET", "/metrics", Some("scrape-secret-8f2d"), None)
        .await;
    let basic = app
        .send(
            "GET",
            "/metrics",
            None,
            None,
            &[("Authorization", "Basic c2NyYXBlLXNlY3JldC04ZjJj")],
        )
        .await;
    let text = scrape(&app, Some("scrape-secret-8f2c")).await;

    none.assert_error(401, "UNAUTHORIZED");
    wrong.assert_error(401, "UNAUTHORIZED");
    basic.assert_error(401, "UNAUTHORIZED");
    assert!(!none.body.to_string().contains("scrape-secret"));
    assert!(text.contains("http_requests_total"));
}

#[actix_rt::test]
async fn with_metrics_disabled_the_scrape_is_not_found_and_requests_are_served() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("METRICS_ENABLED".into(), "false".into());
    })
    .await;

    let health = app.call("GET", "/api/health", None, None).await;
    let admin = app.admin_token().await;
    let profile = app.call("GET", "/api/v1/profile", Some(&admin), None).await;

    assert_eq!((health.status, profile.status), (200, 200));
    app.call("GET", "/metrics", None, None)
        .await
        .assert_error(404, "NOT_FOUND");
}

#[actix_rt::test]
async fn the_database_probe_reports_an_outage_and_the_recovery() {
    let app = TestApp::spawn().await;
    assert!(
        wait_for_database_up(&app, 1.0).await,
        "the first probe runs at start"
    );

    take_database_down(&app.db).await;
    let down = wait_for_database_up(&app, 0.0).await;
    bring_database_back(&app.db).await;
    let back = wait_for_database_up(&app, 1.0).await;

    assert!(down && back, "the gauge follows the database");
}

/// Polls the scrape until `ems_database_up` reads `value` (the probe runs every 5 s).
async fn wait_for_database_up(app: &TestApp, value: f64) -> bool {
    eventually(Duration::from_secs(15), move || async move {
        sample(&scrape(app, None).await, "ems_database_up") == Some(value)
    })
    .await
}

#[actix_rt::test]
async fn the_detailed_health_report_shows_every_dependency_to_admins_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, user) = app.user_with_token(&admin, "nico").await;

    let report = app
        .call("GET", "/api/health/detailed", Some(&admin), None)
        .await;
    let as_user = app
        .call("GET", "/api/health/detailed", Some(&user), None)
        .await;
    let anonymous = app.call("GET", "/api/health/detailed", None, None).await;

    assert_eq!(report.status, 200, "{}", report.body);
    let b = &report.body;
    assert_eq!(b["status"], "ok");
    assert_eq!(b["database"]["status"], "up");
    assert!(b["database"]["latencyMs"].as_f64().unwrap() >= 0.0);
    let pool = &b["database"]["connections"];
    assert!(pool["size"].as_u64().unwrap() >= 1);
    assert!(pool["idle"].as_u64().unwrap() <= pool["size"].as_u64().unwrap());
    assert_eq!(pool["waiting"], 0);
    assert_eq!(b["redis"], json!({ "status": "DISABLED" }));
    assert!(!b["disk"]["path"].as_str().unwrap().is_empty());
    let (total, available) = (
        b["disk"]["totalBytes"].as_u64().unwrap(),
        b["disk"]["availableBytes"].as_u64().unwrap(),
    );
    assert!(total > 0 && available <= total);
    assert!(b["memory"]["rssBytes"].as_u64().unwrap() > 1024 * 1024);
    assert!(b["uptimeSeconds"].is_u64());
    assert_eq!(b["version"], env!("CARGO_PKG_VERSION"));
    let mut keys: Vec<_> = b.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "database",
            "disk",
            "memory",
            "redis",
            "status",
            "uptimeSeconds",
            "version"
        ]
    );
    as_user.assert_error(403, "FORBIDDEN");
    anonymous.assert_error(401, "UNAUTHORIZED");
}
