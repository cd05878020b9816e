//! Every `code` of the contract: its spelling, status and generic message.

use std::fmt;

use actix_web::http::StatusCode;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

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
