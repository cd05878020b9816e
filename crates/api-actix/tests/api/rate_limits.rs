//! Rate limits per client IP: the login bucket, the bucket of every route, the admin
//! write bucket, the 429 with `Retry-After` and the `RateLimit-*` headers, and the client
//! IP rule (`X-Forwarded-For` counts only from `TRUSTED_PROXIES`).

use serde_json::{json, Value};

use crate::helpers::{token, LogCapture, Reply, TestApp, Vars, ADMIN, ADMIN_PASSWORD, STRONG};

const WRONG: &str = "wrong-Pebble-castle-31";

fn set(vars: &mut Vars, pairs: &[(&str, &str)]) {
    for (k, v) in pairs {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
}

async fn login_from(
    app: &TestApp,
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Reply {
    app.send(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({ "username": username, "password": password })),
        headers,
    )
    .await
}

fn header_number(reply: &Reply, name: &str) -> u64 {
    reply
        .header(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", reply.headers))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

/// Asserts a 429 in the contract's shape with `Retry-After` and the `RateLimit-*`
/// headers of a bucket of `limit`; returns `Retry-After`.
#[track_caller]
fn assert_limited(reply: &Reply, limit: u64) -> u64 {
    reply.assert_error(429, "RATE_LIMITED");
    let retry_after = header_number(reply, "retry-after");
    let interval = 60u64.div_ceil(limit);
    assert!(
        (1..=interval).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(header_number(reply, "ratelimit-limit"), limit);
    assert_eq!(header_number(reply, "ratelimit-remaining"), 0);
    assert!(header_number(reply, "ratelimit-reset") >= 1);
    retry_after
}

/// Up to 100 audit entries, newest first.
async fn audit_entries(app: &TestApp, admin: &str) -> Vec<Value> {
    let reply = app
        .call("GET", "/api/v1/audit-logs?limit=100", Some(admin), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

async fn user(app: &TestApp, admin: &str, id: &Value) -> Value {
    let reply = app
        .call(
            "GET",
            &format!("/api/v1/users/{}", id.as_str().unwrap()),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

#[actix_rt::test]
async fn the_sixth_login_in_a_minute_from_one_ip_is_refused_before_any_check() {
    let app = TestApp::spawn_with(|v| set(v, &[("LOGIN_RATE_LIMIT", "5")])).await;
    // Login 1 of 5.
    let admin = app.admin_token().await;
    let carol = app.create_user(&admin, "carol", "USER").await;

    // Logins 2..5: wrong passwords, each counted, with the budget going down.
    for left in (0..4).rev() {
        let reply = login_from(&app, "carol", WRONG, &[]).await;
        reply.assert_error(401, "INVALID_CREDENTIALS");
        assert_eq!(header_number(&reply, "ratelimit-limit"), 5);
        assert_eq!(header_number(&reply, "ratelimit-remaining"), left);
    }

    // The 6th, even with the right password, is refused before the use case runs.
    let refused = login_from(&app, "carol", STRONG, &[("X-Request-ID", "rl-sixth")]).await;
    let retry_after = assert_limited(&refused, 5);
    assert!(retry_after <= 12, "one interval of 60 s / 5");
    assert_eq!(refused.body["path"], "/api/v1/auth/login");

    let stored = user(&app, &admin, &carol["id"]).await;
    assert_eq!(
        stored["failedLoginAttempts"], 4,
        "the refused attempt was not counted"
    );
    assert_eq!(stored["loginCount"], 0);
    let entries = audit_entries(&app, &admin).await;
    assert!(
        entries.iter().all(|e| e["requestId"] != "rl-sixth"),
        "no audit entry for the refused attempt: {entries:#?}"
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["action"] == "LOGIN_FAILED")
            .count(),
        4
    );
    // Other routes are still open to this client.
    assert_eq!(
        app.call("GET", "/api/v1/profile", Some(&admin), None)
            .await
            .status,
        200
    );

    let metrics = app.call("GET", "/metrics", None, None).await;
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.lines()
            .any(|l| l == "ems_login_attempts_total{outcome=\"rate_limited\"} 1"),
        "{text}"
    );
}

#[actix_rt::test]
async fn every_route_spends_from_one_budget_per_ip_and_says_what_is_left() {
    let app = TestApp::spawn_with(|v| set(v, &[("RATE_LIMIT", "3")])).await;
    for left in (0..3).rev() {
        let reply = app.call("GET", "/api/health", None, None).await;
        assert_eq!(reply.status, 200);
        assert_eq!(header_number(&reply, "ratelimit-limit"), 3);
        assert_eq!(header_number(&reply, "ratelimit-remaining"), left);
        assert!((1..=60).contains(&header_number(&reply, "ratelimit-reset")));
    }
    // Whatever the route, known or not, the budget is spent.
    let refused = app.call("GET", "/api/v1/no-such-route", None, None).await;
    assert_limited(&refused, 3);
    let refused = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": ADMIN, "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_limited(&refused, 3);
}

#[actix_rt::test]
async fn admin_writes_have_a_budget_of_their_own_and_reads_are_not_in_it() {
    let app = TestApp::spawn_with(|v| set(v, &[("ADMIN_WRITE_RATE_LIMIT", "2")])).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "first", "USER").await;
    app.create_user(&admin, "second", "USER").await;

    let refused = app
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"username": "third", "displayName": "Third", "password": STRONG})),
        )
        .await;
    assert_limited(&refused, 2);

    let list = app
        .call("GET", "/api/v1/users?q=third", Some(&admin), None)
        .await;
    assert_eq!(list.status, 200, "reads are not admin writes");
    assert_eq!(list.body["total"], 0, "nothing was created: {}", list.body);
    // Profile writes are not admin writes either.
    let profile = app
        .call(
            "PATCH",
            "/api/v1/profile",
            Some(&admin),
            Some(json!({"displayName": "Root"})),
        )
        .await;
    assert_eq!(profile.status, 200, "{}", profile.body);
}

#[actix_rt::test]
async fn a_forwarded_for_header_from_an_untrusted_peer_gains_nothing() {
    let capture = LogCapture::start();
    let app = TestApp::spawn_with(|v| set(v, &[("LOGIN_RATE_LIMIT", "2")])).await;
    let mut pairs = Vec::new();
    for spoofed in ["198.51.100.1", "198.51.100.2"] {
        let reply = login_from(
            &app,
            ADMIN,
            ADMIN_PASSWORD,
            &[("X-Forwarded-For", spoofed), ("X-Request-ID", "rl-spoofed")],
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        pairs.push(reply.body);
    }
    let refused = login_from(
        &app,
        ADMIN,
        ADMIN_PASSWORD,
        &[("X-Forwarded-For", "198.51.100.3")],
    )
    .await;
    assert_limited(&refused, 2);

    // The audit log and the session record the peer, not the claim.
    let admin = token(&pairs[0]);
    let entries = audit_entries(&app, &admin).await;
    let logins: Vec<&Value> = entries
        .iter()
        .filter(|e| e["requestId"] == "rl-spoofed")
        .collect();
    assert_eq!(logins.len(), 2, "{entries:#?}");
    assert!(
        logins.iter().all(|e| e["ipAddress"] == "127.0.0.1"),
        "{logins:#?}"
    );
    // And the ignored header is logged.
    let lines: Vec<Value> = capture
        .contents()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        lines.iter().any(|l| l["http.request.id"] == "rl-spoofed"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("X-Forwarded-For from") && m.contains("ignored"))),
        "no line about the ignored header"
    );
}

