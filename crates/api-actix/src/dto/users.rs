//! Admin user-management bodies and query strings.

use application::users::UserListInput;
use application::PageInput;
use chrono::{DateTime, Utc};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

use super::user::{RoleDto, StatusDto, UserDto};

/// `POST /users` body.
#[derive(Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUserRequest {
    /// 3–32 characters of `[A-Za-z0-9._-]`.
    pub username: String,
    /// Optional email.
    pub email: Option<String>,
    /// 1–100 characters.
    pub display_name: String,
    /// Initial password.
    pub password: String,
    /// `USER` (default) or `ADMIN`.
    pub role: Option<RoleDto>,
}

impl From<CreateUserRequest> for application::users::NewUserInput {
    fn from(r: CreateUserRequest) -> Self {
        Self {
            username: r.username,
            email: r.email,
            display_name: r.display_name,
            password: domain::password::Password::new(r.password),
            role: r.role.map(Into::into),
        }
    }
}

/// `PATCH /users/{id}` body.
#[derive(Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserPatchDto {
    /// New display name.
    pub display_name: Option<String>,
    /// New email; null removes it.
    #[serde(default, deserialize_with = "super::double_option")]
    pub email: Option<Option<String>>,
    /// New role.
    pub role: Option<RoleDto>,
    /// New status.
    pub status: Option<StatusDto>,
}

impl From<UserPatchDto> for application::users::UserPatch {
    fn from(p: UserPatchDto) -> Self {
        Self {
            display_name: p.display_name,
            email: p.email,
            role: p.role.map(Into::into),
            status: p.status.map(Into::into),
        }
    }
}

/// `PATCH /users/{id}/reset-password` body.
#[derive(Deserialize, Apiv2Schema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The temporary password to set; generated when absent.
    pub new_password: Option<String>,
}

/// `PATCH /users/{id}/reset-password` answer.
#[derive(Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ResetPasswordResponse {
    /// Shown once; the user must change it at next sign-in.
    pub temporary_password: String,
}

/// `GET /users` query.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ListUsersParams {
    /// Substring of username, display name or email.
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<RoleDto>,
    /// Only this status.
    pub status: Option<StatusDto>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Created at or before (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Include soft-deleted users.
    pub include_deleted: Option<bool>,
    /// Comma list of username, displayName, email, createdAt, lastLoginAt; `-` for descending.
    pub sort: Option<String>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
    /// Cursor from `nextCursor`.
    pub cursor: Option<String>,
}

impl ListUsersParams {
    /// The filters and sort, and the page, as sent: the use case validates them.
    pub fn into_input(self) -> (UserListInput, PageInput) {
        let input = UserListInput {
            q: self.q,
            role: self.role.map(Into::into),
            status: self.status.map(Into::into),
            created_from: self.created_from,
            created_to: self.created_to,
            include_deleted: self.include_deleted,
            sort: self.sort,
        };
        let page = PageInput {
            limit: self.limit,
            offset: self.offset,
            cursor: self.cursor,
        };
        (input, page)
    }
}

/// `GET /users/search` query.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct SearchUsersParams {
    /// The search term.
    pub q: String,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
    /// Cursor from `nextCursor`.
    pub cursor: Option<String>,
}

impl SearchUsersParams {
    /// The term and the page, as sent: the use case validates them.
    pub fn into_input(self) -> (String, PageInput) {
        let page = PageInput {
            limit: self.limit,
            offset: self.offset,
            cursor: self.cursor,
        };
        (self.q, page)
    }
}

/// `GET /users/export` query: the list filters and sort, and the file format.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ExportUsersParams {
    /// `csv` (default) or `json`.
    pub format: Option<String>,
    /// Substring of username, display name or email.
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<RoleDto>,
    /// Only this status.
    pub status: Option<StatusDto>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Created at or before (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Include soft-deleted users.
    pub include_deleted: Option<bool>,
    /// Comma list of username, displayName, email, createdAt, lastLoginAt; `-` for descending.
    pub sort: Option<String>,
}

