//! The one place where diesel, deadpool and PostgreSQL errors become [`RepoError`]s.
//!
//! Only messages are kept, never a database error's `detail`: PostgreSQL puts row values
//! there ("Failing row contains (..)", "Key (..)=(..) already exists"), and those can hold
//! personal data or a password hash.

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};
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
        DieselError::DatabaseError(kind, info) => database_error(context, kind, &*info),
        other => StoreFailure::new(context, other.to_string()).into(),
    }
}

/// Maps an error the server answered. diesel-async derives `kind` from the SQLSTATE (not
/// from the message), so these arms hold whatever language the server speaks.
fn database_error(
    context: &'static str,
    kind: DatabaseErrorKind,
    info: &(dyn DatabaseErrorInformation + Send + Sync),
) -> RepoError {
    let message = info.message();
    match kind {
        // 23505, told apart by the constraint's name, which is never translated.
        DatabaseErrorKind::UniqueViolation => match info.constraint_name() {
            Some(USERNAME_KEY) => RepoError::UsernameTaken,
            Some(EMAIL_KEY) => RepoError::EmailTaken,
            _ => StoreFailure::new(context, message).into(),
        },
        // 40001: the caller may retry the whole transaction.
        DatabaseErrorKind::SerializationFailure => RepoError::Conflict,
        // 25006: a standby, or a primary being demoted by a fail-over; a retry later
        // reaches the new primary.
        DatabaseErrorKind::ReadOnlyTransaction => RepoError::Unavailable(message.to_owned()),
        // No SQLSTATE at all: the connection broke before or while the server answered.
        DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection => {
            RepoError::Unavailable(message.to_owned())
        }
        // 23503, 23502, 23514, 23001, 23P01: a write the schema refuses is a bug here.
        DatabaseErrorKind::ForeignKeyViolation
        | DatabaseErrorKind::NotNullViolation
        | DatabaseErrorKind::CheckViolation
        | DatabaseErrorKind::RestrictViolation
        | DatabaseErrorKind::ExclusionViolation => StoreFailure::new(context, message).into(),
        _ => unclassified(context, message),
    }
}

/// A SQLSTATE diesel-async 0.9 reports as `Unknown`, dropping the code and keeping only
/// the message. The few transient ones are then recognised by PostgreSQL's English
/// wording, which `pool::connect` asks for on every connection (`lc_messages=C`, granted
/// to superusers or by `ALTER ROLE .. SET lc_messages`, README); a miss on a localized
/// server only degrades a 503 or 409 to a 500.
fn unclassified(context: &'static str, message: &str) -> RepoError {
    if is_deadlock(message) {
        RepoError::Conflict
    } else if is_transient(message) {
        RepoError::Unavailable(message.to_owned())
    } else {
        StoreFailure::new(context, message).into()
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

    /// The error the server answers to a `RAISE` of `sqlstate` with `message`: a code
    /// path per SQLSTATE, and a message in a language the mapping must not read.
    #[cfg(feature = "test-support")]
    async fn raised(sqlstate: &str, message: &str, constraint: Option<&str>) -> RepoError {
        use diesel_async::SimpleAsyncConnection as _;
        let db = crate::testing::TestDatabase::new().await;
        let mut conn = db.connection().await;
        let constraint = constraint.map_or(String::new(), |c| format!(", CONSTRAINT = '{c}'"));
        let sql = format!(
            "DO $$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = '{sqlstate}'{constraint}; END $$"
        );
        let e = conn.batch_execute(&sql).await.unwrap_err();
        query_error("raise", e)
    }

    #[cfg(feature = "test-support")]
    #[tokio::test]
    async fn sqlstates_decide_whatever_language_the_message_is_in() {
        let german = "doppelter Schlüsselwert verletzt Unique-Constraint";
        assert!(matches!(
            raised("23505", german, Some(USERNAME_KEY)).await,
            RepoError::UsernameTaken
        ));
        assert!(matches!(
            raised("23505", german, Some(EMAIL_KEY)).await,
            RepoError::EmailTaken
        ));
        assert!(matches!(
            raised("23505", german, Some("another_key")).await,
            RepoError::Unknown(_)
        ));
        let retry = "konnte Zugriff nicht serialisieren";
        assert!(matches!(
            raised("40001", retry, None).await,
            RepoError::Conflict
        ));
        let read_only = "kann INSERT nicht in einer Read-only-Transaktion ausführen";
        assert!(matches!(
            raised("25006", read_only, None).await,
            RepoError::Unavailable(_)
        ));
        for schema_refusal in ["23503", "23502", "23514", "23P01"] {
            assert!(
                matches!(
                    raised(schema_refusal, german, None).await,
                    RepoError::Unknown(_)
                ),
                "{schema_refusal}"
            );
        }
    }

    #[cfg(feature = "test-support")]
    #[tokio::test]
    async fn codes_diesel_async_drops_fall_back_to_the_english_wording() {
        assert!(matches!(
            raised("40P01", "deadlock detected", None).await,
            RepoError::Conflict
        ));
        assert!(matches!(
            raised(
                "57014",
                "canceling statement due to statement timeout",
                None
            )
            .await,
            RepoError::Unavailable(_)
        ));
        assert!(matches!(
            raised("42P01", "relation \"users\" does not exist", None).await,
            RepoError::Unknown(_)
        ));
    }

    #[cfg(feature = "test-support")]
    #[tokio::test]
    async fn every_connection_asks_for_untranslated_messages() {
        use diesel::sql_types::Text;
        use diesel_async::RunQueryDsl as _;
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = Text)]
            lc_messages: String,
        }
        let db = crate::testing::TestDatabase::new().await;
        let mut conn = db.connection().await;
        let shown: Setting = diesel::sql_query("SHOW lc_messages")
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(shown.lc_messages, "C");
    }

    #[test]
    fn not_found_maps_to_not_found() {
        assert!(matches!(
            query_error("x", DieselError::NotFound),
            RepoError::NotFound
        ));
    }
}
