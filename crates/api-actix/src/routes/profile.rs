//! `/api/v1/profile*`: the caller about themselves.

use application::profile::{ChangePasswordCommand, ProfilePatch};
use domain::password::Password;
use paperclip::actix::{api_v2_operation, web, NoContent};

use crate::dto::profile::{ChangePasswordRequest, PreferencesDto, ProfilePatchDto};
use crate::dto::user::UserDto;
use crate::http::auth::Authenticated;
use crate::http::context::Ctx;
use crate::http::error::ApiError;
use crate::http::json_body::JsonBody;
use crate::http::respond::Tagged;
use crate::startup::AppState;

/// My profile
///
/// The caller's user record, with an `ETag`; `If-None-Match` answers 304.
#[api_v2_operation(tags(Profile), operation_id = "getProfile")]
pub async fn get_profile(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<Tagged<UserDto>, ApiError> {
    let user = state.use_cases.get_profile.execute(&who.0).await?;
    let version = user.version;
    Ok(Tagged::new(user.into(), version))
}

/// Update my profile
///
/// Changes display name and/or email (null removes the email).
#[api_v2_operation(tags(Profile), operation_id = "updateProfile")]
pub async fn update_profile(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    body: JsonBody<ProfilePatchDto>,
) -> Result<Tagged<UserDto>, ApiError> {
    let body = body.into_inner();
    let patch = ProfilePatch {
        display_name: body.display_name,
        email: body.email,
    };
    let user = state
        .use_cases
        .update_profile
        .execute(&who.0, patch, &ctx.0)
        .await?;
    let version = user.version;
    Ok(Tagged::new(user.into(), version))
}

/// Change my password
///
/// Requires the current password; clears `mustChangePassword` and revokes every other
/// session.
#[api_v2_operation(tags(Profile), operation_id = "changePassword")]
pub async fn change_password(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    body: JsonBody<ChangePasswordRequest>,
) -> Result<NoContent, ApiError> {
    let body = body.into_inner();
    let command = ChangePasswordCommand {
        current_password: Password::new(body.current_password),
        new_password: Password::new(body.new_password),
    };
    state
        .use_cases
        .change_password
        .execute(&who.0, command, &ctx.0)
        .await?;
    Ok(NoContent)
}

/// My preferences
#[api_v2_operation(tags(Profile), operation_id = "getPreferences")]
pub async fn get_preferences(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<web::Json<PreferencesDto>, ApiError> {
    let prefs = state.use_cases.get_preferences.execute(&who.0).await?;
    Ok(web::Json(prefs.into()))
}

/// Replace my preferences
#[api_v2_operation(tags(Profile), operation_id = "updatePreferences")]
pub async fn put_preferences(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    body: JsonBody<PreferencesDto>,
) -> Result<web::Json<PreferencesDto>, ApiError> {
    let prefs = state
        .use_cases
        .update_preferences
        .execute(&who.0, body.into_inner().into(), &ctx.0)
        .await?;
    Ok(web::Json(prefs.into()))
}
