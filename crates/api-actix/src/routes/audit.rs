//! `/api/v1/audit-logs*`: the audit log, admin only.

use paperclip::actix::{api_v2_operation, web};

use crate::dto::audit::{
    AuditLogList, CheckpointDto, ListAuditLogsParams, VerifyAuditLogParams, VerifyReportDto,
};
use crate::http::auth::Authenticated;
use crate::http::error::ApiError;
use crate::http::late_query::LateQuery;
use crate::http::respond::Listed;
use crate::startup::AppState;

/// List audit entries
///
/// Newest first; filters `userId`, `action`, `entityType`, `entityId`, `from`, `to`;
/// offset or cursor pages.
#[api_v2_operation(tags(Audit), operation_id = "listAuditLogs")]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
    params: LateQuery<ListAuditLogsParams>,
) -> Result<Listed<AuditLogList>, ApiError> {
    let list = &state.use_cases.list_audit_logs;
    let (input, page) = params.after(|| list.authorize(&who.0))?.into_input();
    let listed = list.execute(&who.0, &input, &page).await?;
    Listed::new(&AuditLogList::new(listed.page, &listed.request))
}

/// Verify the audit log
///
/// Checks every entry's MAC under the server's `AUDIT_HMAC_KEY` (entries not sealed yet
/// included) and the keyed chain of sealed entries (sealed within about a second of
/// their commit), and names the first entry inserted, changed, or following one
/// removed, behind the server's back. With `checkpoint`, the log must also still extend
/// the head that checkpoint states.
#[api_v2_operation(tags(Audit), operation_id = "verifyAuditLog")]
pub async fn verify(
    state: web::Data<AppState>,
    who: Authenticated,
    params: web::Query<VerifyAuditLogParams>,
) -> Result<web::Json<VerifyReportDto>, ApiError> {
    let checkpoint = params.checkpoint.as_deref();
    let report = state
        .use_cases
        .verify_audit_log
        .execute(&who.0, checkpoint)
        .await?;
    Ok(web::Json(report.into()))
}

/// Sign a checkpoint of the audit log
///
/// Verifies the log, then signs its sealed head with the current JWT signing key. Keep
/// the checkpoint outside the database: `verify?checkpoint=` later proves that nothing
/// at or before it was changed, inserted or removed. 409 `CONFLICT` when the log does
/// not verify.
#[api_v2_operation(tags(Audit), operation_id = "auditCheckpoint")]
pub async fn checkpoint(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<web::Json<CheckpointDto>, ApiError> {
    let checkpoint = state.use_cases.audit_checkpoint.execute(&who.0).await?;
    Ok(web::Json(CheckpointDto { checkpoint }))
}
