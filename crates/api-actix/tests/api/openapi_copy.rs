//! The Rust client's copy of the OpenAPI document (`crates/client/openapi.json`) is the
//! document the server serves: the client is generated from the copy, so a copy that
//! lags behind gives a client that disagrees with the server.

use serde_json::Value;

use crate::helpers::TestApp;

/// The copy, from this crate's directory.
const COPY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../client/openapi.json");

/// How to refresh the copy, for the failure message and the README.
const REFRESH: &str = "EMS_UPDATE_OPENAPI=1 cargo xtask test -- openapi_copy";

/// The JSON pointer of the first place where `a` and `b` differ, `None` when equal.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            keys.into_iter().find_map(|key| {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => first_difference(x, y, &here),
                    _ => Some(here),
                }
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{at}/{i}"))),
        _ => (a != b).then(|| at.to_owned()),
    }
}

#[actix_rt::test]
async fn the_clients_copy_of_the_openapi_document_is_the_served_one() {
    let app = TestApp::spawn().await;

    let served = app.call("GET", "/api/docs/openapi.json", None, None).await;

    assert_eq!(served.status, 200);
    if std::env::var("EMS_UPDATE_OPENAPI").as_deref() == Ok("1") {
        let text = serde_json::to_string_pretty(&served.body).unwrap() + "\n";
        std::fs::write(COPY, text).unwrap();
    }
    let copy: Value = serde_json::from_str(&std::fs::read_to_string(COPY).unwrap()).unwrap();
    let difference = first_difference(&served.body, &copy, "");
    assert!(
        difference.is_none(),
        "crates/client/openapi.json differs from the served document at `{}`: \
         refresh it with `{REFRESH}` and commit it (the client is regenerated from it)",
        difference.unwrap_or_default()
    );
}

#[test]
fn first_difference_names_the_pointer_of_the_first_change() {
    let a = serde_json::json!({ "paths": { "/a/b": { "get": [1, 2] } }, "x": 1 });
    let changed = serde_json::json!({ "paths": { "/a/b": { "get": [1, 3] } }, "x": 1 });
    let extra = serde_json::json!({ "paths": { "/a/b": { "get": [1, 2] } }, "x": 1, "y": 2 });

    assert_eq!(first_difference(&a, &a, ""), None);
    assert_eq!(
        first_difference(&a, &changed, "").as_deref(),
        Some("/paths/~1a~1b/get/1")
    );
    assert_eq!(first_difference(&a, &extra, "").as_deref(), Some("/y"));
}
