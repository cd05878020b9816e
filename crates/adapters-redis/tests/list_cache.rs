//! Contract tests of the list cache: each runs against the in-process twin and, when
//! `EMS_TEST_REDIS_URL` is set, against Redis under a key prefix of its own (two handles
//! each, as two instances would hold), so the twin behaves as its Redis adapter.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use adapters_redis::{LocalListCache, RedisConfig, RedisConnection, RedisListCache};
use domain::list_cache::{ListKey, ListLookup, ListTicket, RenderedList};
use domain::page::{Limit, PageRequest, Position, UserQuery};
use domain::ports::ListCache;
use domain::search::SearchTerm;
use uuid::Uuid;

fn connection(prefix: &str) -> Option<RedisConnection> {
    let url = adapters_redis::testing::redis_url()?;
    Some(
        RedisConnection::connect_lazy(&RedisConfig {
            url,
            timeout: Duration::from_secs(2),
            key_prefix: prefix.into(),
        })
        .expect("EMS_TEST_REDIS_URL is a Redis URL"),
    )
}

type Variants = Vec<(&'static str, Arc<dyn ListCache>, Arc<dyn ListCache>)>;

fn variants() -> Variants {
    let local: Arc<dyn ListCache> = Arc::new(LocalListCache::new());
    let mut all = vec![("local", local.clone(), local)];
    let prefix = format!("{}:", Uuid::new_v4().simple());
    if let Some(conn) = connection(&prefix) {
        all.push((
            "redis",
            Arc::new(RedisListCache::new(conn.clone())),
            Arc::new(RedisListCache::new(conn)),
        ));
    }
    all
}

fn key(limit: i64) -> ListKey {
    ListKey::users(&UserQuery {
        page: PageRequest {
            limit: Limit::new(limit).unwrap(),
            position: Position::default(),
        },
        ..UserQuery::default()
    })
}

fn page(tag: &str) -> RenderedList {
    RenderedList {
        etag: format!("\"{tag}\""),
        // Bytes a text encoding could mangle, and line breaks.
        body: [tag.as_bytes(), b"\n\x00\xff{}"].concat().into(),
    }
}

async fn ticket(cache: &dyn ListCache, key: &ListKey) -> ListTicket {
    match cache.lookup(key).await.unwrap() {
        ListLookup::Miss(ticket) => ticket,
        ListLookup::Hit(page) => panic!("expected a miss, found {page:?}"),
    }
}

#[tokio::test]
async fn a_stored_page_is_a_hit_for_every_instance_until_an_invalidation() {
    for (name, a, b) in variants() {
        let t = ticket(a.as_ref(), &key(20)).await;
        assert_eq!(t.key, key(20), "{name}");
        a.store(&t, &page("p1")).await.unwrap();
        assert_eq!(
            b.lookup(&key(20)).await.unwrap(),
            ListLookup::Hit(page("p1")),
            "{name}: the other instance sees it"
        );
        assert!(
            matches!(b.lookup(&key(21)).await.unwrap(), ListLookup::Miss(_)),
            "{name}: another page is not it"
        );

        b.invalidate().await.unwrap();
        let fresh = ticket(a.as_ref(), &key(20)).await;
        assert_ne!(fresh.stamp, t.stamp, "{name}: a new generation");
        a.store(&fresh, &page("p2")).await.unwrap();
        assert_eq!(
            b.lookup(&key(20)).await.unwrap(),
            ListLookup::Hit(page("p2")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_page_read_before_an_invalidation_is_never_stored_after_it() {
    for (name, a, b) in variants() {
        let early = ticket(a.as_ref(), &key(20)).await;
        // A writer commits and invalidates while the reader is reading.
        b.invalidate().await.unwrap();
        a.store(&early, &page("old")).await.unwrap();
        assert!(
            matches!(b.lookup(&key(20)).await.unwrap(), ListLookup::Miss(_)),
            "{name}: the late store was dropped"
        );
        // Even once a later page was stored, the early ticket cannot replace it.
        let later = ticket(b.as_ref(), &key(20)).await;
        b.store(&later, &page("new")).await.unwrap();
        a.store(&early, &page("old")).await.unwrap();
        assert_eq!(
            a.lookup(&key(20)).await.unwrap(),
            ListLookup::Hit(page("new")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn search_pages_and_list_pages_are_apart() {
    for (name, a, _) in variants() {
        let term = SearchTerm::parse("ann").unwrap();
        let search = ListKey::search(&term, &PageRequest::default());
        let list = ListKey::users(&UserQuery::default());
        let t = ticket(a.as_ref(), &search).await;
        a.store(&t, &page("found")).await.unwrap();
        assert!(
            matches!(a.lookup(&list).await.unwrap(), ListLookup::Miss(_)),
            "{name}"
        );
        assert_eq!(
            a.lookup(&search).await.unwrap(),
            ListLookup::Hit(page("found"))
        );
    }
}

#[tokio::test]
async fn an_oversized_page_is_not_stored() {
    for (name, a, _) in variants() {
        let t = ticket(a.as_ref(), &key(20)).await;
        let big = RenderedList {
            etag: "\"big\"".into(),
            body: vec![b' '; RenderedList::MAX_CACHED_BODY + 1].into(),
        };
        a.store(&t, &big).await.unwrap();
        assert!(
            matches!(a.lookup(&key(20)).await.unwrap(), ListLookup::Miss(_)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn deployments_under_other_key_prefixes_do_not_share_pages_or_invalidations() {
    let (Some(one), Some(other)) = (
        connection(&format!("{}:", Uuid::new_v4().simple())),
        connection(&format!("{}:", Uuid::new_v4().simple())),
    ) else {
        // The twin has no prefixes; `redis_url` fails this test in CI without Redis.
        return;
    };
    let (one, other) = (RedisListCache::new(one), RedisListCache::new(other));
    let t = ticket(&one, &key(20)).await;
    one.store(&t, &page("one")).await.unwrap();
    assert!(matches!(
        other.lookup(&key(20)).await.unwrap(),
        ListLookup::Miss(_)
    ));
    other.invalidate().await.unwrap();
    assert_eq!(
        one.lookup(&key(20)).await.unwrap(),
        ListLookup::Hit(page("one"))
    );
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_within_its_timeout() {
    let conn = RedisConnection::connect_lazy(&RedisConfig {
        url: "redis://127.0.0.1:1".into(),
        timeout: Duration::from_millis(200),
        key_prefix: "ems:".into(),
    })
    .unwrap();
    let cache = RedisListCache::new(conn);
    let started = std::time::Instant::now();
    assert!(cache.lookup(&key(20)).await.is_err());
    assert!(cache.invalidate().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
}
