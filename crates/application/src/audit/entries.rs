//! Building audit entries with the ids of the ports.

use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, AuditEntry, EntityType, RequestContext};
use domain::user::UserId;
use serde_json::Value;

use crate::ports::Ports;

/// An entry about a user account.
pub(crate) fn about_user(
    ports: &Ports,
    ctx: &RequestContext,
    action: AuditAction,
    user: UserId,
    metadata: Value,
    at: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry::new(
        ports.ids.new_id(),
        ctx,
        action,
        EntityType::User,
        Some(user.to_string()),
        metadata,
        at,
    )
}

/// An entry about a session.
pub(crate) fn about_session(
    ports: &Ports,
    ctx: &RequestContext,
    action: AuditAction,
    session: domain::session::SessionId,
    metadata: Value,
    at: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry::new(
        ports.ids.new_id(),
        ctx,
        action,
        EntityType::Session,
        Some(session.to_string()),
        metadata,
        at,
    )
}
