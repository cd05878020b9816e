//! Pages of rows, built one way by every list of this store: `limit + 1` rows fetched to
//! learn whether a next page exists, the next cursor made from the last row kept, and an
//! offset page's total counted by the caller. The newest-first order that sessions and
//! audit entries share has its cursor here too.

use chrono::{DateTime, Utc};
use domain::page::{Cursor, Limit, Page};
use domain::RepoError;
use uuid::Uuid;

use crate::cursor::{self, CursorBody};
use crate::error::StoreFailure;

/// The `LIMIT` of a page's query: one row more than the page holds.
pub(crate) fn fetch_limit(limit: Limit) -> i64 {
    i64::from(limit.get()) + 1
}

/// The `OFFSET` of a page's query. Saturated: no table holds `i64::MAX` rows, so an offset
/// past that is an empty page either way.
pub(crate) fn offset(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `count(*)` PostgreSQL returned, as a page total or any other count. A negative one
/// is the database's bug: reported as such, never read as zero.
pub(crate) fn checked_count(context: &'static str, n: i64) -> Result<u64, RepoError> {
    u64::try_from(n).map_err(|_| StoreFailure::new(context, format!("negative count {n}")).into())
}

/// Keeps the page's `limit` of the `limit + 1` rows fetched, converts them with `item_of`
/// and, when there was one more, makes the next cursor from the last row kept.
pub(crate) fn assemble<R, T>(
    mut rows: Vec<R>,
    limit: Limit,
    total: Option<u64>,
    cursor_of: impl Fn(&R) -> CursorBody,
    item_of: impl FnMut(R) -> Result<T, RepoError>,
) -> Result<Page<T>, RepoError> {
    let limit = limit.get() as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(cursor_of(last).encode()?),
        _ => None,
    };
    let items = rows.into_iter().map(item_of).collect::<Result<_, _>>()?;
    Ok(Page {
        items,
        total,
        next_cursor,
    })
}

/// Newest first, `(created_at, id)` descending, under a cursor signature of its own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewestFirst(pub &'static str);

impl NewestFirst {
    /// The cursor of the row created at `created_at` with `id`.
    pub(crate) fn cursor(self, created_at: DateTime<Utc>, id: Uuid) -> CursorBody {
        CursorBody {
            s: self.0.to_owned(),
            v: vec![cursor::time_value(created_at)],
            id,
        }
    }

    /// The `(created_at, id)` a page starts strictly after. `InvalidCursor` when the cursor
    /// was made for another order.
    pub(crate) fn after(self, c: &Cursor) -> Result<(DateTime<Utc>, Uuid), RepoError> {
        let body = CursorBody::decode(c, self.0, 1)?;
        Ok((cursor::parse_time(&body.v[0])?, body.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: i64) -> Limit {
        Limit::new(n).unwrap()
    }

    #[test]
    fn a_negative_count_is_an_error_not_zero() {
        assert_eq!(checked_count("count", 7).unwrap(), 7);
        assert_eq!(checked_count("count", 0).unwrap(), 0);
        let err = checked_count("count users", -1).unwrap_err();
        assert!(matches!(&err, RepoError::Unknown(_)), "{err:?}");
        assert_eq!(err.to_string(), "count users: negative count -1");
    }

    #[test]
    fn an_offset_beyond_i64_saturates() {
        assert_eq!(offset(5), 5);
        assert_eq!(offset(u64::MAX), i64::MAX);
        assert_eq!(fetch_limit(limit(20)), 21);
    }

    #[test]
    fn one_row_more_than_the_limit_makes_a_cursor_from_the_last_row_kept() {
        let order = NewestFirst("test");
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let ids: Vec<Uuid> = (1..=3).map(Uuid::from_u128).collect();
        let page = assemble(
            ids.clone(),
            limit(2),
            Some(9),
            |id| order.cursor(at, *id),
            Ok,
        )
        .unwrap();
        assert_eq!(page.items, ids[..2]);
        assert_eq!(page.total, Some(9));
        let cursor = page.next_cursor.unwrap();
        assert_eq!(order.after(&cursor).unwrap(), (at, ids[1]));
        assert!(matches!(
            NewestFirst("other").after(&cursor),
            Err(RepoError::InvalidCursor)
        ));

        let last = assemble(ids.clone(), limit(3), None, |id| order.cursor(at, *id), Ok).unwrap();
        assert_eq!(last.items, ids);
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn a_row_that_does_not_convert_fails_the_page() {
        let failed = assemble(
            vec![1, 2],
            limit(5),
            None,
            |_| NewestFirst("test").cursor(DateTime::<Utc>::UNIX_EPOCH, Uuid::nil()),
            |n| {
                if n == 2 {
                    Err(RepoError::NotFound)
                } else {
                    Ok(n)
                }
            },
        );
        assert!(matches!(failed, Err(RepoError::NotFound)));
    }
}
