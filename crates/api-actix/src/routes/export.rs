//! `GET /api/v1/users/export`, `GET /api/v1/profile/export` and
//! `GET /api/v1/users/{id}/export`. For the users export, the streaming glue: the use case authorizes, audits and
//! hands out pages; this module renders them as CSV or one JSON array while they are
//! read, so memory holds one page whatever the size of the export.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, Responder};
use application::users::{ExportFormat, UserExport};
use chrono::{DateTime, SecondsFormat, Utc};
use domain::user::{User, UserId};
use futures_util::stream::{self, Stream, StreamExt};
use paperclip::actix::{api_v2_operation, web, OperationModifier};
use paperclip::v2::models::{
    DataType, DataTypeFormat, DefaultOperationRaw, DefaultSchemaRaw, Either, Header, Response,
};
use paperclip::v2::schema::Apiv2Schema;
use uuid::Uuid;

use crate::dto::profile::PersonalDataDto;
use crate::dto::user::UserDto;
use crate::dto::users::ExportUsersParams;
use crate::http::auth::Authenticated;
use crate::http::context::Ctx;
use crate::http::error::ApiError;
use crate::http::late_query::LateQuery;
use crate::startup::AppState;

/// The CSV header, in the contract's column order.
pub const CSV_HEADER: [&str; 8] = [
    "id",
    "username",
    "email",
    "displayName",
    "role",
    "status",
    "createdAt",
    "lastLoginAt",
];

/// A file sent as an attachment: 200 with `Content-Disposition`, documented as a
/// download (a string body) rather than as JSON.
pub struct Download(pub HttpResponse);

impl Responder for Download {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        self.0
    }
}

impl Apiv2Schema for Download {
    fn raw_schema() -> DefaultSchemaRaw {
        DefaultSchemaRaw {
            data_type: Some(DataType::String),
            format: Some(DataTypeFormat::Binary),
            description: Some("The file: CSV text or a JSON array of users".into()),
            ..Default::default()
        }
    }
}

impl OperationModifier for Download {
    fn update_response(op: &mut DefaultOperationRaw) {
        let header = Header {
            description: Some("`attachment; filename=\"...\"`".into()),
            data_type: Some(DataType::String),
            ..Default::default()
        };
        op.responses.insert(
            "200".into(),
            Either::Right(Response {
                description: Some("The file, streamed as an attachment".into()),
                schema: Some(Self::raw_schema()),
                headers: [("Content-Disposition".to_owned(), header)]
                    .into_iter()
                    .collect(),
            }),
        );
    }
}

