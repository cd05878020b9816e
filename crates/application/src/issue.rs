//! Minting token pairs: a refresh token in a session's family plus a signed access token.

use chrono::{DateTime, Utc};
use domain::ports::Transaction;
use domain::session::SessionId;
use domain::token::{AccessClaims, RefreshToken};
use domain::user::User;

use crate::error::AppError;
use crate::ports::{Policy, Ports};

/// What a successful login or refresh returns.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPair {
    /// Signed JWT.
    pub access_token: String,
    /// Opaque refresh secret; shown once, stored only as a hash.
    pub refresh_token: String,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
    /// Refresh token lifetime in seconds.
    pub refresh_expires_in: i64,
    /// The session both tokens belong to.
    pub session_id: SessionId,
    /// The signed-in user.
    pub user: User,
}

/// Stores a new refresh token of `session_id` in `tx` and signs an access token.
/// The caller commits `tx` before handing the pair out.
pub(crate) async fn mint(
    ports: &Ports,
    policy: &Policy,
    tx: &mut dyn Transaction,
    user: User,
    session_id: SessionId,
    now: DateTime<Utc>,
) -> Result<TokenPair, AppError> {
    let secret = ports.secrets.refresh_secret();
    let token = RefreshToken {
        id: ports.ids.new_id(),
        session_id,
        user_id: user.id,
        token_hash: secret.hash(),
        created_at: now,
        expires_at: now + policy.refresh_ttl,
        spent_at: None,
        retired_at: None,
    };
    tx.insert_refresh_token(&token).await?;
    let claims = AccessClaims {
        user_id: user.id,
        session_id,
        token_id: ports.ids.new_id(),
        issued_at: now.timestamp(),
        expires_at: (now + policy.access_ttl).timestamp(),
    };
    let access_token = ports.tokens.issue(&claims)?;
    Ok(TokenPair {
        access_token,
        refresh_token: secret.expose().to_owned(),
        expires_in: policy.access_ttl.num_seconds(),
        refresh_expires_in: policy.refresh_ttl.num_seconds(),
        session_id,
        user,
    })
}
