//! `PATCH /profile`: display name and email.

use domain::audit::{AuditAction, RequestContext};
use domain::user::{DisplayName, Email, User};
use serde_json::json;

use crate::audit;
use crate::error::{AppError, Problems};
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
        let mut problems = Problems::default();
        let display_name = patch
            .display_name
            .as_deref()
            .and_then(|raw| problems.check(DisplayName::parse(raw)));
        let email = match &patch.email {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => problems.check(Email::parse(raw)).map(Some),
        };
        problems.finish()?;

        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        let mut user = tx
            .user_for_update(who.user.id)
            .await?
            .ok_or(AppError::NotFound)?;
        let expected = user.version;
        let mut changed = Vec::new();
        if let Some(name) = display_name.filter(|n| *n != user.display_name) {
            user.display_name = name;
            changed.push("displayName");
        }
        if let Some(email) = email.filter(|e| *e != user.email) {
            user.email = email;
            changed.push("email");
        }
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
