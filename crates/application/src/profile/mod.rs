//! The signed-in user's own profile, password and preferences.

mod export;
mod password;
mod preferences;
mod update;

pub use export::{ExportProfile, PersonalData};
pub use password::{ChangePassword, ChangePasswordCommand};
pub use preferences::{GetPreferences, PreferencesInput, UpdatePreferences};
pub use update::{ProfilePatch, UpdateProfile};

use domain::user::User;

use crate::principal::Principal;

/// `GET /profile`: the caller as stored now. Allowed while a password change is required.
pub struct GetProfile;

impl GetProfile {
    /// Runs it.
    pub fn execute(&self, who: &Principal) -> User {
        who.user.clone()
    }
}
