//! [`VerifiedTokens`]: a bounded memory of access tokens whose signature already verified,
//! in front of any [`TokenIssuer`].
//!
//! A client presents the same access token on every request for its lifetime; checking
//! its signature again each time was the largest cost of an authenticated read. The
//! memory is keyed by the token's SHA-256 (the token itself is not kept), holds only what
//! verification returned, and forgets an entry once the [`Clock`] passes its `exp`, so it
//! never answers for a token the issuer would call expired. It decides nothing about the
//! session: revocation is still checked on every request by the caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use domain::error::ServiceError;
use domain::ports::{Clock, TokenIssuer};
use domain::signing_keys::KeySet;
use domain::token::{AccessClaims, TokenError};
use sha2::{Digest, Sha256};

/// How many verified tokens are remembered at most.
pub const CAPACITY: usize = 10_000;

type Key = [u8; 32];

/// The issuer with a memory of the tokens it verified (see the module docs).
pub struct VerifiedTokens {
    inner: Arc<dyn TokenIssuer>,
    clock: Arc<dyn Clock>,
    capacity: usize,
    seen: Mutex<HashMap<Key, AccessClaims>>,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl VerifiedTokens {
    /// `inner` with a memory of [`CAPACITY`] tokens, expiry judged by `clock`.
    pub fn new(inner: Arc<dyn TokenIssuer>, clock: Arc<dyn Clock>) -> Self {
        Self::with_capacity(inner, clock, CAPACITY)
    }

    /// The same with another bound (tests).
    pub fn with_capacity(
        inner: Arc<dyn TokenIssuer>,
        clock: Arc<dyn Clock>,
        capacity: usize,
    ) -> Self {
        Self {
            inner,
            clock,
            capacity: capacity.max(1),
            seen: Mutex::default(),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<Key, AccessClaims>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The remembered claims under `key` while unexpired by the clock (forgotten after).
    fn recall(&self, key: &Key) -> Option<AccessClaims> {
        let now = self.clock.now();
        let mut seen = self.seen();
        match seen.get(key) {
            Some(claims) if !claims.is_expired_at(now) => Some(claims.clone()),
            Some(_) => {
                seen.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers `claims`; when full, forgets the expired entries first and everything if
    /// that is not enough (a burst of distinct tokens costs a verification each, as before).
    fn remember(&self, key: Key, claims: &AccessClaims) {
        let now = self.clock.now();
        let mut seen = self.seen();
        if seen.len() >= self.capacity {
            seen.retain(|_, c| !c.is_expired_at(now));
            if seen.len() >= self.capacity {
                seen.clear();
            }
        }
        seen.insert(key, claims.clone());
    }
}

/// The memory's key of a token: its SHA-256, so the token itself is never kept.
fn key_of(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenIssuer for VerifiedTokens {
    fn issue(&self, claims: &AccessClaims) -> Result<String, ServiceError> {
        self.inner.issue(claims)
    }

    fn key_set(&self) -> KeySet {
        self.inner.key_set()
    }

    fn remembered(&self, token: &str) -> Option<AccessClaims> {
        self.recall(&key_of(token))
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let key = key_of(token);
        if let Some(claims) = self.recall(&key) {
            return Ok(claims);
        }
        let now = self.clock.now();
        let claims = self.inner.verify(token)?;
        if !claims.is_expired_at(now) {
            self.remember(key, &claims);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::{DateTime, Duration, TimeZone, Utc};
    use domain::session::SessionId;
    use domain::user::UserId;
    use uuid::Uuid;

    /// An issuer that accepts `good`/`other` (with `exp` at `exp`) and counts its calls.
    struct Counting {
        calls: AtomicUsize,
        exp: i64,
    }

    impl TokenIssuer for Counting {
        fn issue(&self, _: &AccessClaims) -> Result<String, ServiceError> {
            Ok("issued".into())
        }
        fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let n = match token {
                "good" => 1,
                "other" => 2,
                "third" => 3,
                _ => return Err(TokenError::Invalid),
            };
            Ok(AccessClaims {
                user_id: UserId(Uuid::from_u128(n)),
                session_id: SessionId(Uuid::from_u128(n + 100)),
                token_id: Uuid::from_u128(n + 200),
                issued_at: self.exp - 900,
                expires_at: self.exp,
            })
        }
        fn key_set(&self) -> KeySet {
            KeySet::new("counting", []).unwrap()
        }
    }

    struct At(Mutex<DateTime<Utc>>);

    impl Clock for At {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    fn setup(capacity: usize) -> (VerifiedTokens, Arc<Counting>, Arc<At>) {
        let inner = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            exp: (start() + Duration::minutes(15)).timestamp(),
        });
        let clock = Arc::new(At(Mutex::new(start())));
        let cache = VerifiedTokens::with_capacity(inner.clone(), clock.clone(), capacity);
        (cache, inner, clock)
    }

    #[test]
    fn a_token_is_verified_once_and_then_answered_from_memory() {
        let (cache, inner, _) = setup(10);

        let first = cache.verify("good").unwrap();
        let second = cache.verify("good").unwrap();

        assert_eq!(first, second);
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.verify("other").unwrap().user_id.0, Uuid::from_u128(2));
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2, "keyed per token");
    }

    #[test]
    fn a_refused_token_is_never_remembered() {
        let (cache, inner, _) = setup(10);

        assert_eq!(cache.verify("forged"), Err(TokenError::Invalid));
        assert_eq!(cache.verify("forged"), Err(TokenError::Invalid));

        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_remembered_token_past_exp_by_the_clock_goes_back_to_the_issuer() {
        let (cache, inner, clock) = setup(10);
        cache.verify("good").unwrap();

        *clock.0.lock().unwrap() = start() + Duration::minutes(15) + Duration::seconds(1);
        let late = cache.verify("good").unwrap();

        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            2,
            "not answered from memory"
        );
        assert!(
            late.is_expired_at(clock.now()),
            "the caller still sees it expired"
        );
        cache.verify("good").unwrap();
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            3,
            "nor remembered again"
        );
    }

    #[test]
    fn remembered_answers_only_verified_unexpired_tokens_and_never_verifies() {
        let (cache, inner, clock) = setup(10);

        assert_eq!(cache.remembered("good"), None, "not verified yet");
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            0,
            "nor verified by asking"
        );
        let verified = cache.verify("good").unwrap();
        assert_eq!(cache.remembered("good"), Some(verified));
        assert_eq!(cache.remembered("forged"), None);

        *clock.0.lock().unwrap() = start() + Duration::minutes(15) + Duration::seconds(1);
        assert_eq!(cache.remembered("good"), None, "never past exp");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_memory_stays_within_its_bound() {
        let (cache, inner, _) = setup(2);
        for token in ["good", "other", "third"] {
            cache.verify(token).unwrap();
        }
        assert!(cache.seen().len() <= 2);

        cache.verify("third").unwrap();
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3, "the newest is kept");
    }

    #[test]
    fn issuing_goes_to_the_inner_issuer() {
        let (cache, _, _) = setup(2);
        let claims = cache.verify("good").unwrap();
        assert_eq!(cache.issue(&claims).unwrap(), "issued");
    }
}
