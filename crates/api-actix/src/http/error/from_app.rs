//! The one place where application errors become HTTP errors: an exhaustive `match`
//! with no catch-all, so a new failure is a compile error here rather than a silent 500.

use application::AppError;

use super::{ApiError, ErrorCode, FieldDetail};

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        let plain = |code: ErrorCode| ApiError::new(code, code.default_message());
        match err {
            AppError::Validation(fields) => {
                let mut e = plain(ErrorCode::ValidationFailed);
                e.message = match fields.first() {
                    Some(first) if fields.len() == 1 => format!("{first}"),
                    _ => "The request is invalid.".to_owned(),
                };
                e.details = Some(fields.into_iter().map(FieldDetail::from).collect());
                e
            }
            AppError::WeakPassword { field, feedback } => {
                let mut e = plain(ErrorCode::WeakPassword);
                e.details = Some(
                    feedback
                        .into_iter()
                        .map(|advice| FieldDetail::new(field.clone(), advice))
                        .collect(),
                );
                e
            }
            AppError::Unauthorized => plain(ErrorCode::Unauthorized),
            AppError::InvalidCredentials => plain(ErrorCode::InvalidCredentials),
            AppError::TokenExpired => plain(ErrorCode::TokenExpired),
            AppError::TokenInvalid => plain(ErrorCode::TokenInvalid),
            AppError::SessionRevoked => plain(ErrorCode::SessionRevoked),
            AppError::TokenReused => plain(ErrorCode::TokenReused),
            AppError::Forbidden => plain(ErrorCode::Forbidden),
            AppError::PasswordChangeRequired => plain(ErrorCode::PasswordChangeRequired),
            AppError::NotFound => plain(ErrorCode::NotFound),
            AppError::UsernameTaken => plain(ErrorCode::UsernameTaken),
            AppError::EmailTaken => plain(ErrorCode::EmailTaken),
            AppError::Conflict(why) => ApiError::new(ErrorCode::Conflict, why),
            AppError::LastAdmin(why) => ApiError::new(ErrorCode::LastAdmin, why),
            AppError::PreconditionFailed => plain(ErrorCode::PreconditionFailed),
            AppError::Unavailable(cause) => {
                tracing::warn!(error.cause = %cause, "dependency unavailable");
                let mut e = plain(ErrorCode::ServiceUnavailable);
                e.retry_after = Some(1);
                e
            }
            AppError::Internal(cause) => {
                tracing::error!(error.cause = %cause, "internal error");
                plain(ErrorCode::Internal)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::FieldError;

    #[test]
    fn validation_errors_carry_their_fields_as_details() {
        let e = ApiError::from(AppError::Validation(vec![
            FieldError::new("username", "too short"),
            FieldError::new("email", "invalid"),
        ]));
        assert_eq!(e.code, ErrorCode::ValidationFailed);
        let details = e.details.unwrap();
        assert_eq!(details[1].field, "email");
    }

    #[test]
    fn weak_passwords_list_the_estimator_feedback() {
        let e = ApiError::from(AppError::WeakPassword {
            field: "password".into(),
            feedback: vec!["Add another word.".into()],
        });
        assert_eq!(e.code, ErrorCode::WeakPassword);
        assert_eq!(e.details.unwrap()[0].message, "Add another word.");
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let e = ApiError::from(AppError::Internal("secret table xyz broke".into()));
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!e.message.contains("xyz"));
    }

    #[test]
    fn unavailability_is_a_503_with_retry_after() {
        let e = ApiError::from(AppError::Unavailable("pool timed out".into()));
        assert_eq!(e.code, ErrorCode::ServiceUnavailable);
        assert_eq!(e.retry_after, Some(1));
        assert!(!e.message.contains("pool"));
    }
}
