//! The signed-in user's own profile, password and preferences.

mod export;
mod password;
mod preferences;
#[cfg(test)]
mod preferences_audit_tests;
mod update;

pub use export::{ExportProfile, ExportUserData, PersonalData};
pub use password::{ChangePassword, ChangePasswordCommand};
pub use preferences::{GetPreferences, PreferencesInput, UpdatePreferences};
pub use update::{ProfilePatch, UpdateProfile};

use domain::user::User;

use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// `GET /profile`: the caller as stored now. Allowed while a password change is required.
pub struct GetProfile {
    ports: Ports,
}

impl GetProfile {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it: the whole record, read now (the principal carries only what
    /// authorization needs).
    #[tracing::instrument(name = "get_profile", skip_all, fields(user.id = %who.user.id))]
    pub async fn execute(&self, who: &Principal) -> Result<User, AppError> {
        let user = self.ports.users.get(who.user.id).await?;
        // Authentication saw the user usable a moment ago; gone now means it was deleted
        // in between, which ends the session.
        user.filter(User::is_usable).ok_or(AppError::SessionRevoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, Mocks};
    use domain::user::{Role, UserStatus};

    #[tokio::test]
    async fn the_profile_is_the_stored_record_and_a_vanished_user_ends_the_session() {
        let ann = testing::user(1, Role::User);
        let stored = ann.clone();
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_get()
            .returning(move |_| Ok(Some(stored.clone())));
        let got = GetProfile::new(mocks.ports())
            .execute(&testing::principal(ann.clone()))
            .await
            .unwrap();
        assert_eq!(got, ann);

        let mut blocked = ann.clone();
        blocked.status = UserStatus::Blocked;
        let mut mocks = Mocks::new();
        mocks
            .users
            .expect_get()
            .returning(move |_| Ok(Some(blocked.clone())));
        assert!(matches!(
            GetProfile::new(mocks.ports())
                .execute(&testing::principal(ann))
                .await,
            Err(AppError::SessionRevoked)
        ));
    }
}
