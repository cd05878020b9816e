//! The list cache: [`RedisListCache`] shared by every instance, and [`LocalListCache`],
//! its in-process twin.
//!
//! Both keep one *generation* for all user lists, replaced by every invalidation. A page
//! is stored with the generation seen at lookup (the ticket's stamp) and is a hit only
//! while it is unchanged; a store whose stamp no longer matches is dropped. Pages live
//! [`PAGE_TTL`], the bound on staleness should an invalidation be lost; generations
//! outlive pages, so an expired generation can never revive an old page.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::error::ServiceError;
use domain::list_cache::{ListKey, ListLookup, ListTicket, RenderedList};
use domain::ports::ListCache;
use uuid::Uuid;

use crate::connection::RedisConnection;

/// How long a page is trusted at most.
pub const PAGE_TTL: Duration = Duration::from_secs(30);

/// How long a generation is kept: well past any page stored under the one before.
const GENERATION_TTL: Duration = Duration::from_secs(600);

/// The generation while nobody invalidated (recently).
const NO_GENERATION: &str = "-";

/// What the in-process twin holds at most before it starts over.
const LOCAL_MAX_BYTES: usize = 32 * 1024 * 1024;
const LOCAL_MAX_PAGES: usize = 4_096;

/// Lua: store the page only if the generation still reads as the ticket's stamp.
const STORE_IF_CURRENT: &str = r"
if (redis.call('GET', KEYS[2]) or '-') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
";

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A page as stored in Redis: `stamp \n etag \n body` (neither stamp nor tag holds a
/// line break).
fn encode(stamp: &str, page: &RenderedList) -> Vec<u8> {
    let mut out = Vec::with_capacity(stamp.len() + page.etag.len() + page.body.len() + 2);
    out.extend_from_slice(stamp.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(page.etag.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&page.body);
    out
}

/// The page of `raw` if it was stored under `current` (anything malformed is a miss).
fn decode(raw: &[u8], current: &str) -> Option<RenderedList> {
    let mut parts = raw.splitn(3, |b| *b == b'\n');
    let stamp = parts.next()?;
    let etag = std::str::from_utf8(parts.next()?).ok()?;
    let body = parts.next()?;
    (stamp == current.as_bytes()).then(|| RenderedList {
        etag: etag.to_owned(),
        body: body.into(),
    })
}

/// Pages in Redis, shared by every instance.
#[derive(Debug, Clone)]
pub struct RedisListCache {
    redis: RedisConnection,
    store_script: std::sync::Arc<redis::Script>,
}

impl RedisListCache {
    /// A cache on the shared connection.
    pub fn new(redis: RedisConnection) -> Self {
        Self {
            redis,
            store_script: std::sync::Arc::new(redis::Script::new(STORE_IF_CURRENT)),
        }
    }

    /// The page's key: a digest, so that search terms (which may name people) are not
    /// key names and every key is short.
    fn page_key(&self, key: &ListKey) -> String {
        self.redis.key(&format!("lists:page:{}", key.digest()))
    }

    fn generation_key(&self) -> String {
        self.redis.key("lists:gen")
    }
}

#[async_trait]
impl ListCache for RedisListCache {
    async fn lookup(&self, key: &ListKey) -> Result<ListLookup, ServiceError> {
        let keys = [self.page_key(key), self.generation_key()];
        let (stored, generation): (Option<Vec<u8>>, Option<String>) = self
            .redis
            .call("list_cache.lookup", |mut conn| async move {
                redis::cmd("MGET").arg(&keys).query_async(&mut conn).await
            })
            .await?;
        let current = generation.unwrap_or_else(|| NO_GENERATION.to_owned());
        Ok(match stored.and_then(|raw| decode(&raw, &current)) {
            Some(page) => ListLookup::Hit(page),
            None => ListLookup::Miss(ListTicket {
                key: key.clone(),
                stamp: current,
            }),
        })
    }

    async fn store(&self, ticket: &ListTicket, page: &RenderedList) -> Result<(), ServiceError> {
        if !page.cacheable() {
            return Ok(());
        }
        let value = encode(&ticket.stamp, page);
        let script = self.store_script.clone();
        let keys = [self.page_key(&ticket.key), self.generation_key()];
        let stamp = ticket.stamp.clone();
        self.redis
            .call("list_cache.store", |mut conn| async move {
                script
                    .key(&keys[0])
                    .key(&keys[1])
                    .arg(stamp)
                    .arg(value)
                    .arg(millis(PAGE_TTL))
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(|_| ())
    }

    async fn invalidate(&self) -> Result<(), ServiceError> {
        let key = self.generation_key();
        self.redis
            .call("list_cache.invalidate", |mut conn| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(Uuid::new_v4().simple().to_string())
                    .arg("PX")
                    .arg(millis(GENERATION_TTL))
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }
}

struct LocalPage {
    generation: u64,
    page: RenderedList,
    until: Instant,
}

#[derive(Default)]
struct LocalState {
    generation: u64,
    pages: HashMap<ListKey, LocalPage>,
    bytes: usize,
}

impl LocalState {
    /// Makes room for `size` more bytes: first by dropping expired pages, then, if that
    /// is not enough, everything (a full cache is a cold one, never an unbounded one).
    fn make_room(&mut self, size: usize, now: Instant) {
        let full = |s: &Self| s.bytes + size > LOCAL_MAX_BYTES || s.pages.len() >= LOCAL_MAX_PAGES;
        if full(self) {
            self.pages.retain(|_, p| p.until > now);
            self.bytes = self.pages.values().map(|p| p.page.body.len()).sum();
        }
        if full(self) {
            self.pages.clear();
            self.bytes = 0;
        }
    }
}

/// The in-process twin: the same rules in this process's memory, for a single instance.
#[derive(Default)]
pub struct LocalListCache {
    state: Mutex<LocalState>,
}

impl std::fmt::Debug for LocalListCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalListCache").finish_non_exhaustive()
    }
}

impl LocalListCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, LocalState>, ServiceError> {
        self.state
            .lock()
            .map_err(|_| ServiceError("list cache: poisoned".into()))
    }
}

#[async_trait]
impl ListCache for LocalListCache {
    async fn lookup(&self, key: &ListKey) -> Result<ListLookup, ServiceError> {
        let now = Instant::now();
        let state = self.state()?;
        let current = state.generation;
        Ok(
            match state
                .pages
                .get(key)
                .filter(|p| p.generation == current && p.until > now)
            {
                Some(p) => ListLookup::Hit(p.page.clone()),
                None => ListLookup::Miss(ListTicket {
                    key: key.clone(),
                    stamp: current.to_string(),
                }),
            },
        )
    }

    async fn store(&self, ticket: &ListTicket, page: &RenderedList) -> Result<(), ServiceError> {
        if !page.cacheable() {
            return Ok(());
        }
        let now = Instant::now();
        let mut state = self.state()?;
        if state.generation.to_string() != ticket.stamp {
            return Ok(());
        }
        state.make_room(page.body.len(), now);
        let generation = state.generation;
        let old = state.pages.insert(
            ticket.key.clone(),
            LocalPage {
                generation,
                page: page.clone(),
                until: now + PAGE_TTL,
            },
        );
        state.bytes += page.body.len();
        if let Some(old) = old {
            state.bytes -= old.page.body.len();
        }
        Ok(())
    }

    async fn invalidate(&self) -> Result<(), ServiceError> {
        let mut state = self.state()?;
        state.generation += 1;
        state.pages.clear();
        state.bytes = 0;
        Ok(())
    }
}

/// No cache: every lookup misses and nothing is stored. For deployments whose lists are
/// read from a replica, where a page read just after a write may predate it: cached, it
/// would outlive the replica's lag.
#[derive(Debug, Default)]
pub struct NoListCache;

#[async_trait]
impl ListCache for NoListCache {
    async fn lookup(&self, key: &ListKey) -> Result<ListLookup, ServiceError> {
        Ok(ListLookup::Miss(ListTicket {
            key: key.clone(),
            stamp: NO_GENERATION.to_owned(),
        }))
    }

    async fn store(&self, _: &ListTicket, _: &RenderedList) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn invalidate(&self) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &[u8]) -> RenderedList {
        RenderedList {
            etag: "\"l1\"".into(),
            body: body.into(),
        }
    }

    #[test]
    fn a_stored_page_reads_back_only_under_its_stamp() {
        let raw = encode("g1", &page(b"{\"a\":\"x\ny\"}"));
        assert_eq!(decode(&raw, "g1"), Some(page(b"{\"a\":\"x\ny\"}")));
        assert_eq!(decode(&raw, "g2"), None);
        assert_eq!(decode(b"g1", "g1"), None, "truncated");
        assert_eq!(
            decode(b"g1\n\xff\n{}", "g1"),
            None,
            "a tag that is not text"
        );
    }

    #[tokio::test]
    async fn the_twin_stays_within_its_bounds() {
        let cache = LocalListCache::new();
        let body = vec![b' '; RenderedList::MAX_CACHED_BODY];
        let pages = LOCAL_MAX_BYTES / body.len() + 5;
        for n in 0..pages {
            let key = ListKey::users(&domain::page::UserQuery {
                page: domain::page::PageRequest {
                    limit: domain::page::Limit::new(i64::try_from(n % 100 + 1).unwrap()).unwrap(),
                    position: domain::page::Position::Offset(
                        domain::page::Offset::new(i64::try_from(n).unwrap()).unwrap(),
                    ),
                },
                ..domain::page::UserQuery::default()
            });
            let ListLookup::Miss(ticket) = cache.lookup(&key).await.unwrap() else {
                panic!("a new key is a miss");
            };
            cache.store(&ticket, &page(&body)).await.unwrap();
            let state = cache.state().unwrap();
            assert!(state.bytes <= LOCAL_MAX_BYTES, "{} bytes", state.bytes);
            assert_eq!(
                state.bytes,
                state
                    .pages
                    .values()
                    .map(|p| p.page.body.len())
                    .sum::<usize>()
            );
        }
    }
}
