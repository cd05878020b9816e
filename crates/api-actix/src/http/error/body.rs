//! The error body and [`ApiError`], the error handlers report; rendering a response.

use std::fmt;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chrono::{SecondsFormat, Utc};
use paperclip::actix::{api_v2_errors, Apiv2Schema};
use serde::{Deserialize, Serialize};

use super::ErrorCode;

/// One invalid input field: a `details` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Apiv2Schema)]
pub struct FieldDetail {
    /// The field as the client spells it (`username`, `users[3].email`).
    pub field: String,
    /// Why, never echoing a secret.
    pub message: String,
}

impl FieldDetail {
    /// Builds a detail.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<domain::error::FieldError> for FieldDetail {
    fn from(e: domain::error::FieldError) -> Self {
        Self {
            field: e.field,
            message: e.message,
        }
    }
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status, repeated for clients that only see the body.
    pub status_code: u16,
    /// The status's reason phrase (`Bad Request`).
    pub error: String,
    /// The machine-readable code.
    pub code: ErrorCode,
    /// Human readable explanation.
    pub message: String,
    /// Per-field problems, present for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<FieldDetail>>,
    /// When, RFC 3339 UTC to the second (`2026-11-24T10:00:00Z`).
    pub timestamp: String,
    /// The request path (without the query).
    pub path: String,
    /// The request's `X-Request-ID`.
    pub request_id: String,
}

/// A failed request as handlers report it. Its response is completed (path, request id)
/// by [`error_body_middleware`]. In the OpenAPI document every operation returning it
/// lists the common error statuses with the [`ErrorBody`] schema; add the
/// operation-specific ones (409, 412, ...) where the route is declared.
#[derive(Debug, Clone, PartialEq, Eq)]
#[api_v2_errors(
    code = 400,
    description = "Invalid input: VALIDATION_FAILED (with details), INVALID_JSON, WEAK_PASSWORD",
    code = 401,
    description = "Not signed in: UNAUTHORIZED, INVALID_CREDENTIALS, TOKEN_EXPIRED, TOKEN_INVALID, SESSION_REVOKED, TOKEN_REUSED",
    code = 403,
    description = "Not allowed: FORBIDDEN, PASSWORD_CHANGE_REQUIRED",
    code = 404,
    description = "NOT_FOUND",
    code = 429,
    description = "RATE_LIMITED, with Retry-After",
    code = 500,
    description = "INTERNAL",
    code = 503,
    description = "SERVICE_UNAVAILABLE",
    default_schema = "ErrorBody"
)]
pub struct ApiError {
    /// The contract code; it decides the status.
    pub code: ErrorCode,
    /// Human readable explanation; for `INTERNAL` always the generic message.
    pub message: String,
    /// Per-field problems.
    pub details: Option<Vec<FieldDetail>>,
    /// Seconds for the `Retry-After` header (rate limits, unavailability).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with its own message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = match code {
            // Whatever the caller passed, an internal error shows nothing internal.
            ErrorCode::Internal => code.default_message().to_owned(),
            _ => message.into(),
        };
        Self {
            code,
            message,
            details: None,
            retry_after: None,
        }
    }

    /// An error with the code's generic message.
    pub fn from_code(code: ErrorCode) -> Self {
        Self::new(code, code.default_message())
    }

    /// `VALIDATION_FAILED` with the given field problems.
    pub fn validation(details: impl IntoIterator<Item = FieldDetail>) -> Self {
        Self::from_code(ErrorCode::ValidationFailed).with_details(details)
    }

    /// `INTERNAL`, with the generic message. Log the cause where it is known.
    pub fn internal() -> Self {
        Self::from_code(ErrorCode::Internal)
    }

    /// The same error with field details.
    #[must_use]
    pub fn with_details(mut self, details: impl IntoIterator<Item = FieldDetail>) -> Self {
        self.details = Some(details.into_iter().collect());
        self
    }

    /// The same error with a `Retry-After` of `seconds`.
    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The body for a request at `path` with id `request_id`, stamped now.
    pub fn body(&self, path: &str, request_id: &str) -> ErrorBody {
        self.body_with_status(self.code.status(), path, request_id)
    }

    fn body_with_status(&self, status: StatusCode, path: &str, request_id: &str) -> ErrorBody {
        ErrorBody {
            status_code: status.as_u16(),
            error: status.canonical_reason().unwrap_or("Error").to_owned(),
            code: self.code,
            message: self.message.clone(),
            details: self.details.clone(),
            timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            path: path.to_owned(),
            request_id: request_id.to_owned(),
        }
    }
    /// The generic error for a status (see [`ErrorCode::for_status`]).
    pub fn for_status(status: StatusCode) -> Self {
        let code = ErrorCode::for_status(status);
        let error = Self::from_code(code);
        if code == ErrorCode::ValidationFailed {
            let what = status
                .canonical_reason()
                .unwrap_or("The request is invalid");
            return error.with_details([FieldDetail::new("request", what)]);
        }
        error
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    /// The body without `path` / `requestId`; [`error_body_middleware`] completes it.
    fn error_response(&self) -> HttpResponse {
        render(self, self.code.status(), "", "")
    }
}

/// The response for `error` with `status`, stamped now.
pub(super) fn render(
    error: &ApiError,
    status: StatusCode,
    path: &str,
    request_id: &str,
) -> HttpResponse {
    let body = error.body_with_status(status, path, request_id);
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, "application/json"));
    if let Some(seconds) = error.retry_after {
        res.insert_header((header::RETRY_AFTER, seconds));
    }
    match serde_json::to_string(&body) {
        Ok(json) => res.body(json),
        Err(_) => res.body(r#"{"code":"INTERNAL"}"#),
    }
}
