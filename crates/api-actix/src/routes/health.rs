//! `/api/health*` and `/.well-known/jwks.json` (`/metrics` is in `metrics`).

use paperclip::actix::{api_v2_operation, web};

use crate::dto::health::{DetailedHealthDto, HealthDto};
use crate::http::auth::Authenticated;
use crate::http::error::ApiError;
use crate::startup::AppState;

/// Liveness
///
/// 200 while the process answers; touches no dependency.
#[api_v2_operation(tags(Operations), operation_id = "health")]
pub async fn live(state: web::Data<AppState>) -> Result<web::Json<HealthDto>, ApiError> {
    Ok(web::Json(HealthDto {
        status: state.use_cases.health.live().to_owned(),
    }))
}

/// Readiness
///
/// 200 when the database answers, else 503 SERVICE_UNAVAILABLE.
#[api_v2_operation(tags(Operations), operation_id = "ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<web::Json<HealthDto>, ApiError> {
    state.use_cases.health.ready().await?;
    Ok(web::Json(HealthDto {
        status: "ok".to_owned(),
    }))
}

/// Detailed health (admin)
///
/// The database (status, ping latency, pool), Redis, disk, memory, uptime and version.
/// `status` is `degraded` (still 200) when the database does not answer.
#[api_v2_operation(tags(Operations), operation_id = "healthDetailed")]
pub async fn detailed(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<web::Json<DetailedHealthDto>, ApiError> {
    let report = state.use_cases.detailed_health.execute(&auth.0).await?;
    Ok(web::Json(report.into()))
}

/// Signing keys
///
/// The JSON Web Key Set of every key that verifies access tokens (RFC 7517).
#[api_v2_operation(tags(Operations), operation_id = "jwks")]
pub async fn jwks(state: web::Data<AppState>) -> Result<web::Json<serde_json::Value>, ApiError> {
    Ok(web::Json(state.keys.jwks()))
}
