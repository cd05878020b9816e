//! Sessions as listed to their owner and to admins.

use application::sessions::SessionView;
use chrono::{DateTime, Utc};
use domain::page::{Page, PageRequest};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One active session: a signed-in device or client.
#[derive(Debug, Clone, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDto {
    /// Id (UUID); access tokens of this session carry it.
    pub id: Uuid,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last sign-in or token refresh.
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// Client IP at sign-in.
    pub ip_address: Option<String>,
    /// Client user agent at sign-in.
    pub user_agent: Option<String>,
    /// True for the session of the access token that made this request.
    pub current: bool,
}

impl From<SessionView> for SessionDto {
    fn from(v: SessionView) -> Self {
        let s = v.session;
        Self {
            id: s.id.0,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            ip_address: s.ip_address,
            user_agent: s.user_agent,
            current: v.current,
        }
    }
}

/// A page of sessions, newest first.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    /// The sessions.
    pub items: Vec<SessionDto>,
    /// Total active sessions for offset pages; null for cursor pages.
    pub total: Option<u64>,
    /// The page size used.
    pub limit: u32,
    /// The offset used (0 for cursor pages).
    pub offset: u64,
    /// Cursor of the next page, null on the last one.
    pub next_cursor: Option<String>,
}

impl SessionList {
    /// Builds the wire page.
    pub fn new(page: Page<SessionView>, request: &PageRequest) -> Self {
        Self {
            items: page.items.into_iter().map(SessionDto::from).collect(),
            total: page.total,
            limit: request.limit.get(),
            offset: request.offset(),
            next_cursor: page.next_cursor.map(|c| c.0),
        }
    }
}
