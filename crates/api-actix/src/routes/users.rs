//! `/api/v1/users*`: admin user management.

use actix_web::HttpRequest;
use domain::password::Password;
use domain::user::UserId;
use paperclip::actix::{api_v2_operation, web, NoContent};
use uuid::Uuid;

use crate::dto::list::UserList;
use crate::dto::user::UserDto;
use crate::dto::users::{
    CreateUserRequest, ListUsersParams, ResetPasswordRequest, ResetPasswordResponse,
    SearchUsersParams, UserPatchDto,
};
use crate::http::auth::Authenticated;
use crate::http::context::Ctx;
use crate::http::error::ApiError;
use crate::http::json_body::JsonBody;
use crate::http::late_query::LateQuery;
use crate::http::respond::{etag, if_match_version, Created, Listed, OptionalJson, Tagged};
use crate::startup::AppState;

/// List users
///
/// Filters, sort and offset or cursor pages; soft-deleted users only with
/// `includeDeleted=true`.
#[api_v2_operation(tags(Users), operation_id = "listUsers")]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
    params: LateQuery<ListUsersParams>,
) -> Result<Listed<UserList>, ApiError> {
    let list = &state.use_cases.list_users;
    let (input, page) = params.after(|| list.authorize(&who.0))?.into_input();
    let page = list
        .execute_rendered(&who.0, &input, &page, |listed| {
            Listed::render(&UserList::new(listed.page, &listed.request))
        })
        .await?;
    Ok(Listed::from(page))
}

/// Search users
///
/// Best matches first: exact username, then prefix, then substring of username,
/// display name or email.
#[api_v2_operation(tags(Users), operation_id = "searchUsers")]
pub async fn search(
    state: web::Data<AppState>,
    who: Authenticated,
    params: LateQuery<SearchUsersParams>,
) -> Result<Listed<UserList>, ApiError> {
    let search = &state.use_cases.search_users;
    let (term, page) = params.after(|| search.authorize(&who.0))?.into_input();
    let page = search
        .execute_rendered(&who.0, &term, &page, |found| {
            Listed::render(&UserList::new(found.page, &found.request))
        })
        .await?;
    Ok(Listed::from(page))
}

/// Create a user
#[api_v2_operation(tags(Users), operation_id = "createUser")]
pub async fn create(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    body: JsonBody<CreateUserRequest>,
) -> Result<Created<UserDto>, ApiError> {
    let user = state
        .use_cases
        .create_user
        .execute(&who.0, body.into_inner().into(), &ctx.0)
        .await?;
    Ok(Created {
        location: format!("/api/v1/users/{}", user.id),
        etag: etag(user.version),
        body: user.into(),
    })
}

/// Get a user
///
/// Soft-deleted users included; `ETag` with `If-None-Match` support.
#[api_v2_operation(tags(Users), operation_id = "getUser")]
pub async fn get(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<Uuid>,
) -> Result<Tagged<UserDto>, ApiError> {
    let user = state
        .use_cases
        .get_user
        .execute(&who.0, UserId(id.into_inner()))
        .await?;
    let version = user.version;
    Ok(Tagged::new(user.into(), version))
}

/// Update a user
///
/// Display name, email, role and status. With `If-Match`, a stale tag is 412 and
/// changes nothing. Blocking revokes the user's sessions.
#[api_v2_operation(tags(Users), operation_id = "updateUser")]
pub async fn update(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: JsonBody<UserPatchDto>,
) -> Result<Tagged<UserDto>, ApiError> {
    let user = state
        .use_cases
        .update_user
        .execute(
            &who.0,
            UserId(id.into_inner()),
            body.into_inner().into(),
            if_match_version(&req),
            &ctx.0,
        )
        .await?;
    let version = user.version;
    Ok(Tagged::new(user.into(), version))
}

/// Delete a user (soft)
///
/// Sets `deletedAt` and revokes the user's sessions.
#[api_v2_operation(tags(Users), operation_id = "deleteUser")]
pub async fn delete(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    id: web::Path<Uuid>,
) -> Result<NoContent, ApiError> {
    state
        .use_cases
        .delete_user
        .execute(&who.0, UserId(id.into_inner()), &ctx.0)
        .await?;
    Ok(NoContent)
}

/// Restore a soft-deleted user
///
/// Until it is anonymized (by hand or `USER_PURGE_AFTER` after deletion): an anonymized
/// user is refused with 409 `CONFLICT`.
#[api_v2_operation(tags(Users), operation_id = "restoreUser")]
pub async fn restore(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    id: web::Path<Uuid>,
) -> Result<Tagged<UserDto>, ApiError> {
    let user = state
        .use_cases
        .restore_user
        .execute(&who.0, UserId(id.into_inner()), &ctx.0)
        .await?;
    let version = user.version;
    Ok(Tagged::new(user.into(), version))
}

/// Anonymize a user (GDPR erasure)
///
/// Irreversible: the account becomes a blocked, deleted tombstone named
/// `deleted-<id prefix>` without email, preferences or usable password; the user's
/// sessions are revoked and their IPs and user agents erased, refresh tokens deleted, and
/// the personal fields of the user's audit entries crypto-shredded, so
/// `/audit-logs/verify` stays valid. Anonymizing twice answers the tombstone unchanged.
/// Refused for oneself and the last active admin (409 `LAST_ADMIN`).
#[api_v2_operation(tags(Users), operation_id = "anonymizeUser")]
pub async fn anonymize(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    id: web::Path<Uuid>,
) -> Result<Tagged<UserDto>, ApiError> {
    let user = state
        .use_cases
        .anonymize_user
        .execute(&who.0, UserId(id.into_inner()), &ctx.0)
        .await?;
    let version = user.version;
    Ok(Tagged::new(user.into(), version))
}

/// Reset a user's password
///
/// Sets the given or a generated temporary password, requires a change at next use and
/// revokes every session of the user.
#[api_v2_operation(tags(Users), operation_id = "resetPassword")]
pub async fn reset_password(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    id: web::Path<Uuid>,
    body: OptionalJson<ResetPasswordRequest>,
) -> Result<web::Json<ResetPasswordResponse>, ApiError> {
    let given = body.0.and_then(|b| b.new_password).map(Password::new);
    let temporary = state
        .use_cases
        .reset_password
        .execute(&who.0, UserId(id.into_inner()), given, &ctx.0)
        .await?;
    Ok(web::Json(ResetPasswordResponse {
        temporary_password: temporary.expose().to_owned(),
    }))
}
