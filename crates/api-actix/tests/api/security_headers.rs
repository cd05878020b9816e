//! Security headers over HTTP: on successes, errors and unknown routes; no-store on
//! secrets and exports, `private, no-cache` on every other authenticated answer; the explorer's policy allows exactly the inline script and
//! style of the `index.html` it serves.

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{Reply, TestApp, ADMIN, ADMIN_PASSWORD};

const STRICT_CSP_START: &str = "default-src 'none'; frame-ancestors 'none'";

#[track_caller]
fn assert_security_headers(reply: &Reply) {
    let what = format!("status {}", reply.status);
    assert_eq!(
        reply.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        reply.header("x-frame-options").as_deref(),
        Some("DENY"),
        "{what}"
    );
    assert_eq!(
        reply.header("referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
    assert!(reply.header("server").is_none(), "no server banner: {what}");
}

#[track_caller]
fn assert_strict_csp(reply: &Reply) {
    let csp = reply.header("content-security-policy").unwrap_or_default();
    assert!(csp.starts_with(STRICT_CSP_START), "{csp}");
}

#[actix_rt::test]
async fn every_response_carries_the_security_headers_200_401_and_404_alike() {
    let app = TestApp::spawn().await;

    let ok = app.call("GET", "/api/health", None, None).await;
    let unauthorized = app.call("GET", "/api/v1/profile", None, None).await;
    let not_found = app.call("GET", "/api/v1/nowhere", None, None).await;
    let bad_method = app.call("DELETE", "/api/v1/profile", None, None).await;

    assert_eq!(ok.status, 200);
    unauthorized.assert_error(401, "UNAUTHORIZED");
    not_found.assert_error(404, "NOT_FOUND");
    bad_method.assert_error(405, "METHOD_NOT_ALLOWED");
    for reply in [&ok, &unauthorized, &not_found, &bad_method] {
        assert_security_headers(reply);
        assert_strict_csp(reply);
    }
    assert!(ok.header("cache-control").is_none_or(|c| c != "no-store"));
}

#[actix_rt::test]
async fn auth_and_profile_responses_are_never_stored() {
    let app = TestApp::spawn().await;

    let login = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": ADMIN, "password": ADMIN_PASSWORD })),
        )
        .await;
    let token = crate::helpers::token(&login.body);
    let failed = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({ "username": ADMIN, "password": "wrong-password-1" })),
        )
        .await;
    let profile = app.call("GET", "/api/v1/profile", Some(&token), None).await;
    let preferences = app
        .call("GET", "/api/v1/profile/preferences", Some(&token), None)
        .await;

    assert_eq!(login.status, 200);
    failed.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!((profile.status, preferences.status), (200, 200));
    for reply in [&login, &failed, &profile, &preferences] {
        assert_security_headers(reply);
        assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(reply.header("pragma").as_deref(), Some("no-cache"));
    }
}

/// The contents of every inline `<tag>` element (no `src`) of `html`.
fn inline_blocks(html: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut blocks = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start..];
        let head_end = after.find('>').expect("a closed start tag");
        let head = &after[..head_end];
        let body_end = after.find(&close).expect("a closing tag");
        if !head.contains("src=") {
            blocks.push(after[head_end + 1..body_end].to_owned());
        }
        rest = &after[body_end + close.len()..];
    }
    blocks
}

#[actix_rt::test]
async fn the_explorer_policy_allows_exactly_what_its_page_needs() {
    let app = TestApp::spawn().await;

    let page = app.call("GET", "/api/docs/index.html", None, None).await;
    let spec = app.call("GET", "/api/docs/openapi.json", None, None).await;

    assert_eq!(page.status, 200);
    assert_security_headers(&page);
    assert_strict_csp(&spec);
    let csp = page.header("content-security-policy").expect("a policy");
    let html = page.body.as_str().expect("an HTML page");
    let directive = |name: &str| -> String {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {csp}"))
            .to_owned()
    };
    for (tag, name) in [("script", "script-src"), ("style", "style-src")] {
        let allowed = directive(name);
        assert!(allowed.contains("'self'"), "{allowed}");
        assert!(!allowed.contains("unsafe"), "{allowed}");
        let blocks = inline_blocks(html, tag);
        assert!(!blocks.is_empty(), "the page has an inline {tag}");
        for block in blocks {
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&block));
            assert!(
                allowed.contains(&format!("'sha256-{hash}'")),
                "inline {tag} {hash} is allowed by {allowed}"
            );
        }
    }
    for src in [
        "./swagger-ui-bundle.js",
        "./swagger-ui-standalone-preset.js",
    ] {
        assert!(html.contains(src), "scripts come from this origin: {src}");
    }
    assert_eq!(directive("img-src"), "img-src 'self' data:");
    assert_eq!(directive("connect-src"), "connect-src 'self'");
    assert_eq!(directive("default-src"), "default-src 'none'");
    assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'");
}

