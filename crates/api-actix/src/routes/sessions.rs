//! `/api/v1/sessions*` (the caller's own sessions) and `/api/v1/users/{id}/sessions`
//! (a user's sessions, admin only).

use domain::session::SessionId;
use domain::user::UserId;
use paperclip::actix::{api_v2_operation, web, NoContent};
use uuid::Uuid;

use crate::dto::list::PageParams;
use crate::dto::sessions::SessionList;
use crate::http::auth::Authenticated;
use crate::http::context::Ctx;
use crate::http::error::ApiError;
use crate::http::late_query::LateQuery;
use crate::http::respond::Listed;
use crate::startup::AppState;

/// List my sessions
///
/// The caller's active sessions, newest first; `current` marks the one of the presented
/// access token. Offset or cursor pages.
#[api_v2_operation(tags(Sessions), operation_id = "listSessions")]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
    params: LateQuery<PageParams>,
) -> Result<Listed<SessionList>, ApiError> {
    let list = &state.use_cases.list_sessions;
    let page = params.after(|| list.authorize(&who.0))?.into();
    let listed = list.execute(&who.0, &page).await?;
    Listed::new(&SessionList::new(listed.page, &listed.request))
}

/// Revoke one of my sessions
///
/// Its tokens stop working at once, the current session's included. 404 unless it is
/// an active session of the caller.
#[api_v2_operation(tags(Sessions), operation_id = "revokeSession")]
pub async fn revoke(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    id: web::Path<Uuid>,
) -> Result<NoContent, ApiError> {
    state
        .use_cases
        .revoke_session
        .execute(&who.0, SessionId(id.into_inner()), &ctx.0)
        .await?;
    Ok(NoContent)
}

/// List a user's sessions
///
/// The user's active sessions, newest first. Admin only.
#[api_v2_operation(tags(Sessions), operation_id = "listUserSessions")]
pub async fn list_of_user(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<Uuid>,
    params: LateQuery<PageParams>,
) -> Result<Listed<SessionList>, ApiError> {
    let list = &state.use_cases.list_user_sessions;
    let page = params.after(|| list.authorize(&who.0))?.into();
    let listed = list.execute(&who.0, UserId(id.into_inner()), &page).await?;
    Listed::new(&SessionList::new(listed.page, &listed.request))
}

/// Revoke all of a user's sessions
///
/// Every session of the user ends at once. Admin only.
#[api_v2_operation(tags(Sessions), operation_id = "revokeUserSessions")]
pub async fn revoke_all_of_user(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    id: web::Path<Uuid>,
) -> Result<NoContent, ApiError> {
    state
        .use_cases
        .revoke_user_sessions
        .execute(&who.0, UserId(id.into_inner()), &ctx.0)
        .await?;
    Ok(NoContent)
}
