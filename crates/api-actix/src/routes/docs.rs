//! The OpenAPI 3 document (`/api/docs/openapi.json`) and the Swagger UI explorer
//! (`/api/docs`), whose assets ship inside paperclip: nothing is fetched at run time.

use actix_web::http::header;
use actix_web::HttpResponse;
use domain::page::{Limit, Offset};
use domain::password::NewPassword;
use domain::user::{DisplayName, Username};
use paperclip::actix::{api_v2_operation, web, HttpResponseWrapper};
use paperclip::v2::models::{DefaultApiRaw, Info, Tag};

use crate::http::error::ApiError;

mod examples;
mod headers;
mod operational;

/// Where the document is served.
pub const SPEC_PATH: &str = "/api/docs/openapi.json";
/// Where the explorer is served.
pub const UI_PATH: &str = "/api/docs";
/// Where the explorer's bundled files are served, as the document spells it.
pub const ASSET_PATH: &str = "/api/docs/{filename}";

/// Files of the Swagger UI bundled in paperclip-actix; paperclip's own handler panics
/// on any other name, so those are answered 404 before it sees them.
const SWAGGER_FILES: &[&str] = &[
    "index.html",
    "oauth2-redirect.html",
    "favicon-16x16.png",
    "favicon-32x32.png",
    "swagger-ui.css",
    "swagger-ui.css.map",
    "swagger-ui.js",
    "swagger-ui.js.map",
    "swagger-ui-bundle.js",
    "swagger-ui-bundle.js.map",
    "swagger-ui-es-bundle.js",
    "swagger-ui-es-bundle.js.map",
    "swagger-ui-es-bundle-core.js",
    "swagger-ui-es-bundle-core.js.map",
    "swagger-ui-standalone-preset.js",
    "swagger-ui-standalone-preset.js.map",
];

fn tag(name: &str, description: &str) -> Tag {
    Tag {
        name: name.into(),
        description: Some(description.into()),
        external_docs: None,
    }
}

/// Title, version and tags of the document.
pub fn spec_defaults() -> DefaultApiRaw {
    let info = Info {
        title: "EMS API".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: Some(
            "User, session and access management. Errors share one body: \
             {statusCode, error, code, message, details?, timestamp, path, requestId}."
                .into(),
        ),
        ..Default::default()
    };
    let tags = vec![
        tag("Auth", "Sign-in, token rotation and sign-out"),
        tag("Profile", "The signed-in user about themselves"),
        tag(
            "Sessions",
            "The signed-in user's sessions, and every session of a user for admins",
        ),
        tag("Users", "Admin user management"),
        tag("Audit", "The tamper-evident audit log (admins)"),
        tag(
            "Operations",
            "Health, signing keys, metrics, and this document with its explorer",
        ),
    ];
    DefaultApiRaw {
        info,
        tags,
        ..DefaultApiRaw::default()
    }
}

/// Post-processes paperclip's v3 output into what the server really does: bearer auth as
/// an `http` scheme (paperclip can only emit apiKey), response headers with a schema
/// instead of an empty `content`, optional fields marked nullable (they serialize as
/// `null`), and each operation's own error responses rather than one list for all.
pub fn finish_v3(spec: &mut serde_json::Value) {
    spec["components"]["securitySchemes"]["bearerAuth"] = serde_json::json!({
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Access token from POST /api/v1/auth/login or /auth/refresh",
    });
    mark_optional_nullable(spec);
    tighten_requests(spec);
    rate_limit_components(spec);
    headers::components(spec);
    operational::add_paths(spec);
    let error_response = error_response();
    let Some(paths) = spec.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let operations = paths
        .iter_mut()
        .filter_map(|(path, item)| Some((path.clone(), item.as_object_mut()?)))
        .flat_map(|(path, item)| item.values_mut().map(move |op| (path.clone(), op)));
    for (path, op) in operations {
        require_path_parameters(op);
        fix_headers(op);
        fix_errors(op, &error_response);
        rate_limit_headers(op, &error_response);
        if op["operationId"] == "exportUsers" {
            // `format=csv` streams text/csv, `format=json` an array of users.
            op["responses"]["200"]["content"] = serde_json::json!({
                "text/csv": {
                    "schema": { "type": "string" },
                    "example": examples::users_csv(&super::export::CSV_HEADER),
                },
                "application/json": {
                    "schema": { "type": "array", "items": { "$ref": "#/components/schemas/UserDto" } },
                    "example": [examples::response("UserDto")],
                },
            });
        }
        headers::add(op);
        add_examples(op, &path);
    }
}

