//! Actix's own failures (bad JSON, oversized or mistyped bodies, bad query or path) in
//! the contract's terms, and the extractor configurations that produce them.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::web;

use super::middleware::CompletedError;
use super::{ApiError, ErrorCode, FieldDetail};
use crate::http::request_id::WithRequestId;

impl ApiError {
    /// The contract error for the errors we know, `None` for any other.
    fn translate(err: &actix_web::Error) -> Option<Self> {
        if let Some(e) = err.as_error::<Self>() {
            return Some(e.clone());
        }
        if let Some(e) = err.as_error::<CompletedError>() {
            return Some(e.error.clone());
        }
        if let Some(e) = err.as_error::<WithRequestId>() {
            return Self::translate(&e.inner);
        }
        if let Some(e) = err.as_error::<JsonPayloadError>() {
            return Some(Self::from_json_error(e));
        }
        if let Some(e) = err.as_error::<QueryPayloadError>() {
            return Some(Self::from_query_error(e));
        }
        if let Some(e) = err.as_error::<PathError>() {
            return Some(Self::from_path_error(e));
        }
        if err
            .as_error::<actix_web::error::InternalError<serde::de::value::Error>>()
            .is_some()
        {
            // Without `path_config`, actix answers a bad path with a 404 wrapping the
            // bare serde error; the contract says 400 like any other invalid input.
            return Some(Self::validation([serde_detail(&err.to_string(), "path")]));
        }
        if let Some(e) = err.as_error::<UrlencodedError>() {
            return Some(Self::from_form_error(e));
        }
        if let Some(e) = err.as_error::<actix_web::error::PayloadError>() {
            return Some(Self::from_payload_error(e));
        }
        None
    }

    /// `413`, `415`, `400 INVALID_JSON` or `400 VALIDATION_FAILED` for a JSON body.
    pub fn from_json_error(err: &JsonPayloadError) -> Self {
        match err {
            JsonPayloadError::OverflowKnownLength { limit, .. }
            | JsonPayloadError::Overflow { limit } => too_large(*limit),
            JsonPayloadError::ContentType => Self::new(
                ErrorCode::UnsupportedMediaType,
                "The request body must be sent as Content-Type: application/json.",
            ),
            JsonPayloadError::Deserialize(e) => match e.classify() {
                serde_json::error::Category::Data => {
                    Self::validation([serde_detail(&e.to_string(), "body")])
                }
                _ => Self::new(
                    ErrorCode::InvalidJson,
                    format!(
                        "The request body is not valid JSON: {}.",
                        strip_position(&e.to_string())
                    ),
                ),
            },
            JsonPayloadError::Payload(e) => Self::from_payload_error(e),
            _ => Self::internal(),
        }
    }

    /// `400 VALIDATION_FAILED` naming the query parameter when serde does.
    pub fn from_query_error(err: &QueryPayloadError) -> Self {
        match err {
            QueryPayloadError::Deserialize(e) => {
                Self::validation([serde_detail(&e.to_string(), "query")])
            }
            _ => Self::for_status(StatusCode::BAD_REQUEST),
        }
    }

    /// `400 VALIDATION_FAILED` for a path segment that does not parse.
    pub fn from_path_error(err: &PathError) -> Self {
        match err {
            PathError::Deserialize(e) => Self::validation([serde_detail(&e.to_string(), "path")]),
            _ => Self::for_status(StatusCode::BAD_REQUEST),
        }
    }

    /// Form bodies: the same rules as JSON bodies.
    pub fn from_form_error(err: &UrlencodedError) -> Self {
        match err {
            UrlencodedError::Overflow { limit, .. } => too_large(*limit),
            UrlencodedError::ContentType => Self::from_code(ErrorCode::UnsupportedMediaType),
            UrlencodedError::Parse(e) => Self::validation([serde_detail(&e.to_string(), "body")]),
            UrlencodedError::Payload(e) => Self::from_payload_error(e),
            _ => Self::for_status(StatusCode::BAD_REQUEST),
        }
    }

