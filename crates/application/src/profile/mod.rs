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

use domain::profile::Profile;

use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// `GET /profile`: the caller as stored after the last committed change to them. Allowed
/// while a password change is required.
pub struct GetProfile;

impl GetProfile {
    /// Builds the use case (it needs no port: see `execute`).
    pub fn new(_: Ports) -> Self {
        Self
    }

    /// Runs it: the record authentication read on this request, from the database or from
    /// the auth cache's snapshot, which every committed change to the user invalidates; so
    /// no second read (authentication already refused a blocked or deleted caller).
    #[tracing::instrument(name = "get_profile", skip_all, fields(user.id = %who.user.id))]
    pub async fn execute(&self, who: &Principal) -> Result<Profile, AppError> {
        Ok(Profile::clone(&who.profile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, Mocks};
    use domain::user::Role;

    #[tokio::test]
    async fn the_profile_is_the_record_authentication_read_without_another_read() {
        let ann = testing::user(1, Role::User);
        // No expectation is set: any repository call would fail the test.
        let mocks = Mocks::new();

        let got = GetProfile::new(mocks.ports())
            .execute(&testing::principal(ann.clone()))
            .await
            .unwrap();

        assert_eq!(got, Profile::from(ann));
    }
}
