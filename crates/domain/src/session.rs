//! Sessions: one per sign-in, the unit of revocation.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::user::UserId;

/// A session's id (UUIDv7); access tokens carry it as `sid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub Uuid);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a session ended early. Stored for the audit trail and support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    /// The user signed out of this session.
    Logout,
    /// The user signed out everywhere.
    LogoutAll,
    /// The user or an admin revoked it from the session list.
    Revoked,
    /// A spent refresh token was presented again.
    TokenReuse,
    /// The password changed or was reset.
    PasswordChange,
    /// The account was blocked or deleted.
    AccountDisabled,
}

impl RevocationReason {
    /// Stable spelling for storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "LOGOUT",
            Self::LogoutAll => "LOGOUT_ALL",
            Self::Revoked => "REVOKED",
            Self::TokenReuse => "TOKEN_REUSE",
            Self::PasswordChange => "PASSWORD_CHANGE",
            Self::AccountDisabled => "ACCOUNT_DISABLED",
        }
    }
}

/// A signed-in device or client. Its refresh tokens form one rotation family.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Identity.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last refresh (or sign-in).
    pub last_used_at: DateTime<Utc>,
    /// Hard end: the refresh token lifetime from sign-in or the last rotation.
    pub expires_at: DateTime<Utc>,
    /// Client IP at sign-in.
    pub ip_address: Option<String>,
    /// Client user agent at sign-in.
    pub user_agent: Option<String>,
    /// Set once the session is revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Whether the session may still authenticate requests at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}
