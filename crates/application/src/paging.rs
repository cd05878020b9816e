//! Paging parameters as a client sent them, and a page with the request it answers.
//! Use cases read the parameters only after they have authorized the caller, so a
//! caller a list refuses learns nothing about their parameters.

use domain::page::{Page, PageRequest};
use domain::FieldError;

/// `limit`, `offset` and `cursor` as sent, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageInput {
    /// Page size.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageInput {
    /// The page request these parameters ask for ([`PageRequest::parse`]).
    pub(crate) fn parse(&self) -> Result<PageRequest, FieldError> {
        PageRequest::parse(self.limit, self.offset, self.cursor.as_deref())
    }
}

/// One page of a list and the request it answers: the edge echoes its limit and offset.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    /// The rows, their total and the next cursor.
    pub page: Page<T>,
    /// The page asked for, defaults applied.
    pub request: PageRequest,
}
