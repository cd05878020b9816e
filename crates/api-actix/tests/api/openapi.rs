//! The OpenAPI document against the router: every route registered is documented and
//! every documented route is served, and each operation is documented whole (summary,
//! examples that match their schemas, the error body on every error status, the headers
//! the server sends).

use std::collections::BTreeSet;

use api_actix::routes::served_routes;
use serde_json::Value;

use crate::helpers::TestApp;

const SPEC_PATH: &str = "/api/docs/openapi.json";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Stands in for every `{id}`: no such row, so handlers answer 401/404, never a change.
const SAMPLE_ID: &str = "00000000-0000-4000-8000-000000000000";

async fn document(app: &TestApp) -> Value {
    let reply = app.call("GET", SPEC_PATH, None, None).await;
    assert_eq!(reply.status, 200);
    reply.body
}

/// Every (METHOD, path) the document lists.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                all.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    all
}

/// Every (METHOD, path) the router registers.
fn served() -> BTreeSet<(String, String)> {
    served_routes()
        .into_iter()
        .flat_map(|route| {
            let path = route.path;
            route.methods.into_iter().map(move |m| (m, path.clone()))
        })
        .collect()
}

fn concrete(path: &str) -> String {
    path.replace("{id}", SAMPLE_ID)
        .replace("{filename}", "index.html")
}

/// Every operation of the document with its method and path.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                ops.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    ops
}

/// `value` itself, or what its `$ref` points at.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} resolves")),
        None => value,
    }
}

#[actix_rt::test]
async fn every_registered_route_is_documented_and_every_documented_route_is_served() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let documented = documented(&doc);
    let served = served();

    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "registered but not in the document: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "in the document but not registered: {unserved:?}"
    );
    assert!(served.len() > 30, "every route: {}", served.len());
}

#[actix_rt::test]
async fn the_router_answers_every_documented_operation_and_refuses_other_methods_with_allow() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    // Signed out and without a body: each operation's own extractors answer (200, 302,
    // 400, 401, 415, ...), never the router's 404 for an unknown path or 405.
    for (method, path) in documented(&doc) {
        let reply = app.call(&method, &concrete(&path), None, None).await;
        assert!(
            !matches!(reply.status, 404 | 405),
            "{method} {path} is not routed: {} {}",
            reply.status,
            reply.body
        );
    }
    // A method a resource does not answer is 405 naming exactly the documented ones.
    for route in served_routes() {
        if route.path.starts_with("/api/docs") {
            continue; // mounted by paperclip: another method is an unknown route (404)
        }
        if route.methods.iter().any(|m| m == "PUT") {
            continue;
        }
        let reply = app.call("PUT", &concrete(&route.path), None, None).await;
        reply.assert_error(405, "METHOD_NOT_ALLOWED");
        let allow: BTreeSet<String> = reply
            .header("allow")
            .unwrap_or_default()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        let documented_methods: BTreeSet<String> = METHODS
            .iter()
            .filter(|m| doc["paths"][&route.path][**m].is_object())
            .map(|m| m.to_uppercase())
            .collect();
        assert_eq!(allow, documented_methods, "Allow of {}", route.path);
    }
}

