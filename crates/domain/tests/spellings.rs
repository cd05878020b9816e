//! The spellings that leave the process: stored in PostgreSQL and Redis, written into
//! audit entries, sent to clients, exported as metric labels. Renaming one breaks rows
//! already stored or dashboards already built, so each is pinned and read back.

use domain::audit::EntityType;
use domain::ports::{HealthCheck, LoginOutcome};
use domain::preferences::Theme;
use domain::session::RevocationReason;
use domain::user::UserStatus;
use domain::{FieldError, RepoError};

#[test]
fn every_theme_is_read_back_from_its_contract_spelling() {
    for (theme, spelling) in [
        (Theme::Light, "light"),
        (Theme::Dark, "dark"),
        (Theme::System, "system"),
    ] {
        assert_eq!(theme.as_str(), spelling);
        assert_eq!(Theme::parse(spelling), Ok(theme));
    }
}

#[test]
fn every_user_status_is_read_back_from_its_stored_spelling() {
    for (status, spelling) in [
        (UserStatus::Active, "ACTIVE"),
        (UserStatus::Blocked, "BLOCKED"),
    ] {
        assert_eq!(status.as_str(), spelling);
        assert_eq!(UserStatus::parse(spelling), Some(status));
    }
    assert_eq!(UserStatus::parse("blocked"), None, "case matters");
}

#[test]
fn every_audited_entity_type_is_read_back_from_its_stored_spelling() {
    for (kind, spelling) in [(EntityType::User, "USER"), (EntityType::Session, "SESSION")] {
        assert_eq!(kind.as_str(), spelling);
        assert_eq!(EntityType::parse(spelling), Some(kind));
    }
}

#[test]
fn revocation_reasons_are_stored_under_their_fixed_distinct_names() {
    let stored: Vec<&str> = [
        RevocationReason::Logout,
        RevocationReason::LogoutAll,
        RevocationReason::Revoked,
        RevocationReason::TokenReuse,
        RevocationReason::PasswordChange,
        RevocationReason::AccountDisabled,
    ]
    .into_iter()
    .map(RevocationReason::as_str)
    .collect();

    assert_eq!(
        stored,
        [
            "LOGOUT",
            "LOGOUT_ALL",
            "REVOKED",
            "TOKEN_REUSE",
            "PASSWORD_CHANGE",
            "ACCOUNT_DISABLED"
        ]
    );
}

#[test]
fn every_login_outcome_has_its_own_metric_label() {
    let labels: Vec<&str> = LoginOutcome::ALL
        .into_iter()
        .map(LoginOutcome::as_str)
        .collect();

    assert_eq!(
        labels,
        ["success", "invalid_credentials", "locked", "rate_limited"]
    );
}

#[test]
fn a_field_error_reads_as_its_field_then_its_message() {
    let err = FieldError::new("email", "is not an email address");

    assert_eq!(err.to_string(), "email: is not an email address");
}

/// A dependency without a connection pool, such as a single Redis connection.
struct Poolless;

#[async_trait::async_trait]
impl HealthCheck for Poolless {
    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }
}

#[test]
fn a_dependency_without_a_pool_reports_no_pool_occupancy() {
    assert_eq!(Poolless.pool_stats(), None);
}
