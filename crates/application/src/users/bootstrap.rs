//! Start-up creation of the first admin from `ADMIN_USERNAME` / `ADMIN_PASSWORD`.

use domain::audit::{AuditAction, RequestContext};
use domain::password::Password;
use domain::user::{Role, User};
use serde_json::json;

use super::create::{build_user, NewUserInput};
use crate::audit;
use crate::error::AppError;
use crate::ports::Ports;

/// Creates the configured admin when no admin exists yet.
pub struct BootstrapAdmin {
    ports: Ports,
}

impl BootstrapAdmin {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it: `Ok(Some(user))` when it created the admin, `Ok(None)` when an admin
    /// already existed. The password must meet the policy like any other.
    #[tracing::instrument(name = "bootstrap_admin", skip_all)]
    pub async fn execute(
        &self,
        username: &str,
        password: Password,
    ) -> Result<Option<User>, AppError> {
        if self.ports.users.any_admin().await? {
            return Ok(None);
        }
        let input = NewUserInput {
            username: username.to_owned(),
            email: None,
            display_name: username.to_owned(),
            password,
            role: Some(Role::Admin),
        };
        let valid = input.validate()?;
        let now = self.ports.clock.now();
        let user = build_user(&self.ports, valid, now).await?;
        let mut tx = self.ports.uow.begin().await?;
        // Instances starting together on an empty database: the admin lock orders their
        // bootstraps, and the one that waited counts the other's committed admin (the
        // count is read after the lock) and creates none.
        if tx.count_active_admins().await? > 0 {
            return Ok(None);
        }
        tx.insert_user(&user).await?;
        let entry = audit::about_user(
            &self.ports,
            &RequestContext::default(),
            AuditAction::CreateUser,
            user.id,
            json!({ "username": user.username.as_str(), "role": "ADMIN", "bootstrap": true }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(Some(user))
    }
}
