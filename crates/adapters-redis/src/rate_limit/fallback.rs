//! [`FallbackRateLimiter`]: Redis first, the in-process twin while Redis fails, so an
//! outage neither lets every request through nor refuses any.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::error::ServiceError;
use domain::ports::RateLimiter;
use domain::rate_limit::{Quota, RateDecision};

use super::LocalRateLimiter;

/// While Redis is failing, at most one request per this period tries it again; the
/// others go straight to the twin instead of waiting out the Redis deadline each.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The primary (Redis) limiter with the twin behind it.
///
/// On an error of the primary the request is decided by the twin: each instance then
/// enforces the budget on its own (a client spreading over N instances gets up to N
/// budgets), which is the safe side of failing: never open, never an error. The first
/// failure of an outage is logged as a warning, the recovery once at info.
pub struct FallbackRateLimiter<P> {
    primary: P,
    local: LocalRateLimiter,
    /// When the current outage started being noticed and when to try the primary
    /// again; `None` while the primary answers.
    outage: Mutex<Option<Outage>>,
    retry_every: Duration,
}

#[derive(Clone, Copy)]
struct Outage {
    next_try: Instant,
    failures: u64,
}

impl<P> std::fmt::Debug for FallbackRateLimiter<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackRateLimiter")
            .field("retry_every", &self.retry_every)
            .finish_non_exhaustive()
    }
}

impl<P: RateLimiter> FallbackRateLimiter<P> {
    /// `primary` first, a fresh twin behind it, retrying a failing primary every
    /// [`RETRY_EVERY`].
    pub fn new(primary: P) -> Self {
        Self::with_retry_every(primary, RETRY_EVERY)
    }

    /// Like [`new`](Self::new), retrying a failing primary every `retry_every`.
    pub fn with_retry_every(primary: P, retry_every: Duration) -> Self {
        Self {
            primary,
            local: LocalRateLimiter::new(),
            outage: Mutex::new(None),
            retry_every,
        }
    }

    /// Whether this request should try the primary: always while it answers, once per
    /// period while it fails (that request claims the try).
    fn should_try_primary(&self) -> bool {
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        match outage.as_mut() {
            None => true,
            Some(o) if Instant::now() >= o.next_try => {
                o.next_try = Instant::now() + self.retry_every;
                true
            }
            Some(_) => false,
        }
    }

    fn primary_failed(&self, error: &ServiceError) {
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        let next_try = Instant::now() + self.retry_every;
        match outage.as_mut() {
            None => {
                *outage = Some(Outage {
                    next_try,
                    failures: 1,
                });
                tracing::warn!(
                    error = %error,
                    "rate limits: Redis failed; budgets are kept per instance until it answers"
                );
            }
            Some(o) => {
                o.next_try = next_try;
                o.failures += 1;
                tracing::debug!(error = %error, failures = o.failures, "rate limits: Redis failed again");
            }
        }
    }

    fn primary_answered(&self) {
        let mut outage = self.outage.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(o) = outage.take() {
            tracing::info!(
                failures = o.failures,
                "rate limits: Redis answers again; budgets are shared again"
            );
        }
    }
}

#[async_trait]
impl<P: RateLimiter> RateLimiter for FallbackRateLimiter<P> {
    async fn acquire(
        &self,
        bucket: &str,
        client: &str,
        quota: Quota,
    ) -> Result<RateDecision, ServiceError> {
        if self.should_try_primary() {
            match self.primary.acquire(bucket, client, quota).await {
                Ok(decision) => {
                    self.primary_answered();
                    return Ok(decision);
                }
                Err(error) => self.primary_failed(&error),
            }
        }
        Ok(self.local.decide(bucket, client, quota))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    /// A primary that fails while `down` and counts how often it is asked.
    #[derive(Default)]
    struct Flaky {
        down: AtomicBool,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl RateLimiter for Flaky {
        async fn acquire(
            &self,
            _bucket: &str,
            _client: &str,
            quota: Quota,
        ) -> Result<RateDecision, ServiceError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                Err(ServiceError("redis rate_limit: unreachable".into()))
            } else {
                Ok(RateDecision::Allowed {
                    limit: quota.limit(),
                    remaining: 42,
                    reset_after: Duration::ZERO,
                })
            }
        }
    }

    fn from_primary(decision: RateDecision) -> bool {
        matches!(decision, RateDecision::Allowed { remaining: 42, .. })
    }

    #[tokio::test]
    async fn a_failing_primary_is_tried_once_per_period_and_used_again_once_it_answers() {
        let limiter =
            FallbackRateLimiter::with_retry_every(Flaky::default(), Duration::from_millis(100));
        let quota = Quota::per_minute(1000).unwrap();
        let decide = || limiter.acquire("all", "10.0.0.1", quota);
        assert!(from_primary(decide().await.unwrap()));

        limiter.primary.down.store(true, Ordering::SeqCst);
        let before = limiter.primary.calls.load(Ordering::SeqCst);
        for _ in 0..10 {
            assert!(!from_primary(decide().await.unwrap()), "the twin decides");
        }
        assert_eq!(
            limiter.primary.calls.load(Ordering::SeqCst) - before,
            1,
            "one try, then the twin until the period is over"
        );

        limiter.primary.down.store(false, Ordering::SeqCst);
        assert!(!from_primary(decide().await.unwrap()), "not retried yet");
        // real timer: the fallback's retry period (an `Instant`)
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(from_primary(decide().await.unwrap()), "retried and back");
        assert!(from_primary(decide().await.unwrap()));
    }
}
