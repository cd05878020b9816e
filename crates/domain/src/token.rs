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

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Well formed and signed, but past `exp`.
    #[error("token expired")]
    Expired,
    /// Anything else: bad signature, algorithm, audience, issuer or shape.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_secret_hash_is_stable_sha256() {
        let a = RefreshSecret::new("abc").hash();
        assert_eq!(a, RefreshSecret::new("abc").hash());
        assert_ne!(a, RefreshSecret::new("abd").hash());
        // SHA-256("abc") starts with ba7816bf.
        assert_eq!(&a.0[..4], &[0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn refresh_secret_never_prints() {
        assert!(!format!("{:?}", RefreshSecret::new("s3cr3t")).contains("s3cr3t"));
    }
}
