//! `PATCH /profile`: display name and email.

use domain::audit::{AuditAction, RequestContext};
use domain::user::User;
use serde_json::json;

use crate::audit;
use crate::contact::ContactChange;
use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// The fields a user may change about themselves; `None` leaves a field alone, and
/// `email: Some(None)` clears the email.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New email, or `Some(None)` to remove it.
    pub email: Option<Option<String>>,
}

/// Applies a [`ProfilePatch`] to the caller.
pub struct UpdateProfile {
    ports: Ports,
}

impl UpdateProfile {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it; a patch that changes nothing writes nothing.
    #[tracing::instrument(name = "update_profile", skip_all, fields(user.id = %who.user.id))]
    pub async fn execute(
        &self,
        who: &Principal,
        patch: ProfilePatch,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        who.require_full_access()?;
        let change = ContactChange::parse(
            patch.display_name.as_deref(),
            patch.email.as_ref().map(Option::as_deref),
        )?;

        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        let mut user = tx
            .user_for_update(who.user.id)
            .await?
            .ok_or(AppError::NotFound)?;
        let expected = user.version;
        let changed = change.apply(&mut user);
        if changed.is_empty() {
            return Ok(user);
        }
        user.touch(now);
        tx.update_user(&user, expected).await?;
        let entry = audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(who.user.id),
            AuditAction::ProfileUpdate,
            user.id,
            json!({ "fields": changed }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, actions, committing_tx, Mocks};
    use domain::ports::MockTransaction;
    use domain::user::Role;

    fn ann() -> User {
        testing::user(1, Role::User)
    }

    #[tokio::test]
    async fn changed_fields_are_written_with_the_read_version_and_audited() {
        let (mut tx, audited) = committing_tx();
        tx.expect_user_for_update().returning(|_| Ok(Some(ann())));
        tx.expect_update_user()
            .times(1)
            .withf(|u, expected| {
                *expected == 1
                    && u.version == 2
                    && u.display_name.as_str() == "Ann"
                    && u.email.as_ref().map(domain::user::Email::as_str) == Some("ann@example.org")
            })
            .returning(|_, _| Ok(()));
        let mocks = Mocks::new().with_tx(tx);
        let patch = ProfilePatch {
            display_name: Some(" Ann ".into()),
            email: Some(Some("ann@example.org".into())),
        };

        let user = UpdateProfile::new(mocks.ports())
            .execute(
                &testing::principal(ann()),
                patch,
                &RequestContext::default(),
            )
            .await
            .unwrap();

        assert_eq!(user.display_name.as_str(), "Ann");
        assert_eq!(actions(&audited), ["PROFILE_UPDATE"]);
    }

    #[tokio::test]
    async fn a_patch_that_changes_nothing_writes_nothing() {
        let mut tx = MockTransaction::new();
        tx.expect_user_for_update().returning(|_| Ok(Some(ann())));
        let mocks = Mocks::new().with_tx(tx);
        let patch = ProfilePatch {
            display_name: Some("User 1".into()),
            email: Some(None),
        };

        let user = UpdateProfile::new(mocks.ports())
            .execute(
                &testing::principal(ann()),
                patch,
                &RequestContext::default(),
            )
            .await
            .unwrap();

        assert_eq!(user.version, 1);
    }

    #[tokio::test]
    async fn every_invalid_field_is_reported_and_nothing_is_opened() {
        let mocks = Mocks::new();
        let patch = ProfilePatch {
            display_name: Some("  ".into()),
            email: Some(Some("not-an-email".into())),
        };

        let err = UpdateProfile::new(mocks.ports())
            .execute(
                &testing::principal(ann()),
                patch,
                &RequestContext::default(),
            )
            .await
            .unwrap_err();

        match err {
            AppError::Validation(fields) => {
                let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(names, ["displayName", "email"]);
            }
            other => panic!("expected validation, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_taken_email_is_reported_as_such() {
        let mut tx = MockTransaction::new();
        tx.expect_user_for_update().returning(|_| Ok(Some(ann())));
        tx.expect_update_user()
            .returning(|_, _| Err(domain::RepoError::EmailTaken));
        let mocks = Mocks::new().with_tx(tx);
        let patch = ProfilePatch {
            display_name: None,
            email: Some(Some("taken@example.org".into())),
        };

        let err = UpdateProfile::new(mocks.ports())
            .execute(
                &testing::principal(ann()),
                patch,
                &RequestContext::default(),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::EmailTaken));
    }

    #[tokio::test]
    async fn a_user_who_must_change_the_password_cannot_patch() {
        let mut user = ann();
        user.must_change_password = true;

        let err = UpdateProfile::new(Mocks::new().ports())
            .execute(
                &testing::principal(user),
                ProfilePatch::default(),
                &RequestContext::default(),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::PasswordChangeRequired));
    }
}
