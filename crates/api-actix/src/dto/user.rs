//! The User resource as every endpoint returns it: never a hash or token.

use chrono::{DateTime, Utc};
use domain::profile::Profile;
use domain::user::{Role, User, UserStatus};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoleDto {
    /// A regular user.
    User,
    /// An administrator.
    Admin,
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::User => Self::User,
            Role::Admin => Self::Admin,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::User => Self::User,
            RoleDto::Admin => Self::Admin,
        }
    }
}

/// An account status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusDto {
    /// May sign in.
    Active,
    /// Blocked by an admin.
    Blocked,
}

impl From<UserStatus> for StatusDto {
    fn from(status: UserStatus) -> Self {
        match status {
            UserStatus::Active => Self::Active,
            UserStatus::Blocked => Self::Blocked,
        }
    }
}

impl From<StatusDto> for UserStatus {
    fn from(status: StatusDto) -> Self {
        match status {
            StatusDto::Active => Self::Active,
            StatusDto::Blocked => Self::Blocked,
        }
    }
}

/// A user account.
#[derive(Debug, Clone, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct UserDto {
    /// Id (UUID).
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Contact email.
    pub email: Option<String>,
    /// Human name.
    pub display_name: String,
    /// Current role.
    pub role: RoleDto,
    /// Current status.
    pub status: StatusDto,
    /// Whether the next call must be a password change.
    pub must_change_password: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Successful logins.
    pub login_count: i64,
    /// Consecutive failed logins.
    pub failed_login_attempts: i32,
    /// End of the current lockout.
    pub locked_until: Option<DateTime<Utc>>,
    /// Last password change.
    pub password_changed_at: DateTime<Utc>,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<User> for UserDto {
    fn from(user: User) -> Self {
        Profile::from(user).into()
    }
}

impl From<Profile> for UserDto {
    fn from(user: Profile) -> Self {
        Self {
            id: user.id.0,
            username: user.username.as_str().to_owned(),
            email: user.email.map(|e| e.as_str().to_owned()),
            display_name: user.display_name.as_str().to_owned(),
            role: user.role.into(),
            status: user.status.into(),
            must_change_password: user.must_change_password,
            created_at: user.created_at,
            updated_at: user.updated_at,
            last_login_at: user.last_login_at,
            login_count: user.login_count,
            failed_login_attempts: user.failed_login_attempts,
            locked_until: user.locked_until,
            password_changed_at: user.password_changed_at,
            deleted_at: user.deleted_at,
        }
    }
}
