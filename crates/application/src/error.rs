//! The application error: every way a use case can fail, named in the contract's terms.
//! The HTTP edge maps it once, exhaustively.

use domain::password::PasswordError;
use domain::{FieldError, RepoError};

/// A use case failure.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input failed validation; one entry per bad field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A new password was judged too weak; the estimator's feedback per item.
    #[error("password is too weak")]
    WeakPassword {
        /// The field that held the password.
        field: String,
        /// The estimator's warning and suggestions.
        feedback: Vec<String>,
    },
    /// No usable authentication was presented.
    #[error("authentication required")]
    Unauthorized,
    /// Wrong password, unknown, blocked, deleted or locked account: indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The access or refresh token is past its lifetime.
    #[error("token expired")]
    TokenExpired,
    /// The token is malformed, forged or unknown.
    #[error("token invalid")]
    TokenInvalid,
    /// The token's session was revoked or has ended.
    #[error("session revoked")]
    SessionRevoked,
    /// A spent refresh token was presented again; its session is now revoked.
    #[error("refresh token reused")]
    TokenReused,
    /// Signed in, but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// The caller must change their password first.
    #[error("password change required")]
    PasswordChangeRequired,
    /// No such resource (or not visible to the caller).
    #[error("not found")]
    NotFound,
    /// The username is taken.
    #[error("username is taken")]
    UsernameTaken,
    /// The email is taken.
    #[error("email is taken")]
    EmailTaken,
    /// The change conflicts with the resource's current state.
    #[error("{0}")]
    Conflict(&'static str),
    /// The change would leave no active admin, or an admin would remove themselves.
    #[error("{0}")]
    LastAdmin(&'static str),
    /// `If-Match` no longer matches.
    #[error("the resource has changed")]
    PreconditionFailed,
    /// A dependency is unreachable; retry later.
    #[error("service unavailable")]
    Unavailable(String),
    /// A bug or an unexpected state; details are logged, never shown.
    #[error("internal error")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// A single-field validation failure.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// A password policy failure reported under `field`.
    pub fn password(field: &str, err: PasswordError) -> Self {
        match err {
            PasswordError::Weak { feedback } => Self::WeakPassword {
                field: field.to_owned(),
                feedback,
            },
            other => Self::invalid(field, other.to_string()),
        }
    }
}

impl From<RepoError> for AppError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::UsernameTaken => Self::UsernameTaken,
            RepoError::EmailTaken => Self::EmailTaken,
            RepoError::Conflict => Self::Conflict("the resource was changed concurrently; retry"),
            RepoError::NotFound => Self::NotFound,
            RepoError::InvalidCursor => Self::invalid("cursor", "is not a cursor of this list"),
            RepoError::Unavailable(cause) => Self::Unavailable(cause),
            RepoError::Unknown(cause) => Self::Internal(cause),
        }
    }
}

impl From<FieldError> for AppError {
    fn from(err: FieldError) -> Self {
        Self::Validation(vec![err])
    }
}

impl From<domain::error::ServiceError> for AppError {
    fn from(err: domain::error::ServiceError) -> Self {
        Self::Internal(Box::new(err))
    }
}

/// Collects field errors from several independent validations.
#[derive(Default)]
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    /// Keeps the value, or records its error.
    pub(crate) fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.0.push(err);
                None
            }
        }
    }

    /// The recorded errors as one validation failure.
    pub(crate) fn into_error(self) -> AppError {
        AppError::Validation(self.0)
    }

    /// Fails when anything was recorded.
    pub(crate) fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.0))
        }
    }
}
