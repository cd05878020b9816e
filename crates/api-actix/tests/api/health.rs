//! Operations endpoints and the OpenAPI document.

use std::collections::BTreeSet;

use domain::page::{Limit, Offset};
use domain::password::NewPassword;
use domain::user::{DisplayName, Username};

use crate::helpers::TestApp;

#[actix_rt::test]
async fn health_and_readiness_answer_ok() {
    let app = TestApp::spawn().await;

    let live = app.call("GET", "/api/health", None, None).await;
    let ready = app.call("GET", "/api/health/ready", None, None).await;

    assert_eq!(
        (live.status, live.body["status"].as_str()),
        (200, Some("ok"))
    );
    assert_eq!(ready.status, 200);
}

#[actix_rt::test]
async fn the_jwks_lists_the_signing_key() {
    let app = TestApp::spawn().await;

    let jwks = app.call("GET", "/.well-known/jwks.json", None, None).await;

    let key = &jwks.body["keys"][0];
    assert_eq!(key["alg"], "EdDSA");
    assert!(key["kid"].is_string());
}

#[actix_rt::test]
async fn the_openapi_document_covers_every_contract_route() {
    let app = TestApp::spawn().await;

    let doc = app.call("GET", "/api/docs/openapi.json", None, None).await;

    assert_eq!(doc.body["openapi"], "3.0.0");
    let paths = doc.body["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/auth/logout-all", "post"),
        ("/api/v1/profile", "get"),
        ("/api/v1/profile", "patch"),
        ("/api/v1/profile/password", "put"),
        ("/api/v1/profile/preferences", "put"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/search", "get"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/users/{id}", "delete"),
        ("/api/v1/users/{id}/restore", "post"),
        ("/api/v1/users/{id}/reset-password", "patch"),
        ("/api/v1/users/{id}/export", "get"),
        ("/api/v1/users/{id}/anonymize", "post"),
        ("/api/v1/users/import", "post"),
        ("/api/health", "get"),
        ("/api/health/ready", "get"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert!(
            op["responses"]["500"].is_object(),
            "{method} {path} documents errors"
        );
    }
    assert_eq!(
        doc.body["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert!(paths["/api/v1/users"]["get"]["security"].is_array());
}

#[actix_rt::test]
async fn the_explorer_is_served_without_external_assets() {
    let app = TestApp::spawn().await;

    let redirect = app.call("GET", "/api/docs", None, None).await;
    let page = app.call("GET", "/api/docs/index.html", None, None).await;
    let missing = app.call("GET", "/api/docs/nope.js", None, None).await;
    // A bundled name below another segment is no file either (it once reached paperclip's
    // lookup, which panics on an unknown name).
    let nested = app.call("GET", "/api/docs/x/index.html", None, None).await;
    let nested_spec = app
        .call("GET", "/api/docs/x/openapi.json", None, None)
        .await;

    assert_eq!(redirect.status, 302);
    assert!(redirect
        .header("location")
        .unwrap()
        .contains("openapi.json"));
    assert_eq!(page.status, 200);
    missing.assert_error(404, "NOT_FOUND");
    nested.assert_error(404, "NOT_FOUND");
    nested_spec.assert_error(404, "NOT_FOUND");
}

#[actix_rt::test]
async fn the_openapi_document_matches_its_reviewed_snapshot() {
    let app = TestApp::spawn().await;

    let doc = app.call("GET", "/api/docs/openapi.json", None, None).await;

    // Any change to the outside shows up in review as a change of this snapshot.
    insta::assert_json_snapshot!("openapi", doc.body);
}

#[actix_rt::test]
async fn the_openapi_bounds_are_the_domain_value_types_own() {
    let app = TestApp::spawn().await;

    let doc = app.call("GET", "/api/docs/openapi.json", None, None).await;

    let as_u64 = |n: usize| Some(u64::try_from(n).unwrap());
    let mut paged = BTreeSet::new();
    for item in doc.body["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for param in op["parameters"].as_array().into_iter().flatten() {
                let expected = match param["name"].as_str() {
                    Some("limit") => (u64::from(Limit::MIN), u64::from(Limit::MAX)),
                    Some("offset") => (Offset::ZERO.get(), Offset::MAX),
                    _ => continue,
                };
                let schema = &param["schema"];
                assert_eq!(
                    (schema["minimum"].as_u64(), schema["maximum"].as_u64()),
                    (Some(expected.0), Some(expected.1)),
                    "{} of {}",
                    param["name"],
                    op["operationId"]
                );
                paged.insert(format!(
                    "{}.{}",
                    op["operationId"].as_str().unwrap(),
                    param["name"].as_str().unwrap()
                ));
            }
        }
    }
    for op in [
        "listUsers",
        "searchUsers",
        "listAuditLogs",
        "listSessions",
        "listUserSessions",
    ] {
        for name in ["limit", "offset"] {
            assert!(
                paged.contains(&format!("{op}.{name}")),
                "{op} documents {name}"
            );
        }
    }
    let schemas = &doc.body["components"]["schemas"];
    let lengths = |schema: &str, field: &str| {
        let prop = &schemas[schema]["properties"][field];
        (prop["minLength"].as_u64(), prop["maxLength"].as_u64())
    };
    let username = (as_u64(Username::MIN_CHARS), as_u64(Username::MAX_CHARS));
    let display_name = (
        as_u64(DisplayName::MIN_CHARS),
        as_u64(DisplayName::MAX_CHARS),
    );
    let password = (
        as_u64(NewPassword::MIN_CHARS),
        as_u64(NewPassword::MAX_CHARS),
    );
    for (schema, field, expected) in [
        ("CreateUserRequest", "username", username),
        ("CreateUserRequest", "displayName", display_name),
        ("CreateUserRequest", "password", password),
        ("UserPatchDto", "displayName", display_name),
        ("ProfilePatchDto", "displayName", display_name),
        ("ChangePasswordRequest", "newPassword", password),
        ("ResetPasswordRequest", "newPassword", password),
    ] {
        assert_eq!(lengths(schema, field), expected, "{schema}.{field}");
    }
}
