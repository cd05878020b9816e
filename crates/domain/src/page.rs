//! Pagination and the user list query.

use chrono::{DateTime, Utc};

use crate::error::FieldError;
use crate::search::SearchTerm;
use crate::user::{Role, UserStatus};

/// Page size: [`Limit::MIN`]–[`Limit::MAX`] as a client asks for it, default 20; or the
/// server's own [`Limit::BATCH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    /// The smallest page size.
    pub const MIN: u32 = 1;
    /// The largest page size a client may ask for.
    pub const MAX: u32 = 100;
    /// The contract's default page size.
    pub const DEFAULT: Self = Self(20);
    /// The largest page a client may ask for, for readers that walk a client's rows.
    pub const LARGEST: Self = Self(Self::MAX);
    /// What a server-side walk over every row (the users export) reads per store call:
    /// no client chose it, and a round trip per 100 rows made a million-row export spend
    /// most of its time between pages. About a megabyte of users.
    pub const BATCH: Self = Self(2_000);

    /// Parses a page size.
    pub fn new(n: i64) -> Result<Self, FieldError> {
        match u32::try_from(n) {
            Ok(n) if (Self::MIN..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(FieldError::new(
                "limit",
                format!("must be between {} and {}", Self::MIN, Self::MAX),
            )),
        }
    }

    /// The size.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Rows to skip: 0–[`Offset::MAX`]. Deeper pages are for cursors, whose cost does not
/// grow with depth; an offset makes the store read and drop every row it skips.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offset(u64);

impl Offset {
    /// The deepest offset accepted.
    pub const MAX: u64 = 1_000_000;
    /// The first row.
    pub const ZERO: Self = Self(0);

    /// Parses an offset.
    pub fn new(n: i64) -> Result<Self, FieldError> {
        match u64::try_from(n) {
            Ok(n) if n <= Self::MAX => Ok(Self(n)),
            _ => Err(FieldError::new(
                "offset",
                format!("must be between 0 and {}", Self::MAX),
            )),
        }
    }

    /// The number of rows.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// An opaque keyset cursor issued by a store as `nextCursor`. Whether a presented one was
/// issued by the store for this list, only the store can tell; the core only bounds its
/// length ([`Cursor::presented`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub String);

impl Cursor {
    /// The longest cursor a client may present, in bytes: far above what a store issues
    /// (a few keys and an id), far below what would cost anything to decode.
    pub const MAX_LEN: usize = 512;

    /// A cursor as a client presents it: 1–[`Cursor::MAX_LEN`] bytes.
    pub fn presented(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(FieldError::new("cursor", "is not a cursor of this list"));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// Where a page starts: an offset (the total is counted) or after a cursor (no total;
/// the cost does not grow with depth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Skip this many rows.
    Offset(Offset),
    /// Continue after the row the cursor names.
    After(Cursor),
}

impl Default for Position {
    fn default() -> Self {
        Self::Offset(Offset::ZERO)
    }
}

/// A page request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size.
    pub limit: Limit,
    /// Start.
    pub position: Position,
}

impl PageRequest {
    /// A page as a client asks for it: `limit` (default [`Limit::DEFAULT`]) and either
    /// `offset` (default 0) or `cursor`, never both. The first problem is reported.
    pub fn parse(
        limit: Option<i64>,
        offset: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Self, FieldError> {
        let limit = match limit {
            Some(n) => Limit::new(n)?,
            None => Limit::DEFAULT,
        };
        let position = match (offset, cursor) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new("cursor", "cannot be combined with offset"))
            }
            (_, Some(cursor)) => Position::After(Cursor::presented(cursor)?),
            (Some(n), None) => Position::Offset(Offset::new(n)?),
            (None, None) => Position::Offset(Offset::ZERO),
        };
        Ok(Self { limit, position })
    }

    /// The offset, or 0 for cursor pages.
    pub fn offset(&self) -> u64 {
        match self.position {
            Position::Offset(n) => n.get(),
            Position::After(_) => 0,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Total matching rows, for offset pages; `None` for cursor pages.
    pub total: Option<u64>,
    /// Cursor of the next page, when there is one.
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// Converts the rows, keeping the paging data.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            next_cursor: self.next_cursor,
        }
    }
}

/// A field users can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserSortField {
    /// Case-insensitive username.
    Username,
    /// Case-insensitive display name.
    DisplayName,
    /// Case-insensitive email; users without one sort first ascending.
    Email,
    /// Creation time.
    CreatedAt,
    /// Last login; never-logged-in users sort first ascending.
    LastLoginAt,
}

impl UserSortField {
    /// Parses the contract's spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "username" => Some(Self::Username),
            "displayName" => Some(Self::DisplayName),
            "email" => Some(Self::Email),
            "createdAt" => Some(Self::CreatedAt),
            "lastLoginAt" => Some(Self::LastLoginAt),
            _ => None,
        }
    }
}

/// One sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// The field.
    pub field: UserSortField,
    /// Descending when true.
    pub descending: bool,
}