/// OpenAPI 3.0: a path parameter must say `required: true`; paperclip leaves it out on
/// some operations (generators such as progenitor refuse the document then).
fn require_path_parameters(op: &mut serde_json::Value) {
    let params = op.get_mut("parameters").and_then(|p| p.as_array_mut());
    for param in params.into_iter().flatten() {
        if param["in"] == "path" {
            param["required"] = serde_json::Value::Bool(true);
        }
    }
}

/// Puts an example on every request body, notable parameter and response body of `op`
/// (at `path`) that has none yet (see [`examples`]).
fn add_examples(op: &mut serde_json::Value, path: &str) {
    let id = op["operationId"].as_str().unwrap_or_default().to_owned();
    if let Some(content) = op.pointer_mut("/requestBody/content/application~1json") {
        if let Some(example) = schema_name(content).and_then(|n| examples::request(&n)) {
            content["example"] = example;
        }
    }
    for param in op
        .get_mut("parameters")
        .and_then(|p| p.as_array_mut())
        .into_iter()
        .flatten()
    {
        if let Some(example) = param["name"].as_str().and_then(examples::parameter) {
            param["example"] = example;
        }
    }
    let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let Some(content) = response
            .pointer_mut("/content/application~1json")
            .filter(|c| c.get("example").is_none())
        else {
            continue;
        };
        let example = match status.parse::<u16>() {
            Ok(code @ 400..) => examples::error(code, &id, path),
            _ if id == "jwks" => Some(examples::jwks()),
            _ => schema_name(content).and_then(|n| examples::response(&n)),
        };
        if let Some(example) = example {
            content["example"] = example;
        }
    }
}

/// The `components/schemas` name a media type's schema refers to.
fn schema_name(content: &serde_json::Value) -> Option<String> {
    content
        .pointer("/schema/$ref")
        .and_then(|r| r.as_str())
        .and_then(|r| r.rsplit('/').next())
        .map(str::to_owned)
}

fn fix_headers(op: &mut serde_json::Value) {
    let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
        return;
    };
    let headers = responses
        .values_mut()
        .filter_map(|r| r.get_mut("headers").and_then(|h| h.as_object_mut()))
        .flat_map(|h| h.values_mut())
        .filter_map(|h| h.as_object_mut());
    for h in headers {
        if h.get("content")
            .is_some_and(|c| c.as_object().is_some_and(|m| m.is_empty()))
        {
            h.remove("content");
            h.insert("schema".into(), serde_json::json!({ "type": "string" }));
        }
    }
}

/// The rate limit headers (ADR 0011), declared once under `components/headers`.
const RATE_LIMIT_HEADERS: [(&str, &str); 3] = [
    (
        "RateLimit-Limit",
        "Requests a minute this client may make in the tightest of the route's budgets",
    ),
    (
        "RateLimit-Remaining",
        "Requests left in that budget right now",
    ),
    (
        "RateLimit-Reset",
        "Seconds until that budget is whole again (on 429: until a retry passes)",
    ),
];

/// Declares the rate limit headers once, for [`rate_limit_headers`] to refer to.
fn rate_limit_components(spec: &mut serde_json::Value) {
    for (name, description) in RATE_LIMIT_HEADERS {
        spec["components"]["headers"][name] = serde_json::json!({
            "description": description,
            "schema": { "type": "integer", "minimum": 0 },
        });
    }
    spec["components"]["headers"]["Retry-After"] = serde_json::json!({
        "description": "Seconds to wait before retrying",
        "required": true,
        "schema": { "type": "integer", "minimum": 1 },
    });
}