impl ExportUsersParams {
    /// The filters and sort, and the format, as sent: the use case validates them.
    pub fn into_input(self) -> (UserListInput, Option<String>) {
        let input = UserListInput {
            q: self.q,
            role: self.role.map(Into::into),
            status: self.status.map(Into::into),
            created_from: self.created_from,
            created_to: self.created_to,
            include_deleted: self.include_deleted,
            sort: self.sort,
        };
        (input, self.format)
    }
}

/// `DELETE /users/bulk` body.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkDeleteRequest {
    /// 1–1000 user ids.
    pub ids: Vec<uuid::Uuid>,
}

/// What happened to one user of a bulk delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BulkDeleteStatusDto {
    /// Soft-deleted, sessions revoked.
    Deleted,
    /// No such user, or already deleted.
    NotFound,
    /// The caller themselves, or the last active admin.
    Forbidden,
}

/// One requested id and its outcome.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct BulkDeleteItem {
    /// The requested id.
    pub id: uuid::Uuid,
    /// What happened.
    pub status: BulkDeleteStatusDto,
}

/// `DELETE /users/bulk` answer: one result per requested id, in request order.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct BulkDeleteResponse {
    /// The outcomes.
    pub results: Vec<BulkDeleteItem>,
}

impl From<Vec<application::users::BulkDeleteResult>> for BulkDeleteResponse {
    fn from(results: Vec<application::users::BulkDeleteResult>) -> Self {
        use application::users::BulkDeleteStatus as S;
        Self {
            results: results
                .into_iter()
                .map(|r| BulkDeleteItem {
                    id: r.id.0,
                    status: match r.status {
                        S::Deleted => BulkDeleteStatusDto::Deleted,
                        S::NotFound => BulkDeleteStatusDto::NotFound,
                        S::Forbidden => BulkDeleteStatusDto::Forbidden,
                    },
                })
                .collect(),
        }
    }
}

/// `POST /users/bulk` body.
#[derive(Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkCreateRequest {
    /// 1–1000 users, each like a `POST /users` body.
    pub users: Vec<CreateUserRequest>,
    /// All or nothing (default true): 201 or 400 with `details` per index. False: 207
    /// with a result per item, creating what it can.
    pub atomic: Option<bool>,
}

/// `POST /users/bulk` answer when atomic.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct BulkCreatedResponse {
    /// The created users, in request order.
    pub created: Vec<UserDto>,
}

/// Why one item of a non-atomic bulk create failed: the error body's essentials.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct BulkItemError {
    /// The contract code.
    pub code: crate::http::error::ErrorCode,
    /// Human readable explanation.
    pub message: String,
    /// Per-field problems, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<crate::http::error::FieldDetail>>,
}

/// The outcome of one item of a non-atomic bulk create.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct BulkCreateResult {
    /// Position in the request.
    pub index: usize,
    /// The HTTP status this item alone would have had (201, 400, 409, ...).
    pub status: u16,
    /// The created user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserDto>,
    /// Why it was not created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<BulkItemError>,
}

/// `POST /users/bulk` answer when not atomic (207).
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct BulkCreateResults {
    /// One result per item, in request order.
    pub results: Vec<BulkCreateResult>,
}

impl From<Vec<application::users::BulkCreateItem>> for BulkCreateResults {
    fn from(items: Vec<application::users::BulkCreateItem>) -> Self {
        let results = items
            .into_iter()
            .map(|item| match item.result {
                Ok(user) => BulkCreateResult {
                    index: item.index,
                    status: 201,
                    user: Some(user.into()),
                    error: None,
                },
                Err(err) => {
                    let err = crate::http::error::ApiError::from(err);
                    BulkCreateResult {
                        index: item.index,
                        status: err.code.status().as_u16(),
                        user: None,
                        error: Some(BulkItemError {
                            code: err.code,
                            message: err.message,
                            details: err.details,
                        }),
                    }
                }
            })
            .collect();
        Self { results }
    }
}
