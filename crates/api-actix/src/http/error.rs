//! The contract's error body, and the guarantee that every 4xx/5xx response carries it.
//!
//! Handlers fail with [`ApiError`]. Actix's own failures (unknown route, wrong method,
//! bad JSON, oversized or mistyped bodies, bad query or path) and any other error
//! response are rewritten by [`error_body_middleware`], which also fills in `path`
//! and `requestId`, so clients see one shape whatever produced the error.
//!
//! Wiring (outermost last):
//! ```ignore
//! App::new()
//!     .app_data(json_config(64 * 1024))
//!     .app_data(query_config())
//!     .app_data(path_config())
//!     .default_service(web::to(not_found))
//!     .wrap(from_fn(error_body_middleware))
//!     .wrap(from_fn(request_id_middleware))
//! ```
//! and `web::resource(..).default_service(web::to(method_not_allowed))` where a
//! resource should say so explicitly (actix answers 405 by itself otherwise, which the
//! middleware also rewrites).

use std::fmt;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{SecondsFormat, Utc};
use paperclip::actix::{api_v2_errors, Apiv2Schema};
use serde::{Deserialize, Serialize};

use crate::http::request_id::{RequestId, WithRequestId};

/// Every `code` of the contract. The spelling is public and stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)] // each name is its own documentation; see `default_message`
pub enum ErrorCode {
    ValidationFailed,
    InvalidJson,
    WeakPassword,
    Unauthorized,
    InvalidCredentials,
    TokenExpired,
    TokenInvalid,
    SessionRevoked,
    TokenReused,
    Forbidden,
    PasswordChangeRequired,
    NotFound,
    MethodNotAllowed,
    UsernameTaken,
    EmailTaken,
    Conflict,
    LastAdmin,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    ServiceUnavailable,
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [Self; 23] = [
        Self::ValidationFailed,
        Self::InvalidJson,
        Self::WeakPassword,
        Self::Unauthorized,
        Self::InvalidCredentials,
        Self::TokenExpired,
        Self::TokenInvalid,
        Self::SessionRevoked,
        Self::TokenReused,
        Self::Forbidden,
        Self::PasswordChangeRequired,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::UsernameTaken,
        Self::EmailTaken,
        Self::Conflict,
        Self::LastAdmin,
        Self::PreconditionFailed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::ServiceUnavailable,
        Self::Internal,
    ];