/// Every route is rate limited: each operation may answer 429 with `Retry-After`, and
/// each of its responses carries the `RateLimit-*` headers.
fn rate_limit_headers(op: &mut serde_json::Value, error_response: &serde_json::Value) {
    let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
        return;
    };
    responses.entry("429").or_insert_with(|| {
        let mut response = error_response.clone();
        response["description"] = "RATE_LIMITED, with Retry-After".into();
        response
    });
    let reference =
        |name: &str| serde_json::json!({ "$ref": format!("#/components/headers/{name}") });
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let headers = response
            .entry("headers")
            .or_insert_with(|| serde_json::json!({}));
        for (name, _) in RATE_LIMIT_HEADERS {
            headers[name] = reference(name);
        }
        if status == "429" {
            headers["Retry-After"] = reference("Retry-After");
        }
    }
}

/// Error codes an operation can answer beyond the common ones, by operation id.
fn extra_errors(operation_id: &str) -> &'static [(&'static str, &'static str)] {
    const TAKEN: (&str, &str) = ("409", "USERNAME_TAKEN, EMAIL_TAKEN, CONFLICT or LAST_ADMIN");
    match operation_id {
        "createUser" | "updateProfile" | "deleteUser" | "restoreUser" | "anonymizeUser" => &[TAKEN],
        "updateUser" => &[
            TAKEN,
            ("412", "PRECONDITION_FAILED: If-Match no longer matches"),
        ],
        _ => &[],
    }
}

/// The response every documented error status has: the contract's error body (each use
/// sets its own description).
fn error_response() -> serde_json::Value {
    serde_json::json!({
        "description": "",
        "content": {
            "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } }
        },
    })
}

fn fix_errors(op: &mut serde_json::Value, error_response: &serde_json::Value) {
    let id = op["operationId"].as_str().unwrap_or_default().to_owned();
    let public = op.get("security").is_none();
    let has_body = op.get("requestBody").is_some();
    let no_input = matches!(id.as_str(), "health" | "ready" | "jwks");
    // Signed in, but nothing to validate and nothing to find.
    let no_parameters = no_input || id == "healthDetailed";
    let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
        return;
    };
    if public {
        responses.remove("403");
    }
    if no_parameters {
        for code in ["400", "404"] {
            responses.remove(code);
        }
    }
    if no_input {
        responses.remove("401");
    }
    let mut add = |code: &str, description: &str| {
        let mut response = error_response.clone();
        response["description"] = description.into();
        responses.insert(code.to_owned(), response);
    };
    if has_body {
        add("413", "PAYLOAD_TOO_LARGE");
        add(
            "415",
            "UNSUPPORTED_MEDIA_TYPE: the body must be application/json",
        );
    }
    for (code, description) in extra_errors(&id) {
        add(code, description);
    }
}

/// Says in the document what the server enforces on input: request bodies refuse
/// unknown fields, page parameters have ranges, the constrained fields their lengths, and
/// a nullable enum lists `null` among its values. The bounds are the domain value types'
/// own constants, so the document cannot drift from what is checked.
fn tighten_requests(spec: &mut serde_json::Value) {
    let mut bodies = Vec::new();
    if let Some(paths) = spec.get_mut("paths").and_then(|p| p.as_object_mut()) {
        let operations = paths
            .values_mut()
            .filter_map(|item| item.as_object_mut())
            .flat_map(|item| item.values_mut());
        for op in operations {
            if let Some(name) = op
                .pointer("/requestBody/content/application~1json/schema/$ref")
                .and_then(|r| r.as_str())
                .and_then(|r| r.rsplit('/').next())
            {
                bodies.push(name.to_owned());
            }
            let params = op.get_mut("parameters").and_then(|p| p.as_array_mut());
            for param in params.into_iter().flatten() {
                let range = match param["name"].as_str() {
                    Some("limit") => Some((u64::from(Limit::MIN), u64::from(Limit::MAX))),
                    Some("offset") => Some((Offset::ZERO.get(), Offset::MAX)),
                    _ => None,
                };
                if let (Some((min, max)), Some(schema)) = (range, param.get_mut("schema")) {
                    schema["minimum"] = min.into();
                    schema["maximum"] = max.into();
                }
            }
        }
    }
    let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    else {
        return;
    };
    for (name, schema) in schemas.iter_mut() {
        if bodies.contains(name) {
            schema["additionalProperties"] = serde_json::Value::Bool(false);
            // A login takes any strings and answers 401, never a 400, for a bad pair.
            if name != "LoginRequest" {
                constrain_fields(schema);
            }
        }
        null_in_nullable_enums(schema);
    }
}

