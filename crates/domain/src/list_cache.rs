//! Rendered user-list pages as a [`ListCache`](crate::ports::ListCache) keeps them, so
//! that a page nobody changed is served, or answered 304, without reading the database.
//!
//! Every committed change to any user row replaces the cache's *generation*; a page is
//! stored with the generation seen before the database was read (the ticket) and is a
//! hit only while that generation is current, so a page read before a change can never
//! be served after it.

use std::sync::Arc;

use crate::page::{PageRequest, UserQuery};
use crate::search::SearchTerm;

/// Which page: the list or search and every input that shapes its body, tagged with the
/// build that renders it (instances of two versions never share a rendering).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListKey(String);

impl ListKey {
    /// A page of `GET /users`.
    pub fn users(query: &UserQuery) -> Self {
        Self(format!("{}:users:{query:?}", env!("CARGO_PKG_VERSION")))
    }

    /// A page of `GET /users/search`.
    pub fn search(term: &SearchTerm, page: &PageRequest) -> Self {
        Self(format!(
            "{}:search:{term:?}:{page:?}",
            env!("CARGO_PKG_VERSION")
        ))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short digest of the key (128 bits of SHA-256, hex) for shared stores' key names:
    /// search terms may name people, and no key name should carry one.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.0.as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A page as the edge sends it: its entity tag and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedList {
    /// The `ETag` value, quotes included.
    pub etag: String,
    /// The JSON body.
    pub body: Arc<[u8]>,
}

impl RenderedList {
    /// Bodies larger than this are not cached (a full page of 100 users is ≈ 50 KiB).
    pub const MAX_CACHED_BODY: usize = 256 * 1024;

    /// Whether this page may be cached at all.
    pub fn cacheable(&self) -> bool {
        self.body.len() <= Self::MAX_CACHED_BODY
    }
}

/// Where a miss may store what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTicket {
    /// The page looked up.
    pub key: ListKey,
    /// The adapter's opaque record of the generation at lookup time.
    pub stamp: String,
}

/// The answer of a [`ListCache`](crate::ports::ListCache) lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListLookup {
    /// A page stored under the current generation.
    Hit(RenderedList),
    /// Nothing current: read the store, then store the page under this ticket.
    Miss(ListTicket),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::{Limit, Offset, Position, UserFilter, UserSort};

    fn query(limit: i64, offset: i64) -> UserQuery {
        UserQuery {
            filter: UserFilter::default(),
            sort: UserSort::default(),
            page: PageRequest {
                limit: Limit::new(limit).unwrap(),
                position: Position::Offset(Offset::new(offset).unwrap()),
            },
        }
    }

    #[test]
    fn every_input_of_a_page_is_in_its_key() {
        let base = ListKey::users(&query(20, 0));
        assert_eq!(base, ListKey::users(&query(20, 0)));
        assert_ne!(base, ListKey::users(&query(21, 0)));
        assert_ne!(base, ListKey::users(&query(20, 1)));
        let mut filtered = query(20, 0);
        filtered.filter.include_deleted = true;
        assert_ne!(base, ListKey::users(&filtered));
        let term = SearchTerm::parse("ann").unwrap();
        let other = SearchTerm::parse("bob").unwrap();
        let page = query(20, 0).page;
        assert_ne!(
            ListKey::search(&term, &page),
            ListKey::search(&other, &page)
        );
        assert!(base.as_str().starts_with(env!("CARGO_PKG_VERSION")));
        let digest = ListKey::search(&term, &page).digest();
        assert_eq!(digest.len(), 32);
        assert!(!digest.contains("ann"));
        assert_ne!(digest, ListKey::search(&other, &page).digest());
    }

    #[test]
    fn oversized_bodies_are_not_cached() {
        let page = |n: usize| RenderedList {
            etag: "\"l0\"".into(),
            body: vec![b' '; n].into(),
        };
        assert!(page(RenderedList::MAX_CACHED_BODY).cacheable());
        assert!(!page(RenderedList::MAX_CACHED_BODY + 1).cacheable());
    }
}
