//! [`RedisRateLimiter`]: budgets in Redis, so every instance spends from the same one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::error::ServiceError;
use domain::ports::RateLimiter;
use domain::rate_limit::{Quota, RateDecision};

use crate::connection::RedisConnection;

/// The GCRA step: read the TAT, decide, write the new TAT, in one atomic script whose
/// clock is Redis's `TIME`.
const GCRA: &str = include_str!("gcra.lua");

/// Budgets shared by every instance on one Redis: each decision is one `EVALSHA` of
/// [`GCRA`] on key `<prefix>rl:<bucket>:<client>`, which expires once the budget is whole.
#[derive(Clone)]
pub struct RedisRateLimiter {
    redis: RedisConnection,
    script: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter").finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// A limiter on the shared connection.
    pub fn new(redis: RedisConnection) -> Self {
        Self {
            redis,
            script: Arc::new(redis::Script::new(GCRA)),
        }
    }

    /// The key of one client's budget in one bucket.
    pub fn key(&self, bucket: &str, client: &str) -> String {
        self.redis.key(&format!("rl:{bucket}:{client}"))
    }
}

/// A quota's emission interval in microseconds, the script's unit (at least 1).
fn interval_micros(quota: Quota) -> u64 {
    u64::try_from(quota.emission_interval().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The decision from the script's answer: allowed with the time until the budget is
/// whole (what is left is the room that leaves, in whole intervals), or refused with the
/// time until the next request would pass.
fn decision(quota: Quota, allowed: bool, micros: i64) -> RateDecision {
    let micros = u64::try_from(micros).unwrap_or(0);
    if !allowed {
        return RateDecision::Limited {
            limit: quota.limit(),
            retry_after: Duration::from_micros(micros.max(1)),
        };
    }
    let interval = interval_micros(quota);
    let room = interval
        .saturating_mul(u64::from(quota.limit()))
        .saturating_sub(micros);
    RateDecision::Allowed {
        limit: quota.limit(),
        remaining: u32::try_from(room / interval).unwrap_or(u32::MAX),
        reset_after: Duration::from_micros(micros),
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(
        &self,
        bucket: &str,
        client: &str,
        quota: Quota,
    ) -> Result<RateDecision, ServiceError> {
        let key = self.key(bucket, client);
        let interval = interval_micros(quota);
        let script = self.script.clone();
        let (allowed, micros): (i64, i64) = self
            .redis
            .call("rate_limit.acquire", |mut conn| async move {
                script
                    .key(key)
                    .arg(interval)
                    .arg(quota.limit())
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(decision(quota, allowed == 1, micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_answer_becomes_the_decision() {
        let five = Quota::per_minute(5).unwrap();
        assert_eq!(
            decision(five, true, 12_000_000),
            RateDecision::Allowed {
                limit: 5,
                remaining: 4,
                reset_after: Duration::from_secs(12)
            }
        );
        assert_eq!(
            decision(five, true, 59_000_000),
            RateDecision::Allowed {
                limit: 5,
                remaining: 0,
                reset_after: Duration::from_secs(59)
            }
        );
        assert_eq!(
            decision(five, false, 3_000_000),
            RateDecision::Limited {
                limit: 5,
                retry_after: Duration::from_secs(3)
            }
        );
    }

    fn limiter(key_prefix: &str) -> RedisRateLimiter {
        let config = crate::RedisConfig {
            url: "redis://127.0.0.1:1".into(),
            timeout: Duration::from_millis(10),
            key_prefix: key_prefix.into(),
        };
        RedisRateLimiter::new(RedisConnection::connect_lazy(&config).unwrap())
    }

    #[tokio::test]
    async fn keys_name_the_prefix_the_bucket_and_the_client() {
        // The default prefix keeps the names keys had before it could be chosen.
        assert_eq!(
            limiter(crate::DEFAULT_KEY_PREFIX).key("login", "2001:db8::1"),
            "ems:rl:login:2001:db8::1"
        );
        assert_eq!(
            limiter("staging:").key("global", "192.0.2.1"),
            "staging:rl:global:192.0.2.1"
        );
    }
}
