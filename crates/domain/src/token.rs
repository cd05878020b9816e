//! Tokens: JWT access claims and opaque, rotating refresh tokens.

use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::session::SessionId;
use crate::user::UserId;

/// The claims EMS puts in an access token; the issuer adds `iss` and `aud`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user (`sub`).
    pub user_id: UserId,
    /// The session (`sid`), checked on every request.
    pub session_id: SessionId,
    /// Unique token id (`jti`).
    pub token_id: Uuid,
    /// Issued at (`iat`), seconds since the epoch.
    pub issued_at: i64,
    /// Expires at (`exp`), seconds since the epoch.
    pub expires_at: i64,
}

impl AccessClaims {
    /// Whether the token is past `exp` at `now`, with no leeway. `exp` is whole seconds
    /// and names the last second in which the token is still good: it expires once the
    /// clock's whole seconds pass it (as jsonwebtoken's own check, which this replaces,
    /// judged it), so that tests and callers get the time from the `Clock` port.
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() > self.expires_at
    }
}

/// Why an access token was refused by the issuer. Expiry is not among these: the issuer
/// checks that `exp` is present, and the caller judges it against its clock
/// ([`AccessClaims::is_expired_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, algorithm, audience, issuer or shape, or a required claim missing.
    #[error("token invalid")]
    Invalid,
}

/// The secret half of a refresh token as handed to the client. Never printed or stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshSecret(String);

impl RefreshSecret {
    /// Wraps a secret made by a generator or presented by a client.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 hash under which the token is stored and looked up.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshSecret(***)")
    }
}

/// SHA-256 of a refresh secret: what storage holds. Lookups go by this hash, so the
/// comparison happens inside the database's index, never on the secret itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// A stored refresh token: one link of its session's rotation family.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    /// Identity.
    pub id: Uuid,
    /// The session (family) it belongs to.
    pub session_id: SessionId,
    /// The owner.
    pub user_id: UserId,
    /// Hash of the secret.
    pub token_hash: TokenHash,
    /// Issue time.
    pub created_at: DateTime<Utc>,
    /// End of life.
    pub expires_at: DateTime<Utc>,
    /// Set when it was exchanged for a new pair; presenting it again is reuse.
    pub spent_at: Option<DateTime<Utc>>,
    /// Set when a grace retry of its parent replaced it before it was ever presented:
    /// such a token was never handed to the client that retried, so it never gets grace.
    pub retired_at: Option<DateTime<Utc>>,
}

/// What presenting a refresh token amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    /// Unspent: rotate it.
    Fresh,
    /// Spent within the grace window by a rotation: a client retrying a refresh whose
    /// answer it lost. It gets a new pair of the same session, and every other live token
    /// of the session is retired, so the session keeps exactly one.
    GraceRetry,
    /// Spent before the window, or retired: reuse, the session is revoked.
    Reuse {
        /// When it was spent.
        spent_at: DateTime<Utc>,
    },
}

impl RefreshToken {
    /// Classifies presenting this token at `now` with the configured reuse `grace`
    /// (zero: no grace at all).
    pub fn presented(&self, now: DateTime<Utc>, grace: chrono::Duration) -> Presentation {
        let Some(spent_at) = self.spent_at else {
            return Presentation::Fresh;
        };
        let within = grace > chrono::Duration::zero() && now - spent_at <= grace;
        if within && self.retired_at.is_none() {
            Presentation::GraceRetry
        } else {
            Presentation::Reuse { spent_at }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims_expiring_at(expires_at: i64) -> AccessClaims {
        AccessClaims {
            user_id: UserId(Uuid::nil()),
            session_id: SessionId(Uuid::nil()),
            token_id: Uuid::nil(),
            issued_at: expires_at - 900,
            expires_at,
        }
    }

    #[test]
    fn an_access_token_is_good_through_its_exp_second_and_expired_after_it() {
        let exp = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000);
        let claims = claims_expiring_at(exp.timestamp());
        let second = chrono::Duration::seconds(1);
        let just_under = second - chrono::Duration::milliseconds(1);

        assert!(!claims.is_expired_at(exp - second));
        assert!(!claims.is_expired_at(exp));
        assert!(!claims.is_expired_at(exp + just_under));
        assert!(claims.is_expired_at(exp + second));
        assert!(claims.is_expired_at(exp + chrono::Duration::days(1)));
    }

    #[test]
    fn refresh_secret_hash_is_stable_sha256() {
        let a = RefreshSecret::new("abc").hash();
        assert_eq!(a, RefreshSecret::new("abc").hash());
        assert_ne!(a, RefreshSecret::new("abd").hash());
        // SHA-256("abc") starts with ba7816bf.
        assert_eq!(&a.0[..4], &[0xba, 0x78, 0x16, 0xbf]);
    }

    fn token(spent_at: Option<DateTime<Utc>>, retired_at: Option<DateTime<Utc>>) -> RefreshToken {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        RefreshToken {
            id: Uuid::nil(),
            session_id: SessionId(Uuid::nil()),
            user_id: UserId(Uuid::nil()),
            token_hash: RefreshSecret::new("s").hash(),
            created_at: t0,
            expires_at: t0 + chrono::Duration::days(1),
            spent_at,
            retired_at,
        }
    }

    #[test]
    fn an_unspent_token_is_fresh() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(
            token(None, None).presented(now, chrono::Duration::seconds(30)),
            Presentation::Fresh
        );
    }

    #[test]
    fn a_spent_token_gets_grace_only_inside_a_nonzero_window() {
        let spent = DateTime::<Utc>::UNIX_EPOCH;
        let t = token(Some(spent), None);
        let grace = chrono::Duration::seconds(30);
        assert_eq!(t.presented(spent + grace, grace), Presentation::GraceRetry);
        assert_eq!(
            t.presented(spent + grace + chrono::Duration::milliseconds(1), grace),
            Presentation::Reuse { spent_at: spent }
        );
        assert_eq!(
            t.presented(spent, chrono::Duration::zero()),
            Presentation::Reuse { spent_at: spent }
        );
    }

    #[test]
    fn a_retired_token_is_reuse_even_inside_the_window() {
        let spent = DateTime::<Utc>::UNIX_EPOCH;
        let t = token(Some(spent), Some(spent));
        assert_eq!(
            t.presented(spent, chrono::Duration::seconds(30)),
            Presentation::Reuse { spent_at: spent }
        );
    }

    #[test]
    fn refresh_secret_never_prints() {
        assert!(!format!("{:?}", RefreshSecret::new("s3cr3t")).contains("s3cr3t"));
    }
}
