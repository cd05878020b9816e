//! The lockout state machine: consecutive failed sign-ins lock an account for a while.
//!
//! Every transition is a pure function of the state read under the user's row lock, so
//! the store only writes what this module decided and concurrent attempts each count once.

use chrono::{DateTime, Duration, Utc};

use crate::user::User;

/// How many consecutive failures lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock (at least 1).
    pub threshold: i32,
    /// How long a lockout lasts.
    pub duration: Duration,
}

/// The part of a user the lockout rules read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockoutState {
    /// Consecutive failed sign-ins since the last success (or the last expired lockout).
    pub failed_attempts: i32,
    /// Locked until then.
    pub locked_until: Option<DateTime<Utc>>,
}

/// What one failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedAttempt {
    /// The state to store.
    pub state: LockoutState,
    /// True only for the failure that started this lockout (it is audited once).
    pub newly_locked: bool,
}

impl LockoutState {
    /// The lockout state of `user`.
    pub fn of(user: &User) -> Self {
        Self {
            failed_attempts: user.failed_login_attempts,
            locked_until: user.locked_until,
        }
    }

    /// Whether a lockout is in force at `now`.
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

impl LockoutPolicy {
    /// A failed attempt at `now`. During a lockout the count grows but the end stays; an
    /// expired lockout starts the count afresh at this failure.
    pub fn on_failure(&self, state: LockoutState, now: DateTime<Utc>) -> FailedAttempt {
        if state.is_locked(now) {
            return FailedAttempt {
                state: LockoutState {
                    failed_attempts: state.failed_attempts.saturating_add(1),
                    locked_until: state.locked_until,
                },
                newly_locked: false,
            };
        }
        let attempts = if state.locked_until.is_some() {
            1
        } else {
            state.failed_attempts.saturating_add(1)
        };
        let locks = attempts >= self.threshold;
        FailedAttempt {
            state: LockoutState {
                failed_attempts: attempts,
                locked_until: locks.then(|| now + self.duration),
            },
            newly_locked: locks,
        }
    }

    /// A successful sign-in at `now`: the count and any expired lockout are cleared.
    /// `None` while a lockout is in force: a success never clears a lock it can see.
    pub fn on_success(&self, state: LockoutState, now: DateTime<Utc>) -> Option<LockoutState> {
        (!state.is_locked(now)).then(LockoutState::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .single()
            .unwrap()
    }

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            threshold: 3,
            duration: Duration::minutes(15),
        }
    }

    fn state(failed_attempts: i32, locked_until: Option<DateTime<Utc>>) -> LockoutState {
        LockoutState {
            failed_attempts,
            locked_until,
        }
    }

    #[test]
    fn failures_below_the_threshold_only_count() {
        let next = policy().on_failure(state(1, None), now());
        assert_eq!(next.state, state(2, None));
        assert!(!next.newly_locked);
    }

    #[test]
    fn the_failure_that_reaches_the_threshold_locks_once() {
        let next = policy().on_failure(state(2, None), now());
        assert_eq!(next.state, state(3, Some(now() + Duration::minutes(15))));
        assert!(next.newly_locked);
    }

    #[test]
    fn failures_during_a_lockout_count_but_never_extend_or_relock_it() {
        let until = now() + Duration::minutes(5);
        let next = policy().on_failure(state(3, Some(until)), now());
        assert_eq!(next.state, state(4, Some(until)));
        assert!(!next.newly_locked);
    }

    #[test]
    fn a_failure_after_an_expired_lockout_starts_counting_again() {
        let expired = now() - Duration::seconds(1);
        let next = policy().on_failure(state(7, Some(expired)), now());
        assert_eq!(next.state, state(1, None));
        assert!(!next.newly_locked);
    }

    #[test]
    fn a_lockout_that_ends_exactly_now_has_expired() {
        let next = policy().on_failure(state(3, Some(now())), now());
        assert_eq!(next.state.failed_attempts, 1);
        assert!(policy().on_success(state(3, Some(now())), now()).is_some());
    }

    #[test]
    fn a_threshold_of_one_locks_at_the_first_failure_even_after_an_expired_lock() {
        let one = LockoutPolicy {
            threshold: 1,
            duration: Duration::minutes(1),
        };
        let next = one.on_failure(state(1, Some(now() - Duration::hours(1))), now());
        assert!(next.newly_locked);
        assert_eq!(next.state, state(1, Some(now() + Duration::minutes(1))));
    }

    #[test]
    fn success_resets_the_count_and_an_expired_lock() {
        assert_eq!(
            policy().on_success(state(2, None), now()),
            Some(LockoutState::default())
        );
        assert_eq!(
            policy().on_success(state(3, Some(now() - Duration::minutes(1))), now()),
            Some(LockoutState::default())
        );
    }

    #[test]
    fn success_never_clears_a_lock_in_force() {
        let locked = state(3, Some(now() + Duration::minutes(1)));
        assert_eq!(policy().on_success(locked, now()), None);
    }

    #[test]
    fn the_count_saturates_instead_of_overflowing() {
        let next = policy().on_failure(state(i32::MAX, Some(now() + Duration::minutes(1))), now());
        assert_eq!(next.state.failed_attempts, i32::MAX);
    }
}
