//! `/api/v1/users/bulk`: many users at once, one result per item.

use domain::user::UserId;
use paperclip::actix::{api_v2_operation, web};

use crate::dto::users::{BulkDeleteRequest, BulkDeleteResponse};
use crate::http::auth::Authenticated;
use crate::http::context::Ctx;
use crate::http::error::ApiError;
use crate::http::json_body::JsonBody;
use crate::startup::AppState;

/// Delete users in bulk (soft)
///
/// 1–1000 ids in one transaction with one `BULK_DELETE_USERS` audit entry. Each id
/// gets `DELETED`, `NOT_FOUND` (unknown or already deleted) or `FORBIDDEN` (the caller
/// themselves, or the last active admin).
#[api_v2_operation(tags(Users), operation_id = "bulkDeleteUsers")]
pub async fn delete(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    body: JsonBody<BulkDeleteRequest>,
) -> Result<web::Json<BulkDeleteResponse>, ApiError> {
    let ids = body.into_inner().ids.into_iter().map(UserId).collect();
    let results = state
        .use_cases
        .bulk_delete_users
        .execute(&who.0, ids, &ctx.0)
        .await?;
    Ok(web::Json(results.into()))
}
