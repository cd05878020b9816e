//! Errors shared by value types and ports.

use std::fmt;

/// One invalid input field and why: what the edge shows as a `details` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the client spells it (`username`, `users[3].email`).
    pub field: String,
    /// A human readable reason that never echoes a secret.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// What a repository or transaction port can fail with. Adapters translate their
/// infrastructure errors into these; nothing infrastructural crosses into the core.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A unique username constraint was hit.
    #[error("username is taken")]
    UsernameTaken,
    /// A unique email constraint was hit.
    #[error("email is taken")]
    EmailTaken,
    /// The row changed since it was read (optimistic concurrency).
    #[error("the record was changed concurrently")]
    Conflict,
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// A pagination cursor that this store did not issue, or for another sort.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The store cannot be reached or did not answer in time; retrying later may work.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or an unexpected state of the store.
    #[error(transparent)]
    Unknown(Box<dyn std::error::Error + Send + Sync>),
}

/// A failure of a service port (hasher, token signer) that is not the caller's fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServiceError(pub String);