    /// The contract's UPPER_SNAKE spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "VALIDATION_FAILED",
            Self::InvalidJson => "INVALID_JSON",
            Self::WeakPassword => "WEAK_PASSWORD",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::TokenInvalid => "TOKEN_INVALID",
            Self::SessionRevoked => "SESSION_REVOKED",
            Self::TokenReused => "TOKEN_REUSED",
            Self::Forbidden => "FORBIDDEN",
            Self::PasswordChangeRequired => "PASSWORD_CHANGE_REQUIRED",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::UsernameTaken => "USERNAME_TAKEN",
            Self::EmailTaken => "EMAIL_TAKEN",
            Self::Conflict => "CONFLICT",
            Self::LastAdmin => "LAST_ADMIN",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RateLimited => "RATE_LIMITED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    /// The HTTP status the contract gives this code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::ValidationFailed | Self::InvalidJson | Self::WeakPassword => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthorized
            | Self::InvalidCredentials
            | Self::TokenExpired
            | Self::TokenInvalid
            | Self::SessionRevoked
            | Self::TokenReused => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::PasswordChangeRequired => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UsernameTaken | Self::EmailTaken | Self::Conflict | Self::LastAdmin => {
                StatusCode::CONFLICT
            }
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A generic human readable message, used when nothing more specific is known.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::ValidationFailed => "The request is invalid.",
            Self::InvalidJson => "The request body is not valid JSON.",
            Self::WeakPassword => "The password is too weak.",
            Self::Unauthorized => "Authentication is required.",
            Self::InvalidCredentials => "Invalid username or password.",
            Self::TokenExpired => "The access token has expired.",
            Self::TokenInvalid => "The access token is invalid.",
            Self::SessionRevoked => "The session has been revoked.",
            Self::TokenReused => {
                "The refresh token was already used; the session has been revoked."
            }
            Self::Forbidden => "You are not allowed to do this.",
            Self::PasswordChangeRequired => "You must change your password first.",
            Self::NotFound => "The requested resource was not found.",
            Self::MethodNotAllowed => "The method is not allowed for this resource.",
            Self::UsernameTaken => "The username is already taken.",
            Self::EmailTaken => "The email address is already taken.",
            Self::Conflict => "The resource was changed concurrently; retry.",
            Self::LastAdmin => "The last active administrator cannot be removed.",
            Self::PreconditionFailed => "The resource has changed since you read it.",
            Self::PayloadTooLarge => "The request body is too large.",
            Self::UnsupportedMediaType => "The request body must be application/json.",
            Self::RateLimited => "Too many requests; retry later.",
            Self::ServiceUnavailable => "The service is temporarily unavailable.",
            Self::Internal => "An internal error occurred.",
        }
    }

    /// The code for an error response that carries no [`ApiError`], judged by status.
    /// Statuses without a contract code get the closest one (and keep their status).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            412 => Self::PreconditionFailed,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            429 => Self::RateLimited,
            503 => Self::ServiceUnavailable,
            400..=499 => Self::ValidationFailed,
            _ => Self::Internal,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

    /// Translates any actix error: an `ApiError` as is, actix's extractor errors to the
    /// contract's codes, anything else by its status with a generic message.
    pub fn from_actix(err: &actix_web::Error) -> Self {
        Self::translate(err)
            .unwrap_or_else(|| Self::for_status(err.as_response_error().status_code()))
    }

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
fn serde_detail(raw: &str, fallback_field: &str) -> FieldDetail {
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

fn render(error: &ApiError, status: StatusCode, path: &str, request_id: &str) -> HttpResponse {
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

/// Makes every 4xx/5xx response the contract's error body with `path` and `requestId`,
/// whatever produced it. Headers of the original response (`Retry-After`,
/// `WWW-Authenticate`, rate limit headers) are kept; 1xx–3xx responses pass untouched.
/// An `Err` from inner middleware stays an `Err` whose rendering is the full body.
/// Use with `actix_web::middleware::from_fn(error_body_middleware)`.
pub async fn error_body_middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // No clone of the HttpRequest may live across `next.call`: routing needs it unique.
    let path = req.path().to_owned();
    let request_id = RequestId::of(req.request());
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(err) => {
            let (error, status) = classify_error(&err);
            let kept = kept_headers(err.error_response().headers());
            return Err(CompletedError {
                error,
                status,
                path,
                request_id,
                headers: kept,
                cause: err,
            }
            .into());
        }
    };
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(res.map_into_boxed_body());
    }
    let (error, status) = match res.response().error() {
        Some(err) => classify_error(err),
        None => (ApiError::for_status(status), status),
    };
    let (req, old) = res.into_parts();
    let mut fresh = render(&error, status, &path, request_id.as_str());
    merge_headers(&mut fresh, kept_headers(old.headers()));
    Ok(ServiceResponse::new(req, fresh))
}

/// The contract error and final status for an actix error. Unknown errors keep their
/// status (so 408, 411, 502 stay what they are) and get a generic message; a 5xx cause
/// is logged here, once, since the body will not show it.
fn classify_error(err: &actix_web::Error) -> (ApiError, StatusCode) {
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

/// The headers of an error response worth keeping when its body is replaced.
fn kept_headers(headers: &header::HeaderMap) -> Vec<(header::HeaderName, header::HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                **name,
                header::CONTENT_TYPE | header::CONTENT_LENGTH | header::CONTENT_ENCODING
            )
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// Adds the kept headers (all values of multi-valued ones) to a freshly rendered
/// response, without overriding what the rendering set itself.
fn merge_headers(res: &mut HttpResponse, kept: Vec<(header::HeaderName, header::HeaderValue)>) {
    let rendered: Vec<header::HeaderName> = res.headers().keys().cloned().collect();
    for (name, value) in kept {
        if !rendered.contains(&name) {
            res.headers_mut().append(name, value);
        }
    }
}

/// An error from inner middleware, rendered as the complete contract body.
#[derive(Debug)]
struct CompletedError {
    error: ApiError,
    status: StatusCode,
    path: String,
    request_id: RequestId,
    headers: Vec<(header::HeaderName, header::HeaderValue)>,
    cause: actix_web::Error,
}

impl fmt::Display for CompletedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cause.fmt(f)
    }
}

impl ResponseError for CompletedError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = render(
            &self.error,
            self.status,
            &self.path,
            self.request_id.as_str(),
        );
        merge_headers(&mut res, self.headers.clone());
        res
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

/// The app's `default_service`: 404 `NOT_FOUND` naming no internals.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::NotFound,
        format!("No route matches {} {}.", req.method(), req.path()),
    ))
}

/// A resource's `default_service`: 405 `METHOD_NOT_ALLOWED`.
pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}.", req.method(), req.path()),
    ))
}

#[cfg(test)]
mod tests;