/// A request (method, path, token, body) and the status it must get.
type Case<'a> = (
    &'a str,
    String,
    Option<&'a str>,
    Option<serde_json::Value>,
    u16,
);

#[actix_rt::test]
async fn secrets_and_exports_are_never_stored_and_every_other_authenticated_answer_is_revalidated()
{
    let app = TestApp::spawn_with(|vars| {
        vars.insert("LOGIN_RATE_LIMIT".into(), "1000".into());
        vars.insert("RATE_LIMIT".into(), "100000".into());
    })
    .await;
    let pair = app.login(ADMIN, ADMIN_PASSWORD).await;
    let admin = crate::helpers::token(&pair);
    let (ann, _) = app.user_with_token(&admin, "ann").await;
    let (_, user) = app.user_with_token(&admin, "bob").await;
    let ann_id = ann["id"].as_str().unwrap().to_owned();
    let reset = format!("/api/v1/users/{ann_id}/reset-password");
    let unknown = "/api/v1/users/0190c8a0-0000-7000-8000-000000000000";
    let refresh = json!({ "refreshToken": crate::helpers::refresh_token(&pair) });
    let wrong = json!({ "username": ADMIN, "password": "wrong-password-1" });

    let no_store: Vec<Case> = vec![
        ("POST", "/api/v1/auth/login".into(), None, Some(wrong), 401),
        (
            "POST",
            "/api/v1/auth/refresh".into(),
            None,
            Some(refresh),
            200,
        ),
        ("GET", "/api/v1/profile".into(), Some(&admin), None, 200),
        ("GET", "/api/v1/profile".into(), None, None, 401),
        (
            "GET",
            "/api/v1/profile/export".into(),
            Some(&admin),
            None,
            200,
        ),
        ("GET", "/api/v1/profile/export".into(), None, None, 401),
        ("GET", "/api/v1/sessions".into(), Some(&admin), None, 200),
        ("PATCH", reset.clone(), Some(&admin), Some(json!({})), 200),
        ("PATCH", reset.clone(), Some(&user), Some(json!({})), 403),
        (
            "PATCH",
            reset.clone(),
            Some(&admin),
            Some(json!({ "x": 1 })),
            400,
        ),
        (
            "PATCH",
            format!("{unknown}/reset-password"),
            Some(&admin),
            Some(json!({})),
            404,
        ),
        (
            "PATCH",
            reset.replace("-password", "%2Dpassword"),
            Some(&admin),
            Some(json!({})),
            200,
        ),
        (
            "GET",
            "/api/v1/users/export?format=csv".into(),
            Some(&admin),
            None,
            200,
        ),
        (
            "GET",
            "/api/v1/users/export?format=json".into(),
            Some(&admin),
            None,
            200,
        ),
        (
            "GET",
            "/api/v1/users/export?format=xml".into(),
            Some(&admin),
            None,
            400,
        ),
        ("GET", "/api/v1/users/export".into(), None, None, 401),
    ];
    for (method, path, token, body, status) in no_store {
        let reply = app.call(method, &path, token, body).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        assert_eq!(
            reply.header("cache-control").as_deref(),
            Some("no-store"),
            "{method} {path} ({status})"
        );
        assert_eq!(
            reply.header("pragma").as_deref(),
            Some("no-cache"),
            "{path}"
        );
    }

    let ann_path = format!("/api/v1/users/{ann_id}");
    let revalidated: Vec<Case> = vec![
        ("GET", "/api/v1/users".into(), Some(&admin), None, 200),
        ("GET", "/api/v1/users".into(), Some(&user), None, 403),
        ("GET", "/api/v1/users".into(), None, None, 401),
        (
            "GET",
            "/api/v1/users/search?q=ann".into(),
            Some(&admin),
            None,
            200,
        ),
        ("GET", ann_path.clone(), Some(&admin), None, 200),
        ("GET", unknown.into(), Some(&admin), None, 404),
        (
            "PATCH",
            ann_path.clone(),
            Some(&admin),
            Some(json!({ "displayName": "" })),
            400,
        ),
        ("GET", "/api/v1/audit-logs".into(), Some(&admin), None, 200),
        (
            "GET",
            "/api/health/detailed".into(),
            Some(&admin),
            None,
            200,
        ),
        ("GET", "/api/v1/nowhere".into(), Some(&admin), None, 404),
    ];
    for (method, path, token, body, status) in revalidated {
        let reply = app.call(method, &path, token, body).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        assert_eq!(
            reply.header("cache-control").as_deref(),
            Some("private, no-cache"),
            "{method} {path} ({status})"
        );
    }

    let first = app.call("GET", &ann_path, Some(&admin), None).await;
    let etag = first.header("etag").unwrap();
    let not_modified = app
        .send(
            "GET",
            &ann_path,
            Some(&admin),
            None,
            &[("If-None-Match", &etag)],
        )
        .await;
    assert_eq!(not_modified.status, 304);
    assert_eq!(
        not_modified.header("cache-control").as_deref(),
        Some("private, no-cache")
    );
}
