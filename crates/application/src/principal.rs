//! The authenticated caller and the authorization rules every use case applies.

use domain::session::SessionId;
use domain::user::{Role, User};

use crate::error::AppError;

/// Who is calling: their current user record (read on this request, never from token
/// claims) and the session the access token belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The caller as stored now.
    pub user: User,
    /// The session of the presented access token.
    pub session_id: SessionId,
}

impl Principal {
    /// The `mustChangePassword` gate: every call but profile read, password change and
    /// logout requires it to be clear.
    pub fn require_full_access(&self) -> Result<(), AppError> {
        if self.user.must_change_password {
            Err(AppError::PasswordChangeRequired)
        } else {
            Ok(())
        }
    }

    /// Admin-only calls: the gate first, then the caller's current role.
    pub fn require_admin(&self) -> Result<(), AppError> {
        self.require_full_access()?;
        if self.user.role == Role::Admin {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}
