//! Security headers over HTTP: on successes, errors and unknown routes; no-store on auth
//! and profile responses; the explorer's policy allows exactly the inline script and
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
