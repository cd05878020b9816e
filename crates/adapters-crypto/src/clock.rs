//! A [`Clock`] that tests move: the system clock plus an offset that only grows. Handed
//! to `api_actix::startup::Application::build_with` by code, never chosen by a setting,
//! so no production start can end up on it.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use domain::ports::Clock;

/// System time plus an adjustable offset, shared (behind an `Arc`) by the test that moves
/// it and the server that reads it. Time only moves forward, so nothing the server
/// stored ever lies in its future.
#[derive(Debug, Default)]
pub struct OffsetClock {
    /// The offset in nanoseconds (up to ~292 years).
    offset_ns: AtomicI64,
}

impl OffsetClock {
    /// A clock that tells the system time until it is advanced.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves every later reading forward by `by` (saturating).
    pub fn advance(&self, by: std::time::Duration) {
        let by = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        // `fetch_update` only fails when the closure refuses; this one never does.
        let _ = self
            .offset_ns
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ns| {
                Some(ns.saturating_add(by))
            });
    }

    /// How far ahead of the system clock it is.
    pub fn offset(&self) -> chrono::Duration {
        chrono::Duration::nanoseconds(self.offset_ns.load(Ordering::SeqCst))
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.checked_add_signed(self.offset())
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn it_tells_the_system_time_until_advanced() {
        let clock = OffsetClock::new();
        let before = Utc::now();
        let now = clock.now();
        assert!(now >= before && now <= Utc::now());
    }

    #[test]
    fn advancing_moves_every_later_reading_by_the_sum() {
        let clock = OffsetClock::new();
        clock.advance(Duration::from_secs(900));
        clock.advance(Duration::from_millis(1500));

        let before = Utc::now();
        let now = clock.now();
        let after = Utc::now();

        let ahead = chrono::Duration::milliseconds(901_500);
        assert_eq!(clock.offset(), ahead);
        assert!(now >= before + ahead && now <= after + ahead, "{now}");
    }

    #[test]
    fn a_huge_advance_saturates_instead_of_panicking() {
        let clock = OffsetClock::new();
        clock.advance(Duration::MAX);
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.offset(), chrono::Duration::nanoseconds(i64::MAX));
        assert!(clock.now() > Utc::now());
    }
}
