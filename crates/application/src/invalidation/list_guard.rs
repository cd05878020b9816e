//! [`GuardedListCache`]: the list cache the use cases see. A voiding that could not be
//! delivered stays pending; until it lands, this instance neither serves nor stores any
//! page, and it retries the delivery at most every
//! [`RETRY_EVERY`](super::RETRY_EVERY) on the next lookup.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::ServiceError;
use domain::list_cache::{ListKey, ListLookup, ListTicket, RenderedList};
use domain::ports::{Clock, ListCache};

use super::{retry_due, with_one_retry};

#[derive(Debug, Default)]
struct Pending {
    /// Voidings asked for and not delivered yet (a count, so that one asked for while
    /// an earlier one is on its way is not forgotten when that one lands).
    voids: u64,
    last_try: Option<DateTime<Utc>>,
}

/// See the module docs.
pub(crate) struct GuardedListCache {
    inner: Arc<dyn ListCache>,
    clock: Arc<dyn Clock>,
    pending: Mutex<Pending>,
}

impl GuardedListCache {
    pub(crate) fn new(inner: Arc<dyn ListCache>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            clock,
            pending: Mutex::default(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tries once to deliver what is pending; on success it is no longer pending.
    async fn deliver(&self) -> Result<(), ServiceError> {
        let asked = {
            let mut pending = self.pending();
            pending.last_try = Some(self.clock.now());
            pending.voids
        };
        if asked == 0 {
            return Ok(());
        }
        self.inner.invalidate().await?;
        let mut pending = self.pending();
        pending.voids = pending.voids.saturating_sub(asked);
        Ok(())
    }

    /// Whether lookups and stores must bypass the cache; retries the delivery first when
    /// the last try is old enough.
    async fn bypasses(&self) -> bool {
        let retry = {
            let pending = self.pending();
            pending.voids > 0 && retry_due(pending.last_try, self.clock.now())
        };
        if retry {
            if let Err(err) = self.deliver().await {
                tracing::debug!(error = %err, "pending list-cache voiding still not delivered");
            }
        }
        self.pending().voids > 0
    }
}

#[async_trait]
impl ListCache for GuardedListCache {
    async fn lookup(&self, key: &ListKey) -> Result<ListLookup, ServiceError> {
        if self.bypasses().await {
            return Err(ServiceError(
                "a voiding of the list cache is pending".into(),
            ));
        }
        self.inner.lookup(key).await
    }

    async fn store(&self, ticket: &ListTicket, page: &RenderedList) -> Result<(), ServiceError> {
        if !page.cacheable() || self.bypasses().await {
            return Ok(());
        }
        self.inner.store(ticket, page).await
    }

    /// Pending from the first moment, so lookups bypass even while it is being sent.
    async fn invalidate(&self) -> Result<(), ServiceError> {
        self.pending().voids += 1;
        let result = with_one_retry(|| self.deliver()).await;
        if let Err(err) = &result {
            tracing::error!(
                error = %err,
                "could not void cached list pages; this instance reads lists from the \
                 database until a retry lands"
            );
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invalidation::RETRY_EVERY;
    use domain::ports::{MockClock, MockListCache};

    fn key() -> ListKey {
        ListKey::users(&domain::page::UserQuery::default())
    }

    fn page() -> RenderedList {
        RenderedList {
            etag: "\"l1\"".into(),
            body: b"{}".to_vec().into(),
        }
    }

    fn manual_clock() -> (Arc<dyn Clock>, Arc<Mutex<DateTime<Utc>>>) {
        let now = Arc::new(Mutex::new(crate::testing::now()));
        let read = now.clone();
        let mut clock = MockClock::new();
        clock.expect_now().returning(move || *read.lock().unwrap());
        (Arc::new(clock), now)
    }

    #[tokio::test]
    async fn while_a_voiding_is_pending_no_page_is_served_or_stored_until_it_lands() {
        let refuse = Arc::new(Mutex::new(true));
        let gate = refuse.clone();
        let tries = Arc::new(Mutex::new(0));
        let counted = tries.clone();
        let mut inner = MockListCache::new();
        inner.expect_invalidate().returning(move || {
            *counted.lock().unwrap() += 1;
            if *gate.lock().unwrap() {
                Err(ServiceError("READONLY".into()))
            } else {
                Ok(())
            }
        });
        inner
            .expect_lookup()
            .returning(|_| Ok(ListLookup::Hit(page())));
        inner.expect_store().times(1).returning(|_, _| Ok(()));
        let (clock, now) = manual_clock();
        let guarded = GuardedListCache::new(Arc::new(inner), clock);
        let ticket = ListTicket {
            key: key(),
            stamp: "g".into(),
        };

        assert!(guarded.invalidate().await.is_err());
        assert_eq!(*tries.lock().unwrap(), 2, "tried twice");
        assert!(guarded.lookup(&key()).await.is_err(), "bypassed");
        guarded
            .store(&ticket, &page())
            .await
            .expect("dropped quietly");
        assert_eq!(*tries.lock().unwrap(), 2, "no retry within a second");

        *now.lock().unwrap() += RETRY_EVERY;
        assert!(guarded.lookup(&key()).await.is_err(), "still refused");
        assert_eq!(*tries.lock().unwrap(), 3, "retried on the lookup");

        *refuse.lock().unwrap() = false;
        *now.lock().unwrap() += RETRY_EVERY;
        assert_eq!(
            guarded.lookup(&key()).await.expect("answers"),
            ListLookup::Hit(page())
        );
        guarded.store(&ticket, &page()).await.expect("stored");
    }

    #[tokio::test]
    async fn an_oversized_page_is_never_stored() {
        let mut inner = MockListCache::new();
        inner.expect_store().never();
        let (clock, _) = manual_clock();
        let guarded = GuardedListCache::new(Arc::new(inner), clock);
        let big = RenderedList {
            etag: "\"l2\"".into(),
            body: vec![b' '; RenderedList::MAX_CACHED_BODY + 1].into(),
        };
        let ticket = ListTicket {
            key: key(),
            stamp: "g".into(),
        };
        guarded.store(&ticket, &big).await.expect("dropped quietly");
    }
}
