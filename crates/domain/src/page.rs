//! Pagination and the user list query.

use chrono::{DateTime, Utc};

use crate::error::FieldError;
use crate::user::{Role, UserStatus};

/// Page size: 1–100, default 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    /// The contract's default page size.
    pub const DEFAULT: Self = Self(20);

    /// Parses a page size.
    pub fn new(n: i64) -> Result<Self, FieldError> {
        match u32::try_from(n) {
            Ok(n @ 1..=100) => Ok(Self(n)),
            _ => Err(FieldError::new("limit", "must be between 1 and 100")),
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

/// An opaque keyset cursor issued by a store as `nextCursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub String);

/// Where a page starts: an offset (the total is counted) or after a cursor (no total;
/// the cost does not grow with depth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Skip this many rows.
    Offset(u64),
    /// Continue after the row the cursor names.
    After(Cursor),
}

impl Default for Position {
    fn default() -> Self {
        Self::Offset(0)
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
    /// The offset, or 0 for cursor pages.
    pub fn offset(&self) -> u64 {
        match self.position {
            Position::Offset(n) => n,
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
    pub q: Option<String>,
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