#[actix_rt::test]
async fn every_operation_has_a_summary_examples_the_error_body_and_its_headers() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let mut problems = Vec::new();
    for (method, path, op) in operations(&doc) {
        let at = format!("{method} {path}");
        if op["summary"].as_str().is_none_or(|s| s.trim().is_empty()) {
            problems.push(format!("{at}: no summary"));
        }
        if op["tags"].as_array().is_none_or(|t| t.is_empty()) {
            problems.push(format!("{at}: no tag"));
        }
        if let Some(content) = op["requestBody"]["content"].as_object() {
            for (media, body) in content {
                if body.get("example").is_none() {
                    problems.push(format!("{at}: no request example for {media}"));
                }
            }
        }
        for param in op["parameters"].as_array().into_iter().flatten() {
            let param = resolve(&doc, param);
            if param["in"] == "path" && param.get("example").is_none() {
                problems.push(format!("{at}: no example of {}", param["name"]));
            }
        }
        let responses = op["responses"].as_object().unwrap();
        for (status, response) in responses {
            let at = format!("{at} {status}");
            let code: u16 = status.parse().unwrap();
            let headers = &response["headers"];
            let mut expected = vec!["X-Request-ID"];
            let one_user = response["content"]["application/json"]["schema"]["$ref"]
                == "#/components/schemas/UserDto";
            match code {
                201 if one_user => expected.push("Location"),
                304 => expected.push("ETag"),
                429 | 503 => expected.push("Retry-After"),
                _ => {}
            }
            if responses.contains_key("304") && code == 200 {
                expected.push("ETag");
            }
            for name in expected {
                if headers.get(name).is_none() {
                    problems.push(format!("{at}: no {name} header"));
                }
            }
            if code >= 400 {
                let json = &response["content"]["application/json"];
                if json["schema"]["$ref"] != "#/components/schemas/ErrorBody" {
                    problems.push(format!("{at}: not the error body"));
                }
                if json["example"]["statusCode"] != code {
                    problems.push(format!("{at}: no error example of this status"));
                }
            }
            for (media, body) in response["content"].as_object().into_iter().flatten() {
                let binary = body["schema"]["format"] == "binary";
                if body.get("example").is_none() && !binary {
                    problems.push(format!("{at}: no example for {media}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[actix_rt::test]
async fn every_example_matches_its_schema() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let mut problems = Vec::new();
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let mut media = Vec::new();
        for (name, body) in op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            media.push((format!("request {name}"), body));
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            for (name, body) in response["content"].as_object().into_iter().flatten() {
                media.push((format!("{status} {name}"), body));
            }
        }
        for param in op["parameters"].as_array().into_iter().flatten() {
            let param = resolve(&doc, param);
            media.push((format!("parameter {}", param["name"]), param));
        }
        for (what, carrier) in media {
            if let Some(example) = carrier.get("example") {
                let at = format!("{method} {path} {what}");
                check(&doc, &carrier["schema"], example, &at, &mut problems);
                checked += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 150, "examples checked: {checked}");
}

/// The checker catches what it must: a missing field, an unknown one, a wrong type.
#[actix_rt::test]
async fn the_example_checker_refuses_a_body_unlike_its_schema() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let user = serde_json::json!({ "$ref": "#/components/schemas/UserDto" });
    let login = serde_json::json!({ "$ref": "#/components/schemas/LoginRequest" });

    let mut problems = Vec::new();
    check(
        &doc,
        &user,
        &serde_json::json!({ "id": "x" }),
        "user",
        &mut problems,
    );
    check(
        &doc,
        &login,
        &serde_json::json!({ "username": "a", "password": 1, "extra": true }),
        "login",
        &mut problems,
    );

    let text = problems.join("\n");
    assert!(text.contains("user.id: not a uuid"), "{text}");
    assert!(text.contains("user: no username"), "{text}");
    assert!(text.contains("login.password: not a string"), "{text}");
    assert!(text.contains("login: unknown field extra"), "{text}");
}

/// A small checker of the OpenAPI 3.0 schema subset this document uses: `$ref`, `type`,
/// `nullable`, `enum`, `required`, `properties`, `additionalProperties: false`, `items`,
/// lengths, ranges and the `uuid` and `date-time` formats.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if value.is_null() {
        if schema["nullable"] != true {
            problems.push(format!("{at}: null where the schema is not nullable"));
        }
        return;
    }
    if let Some(values) = schema["enum"].as_array() {
        if !values.contains(value) {
            problems.push(format!("{at}: {value} is not one of {values:?}"));
        }
    }
    let fits = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !fits {
        problems.push(format!(
            "{at}: not a {}",
            schema["type"].as_str().unwrap_or("?")
        ));
        return;
    }
    match value {
        Value::Object(map) => {
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                if !map.contains_key(name) {
                    problems.push(format!("{at}: no {name}"));
                }
            }
            for (name, field) in map {
                match schema["properties"].get(name) {
                    Some(prop) => check(doc, prop, field, &format!("{at}.{name}"), problems),
                    None if schema["additionalProperties"] == false => {
                        problems.push(format!("{at}: unknown field {name}"));
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(doc, &schema["items"], item, &format!("{at}[{i}]"), problems);
            }
        }
        Value::String(text) => {
            let chars = text.chars().count() as u64;
            if schema["minLength"].as_u64().is_some_and(|min| chars < min)
                || schema["maxLength"].as_u64().is_some_and(|max| chars > max)
            {
                problems.push(format!("{at}: {chars} characters is out of bounds"));
            }
            let valid = match schema["format"].as_str() {
                Some("uuid") => uuid::Uuid::parse_str(text).is_ok(),
                Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
                _ => true,
            };
            if !valid {
                problems.push(format!(
                    "{at}: not a {}",
                    schema["format"].as_str().unwrap()
                ));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap();
            if schema["minimum"].as_f64().is_some_and(|min| n < min)
                || schema["maximum"].as_f64().is_some_and(|max| n > max)
            {
                problems.push(format!("{at}: {n} is out of range"));
            }
        }
        _ => {}
    }
}
