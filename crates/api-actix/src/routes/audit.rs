//! `/api/v1/audit-logs*`: the audit log, admin only.

use paperclip::actix::{api_v2_operation, web};

use crate::dto::audit::{AuditLogList, ListAuditLogsParams, VerifyReportDto};
use crate::http::auth::Authenticated;
use crate::http::error::ApiError;
use crate::startup::AppState;

/// List audit entries
///
/// Newest first; filters `userId`, `action`, `entityType`, `entityId`, `from`, `to`;
/// offset or cursor pages.
#[api_v2_operation(tags(Audit), operation_id = "listAuditLogs")]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
    params: web::Query<ListAuditLogsParams>,
) -> Result<web::Json<AuditLogList>, ApiError> {
    let query = params
        .to_query()
        .map_err(|fields| ApiError::from(application::AppError::Validation(fields)))?;
    let page = state
        .use_cases
        .list_audit_logs
        .execute(&who.0, &query)
        .await?;
    Ok(web::Json(AuditLogList::new(page, &query.page)))
}

/// Verify the audit log
///
/// Walks the hash chain of sealed entries (sealed within about a second of their
/// commit) and names the first entry changed, or following one removed, behind the
/// server's back.
#[api_v2_operation(tags(Audit), operation_id = "verifyAuditLog")]
pub async fn verify(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<web::Json<VerifyReportDto>, ApiError> {
    let report = state.use_cases.verify_audit_log.execute(&who.0).await?;
    Ok(web::Json(report.into()))
}
