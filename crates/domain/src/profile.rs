//! [`Profile`]: a user as the endpoints show it, without the password hash, so that it can
//! be cached beside the auth snapshot and a profile read needs no database.

use chrono::{DateTime, Utc};

use crate::user::{DisplayName, Email, Role, User, UserId, UserStatus, Username};

/// Every field of a [`User`] but its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Identity.
    pub id: UserId,
    /// Login name.
    pub username: Username,
    /// Optional contact address.
    pub email: Option<Email>,
    /// Human name.
    pub display_name: DisplayName,
    /// Current role.
    pub role: Role,
    /// Current status.
    pub status: UserStatus,
    /// Set by an admin password reset; cleared by a password change.
    pub must_change_password: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change time.
    pub updated_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Successful logins so far.
    pub login_count: i64,
    /// Consecutive failed logins since the last success.
    pub failed_login_attempts: i32,
    /// Locked out until then, after too many failed logins.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the password last changed.
    pub password_changed_at: DateTime<Utc>,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version (the `ETag`).
    pub version: i64,
}

impl From<User> for Profile {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
            status: user.status,
            must_change_password: user.must_change_password,
            created_at: user.created_at,
            updated_at: user.updated_at,
            last_login_at: user.last_login_at,
            login_count: user.login_count,
            failed_login_attempts: user.failed_login_attempts,
            locked_until: user.locked_until,
            password_changed_at: user.password_changed_at,
            deleted_at: user.deleted_at,
            version: user.version,
        }
    }
}

impl From<&User> for Profile {
    fn from(user: &User) -> Self {
        Self::from(user.clone())
    }
}
