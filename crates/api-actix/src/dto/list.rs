//! The list shape shared by every collection, and its paging query parameters.

use domain::page::{Cursor, Limit, Page, PageRequest, Position};
use domain::FieldError;
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

impl PageParams {
    /// Validates into a page request.
    pub fn to_request(&self) -> Result<PageRequest, FieldError> {
        let limit = match self.limit {
            Some(n) => Limit::new(n)?,
            None => Limit::DEFAULT,
        };
        let position = match (&self.offset, &self.cursor) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new("cursor", "cannot be combined with offset"))
            }
            (_, Some(cursor)) if cursor.is_empty() || cursor.len() > 512 => {
                return Err(FieldError::new("cursor", "is not a cursor of this list"))
            }
            (_, Some(cursor)) => Position::After(Cursor(cursor.clone())),
            (Some(n), None) => match u64::try_from(*n) {
                Ok(n) if n <= 1_000_000 => Position::Offset(n),
                _ => return Err(FieldError::new("offset", "must be between 0 and 1000000")),
            },
            (None, None) => Position::Offset(0),
        };
        Ok(PageRequest { limit, position })
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
