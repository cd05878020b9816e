//! The list shape shared by every collection, and its paging query parameters.

use application::PageInput;
use domain::page::{Page, PageRequest};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

use super::user::UserDto;

/// Paging parameters: `limit` 1–100 (default 20) and either `offset` or `cursor`.
#[derive(Debug, Clone, Default, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct PageParams {
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// Rows to skip (default 0); fills `total`.
    pub offset: Option<i64>,
    /// `nextCursor` of the previous page; `total` is null and cost does not grow with depth.
    pub cursor: Option<String>,
}

impl From<PageParams> for PageInput {
    fn from(p: PageParams) -> Self {
        Self {
            limit: p.limit,
            offset: p.offset,
            cursor: p.cursor,
        }
    }
}

/// A page of users.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct UserList {
    /// The users.
    pub items: Vec<UserDto>,
    /// Total matches for offset pages; null for cursor pages.
    pub total: Option<u64>,
    /// The page size used.
    pub limit: u32,
    /// The offset used (0 for cursor pages).
    pub offset: u64,
    /// Cursor of the next page, null on the last one.
    pub next_cursor: Option<String>,
}

impl UserList {
    /// Builds the wire page.
    pub fn new(page: Page<domain::user::User>, request: &PageRequest) -> Self {
        Self {
            items: page.items.into_iter().map(UserDto::from).collect(),
            total: page.total,
            limit: request.limit.get(),
            offset: request.offset(),
            next_cursor: page.next_cursor.map(|c| c.0),
        }
    }
}
