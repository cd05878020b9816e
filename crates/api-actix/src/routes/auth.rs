//! `/api/v1/auth/*`.

use actix_web::HttpRequest;
use application::auth::LoginCommand;
use paperclip::actix::{api_v2_operation, web, NoContent};

use crate::dto::auth::{LoginRequest, LogoutRequest, RefreshRequest, TokenPairDto};
use crate::http::access_log::record_user;
use crate::http::auth::Authenticated;
use crate::http::context::Ctx;
use crate::http::error::ApiError;
use crate::http::json_body::JsonBody;
use crate::http::respond::OptionalJson;
use crate::startup::AppState;

/// Sign in
///
/// Exchanges username and password for a token pair and opens a session. Every failure
/// (unknown user, wrong password, blocked, deleted or locked account) is the same
/// 401 INVALID_CREDENTIALS.
#[api_v2_operation(tags(Auth), operation_id = "login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    ctx: Ctx,
    body: JsonBody<LoginRequest>,
) -> Result<web::Json<TokenPairDto>, ApiError> {
    let command = LoginCommand::from(body.into_inner());
    let pair = state.use_cases.login.execute(command, &ctx.0).await?;
    record_user(&req, pair.user.id);
    Ok(web::Json(pair.into()))
}

/// Rotate tokens
///
/// Spends the refresh token and returns a new pair of the same session. A spent token
/// presented again is 401 TOKEN_REUSED and revokes the session.
#[api_v2_operation(tags(Auth), operation_id = "refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    ctx: Ctx,
    body: JsonBody<RefreshRequest>,
) -> Result<web::Json<TokenPairDto>, ApiError> {
    let pair = state
        .use_cases
        .refresh
        .execute(&body.refresh_token, &ctx.0)
        .await?;
    Ok(web::Json(pair.into()))
}

/// Sign out
///
/// Revokes the current session (and the session of the optional refresh token, when it
/// is another of the caller's).
#[api_v2_operation(tags(Auth), operation_id = "logout")]
pub async fn logout(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    body: OptionalJson<LogoutRequest>,
) -> Result<NoContent, ApiError> {
    let token = body.0.and_then(|b| b.refresh_token);
    state
        .use_cases
        .logout
        .execute(&who.0, token.as_deref(), &ctx.0)
        .await?;
    Ok(NoContent)
}

/// Sign out everywhere
///
/// Revokes every session of the caller.
#[api_v2_operation(tags(Auth), operation_id = "logoutAll")]
pub async fn logout_all(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
) -> Result<NoContent, ApiError> {
    state.use_cases.logout_all.execute(&who.0, &ctx.0).await?;
    Ok(NoContent)
}