#[actix_rt::test]
async fn with_redis_down_the_limits_still_hold_and_the_server_answers() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redis_url = format!("redis://127.0.0.1:{closed}");
    let app = TestApp::spawn_with(|v| {
        set(
            v,
            &[("REDIS_URL", redis_url.as_str()), ("LOGIN_RATE_LIMIT", "2")],
        )
    })
    .await;
    for _ in 0..2 {
        let reply = login_from(&app, ADMIN, ADMIN_PASSWORD, &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(header_number(&reply, "ratelimit-limit"), 2);
    }
    assert_limited(&login_from(&app, ADMIN, ADMIN_PASSWORD, &[]).await, 2);
    assert_eq!(app.call("GET", "/api/health", None, None).await.status, 200);
}

#[actix_rt::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_limited_audited_and_recorded() {
    let capture = LogCapture::start();
    let app = TestApp::spawn_with(|v| {
        set(
            v,
            &[("LOGIN_RATE_LIMIT", "2"), ("TRUSTED_PROXIES", "127.0.0.1")],
        )
    })
    .await;
    // The proxy's own budget (no header) for the admin.
    let admin = app.admin_token().await;

    // One forwarded client spends its own budget...
    let client = [("X-Forwarded-For", "203.0.113.7")];
    for _ in 0..2 {
        let reply = login_from(&app, ADMIN, WRONG, &client).await;
        reply.assert_error(401, "INVALID_CREDENTIALS");
    }
    let refused = login_from(
        &app,
        ADMIN,
        ADMIN_PASSWORD,
        &[
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Request-ID", "rl-proxied"),
        ],
    )
    .await;
    assert_limited(&refused, 2);

    // ...and another one (behind a client-supplied spoof) has its own.
    let other = login_from(
        &app,
        ADMIN,
        ADMIN_PASSWORD,
        &[
            ("X-Forwarded-For", "10.9.9.9, 198.51.100.9"),
            ("X-Request-ID", "rl-other"),
        ],
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.body);

    let entries = audit_entries(&app, &admin).await;
    let login = entries
        .iter()
        .find(|e| e["requestId"] == "rl-other" && e["action"] == "LOGIN")
        .unwrap_or_else(|| panic!("no LOGIN entry: {entries:#?}"));
    assert_eq!(login["ipAddress"], "198.51.100.9");
    let sessions = app
        .call("GET", "/api/v1/sessions", Some(&token(&other.body)), None)
        .await;
    let current = sessions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .cloned()
        .unwrap();
    assert_eq!(current["ipAddress"], "198.51.100.9");

    // The refusal is logged at warn with the client and the bucket, never the body.
    let lines: Vec<Value> = capture
        .contents()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let warning = lines
        .iter()
        .find(|l| {
            l["message"] == "rate limit exceeded; request refused"
                && l["http.request.id"] == "rl-proxied"
        })
        .unwrap_or_else(|| panic!("no warning for rl-proxied"));
    assert_eq!(warning["log.level"], "warn");
    assert_eq!(warning["client.ip"], "203.0.113.7");
    assert_eq!(warning["rate_limit.bucket"], "login");
    let access = lines
        .iter()
        .find(|l| l["message"] == "request completed" && l["http.request.id"] == "rl-proxied")
        .unwrap_or_else(|| panic!("no access line for rl-proxied"));
    assert_eq!(access["http.response.status_code"], 429);
    assert_eq!(access["client.ip"], "203.0.113.7");
    assert!(!capture.contents().contains(ADMIN_PASSWORD));
}
