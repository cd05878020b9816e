//! Audit entries: one per security event or admin action, written in the same
//! transaction as the change they describe.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::FieldError;
use crate::user::UserId;

/// What happened. The contract's list; the spelling is stable and public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each name is its own documentation
pub enum AuditAction {
    Login,
    LoginFailed,
    Logout,
    LogoutAll,
    TokenReuseDetected,
    AccountLocked,
    SessionRevoked,
    CreateUser,
    UpdateUser,
    DeleteUser,
    RestoreUser,
    BlockUser,
    UnblockUser,
    RoleChange,
    PasswordChange,
    PasswordReset,
    ProfileUpdate,
    PreferencesUpdate,
    BulkCreateUsers,
    BulkDeleteUsers,
    ExportUsers,
    DataExport,
    ExportUserData,
    AnonymizeUser,
    ImportUsers,
}

impl AuditAction {
    /// Every action, for parsing and documentation.
    pub const ALL: [Self; 25] = [
        Self::Login,
        Self::LoginFailed,
        Self::Logout,
        Self::LogoutAll,
        Self::TokenReuseDetected,
        Self::AccountLocked,
        Self::SessionRevoked,
        Self::CreateUser,
        Self::UpdateUser,
        Self::DeleteUser,
        Self::RestoreUser,
        Self::BlockUser,
        Self::UnblockUser,
        Self::RoleChange,
        Self::PasswordChange,
        Self::PasswordReset,
        Self::ProfileUpdate,
        Self::PreferencesUpdate,
        Self::BulkCreateUsers,
        Self::BulkDeleteUsers,
        Self::ExportUsers,
        Self::DataExport,
        Self::ExportUserData,
        Self::AnonymizeUser,
        Self::ImportUsers,
    ];

    /// The contract's UPPER_SNAKE spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "LOGIN",
            Self::LoginFailed => "LOGIN_FAILED",
            Self::Logout => "LOGOUT",
            Self::LogoutAll => "LOGOUT_ALL",
            Self::TokenReuseDetected => "TOKEN_REUSE_DETECTED",
            Self::AccountLocked => "ACCOUNT_LOCKED",
            Self::SessionRevoked => "SESSION_REVOKED",
            Self::CreateUser => "CREATE_USER",
            Self::UpdateUser => "UPDATE_USER",
            Self::DeleteUser => "DELETE_USER",
            Self::RestoreUser => "RESTORE_USER",
            Self::BlockUser => "BLOCK_USER",
            Self::UnblockUser => "UNBLOCK_USER",
            Self::RoleChange => "ROLE_CHANGE",
            Self::PasswordChange => "PASSWORD_CHANGE",
            Self::PasswordReset => "PASSWORD_RESET",
            Self::ProfileUpdate => "PROFILE_UPDATE",
            Self::PreferencesUpdate => "PREFERENCES_UPDATE",
            Self::BulkCreateUsers => "BULK_CREATE_USERS",
            Self::BulkDeleteUsers => "BULK_DELETE_USERS",
            Self::ExportUsers => "EXPORT_USERS",
            Self::DataExport => "DATA_EXPORT",
            Self::ExportUserData => "EXPORT_USER_DATA",
            Self::AnonymizeUser => "ANONYMIZE_USER",
            Self::ImportUsers => "IMPORT_USERS",
        }
    }

    /// Parses the contract's spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

/// The kind of thing an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityType {
    /// A user account.
    User,
    /// A session.
    Session,
}

impl EntityType {
    /// The stable spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Session => "SESSION",
        }
    }

    /// Parses the stable spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "USER" => Some(Self::User),
            "SESSION" => Some(Self::Session),
            _ => None,
        }
    }
}

/// Who asked and from where: carried from the edge into every use case that audits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The signed-in caller, if any.
    pub actor: Option<UserId>,
    /// Client IP as the edge determined it.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The request's `X-Request-ID`.
    pub request_id: Option<String>,
}

