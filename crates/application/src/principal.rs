//! The authenticated caller and the authorization rules every use case applies.

use std::sync::Arc;

use domain::access::Caller;
use domain::profile::Profile;
use domain::session::SessionId;
use domain::user::Role;

use crate::error::AppError;

/// Who is calling: their current role and gate (read on this request or from a cache that
/// every committed change invalidates, never from token claims) and the session the access
/// token belongs to, and the caller's record from the same read (what `GET /profile`
/// returns; use cases that change the user read it under a lock instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The caller as stored now.
    pub user: Caller,
    /// The session of the presented access token.
    pub session_id: SessionId,
    /// The caller's record, as current as `user`.
    pub profile: Arc<Profile>,
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