    fn from_payload_error(err: &actix_web::error::PayloadError) -> Self {
        match err {
            actix_web::error::PayloadError::Overflow => Self::from_code(ErrorCode::PayloadTooLarge),
            _ => Self::new(
                ErrorCode::InvalidJson,
                "The request body could not be read.",
            ),
        }
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The request body is larger than the limit of {limit} bytes."),
    )
}

/// serde_json appends ` at line 1 column 9`; clients do not need it in a field message.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => &msg[..i],
        _ => msg,
    }
}

/// The first `` `quoted` `` name after `prefix`, as serde writes field names.
fn quoted_after<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = msg.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Turns a serde data error into a field detail: the field when serde names it, and a
/// message that never repeats the rejected value (it could be a secret in a wrong place).
pub(super) fn serde_detail(raw: &str, fallback_field: &str) -> FieldDetail {
    let msg = strip_position(raw);
    if let Some(field) = quoted_after(msg, "unknown field ") {
        return FieldDetail::new(field, "is not an accepted field");
    }
    if let Some(field) = quoted_after(msg, "missing field ") {
        return FieldDetail::new(field, "is required");
    }
    if let Some(field) = quoted_after(msg, "duplicate field ") {
        return FieldDetail::new(field, "is given more than once");
    }
    let expected = msg.split_once(", expected ").map(|(_, e)| e);
    let message = match expected {
        Some(e) if msg.starts_with("invalid type") => format!("has the wrong type, expected {e}"),
        Some(e) if msg.starts_with("invalid value") => {
            format!("has an invalid value, expected {e}")
        }
        Some(e) if msg.starts_with("unknown variant") => {
            format!("has an unknown value, expected {e}")
        }
        Some(e) if msg.starts_with("invalid length") => {
            format!("has the wrong length, expected {e}")
        }
        _ if msg.starts_with("invalid type") || msg.starts_with("invalid value") => {
            "is invalid".to_owned()
        }
        _ => msg.to_owned(),
    };
    FieldDetail::new(fallback_field, message)
}

/// The contract error and final status for an actix error. Unknown errors keep their
/// status (so 408, 411, 502 stay what they are) and get a generic message; a 5xx cause
/// is logged here, once, since the body will not show it.
pub(super) fn classify_error(err: &actix_web::Error) -> (ApiError, StatusCode) {
    if let Some(api) = ApiError::translate(err) {
        let status = api.code.status();
        return (api, status);
    }
    let status = err.as_response_error().status_code();
    if status.is_server_error() {
        tracing::error!(error = %err, "request failed with an unexpected error");
    }
    if status.is_client_error() || status.is_server_error() {
        (ApiError::for_status(status), status)
    } else {
        (ApiError::internal(), StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// `JsonConfig` with a body size limit whose failures are contract errors (413, 415,
/// 400 `INVALID_JSON`, 400 `VALIDATION_FAILED`).
pub fn json_config(limit_bytes: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit_bytes)
        .error_handler(|err, _req| ApiError::from_json_error(&err).into())
}

/// `QueryConfig` whose failures are 400 `VALIDATION_FAILED`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, req| {
        let named = match &err {
            QueryPayloadError::Deserialize(e) => {
                unknown_query_value(req.query_string(), &e.to_string())
            }
            _ => None,
        };
        match named {
            Some(detail) => ApiError::validation([detail]).into(),
            None => ApiError::from_query_error(&err).into(),
        }
    })
}

/// serde names no parameter when a value is not one of an enum's (`unknown variant `X`,
/// expected ...`): the parameter is the one that holds `X` (`role`, `status`).
fn unknown_query_value(query: &str, message: &str) -> Option<FieldDetail> {
    let rest = message.strip_prefix("unknown variant `")?;
    let (variant, rest) = rest.split_once('`')?;
    let expected = rest.strip_prefix(", expected ")?;
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query).ok()?;
    let (key, _) = pairs.into_inner().into_iter().find(|(_, v)| v == variant)?;
    Some(FieldDetail::new(
        key,
        format!("has an unknown value, expected {expected}"),
    ))
}

/// `PathConfig` whose failures are 400 `VALIDATION_FAILED`.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| ApiError::from_path_error(&err).into())
}
