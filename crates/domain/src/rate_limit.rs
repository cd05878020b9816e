//! Rate limiting as the core names it: a budget per client and bucket, refilled evenly
//! over a minute (GCRA), and the decision for one request.

use std::time::Duration;

/// A budget: `per_minute` requests, refilled evenly (one every `60 s / per_minute`), with
/// the whole budget available as a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    per_minute: u32,
}

impl Quota {
    /// A budget of `per_minute` requests a minute; `None` for zero, which would refuse
    /// everything (configuration refuses it earlier).
    pub fn per_minute(per_minute: u32) -> Option<Self> {
        (per_minute > 0).then_some(Self { per_minute })
    }

    /// Requests a minute, which is also the burst.
    pub fn limit(self) -> u32 {
        self.per_minute
    }

    /// The time one request's worth of budget takes to come back.
    pub fn emission_interval(self) -> Duration {
        Duration::from_secs(60) / self.per_minute
    }
}

/// The outcome of one request against a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the budget.
    Allowed {
        /// The budget.
        limit: u32,
        /// Requests left right now.
        remaining: u32,
        /// Until the budget is full again.
        reset_after: Duration,
    },
    /// Over the budget; nothing was spent.
    Limited {
        /// The budget.
        limit: u32,
        /// Until the next request would be allowed.
        retry_after: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_refills_one_request_every_minute_over_limit() {
        let five = Quota::per_minute(5).unwrap();
        assert_eq!(five.limit(), 5);
        assert_eq!(five.emission_interval(), Duration::from_secs(12));
        assert!(Quota::per_minute(0).is_none());
    }
}
