//! The headers the document puts on every operation where the server sends them, beside
//! the rate-limit ones: `X-Request-ID` on every response (and accepted on every request),
//! `Retry-After` on 503 as on 429, and the `ETag` a 304 repeats.

use serde_json::{json, Value};

/// Declares `X-Request-ID` once, as a response header and as a request parameter.
pub fn components(spec: &mut Value) {
    spec["components"]["headers"]["X-Request-ID"] = json!({
        "description": "The request's id: the client's own `X-Request-ID` when it sent a sane \
                        one (1–128 characters of `[A-Za-z0-9._-]`), otherwise a fresh UUID; \
                        also in error bodies (`requestId`) and the server's logs",
        "required": true,
        "schema": { "type": "string", "minLength": 1, "maxLength": 128 },
    });
    spec["components"]["parameters"]["X-Request-ID"] = json!({
        "name": "X-Request-ID",
        "in": "header",
        "required": false,
        "description": "An id of the client's choosing to correlate logs; replaced by a \
                        fresh UUID unless it is 1–128 characters of `[A-Za-z0-9._-]`",
        "schema": { "type": "string" },
        "example": "checkout-7f3a",
    });
}

/// Adds the headers to every response of `op`, and the request id parameter.
pub fn add(op: &mut Value) {
    if let Some(params) = op
        .as_object_mut()
        .map(|op| op.entry("parameters").or_insert_with(|| json!([])))
    {
        if let Some(params) = params.as_array_mut() {
            params.push(json!({ "$ref": "#/components/parameters/X-Request-ID" }));
        }
    }
    let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
        return;
    };
    let reference = |name: &str| json!({ "$ref": format!("#/components/headers/{name}") });
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let headers = response.entry("headers").or_insert_with(|| json!({}));
        headers["X-Request-ID"] = reference("X-Request-ID");
        match status.as_str() {
            "503" => headers["Retry-After"] = reference("Retry-After"),
            "304" => {
                headers["ETag"] = json!({
                    "description": "The entity tag that matched",
                    "schema": { "type": "string" },
                });
            }
            _ => {}
        }
    }
}
