//! `GET /users/export`: every user matching the list filters, read page by page by
//! keyset cursor so that an export of any size holds one page in memory at a time.

use std::sync::Arc;

use domain::audit::{AuditAction, AuditEntry, EntityType, RequestContext};
use domain::page::{Limit, Offset, PageRequest, Position, UserQuery};
use domain::ports::UserRepository;
use domain::search::SearchTerm;
use domain::user::User;
use domain::FieldError;
use serde_json::json;

use super::list::{check_creation_range, UserListInput};
use crate::error::{AppError, Problems};
use crate::ports::Ports;
use crate::principal::Principal;

/// The file format of an export; the edge renders it, the audit entry records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of users.
    Json,
}

impl ExportFormat {
    /// Parses the contract's spelling (`csv`, `json`).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }
}

/// Starts an export of users: authorizes and audits once, then hands out the pages.
pub struct ExportUsers {
    ports: Ports,
}

impl ExportUsers {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Whether `who` may export users at all: admins only (see
    /// [`super::ListUsers::authorize`]).
    pub fn authorize(&self, who: &Principal) -> Result<(), AppError> {
        who.require_admin()
    }

    /// Runs it: authorizes, then validates the list filters and sort and the `format`
    /// (`csv` when absent), every problem reported. The `EXPORT_USERS` entry (filters and
    /// format, no data) is committed before the first row is read, so an export is never
    /// unaudited.
    #[tracing::instrument(name = "export_users", skip_all, fields(export.format))]
    pub async fn execute(
        &self,
        who: &Principal,
        input: &UserListInput,
        format: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<UserExport, AppError> {
        self.authorize(who)?;
        let mut problems = Problems::default();
        let parsed = input.parse(&mut problems);
        let format = problems.check(
            ExportFormat::parse(format.unwrap_or("csv"))
                .ok_or_else(|| FieldError::new("format", "must be csv or json")),
        );
        let (Some((filter, sort)), Some(format)) = (parsed, format) else {
            return Err(problems.into_error());
        };
        tracing::Span::current().record("export.format", format.as_str());
        check_creation_range(&filter)?;
        let now = self.ports.clock.now();
        let entry = AuditEntry::new(
            self.ports.ids.new_id(),
            &ctx.clone().with_actor(who.user.id),
            AuditAction::ExportUsers,
            EntityType::User,
            None,
            json!({
                "format": format.as_str(),
                "filters": {
                    "q": filter.q.as_ref().map(SearchTerm::as_str),
                    "role": filter.role.map(|r| r.as_str()),
                    "status": filter.status.map(|s| s.as_str()),
                    "createdFrom": filter.created_from.map(|t| t.to_rfc3339()),
                    "createdTo": filter.created_to.map(|t| t.to_rfc3339()),
                    "includeDeleted": filter.include_deleted,
                },
            }),
            now,
        );
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(UserExport {
            format,
            users: Arc::clone(&self.ports.users),
            query: UserQuery {
                filter,
                sort,
                page: PageRequest {
                    limit: Limit::BATCH,
                    position: Position::Offset(Offset::ZERO),
                },
            },
            done: false,
        })
    }
}

/// An export under way: call [`UserExport::next_page`] until it returns `None`.
pub struct UserExport {
    format: ExportFormat,
    users: Arc<dyn UserRepository>,
    query: UserQuery,
    done: bool,
}

impl UserExport {
    /// The format asked for, for the edge to render.
    pub fn format(&self) -> ExportFormat {
        self.format
    }

    /// The next page of users (possibly empty for an empty result), `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<User>>, AppError> {
        if self.done {
            return Ok(None);
        }
        let page = match self.users.list(&self.query).await {
            Ok(page) => page,
            Err(e) => {
                self.done = true;
                return Err(e.into());
            }
        };
        match page.next_cursor {
            Some(cursor) => self.query.page.position = Position::After(cursor),
            None => self.done = true,
        }
        Ok(Some(page.items))
    }
}