/// `attachment; filename="<stem>-<UTC timestamp>.<ext>"`.
pub fn attachment(stem: &str, ext: &str, at: DateTime<Utc>) -> String {
    format!(
        "attachment; filename=\"{stem}-{}.{ext}\"",
        at.format("%Y%m%dT%H%M%SZ")
    )
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// One CSV line per user (no header), every field quoted, free text neutralized
/// ([`crate::dto::csv`]).
fn csv_rows(users: &[User]) -> Result<Vec<u8>, csv::Error> {
    let cell = crate::dto::csv::neutralize;
    let mut w = crate::dto::csv::row_writer();
    for u in users {
        w.write_record([
            u.id.to_string(),
            cell(u.username.as_str()),
            u.email
                .as_ref()
                .map(|e| cell(e.as_str()))
                .unwrap_or_default(),
            cell(u.display_name.as_str()),
            u.role.as_str().to_owned(),
            u.status.as_str().to_owned(),
            time(u.created_at),
            u.last_login_at.map(time).unwrap_or_default(),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// The header line, unquoted: constant, harmless text, exactly as the contract spells it.
fn csv_header() -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    w.into_inner().map_err(|e| e.into_error().into())
}

/// The users of one page as JSON array elements, comma-led unless they open the array.
fn json_elements(users: Vec<User>, first: &mut bool) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    for u in users {
        if !std::mem::take(first) {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &UserDto::from(u))?;
    }
    Ok(out)
}

/// Where the rendering stands between pages.
struct Rendering {
    export: UserExport,
    format: ExportFormat,
    first: bool,
}

fn failed(what: &str, cause: &dyn std::fmt::Display) -> std::io::Error {
    // Headers are gone by now: all that is left is to log and cut the body short.
    tracing::error!(error.cause = %cause, "user export failed while {what}");
    std::io::Error::other("export failed")
}

/// The body: prefix (CSV header or `[`), one chunk per page, suffix (`]`).
fn body(
    export: UserExport,
    format: ExportFormat,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + 'static {
    let prefix = match format {
        ExportFormat::Csv => csv_header().map_err(|e| failed("writing the header", &e)),
        ExportFormat::Json => Ok(b"[".to_vec()),
    }
    .map(Bytes::from);
    let suffix = match format {
        ExportFormat::Csv => Bytes::new(),
        ExportFormat::Json => Bytes::from_static(b"]"),
    };
    let state = Rendering {
        export,
        format,
        first: true,
    };
    let pages = stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        match st.export.next_page().await {
            Ok(None) => None,
            Ok(Some(users)) => {
                let chunk = match st.format {
                    ExportFormat::Csv => csv_rows(&users).map_err(|e| failed("writing rows", &e)),
                    ExportFormat::Json => {
                        json_elements(users, &mut st.first).map_err(|e| failed("writing rows", &e))
                    }
                };
                let next = chunk.is_ok().then_some(st);
                Some((chunk.map(Bytes::from), next))
            }
            Err(e) => Some((Err(failed("reading users", &e)), None)),
        }
    });
    stream::once(async move { prefix })
        .chain(pages)
        .chain(stream::once(async move { Ok(suffix) }))
}

/// Export users
///
/// Every user matching the list filters (and sort) as a CSV file (header
/// `id,username,email,displayName,role,status,createdAt,lastLoginAt`) or one JSON array
/// of users, streamed as an attachment. Audited once as `EXPORT_USERS`.
#[api_v2_operation(tags(Users), operation_id = "exportUsers")]
pub async fn users(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    params: LateQuery<ExportUsersParams>,
) -> Result<Download, ApiError> {
    let exporting = &state.use_cases.export_users;
    let (input, format) = params.after(|| exporting.authorize(&who.0))?.into_input();
    let export = exporting
        .execute(&who.0, &input, format.as_deref(), &ctx.0)
        .await?;
    let format = export.format();
    let (content_type, ext) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Json => ("application/json", "json"),
    };
    Ok(Download(
        HttpResponse::Ok()
            .content_type(content_type)
            .insert_header((
                header::CONTENT_DISPOSITION,
                attachment("users", ext, Utc::now()),
            ))
            .streaming(body(export, format)),
    ))
}

/// 200 JSON sent as an attachment (`Content-Disposition`), documented with `T`'s schema.
pub struct Attachment<T> {
    /// The document.
    pub body: T,
    /// The `Content-Disposition` value.
    pub disposition: String,
}

impl<T: serde::Serialize> Responder for Attachment<T> {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Ok()
            .insert_header((header::CONTENT_DISPOSITION, self.disposition))
            .json(self.body)
    }
}

impl<T: Apiv2Schema> Apiv2Schema for Attachment<T> {
    fn name() -> Option<String> {
        T::name()
    }
    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: Apiv2Schema> OperationModifier for Attachment<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        let mut schema = T::schema_with_ref();
        schema.retain_ref();
        let header = Header {
            description: Some("`attachment; filename=\"...\"`".into()),
            data_type: Some(DataType::String),
            ..Default::default()
        };
        op.responses.insert(
            "200".into(),
            Either::Right(Response {
                description: Some("The document, as an attachment".into()),
                schema: Some(schema),
                headers: [("Content-Disposition".to_owned(), header)]
                    .into_iter()
                    .collect(),
            }),
        );
    }
}

/// Export my data
///
/// Everything stored about the caller (account, preferences, active sessions, and the
/// audit entries they made or that are about their account) as one JSON document sent
/// as an attachment. Audited as `DATA_EXPORT`.
#[api_v2_operation(tags(Profile), operation_id = "exportProfile")]
pub async fn profile(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
) -> Result<Attachment<PersonalDataDto>, ApiError> {
    let data = state
        .use_cases
        .export_profile
        .execute(&who.0, &ctx.0)
        .await?;
    Ok(Attachment {
        body: data.into(),
        disposition: attachment("profile", "json", Utc::now()),
    })
}

/// Export a user's data
///
/// The same document as `GET /profile/export`, for any user (an admin's GDPR access
/// request; no session is marked current), sent as an attachment. Audited as
/// `EXPORT_USER_DATA`.
#[api_v2_operation(tags(Users), operation_id = "exportUserData")]
pub async fn user_data(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: Ctx,
    id: web::Path<Uuid>,
) -> Result<Attachment<PersonalDataDto>, ApiError> {
    let data = state
        .use_cases
        .export_user_data
        .execute(&who.0, UserId(id.into_inner()), &ctx.0)
        .await?;
    Ok(Attachment {
        body: data.into(),
        disposition: attachment("user-data", "json", Utc::now()),
    })
}
