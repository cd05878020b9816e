//! `POST /users/import` wire types: the query, the JSON body, and the per-row report.

use application::users::{ImportOutcome, ImportReport, ImportRow};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

use super::user::{RoleDto, UserDto};
use crate::http::error::{ApiError, FieldDetail};

/// `POST /users/import` query.
#[derive(Debug, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ImportParams {
    /// `true` (the default: the safe choice) validates every row and writes nothing;
    /// `false` creates the valid rows.
    pub dry_run: Option<String>,
}

impl ImportParams {
    /// Whether this is a dry run: `true` unless `dryRun=false`; any other spelling is
    /// refused rather than guessed.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.dry_run.as_deref() {
            None | Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(ApiError::validation([FieldDetail::new(
                "dryRun",
                "must be true or false",
            )])),
        }
    }
}

/// One user of a JSON import: the fields of a `POST /users` body, the password optional.
#[derive(Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportUserRequest {
    /// 3–32 characters of `[A-Za-z0-9._-]`.
    pub username: String,
    /// Optional email.
    pub email: Option<String>,
    /// 1–100 characters.
    pub display_name: String,
    /// Initial password; absent to generate one that must be changed at first sign-in.
    pub password: Option<String>,
    /// `USER` (default) or `ADMIN`.
    pub role: Option<RoleDto>,
}

impl From<ImportUserRequest> for ImportRow {
    fn from(r: ImportUserRequest) -> Self {
        Self {
            username: r.username,
            email: r.email,
            display_name: r.display_name,
            role: r
                .role
                .map(|role| domain::user::Role::from(role).as_str().to_owned()),
            password: r.password.map(domain::password::Password::new),
        }
    }
}

/// `POST /users/import` body as `application/json`.
#[derive(Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportJsonRequest {
    /// 1–10 000 users; row `n` of the report is `users[n - 1]`.
    pub users: Vec<ImportUserRequest>,
}

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportStatusDto {
    /// Created.
    Created,
    /// Valid; would be created (dry run).
    Valid,
    /// Not created; see `errors`.
    Invalid,
}

/// The outcome of one row.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ImportRowResult {
    /// 1-based data row: the CSV header is row 0; in JSON, row `n` is `users[n - 1]`.
    pub row: usize,
    /// What happened.
    pub status: ImportStatusDto,
    /// The created user (never its password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserDto>,
    /// Why the row is invalid, per field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldDetail>>,
}

/// `POST /users/import` answer.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ImportResponse {
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Rows created.
    pub created: usize,
    /// Rows invalid.
    pub failed: usize,
    /// One result per row, in file order.
    pub results: Vec<ImportRowResult>,
}

impl From<ImportReport> for ImportResponse {
    fn from(report: ImportReport) -> Self {
        let (created, failed) = (report.created(), report.failed());
        let results = report
            .rows
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| {
                let (status, user, errors) = match outcome {
                    ImportOutcome::Created(user) => {
                        (ImportStatusDto::Created, Some(user.into()), None)
                    }
                    ImportOutcome::Valid => (ImportStatusDto::Valid, None, None),
                    ImportOutcome::Invalid(problems) => (
                        ImportStatusDto::Invalid,
                        None,
                        Some(problems.into_iter().map(FieldDetail::from).collect()),
                    ),
                };
                ImportRowResult {
                    row: i + 1,
                    status,
                    user,
                    errors,
                }
            })
            .collect();
        Self {
            dry_run: report.dry_run,
            created,
            failed,
            results,
        }
    }
}
