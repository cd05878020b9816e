//! How failures of the ports become application errors: each store failure the contract
//! names keeps its name, and what is not the caller's fault becomes `Internal` or
//! `Unavailable` without its cause reaching the message a client could see.

use application::AppError;
use domain::error::ServiceError;
use domain::{FieldError, RepoError};

#[test]
fn store_failures_keep_the_names_the_contract_gives_them() {
    assert!(matches!(
        AppError::from(RepoError::UsernameTaken),
        AppError::UsernameTaken
    ));
    assert!(matches!(
        AppError::from(RepoError::EmailTaken),
        AppError::EmailTaken
    ));
    assert!(matches!(
        AppError::from(RepoError::NotFound),
        AppError::NotFound
    ));
    match AppError::from(RepoError::Conflict) {
        AppError::Conflict(message) => assert!(message.contains("retry"), "{message}"),
        other => panic!("not a conflict: {other:?}"),
    }
}

#[test]
fn a_cursor_the_store_did_not_issue_is_the_caller_s_bad_cursor_field() {
    match AppError::from(RepoError::InvalidCursor) {
        AppError::Validation(fields) => {
            assert_eq!(
                fields,
                [FieldError::new("cursor", "is not a cursor of this list")]
            );
        }
        other => panic!("not a validation failure: {other:?}"),
    }
}

#[test]
fn an_unreachable_store_is_unavailable_and_keeps_its_cause_for_the_log() {
    match AppError::from(RepoError::Unavailable("pool timed out".into())) {
        AppError::Unavailable(cause) => assert_eq!(cause, "pool timed out"),
        other => panic!("not unavailable: {other:?}"),
    }
}

#[test]
fn an_unexpected_store_failure_is_internal_and_its_message_hides_the_cause() {
    let cause = std::io::Error::other("relation \"users\" does not exist");

    let err = AppError::from(RepoError::Unknown(Box::new(cause)));

    assert_eq!(err.to_string(), "internal error");
    match err {
        AppError::Internal(kept) => assert!(kept.to_string().contains("relation")),
        other => panic!("not internal: {other:?}"),
    }
}

#[test]
fn a_failing_service_port_is_internal_and_its_message_hides_the_cause() {
    let err = AppError::from(ServiceError(
        "signing key unreadable: /etc/ems/key.pem".into(),
    ));

    assert_eq!(err.to_string(), "internal error");
    match err {
        AppError::Internal(kept) => assert!(kept.to_string().contains("key.pem")),
        other => panic!("not internal: {other:?}"),
    }
}

#[test]
fn one_field_error_is_a_validation_failure_of_that_field() {
    let err = AppError::from(FieldError::new("email", "is not an email address"));

    match err {
        AppError::Validation(fields) => {
            assert_eq!(
                fields,
                [FieldError::new("email", "is not an email address")]
            );
        }
        other => panic!("not a validation failure: {other:?}"),
    }
}