impl RequestContext {
    /// The same context acting as `actor`.
    #[must_use]
    pub fn with_actor(mut self, actor: UserId) -> Self {
        self.actor = Some(actor);
        self
    }
}

/// One audit log row. `metadata` says what changed and never holds a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Identity (UUIDv7, so ids sort by time).
    pub id: Uuid,
    /// The actor; `None` for an anonymous event such as a failed login for an unknown name.
    pub user_id: Option<UserId>,
    /// What happened.
    pub action: AuditAction,
    /// What it happened to.
    pub entity_type: EntityType,
    /// Which one, if a single entity.
    pub entity_id: Option<String>,
    /// Details: changed field names, old and new values of role or status, counts.
    pub metadata: serde_json::Value,
    /// Client IP.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl AuditEntry {
    /// An entry for `action` on `entity_type`/`entity_id`, stamped with the request context.
    pub fn new(
        id: Uuid,
        ctx: &RequestContext,
        action: AuditAction,
        entity_type: EntityType,
        entity_id: Option<String>,
        metadata: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            user_id: ctx.actor,
            action,
            entity_type,
            entity_id,
            metadata,
            ip_address: ctx.ip_address.clone(),
            user_agent: ctx.user_agent.clone(),
            request_id: ctx.request_id.clone(),
            created_at: at,
        }
    }
}

/// The entity id an audit filter asks for: 1–[`EntityId::MAX_CHARS`] characters, no
/// control characters. Entries name users and sessions by UUID, but any text that could
/// be an id is a valid question (it just matches nothing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityId(String);

impl EntityId {
    /// The longest id asked for, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Parses the `entityId` filter.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() || raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(
                "entityId",
                format!("must be 1 to {} characters", Self::MAX_CHARS),
            ));
        }
        crate::text::no_control("entityId", raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The id as asked for.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<UserId> for EntityId {
    /// The entries about a user: a UUID is always a valid id to ask for.
    fn from(id: UserId) -> Self {
        Self(id.to_string())
    }
}

/// Filters of the audit log list; every one optional, all combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries of this actor.
    pub user_id: Option<UserId>,
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only entries about this kind of entity.
    pub entity_type: Option<EntityType>,
    /// Only entries about this entity.
    pub entity_id: Option<EntityId>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created at or before.
    pub to: Option<DateTime<Utc>>,
}

/// A full audit log list query: newest first, offset or cursor pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Filters.
    pub filter: AuditFilter,
    /// Page.
    pub page: crate::page::PageRequest,
}

/// The outcome of walking the hash chain from its anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// True when every sealed entry links and hashes as sealed.
    pub valid: bool,
    /// Sealed entries examined (up to and including the first broken one).
    pub checked: u64,
    /// The first entry that does not verify: a changed row, or the row after a removed
    /// one. `None` with `valid == false` when the newest sealed entries were removed
    /// (there is no later row to name).
    pub first_broken_id: Option<Uuid>,
    /// The sealed head as found (what a checkpoint of this state states).
    pub head: crate::audit_evidence::ChainHead,
}

/// What one retention run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Audit entries purged from the head of the chain.
    pub audit_entries: u64,
    /// Ended sessions purged (their refresh tokens with them).
    pub sessions: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_its_spelling() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AuditAction::parse("login"), None);
    }

    #[test]
    fn an_entity_id_filter_is_1_to_100_characters_without_control_characters() {
        let bad_length = Err(FieldError::new("entityId", "must be 1 to 100 characters"));
        assert_eq!(EntityId::parse(""), bad_length);
        assert_eq!(
            EntityId::parse(&"x".repeat(EntityId::MAX_CHARS + 1)),
            bad_length
        );
        let longest = "ü".repeat(EntityId::MAX_CHARS);
        assert_eq!(EntityId::parse(&longest).map(|e| e.0), Ok(longest.clone()));
        assert_eq!(
            EntityId::parse("a\u{0}b"),
            Err(FieldError::new(
                "entityId",
                "must not contain control characters"
            ))
        );
        assert_eq!(EntityId::parse("42").map(|e| e.0), Ok("42".into()));
    }
}
