//! The operations paperclip does not see, written out by hand: `/metrics` (for
//! Prometheus, answering text), this document, and the explorer with its files.

use serde_json::{json, Value};

use super::{asset_names, error_response, ASSET_PATH, SPEC_PATH, UI_PATH};

/// An error response of `status` described by `description`.
fn error(status: u16, operation_id: &str, path: &str, description: &str) -> Value {
    let mut response = error_response();
    response["description"] = description.into();
    if let Some(example) = super::examples::error(status, operation_id, path) {
        response["content"]["application/json"]["example"] = example;
    }
    response
}

/// The start of a scrape, as `/metrics` renders it.
const METRICS_EXAMPLE: &str = "\
# HELP http_requests_total HTTP requests answered
# TYPE http_requests_total counter
http_requests_total{method=\"GET\",route=\"/api/v1/profile\",status=\"200\"} 42
# HELP ems_active_users Distinct users with at least one active session
# TYPE ems_active_users gauge
ems_active_users 7
";

/// Adds the operations to `spec`'s paths, and the metrics token's security scheme.
pub fn add_paths(spec: &mut Value) {
    spec["components"]["securitySchemes"]["metricsToken"] = json!({
        "type": "http",
        "scheme": "bearer",
        "description": "The server's METRICS_TOKEN; needed only when it is set",
    });
    let paths = &mut spec["paths"];
    paths["/metrics"] = json!({ "get": {
        "tags": ["Operations"],
        "operationId": "metrics",
        "summary": "Prometheus metrics",
        "description": "The Prometheus text exposition: request counts and durations by \
                        method, route template and status, login outcomes, active users, \
                        database pool and query timings, process CPU and memory. Needs \
                        `Authorization: Bearer <METRICS_TOKEN>` when that is set; 404 when \
                        `METRICS_ENABLED=false`.",
        "security": [{}, { "metricsToken": [] }],
        "responses": {
            "200": {
                "description": "The scrape",
                "content": { "text/plain": {
                    "schema": { "type": "string" },
                    "example": METRICS_EXAMPLE,
                }},
            },
            "401": error(401, "metrics", "/metrics", "UNAUTHORIZED: METRICS_TOKEN is set and was not presented"),
            "404": error(404, "metrics", "/metrics", "NOT_FOUND: metrics are disabled (METRICS_ENABLED=false)"),
            "500": error(500, "metrics", "/metrics", "INTERNAL"),
        },
    }});
    paths[SPEC_PATH] = json!({ "get": {
        "tags": ["Operations"],
        "operationId": "openapi",
        "summary": "This OpenAPI document",
        "description": "The OpenAPI 3.0 document of every route the server answers, rendered \
                        once at start.",
        "responses": {
            "200": {
                "description": "The document (the example is abridged)",
                "content": { "application/json": {
                    "schema": { "type": "object" },
                    "example": {
                        "openapi": "3.0.0",
                        "info": { "title": "EMS API", "version": env!("CARGO_PKG_VERSION") },
                    },
                }},
            },
            "500": error(500, "openapi", SPEC_PATH, "INTERNAL: the document could not be rendered"),
        },
    }});
    paths[UI_PATH] = json!({ "get": {
        "tags": ["Operations"],
        "operationId": "explorer",
        "summary": "The API explorer",
        "description": "Redirects to the bundled Swagger UI pointed at this document (also \
                        at `/api/docs/`). Nothing is loaded from elsewhere.",
        "responses": {
            "302": {
                "description": "To the explorer's page",
                "headers": { "Location": {
                    "description": "The explorer's page with this document's URL",
                    "schema": { "type": "string" },
                    "example": format!("{UI_PATH}/index.html?url={SPEC_PATH}&validatorUrl=none"),
                }},
            },
        },
    }});
    let file = |media_type: &str| {
        (
            media_type.to_owned(),
            json!({ "schema": { "type": "string", "format": "binary" } }),
        )
    };
    let media: serde_json::Map<String, Value> = [
        "text/html",
        "text/css",
        "text/javascript",
        "text/plain",
        "image/png",
    ]
    .into_iter()
    .map(file)
    .collect();
    paths[ASSET_PATH] = json!({ "get": {
        "tags": ["Operations"],
        "operationId": "explorerFile",
        "summary": "A file of the API explorer",
        "description": "The bundled Swagger UI's pages, scripts, styles, source maps and \
                        icons; any other name is 404.",
        "parameters": [{
            "name": "filename",
            "in": "path",
            "required": true,
            "schema": { "type": "string", "enum": asset_names() },
            "example": "index.html",
        }],
        "responses": {
            "200": { "description": "The file", "content": media },
            "404": error(404, "explorerFile", "/api/docs/nope.js", "NOT_FOUND: not a file of the explorer"),
        },
    }});
}