/// Lengths and patterns of the fields the domain value types check.
fn constrain_fields(schema: &mut serde_json::Value) {
    let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for (name, prop) in props.iter_mut() {
        let rules = match name.as_str() {
            "username" => serde_json::json!({
                "minLength": Username::MIN_CHARS,
                "maxLength": Username::MAX_CHARS,
                "pattern": "^[A-Za-z0-9._-]+$",
            }),
            "displayName" => serde_json::json!({
                "minLength": DisplayName::MIN_CHARS,
                "maxLength": DisplayName::MAX_CHARS,
            }),
            "password" | "newPassword" => serde_json::json!({
                "minLength": NewPassword::MIN_CHARS,
                "maxLength": NewPassword::MAX_CHARS,
            }),
            _ => continue,
        };
        if let (Some(prop), Some(rules)) = (prop.as_object_mut(), rules.as_object()) {
            prop.extend(rules.clone());
        }
    }
}

/// OpenAPI 3.0: an enum restricts nullable values too, so `null` must be listed.
fn null_in_nullable_enums(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let nullable = map.get("nullable") == Some(&serde_json::Value::Bool(true));
            if let (true, Some(values)) =
                (nullable, map.get_mut("enum").and_then(|e| e.as_array_mut()))
            {
                if !values.contains(&serde_json::Value::Null) {
                    values.push(serde_json::Value::Null);
                }
            }
            map.values_mut().for_each(null_in_nullable_enums);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(null_in_nullable_enums),
        _ => {}
    }
}

/// Marks every property that an object schema does not require as nullable.
fn mark_optional_nullable(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let required: Vec<String> = map
                .get("required")
                .and_then(|r| r.as_array())
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(props) = map.get_mut("properties").and_then(|p| p.as_object_mut()) {
                for (name, prop) in props.iter_mut() {
                    if !required.contains(name) && prop.get("$ref").is_none() {
                        prop["nullable"] = serde_json::Value::Bool(true);
                    }
                }
            }
            map.values_mut().for_each(mark_optional_nullable);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mark_optional_nullable),
        _ => {}
    }
}

/// The finished document as the bytes served, or `None` (logged once, at start) should it
/// not serialise: then the route answers 500 rather than an empty document.
pub fn render_spec(spec: &serde_json::Value) -> Option<web::Bytes> {
    match serde_json::to_vec(spec) {
        Ok(bytes) => Some(web::Bytes::from(bytes)),
        Err(err) => {
            tracing::error!(error = %err, "the OpenAPI document does not serialise");
            None
        }
    }
}

/// Serves the rendered document (see [`render_spec`]).
pub async fn serve_spec(body: Option<web::Bytes>) -> HttpResponseWrapper {
    HttpResponseWrapper(match body {
        Some(body) => HttpResponse::Ok()
            .content_type("application/json")
            .body(body),
        None => HttpResponse::from_error(ApiError::internal()),
    })
}

/// `/api/docs` → the explorer, pointed at the v3 document, with no external validator.
#[api_v2_operation(skip)]
pub async fn explorer_redirect() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            format!("{UI_PATH}/index.html?url={SPEC_PATH}&validatorUrl=none"),
        ))
        .finish()
}

#[api_v2_operation(skip)]
async fn unknown_asset() -> HttpResponse {
    HttpResponse::NotFound().finish()
}

/// The names of the explorer's bundled files, for the document.
pub fn asset_names() -> &'static [&'static str] {
    SWAGGER_FILES
}

/// 404 for every explorer path that is not exactly a bundled file (`/api/docs/x/index.html`
/// too: paperclip would look that name up and panic).
pub fn unknown_assets() -> web::Resource {
    web::resource(format!("{UI_PATH}/{{filename:.*}}").as_str())
        .guard(actix_web::guard::fn_guard(|ctx| {
            let path = ctx.head().uri.path();
            let file = path
                .strip_prefix(UI_PATH)
                .and_then(|rest| rest.strip_prefix('/'))
                .unwrap_or(path);
            !SWAGGER_FILES.contains(&file)
        }))
        .route(web::get().to(unknown_asset))
}