/// A validated sort: 1–5 distinct keys; the store adds the id as the last tie-breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSort(Vec<SortKey>);

impl UserSort {
    /// Parses `-createdAt,username` style lists.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let mut keys: Vec<SortKey> = Vec::new();
        for part in raw.split(',') {
            let (descending, name) = match part.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, part),
            };
            let field = UserSortField::parse(name).ok_or_else(|| {
                FieldError::new(
                    "sort",
                    "must list username, displayName, email, createdAt or lastLoginAt, optionally prefixed with '-'",
                )
            })?;
            if keys.iter().any(|k| k.field == field) {
                return Err(FieldError::new("sort", "lists a field twice"));
            }
            keys.push(SortKey { field, descending });
        }
        Ok(Self(keys))
    }

    /// The keys in order.
    pub fn keys(&self) -> &[SortKey] {
        &self.0
    }
}

impl Default for UserSort {
    /// Newest first.
    fn default() -> Self {
        Self(vec![SortKey {
            field: UserSortField::CreatedAt,
            descending: true,
        }])
    }
}

/// Filters of the user list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Substring of username, display name or email (case-insensitive).
    pub q: Option<SearchTerm>,
    /// Only this role.
    pub role: Option<Role>,
    /// Only this status.
    pub status: Option<UserStatus>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before or at.
    pub created_to: Option<DateTime<Utc>>,
    /// Include soft-deleted users.
    pub include_deleted: bool,
}

/// A full user list query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Filters.
    pub filter: UserFilter,
    /// Sort.
    pub sort: UserSort,
    /// Page.
    pub page: PageRequest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_accepts_1_to_100_only() {
        assert!(Limit::new(0).is_err());
        assert!(Limit::new(101).is_err());
        assert!(Limit::new(-1).is_err());
        assert_eq!(Limit::new(100).map(Limit::get), Ok(100));
        assert_eq!(Limit::new(1).map(Limit::get), Ok(1));
        assert_eq!(
            Limit::new(i64::from(Limit::MAX) + 1),
            Err(FieldError::new("limit", "must be between 1 and 100"))
        );
        assert_eq!(Limit::LARGEST.get(), Limit::MAX);
    }

    #[test]
    fn offset_accepts_0_to_a_million_only() {
        assert_eq!(Offset::new(0), Ok(Offset::ZERO));
        assert_eq!(Offset::new(1_000_000).map(Offset::get), Ok(Offset::MAX));
        for bad in [-1, 1_000_001, i64::MIN, i64::MAX] {
            assert_eq!(
                Offset::new(bad),
                Err(FieldError::new("offset", "must be between 0 and 1000000")),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_presented_cursor_is_1_to_512_bytes() {
        let not_one = Err(FieldError::new("cursor", "is not a cursor of this list"));
        assert_eq!(Cursor::presented(""), not_one);
        assert_eq!(Cursor::presented(&"c".repeat(Cursor::MAX_LEN + 1)), not_one);
        // Bytes, not characters: 257 two-byte characters are 514 bytes.
        assert_eq!(Cursor::presented(&"é".repeat(257)), not_one);
        let longest = "c".repeat(Cursor::MAX_LEN);
        assert_eq!(Cursor::presented(&longest), Ok(Cursor(longest.clone())));
    }

    #[test]
    fn a_page_request_takes_an_offset_or_a_cursor_with_defaults() {
        assert_eq!(
            PageRequest::parse(None, None, None),
            Ok(PageRequest::default())
        );
        assert_eq!(
            PageRequest::parse(Some(5), Some(10), None),
            Ok(PageRequest {
                limit: Limit(5),
                position: Position::Offset(Offset(10)),
            })
        );
        let after = PageRequest::parse(None, None, Some("abc")).unwrap();
        assert_eq!(after.position, Position::After(Cursor("abc".into())));
        assert_eq!((after.limit, after.offset()), (Limit::DEFAULT, 0));
    }

    #[test]
    fn a_page_request_reports_its_first_problem() {
        let err = |limit, offset, cursor| PageRequest::parse(limit, offset, cursor).unwrap_err();
        assert_eq!(err(Some(0), Some(-1), None).field, "limit");
        assert_eq!(
            err(None, Some(1), Some("x")),
            FieldError::new("cursor", "cannot be combined with offset")
        );
        assert_eq!(err(None, None, Some("")).field, "cursor");
        assert_eq!(err(None, Some(-1), None).field, "offset");
    }

    #[test]
    fn sort_parses_directions_and_rejects_unknown_or_repeated_fields() {
        let sort = UserSort::parse("-createdAt,username").unwrap();
        assert_eq!(
            sort.keys(),
            &[
                SortKey {
                    field: UserSortField::CreatedAt,
                    descending: true
                },
                SortKey {
                    field: UserSortField::Username,
                    descending: false
                },
            ]
        );
        assert!(UserSort::parse("password").is_err());
        assert!(UserSort::parse("username,-username").is_err());
        assert!(UserSort::parse("").is_err());
    }
}
