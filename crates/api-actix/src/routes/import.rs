//! `POST /api/v1/users/import`: a CSV or JSON file of users, each row validated, created
//! unless it is a dry run. The body is read only after the caller is authorized.

use actix_web::mime;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use application::users::ImportRow;
use futures_util::StreamExt;
use paperclip::actix::{api_v2_operation, web, OperationModifier};
use paperclip::v2::models::DefaultOperationRaw;
use paperclip::v2::schema::Apiv2Schema;

use crate::dto::import::{ImportJsonRequest, ImportParams, ImportResponse};
use crate::dto::import_csv::CsvRows;
use crate::http::auth::Authenticated;
use crate::http::context::Ctx;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::json_body::from_object;
use crate::http::late_query::LateQuery;
use crate::startup::AppState;

/// Body limit of an import, CSV or JSON: 10 000 rows of a few hundred bytes fit many
/// times over; larger bodies get 413.
pub const IMPORT_LIMIT_BYTES: usize = 16 * 1024 * 1024;

/// The unread body of an import, documented as both of its media types.
pub struct ImportBody(web::Payload);

impl FromRequest for ImportBody {
    type Error = actix_web::Error;
    type Future = futures_util::future::MapOk<
        <web::Payload as FromRequest>::Future,
        fn(web::Payload) -> ImportBody,
    >;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        use futures_util::TryFutureExt;
        web::Payload::from_request(req, payload).map_ok(ImportBody as fn(_) -> _)
    }
}

impl Apiv2Schema for ImportBody {}

impl OperationModifier for ImportBody {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        <web::Json<ImportJsonRequest> as OperationModifier>::update_parameter(op);
        op.consumes = Some(
            ["application/json", "text/csv"]
                .into_iter()
                .filter_map(|m| m.parse().ok().map(paperclip::v2::models::MediaRange))
                .collect(),
        );
    }

    fn update_definitions(
        map: &mut std::collections::BTreeMap<String, paperclip::v2::models::DefaultSchemaRaw>,
    ) {
        <web::Json<ImportJsonRequest> as OperationModifier>::update_definitions(map);
    }
}

/// How the body is written.
enum Format {
    Csv,
    Json,
}

/// The body's format by its `Content-Type`; 415 for any other (a CSV must be UTF-8).
fn format_of(req: &HttpRequest) -> Result<Format, ApiError> {
    let unsupported = || {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "The request body must be sent as Content-Type: text/csv (UTF-8) or application/json.",
        )
    };
    let mime = req
        .mime_type()
        .map_err(|_| unsupported())?
        .ok_or_else(unsupported)?;
    match (mime.type_(), mime.subtype()) {
        (mime::TEXT, mime::CSV) => match mime.get_param(mime::CHARSET) {
            None | Some(mime::UTF_8) => Ok(Format::Csv),
            Some(_) => Err(unsupported()),
        },
        (mime::APPLICATION, mime::JSON) => Ok(Format::Json),
        _ => Err(unsupported()),
    }
}

/// 413 for a body past [`IMPORT_LIMIT_BYTES`].
fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The request body is larger than the limit of {IMPORT_LIMIT_BYTES} bytes."),
    )
}

/// Reads the CSV chunk by chunk, stopping at the first refusal or one row past the limit.
async fn read_csv(mut body: web::Payload) -> Result<Vec<ImportRow>, ApiError> {
    let mut rows = CsvRows::new();
    let mut read = 0_usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => too_large(),
            _ => ApiError::new(
                ErrorCode::ValidationFailed,
                "The request body could not be read.",
            ),
        })?;
        read += chunk.len();
        if read > IMPORT_LIMIT_BYTES {
            return Err(too_large());
        }
        rows.feed(&chunk)?;
        if rows.is_over_limit() {
            break;
        }
    }
    rows.finish()
}

/// Reads the JSON body with the route's `JsonConfig` (limit and errors as every JSON body).
async fn read_json(req: &HttpRequest, body: web::Payload) -> Result<Vec<ImportRow>, ApiError> {
    let mut payload = body.into_inner();
    let value = actix_web::web::Json::<serde_json::Value>::from_request(req, &mut payload)
        .await
        .map_err(|e| match e.as_error::<ApiError>() {
            Some(api) => api.clone(),
            None => ApiError::from_code(ErrorCode::InvalidJson),
        })?
        .into_inner();
    let body: ImportJsonRequest = from_object(value)?;
    Ok(body.users.into_iter().map(Into::into).collect())
}

/// Import users (CSV or JSON), with a dry run
///
/// `Content-Type: text/csv` (UTF-8; header exactly
/// `username,email,displayName,role,password`; an empty `email` is none, an empty `role`
/// is `USER`, an empty `password` is generated and `mustChangePassword` set; a leading
/// byte order mark is skipped, CRLF or LF line ends) or `application/json`
/// `{"users": [...]}` (the fields of `POST /users`, `password` optional). 1–10 000 rows.
/// `dryRun` is `true` unless `dryRun=false` is given: every row is validated and nothing
/// is written. With `dryRun=false` the valid rows are created in one transaction with one
/// `IMPORT_USERS` audit entry (counts only). Each row gets `CREATED`, `VALID` (dry run) or
/// `INVALID` with `errors`: fields as `POST /users` checks them, a name or email repeated
/// in the file (case-insensitively) or already taken. `row` counts data rows from 1 (the
/// CSV header is row 0; in JSON row n is `users[n-1]`). A malformed CSV (header, quoting,
/// column count, UTF-8, control characters, a line over 4096 bytes) is a 400
/// `VALIDATION_FAILED` naming the row and column; no password is ever returned.
#[api_v2_operation(tags(Users), operation_id = "importUsers")]
pub async fn import(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    req: HttpRequest,
    params: LateQuery<ImportParams>,
    body: ImportBody,
) -> Result<web::Json<ImportResponse>, ApiError> {
    let import = &state.use_cases.import_users;
    import.authorize(&who.0)?;
    let dry_run = params.after(|| Ok(()))?.dry_run()?;
    let rows = match format_of(&req)? {
        Format::Csv => read_csv(body.0).await?,
        Format::Json => read_json(&req, body.0).await?,
    };
    let report = import.execute(&who.0, rows, dry_run, &ctx.0).await?;
    Ok(web::Json(report.into()))
}
