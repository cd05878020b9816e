//! The contact fields a user may change about themselves and an admin about anyone:
//! parsed once, applied once.

use domain::user::{DisplayName, Email, User};

use crate::error::{AppError, Problems};

/// A validated change of display name and/or email (`Some(None)` clears the email).
pub(crate) struct ContactChange {
    display_name: Option<DisplayName>,
    email: Option<Option<Email>>,
}

impl ContactChange {
    /// Validates both fields, reporting every problem at once.
    pub(crate) fn parse(
        display_name: Option<&str>,
        email: Option<Option<&str>>,
    ) -> Result<Self, AppError> {
        let mut problems = Problems::default();
        let display_name = display_name.and_then(|raw| problems.check(DisplayName::parse(raw)));
        let email = match email {
            None => None,
            Some(None) => Some(None),
            Some(Some(raw)) => problems.check(Email::parse(raw)).map(Some),
        };
        problems.finish()?;
        Ok(Self {
            display_name,
            email,
        })
    }

    /// Applies the change to `user` and names the fields that really changed.
    pub(crate) fn apply(self, user: &mut User) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if let Some(name) = self.display_name.filter(|n| *n != user.display_name) {
            user.display_name = name;
            changed.push("displayName");
        }
        if let Some(email) = self.email.filter(|e| *e != user.email) {
            user.email = email;
            changed.push("email");
        }
        changed
    }
}
