//! Audit log query strings and answers.

use application::audit::AuditListInput;
use application::PageInput;
use chrono::{DateTime, Utc};
use domain::audit::{AuditEntry, ChainReport};
use domain::page::{Page, PageRequest};
use domain::user::UserId;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `GET /audit-logs` query.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ListAuditLogsParams {
    /// Only entries of this actor (user id).
    pub user_id: Option<Uuid>,
    /// Only this action, e.g. `LOGIN`, `ROLE_CHANGE`.
    pub action: Option<String>,
    /// Only entries about `USER` or `SESSION`.
    pub entity_type: Option<String>,
    /// Only entries about this entity id.
    pub entity_id: Option<String>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created at or before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
    /// Cursor from `nextCursor`.
    pub cursor: Option<String>,
}

impl ListAuditLogsParams {
    /// The filters and the page, as sent: the use case validates them.
    pub fn into_input(self) -> (AuditListInput, PageInput) {
        let input = AuditListInput {
            user_id: self.user_id.map(UserId),
            action: self.action,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            from: self.from,
            to: self.to,
        };
        let page = PageInput {
            limit: self.limit,
            offset: self.offset,
            cursor: self.cursor,
        };
        (input, page)
    }
}

/// One audit entry.
#[derive(Debug, Clone, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryDto {
    /// Id (UUID).
    pub id: Uuid,
    /// The actor; null for anonymous events such as a failed login for an unknown name.
    pub user_id: Option<Uuid>,
    /// What happened, e.g. `LOGIN`.
    pub action: String,
    /// `USER` or `SESSION`.
    pub entity_type: String,
    /// Which entity.
    pub entity_id: Option<String>,
    /// What changed; never a password, hash or token.
    pub metadata: serde_json::Value,
    /// Client IP.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The `X-Request-ID` of the request that caused it.
    pub request_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditEntryDto {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            user_id: e.user_id.map(|u| u.0),
            action: e.action.as_str().to_owned(),
            entity_type: e.entity_type.as_str().to_owned(),
            entity_id: e.entity_id,
            metadata: e.metadata,
            ip_address: e.ip_address,
            user_agent: e.user_agent,
            request_id: e.request_id,
            created_at: e.created_at,
        }
    }
}

/// A page of audit entries.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogList {
    /// The entries, newest first.
    pub items: Vec<AuditEntryDto>,
    /// Total matches for offset pages; null for cursor pages.
    pub total: Option<u64>,
    /// The page size used.
    pub limit: u32,
    /// The offset used (0 for cursor pages).
    pub offset: u64,
    /// Cursor of the next page, null on the last one.
    pub next_cursor: Option<String>,
}

impl AuditLogList {
    /// Builds the wire page.
    pub fn new(page: Page<AuditEntry>, request: &PageRequest) -> Self {
        Self {
            items: page.items.into_iter().map(AuditEntryDto::from).collect(),
            total: page.total,
            limit: request.limit.get(),
            offset: request.offset(),
            next_cursor: page.next_cursor.map(|c| c.0),
        }
    }
}

/// The outcome of verifying the audit log's hash chain.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReportDto {
    /// True when no sealed entry was changed or removed.
    pub valid: bool,
    /// Sealed entries examined.
    pub checked: u64,
    /// The first entry that does not verify (a changed row, or the row after a removed one).
    pub first_broken_id: Option<Uuid>,
}

impl From<ChainReport> for VerifyReportDto {
    fn from(r: ChainReport) -> Self {
        Self {
            valid: r.valid,
            checked: r.checked,
            first_broken_id: r.first_broken_id,
        }
    }
}

/// `GET /audit-logs/verify` query.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyAuditLogParams {
    /// A checkpoint from `GET /audit-logs/checkpoint`: the log must also still extend
    /// the head it states (400 `VALIDATION_FAILED` when it is not one signed by a
    /// configured key).
    pub checkpoint: Option<String>,
}

/// A signed checkpoint of the sealed chain's head.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointDto {
    /// Compact JWS (header `typ: ems-audit-checkpoint+jws` and the signing key's `kid`,
    /// verifiable with `/.well-known/jwks.json`) over `{seq, hash, count, iat}`: the head's
    /// sequence number, its link hash (base64url), the entries from the anchor to it, and
    /// the signing time (Unix seconds).
    pub checkpoint: String,
}
