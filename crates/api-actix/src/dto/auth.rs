//! Auth bodies.

use application::auth::TokenPair;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::user::UserDto;

/// `POST /auth/login` body.
#[derive(Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

impl From<LoginRequest> for application::auth::LoginCommand {
    /// The claimed name is kept as text a store can hold: a control character (NUL
    /// above all, which PostgreSQL refuses) becomes U+FFFD. No username contains one,
    /// so the attempt stays what it was, a name that matches nobody: 401
    /// `INVALID_CREDENTIALS` after the same work as any unknown name, audited as such.
    /// The password is only ever hashed, so it passes as sent.
    fn from(r: LoginRequest) -> Self {
        Self {
            username: domain::text::printable(&r.username),
            password: domain::password::Password::new(r.password),
        }
    }
}

/// `POST /auth/refresh` body.
#[derive(Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last pair.
    pub refresh_token: String,
}

/// Optional `POST /auth/logout` body.
#[derive(Deserialize, Apiv2Schema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogoutRequest {
    /// A refresh token whose session should end too.
    pub refresh_token: Option<String>,
}

/// A token pair.
#[derive(Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPairDto {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque refresh token; single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access token lifetime, seconds.
    pub expires_in: i64,
    /// Refresh token lifetime, seconds.
    pub refresh_expires_in: i64,
    /// The session of both tokens.
    pub session_id: Uuid,
    /// The signed-in user.
    pub user: UserDto,
}

impl From<TokenPair> for TokenPairDto {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "Bearer".into(),
            expires_in: pair.expires_in,
            refresh_expires_in: pair.refresh_expires_in,
            session_id: pair.session_id.0,
            user: pair.user.into(),
        }
    }
}
