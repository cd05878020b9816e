//! The one place where diesel, deadpool and PostgreSQL errors become [`RepoError`]s.
//!
//! Only messages are kept, never a database error's `detail`: PostgreSQL puts row values
//! there ("Failing row contains (..)", "Key (..)=(..) already exists"), and those can hold
//! personal data or a password hash.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;
use diesel_async::pooled_connection::PoolError as ManagerError;
use domain::RepoError;

/// Unique index of the case-insensitive username.
pub(crate) const USERNAME_KEY: &str = "users_username_lower_key";
/// Unique partial index of the case-insensitive email.
pub(crate) const EMAIL_KEY: &str = "users_email_lower_key";

/// An unexpected store failure: what it was doing and the database's message. The cause
/// carried by `RepoError::Unknown`; safe to log.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {message}")]
pub(crate) struct StoreFailure {
    context: &'static str,
    message: String,
}

impl StoreFailure {
    /// A failure with its context.
    pub(crate) fn new(context: &'static str, message: impl Into<String>) -> Self {
        Self {
            context,
            message: message.into(),
        }
    }
}

impl From<StoreFailure> for RepoError {
    fn from(f: StoreFailure) -> Self {
        RepoError::Unknown(Box::new(f))
    }
}

/// Maps a query error. `context` names the operation for the `Unknown` case.
pub(crate) fn query_error(context: &'static str, e: DieselError) -> RepoError {
    match e {
        DieselError::NotFound => RepoError::NotFound,
        DieselError::DatabaseError(kind, info) => {
            let message = info.message();
            match kind {
                DatabaseErrorKind::UniqueViolation => match info.constraint_name() {
                    Some(USERNAME_KEY) => RepoError::UsernameTaken,
                    Some(EMAIL_KEY) => RepoError::EmailTaken,
                    _ => StoreFailure::new(context, message).into(),
                },
                DatabaseErrorKind::SerializationFailure => RepoError::Conflict,
                DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection => {
                    RepoError::Unavailable(message.to_owned())
                }
                // diesel-async reports other SQLSTATEs as `Unknown` and keeps only the
                // message, so the few transient ones are recognised by PostgreSQL's
                // (English, lc_messages=C) wording; a miss only degrades 503 to 500.
                _ if is_deadlock(message) => RepoError::Conflict,
                _ if is_transient(message) => RepoError::Unavailable(message.to_owned()),
                _ => StoreFailure::new(context, message).into(),
            }
        }
        other => StoreFailure::new(context, other.to_string()).into(),
    }
}

/// 40P01.
fn is_deadlock(message: &str) -> bool {
    message.starts_with("deadlock detected")
}

/// 57014 by statement_timeout, 57P01–57P03 (shutdown, cannot connect now), 53300.
fn is_transient(message: &str) -> bool {
    message.contains("statement timeout")
        || message.starts_with("terminating connection")
        || message.starts_with("the database system is")
        || message.starts_with("sorry, too many clients")
}

/// Maps a failure to get a pooled connection: the database is unreachable or the pool
/// exhausted, both worth a fast 503 and a retry later.
pub(crate) fn pool_error(e: PoolError) -> RepoError {
    match e {
        PoolError::Timeout(kind) => {
            RepoError::Unavailable(format!("database connection pool timed out ({kind:?})"))
        }
        PoolError::Backend(ManagerError::ConnectionError(e)) => {
            RepoError::Unavailable(format!("cannot connect to the database: {e}"))
        }
        PoolError::Backend(ManagerError::QueryError(e)) => query_error("pool", e),
        PoolError::Closed => RepoError::Unavailable("database connection pool is closed".into()),
        other => StoreFailure::new("pool", other.to_string()).into(),
    }
}

/// The client-side deadline of one operation passed: the database does not answer.
pub(crate) fn deadline_passed() -> RepoError {
    RepoError::Unavailable("the database did not answer in time".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_messages_are_recognised() {
        assert!(is_transient("canceling statement due to statement timeout"));
        assert!(is_transient(
            "terminating connection due to administrator command"
        ));
        assert!(is_transient("the database system is shutting down"));
        assert!(!is_transient("relation \"users\" does not exist"));
        assert!(is_deadlock("deadlock detected"));
    }

    #[test]
    fn not_found_maps_to_not_found() {
        assert!(matches!(
            query_error("x", DieselError::NotFound),
            RepoError::NotFound
        ));
    }
}
