//! `/api/v1/users/bulk`: many users at once, one result per item.

use actix_web::{HttpRequest, HttpResponse, Responder};
use domain::user::UserId;
use paperclip::actix::{api_v2_operation, web, OperationModifier};
use paperclip::v2::models::{DefaultOperationRaw, Either, Response};
use paperclip::v2::schema::Apiv2Schema;

use crate::dto::users::{
    BulkCreateRequest, BulkCreateResults, BulkCreatedResponse, BulkDeleteRequest,
    BulkDeleteResponse,
};
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

/// The answer of a bulk create: 201 with every user (atomic) or 207 with a result per
/// item (not atomic); both documented.
pub enum BulkCreateReply {
    /// Atomic success.
    Created(BulkCreatedResponse),
    /// Per-item results.
    MultiStatus(BulkCreateResults),
}

impl Responder for BulkCreateReply {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        match self {
            Self::Created(body) => HttpResponse::Created().json(body),
            Self::MultiStatus(body) => HttpResponse::MultiStatus().json(body),
        }
    }
}

impl Apiv2Schema for BulkCreateReply {}

fn document<T: Apiv2Schema>(op: &mut DefaultOperationRaw, code: &str, what: &str) {
    let mut schema = T::schema_with_ref();
    schema.retain_ref();
    op.responses.insert(
        code.into(),
        Either::Right(Response {
            description: Some(what.into()),
            schema: Some(schema),
            headers: Default::default(),
        }),
    );
}

impl OperationModifier for BulkCreateReply {
    fn update_response(op: &mut DefaultOperationRaw) {
        document::<BulkCreatedResponse>(op, "201", "Created, all of them (atomic)");
        document::<BulkCreateResults>(op, "207", "A result per item (not atomic)");
    }

    fn update_definitions(
        map: &mut std::collections::BTreeMap<String, paperclip::v2::models::DefaultSchemaRaw>,
    ) {
        <BulkCreatedResponse as OperationModifier>::update_definitions(map);
        <BulkCreateResults as OperationModifier>::update_definitions(map);
    }
}

/// Create users in bulk
///
/// 1–1000 create bodies. Atomic (default): 201 with every user, or 400
/// `VALIDATION_FAILED` with `details` per index (`users[3].username`: invalid, repeated
/// in the batch or taken) and nothing created. `atomic: false`: 207 with a result per
/// item, creating what it can. One `BULK_CREATE_USERS` audit entry.
#[api_v2_operation(tags(Users), operation_id = "bulkCreateUsers")]
pub async fn create(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    body: JsonBody<BulkCreateRequest>,
) -> Result<BulkCreateReply, ApiError> {
    let body = body.into_inner();
    let inputs = body.users.into_iter().map(Into::into).collect();
    let bulk = &state.use_cases.bulk_create_users;
    if body.atomic.unwrap_or(true) {
        let created = bulk.atomic(&who.0, inputs, &ctx.0).await?;
        Ok(BulkCreateReply::Created(BulkCreatedResponse {
            created: created.into_iter().map(Into::into).collect(),
        }))
    } else {
        let items = bulk.partial(&who.0, inputs, &ctx.0).await?;
        Ok(BulkCreateReply::MultiStatus(items.into()))
    }
}
