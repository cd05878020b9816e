//! [`LocalRateLimiter`]: the in-process twin, on the `governor` crate (the engine
//! actix-governor uses), one keyed limiter per bucket and quota.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use domain::error::ServiceError;
use domain::ports::RateLimiter;
use domain::rate_limit::{Quota, RateDecision};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

/// One bucket's keyed GCRA state, per client.
type Keyed = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// Every this many requests, clients whose budget is whole again are forgotten, so
/// memory follows the clients of the last minute, not every client ever seen.
const SWEEP_EVERY: u64 = 4096;

/// Budgets kept in this process: exact for one instance, but each instance has its own
/// (several instances need [`RedisRateLimiter`](super::RedisRateLimiter)).
///
/// `governor` does not expose the theoretical arrival time, so `reset_after` of an
/// allowed request is the upper bound `(limit - remaining) × interval`: at most one
/// interval later than the Redis adapter's exact value.
#[derive(Default)]
pub struct LocalRateLimiter {
    buckets: Mutex<HashMap<(String, u32), Arc<Keyed>>>,
    requests: AtomicU64,
}

impl std::fmt::Debug for LocalRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRateLimiter").finish_non_exhaustive()
    }
}

impl LocalRateLimiter {
    /// An empty limiter: every client starts with a whole budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limiter of `bucket` under `quota` (a changed quota starts fresh budgets).
    fn bucket(&self, bucket: &str, quota: Quota) -> Arc<Keyed> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets
            .entry((bucket.to_owned(), quota.limit()))
            .or_insert_with(|| {
                let limit = NonZeroU32::new(quota.limit()).unwrap_or(NonZeroU32::MIN);
                Arc::new(
                    governor::RateLimiter::keyed(governor::Quota::per_minute(limit))
                        .with_middleware::<StateInformationMiddleware>(),
                )
            })
            .clone()
    }

    /// Forgets the clients whose budgets are whole again, now and then.
    fn sweep(&self) {
        if self.requests.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        let buckets: Vec<Arc<Keyed>> = self
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for limiter in buckets {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// The decision, synchronously (the state is in memory).
    pub fn decide(&self, bucket: &str, client: &str, quota: Quota) -> RateDecision {
        self.sweep();
        let limiter = self.bucket(bucket, quota);
        let interval = quota.emission_interval();
        match limiter.check_key(&client.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity().min(quota.limit());
                RateDecision::Allowed {
                    limit: quota.limit(),
                    remaining,
                    reset_after: interval.saturating_mul(quota.limit() - remaining),
                }
            }
            Err(not_until) => RateDecision::Limited {
                limit: quota.limit(),
                retry_after: not_until
                    .wait_time_from(limiter.clock().now())
                    .max(Duration::from_micros(1)),
            },
        }
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn acquire(
        &self,
        bucket: &str,
        client: &str,
        quota: Quota,
    ) -> Result<RateDecision, ServiceError> {
        Ok(self.decide(bucket, client, quota))
    }
}
