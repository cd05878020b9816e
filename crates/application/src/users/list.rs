//! `GET /users` and `GET /users/search`, and the list filters `GET /users/export` shares.

use chrono::{DateTime, Utc};
use domain::page::{UserFilter, UserQuery, UserSort};
use domain::search::SearchTerm;
use domain::user::{Role, User, UserStatus};

use crate::error::{AppError, Problems};
use crate::paging::{PageInput, Paged};
use crate::ports::Ports;
use crate::principal::Principal;

/// The user list's filters and sort as a client sent them (`GET /users`,
/// `GET /users/export`): typed where the edge could type them, text where only the core
/// can tell. Read only once the caller is authorized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserListInput {
    /// Substring of username, display name or email; blank means none.
    pub q: Option<String>,
    /// Only this role.
    pub role: Option<Role>,
    /// Only this status.
    pub status: Option<UserStatus>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created at or before.
    pub created_to: Option<DateTime<Utc>>,
    /// Include soft-deleted users (default false).
    pub include_deleted: Option<bool>,
    /// `-createdAt,username` style list (default newest first).
    pub sort: Option<String>,
}

impl UserListInput {
    /// The filter and sort; each problem (sort, then `q`) is recorded, `None` if any.
    pub(crate) fn parse(&self, problems: &mut Problems) -> Option<(UserFilter, UserSort)> {
        let sort = match self.sort.as_deref() {
            Some(raw) => problems.check(UserSort::parse(raw)),
            None => Some(UserSort::default()),
        };
        let q = match self.q.as_deref() {
            Some(raw) => problems.check(SearchTerm::filter(raw)),
            None => Some(None),
        };
        let filter = UserFilter {
            q: q?,
            role: self.role,
            status: self.status,
            created_from: self.created_from,
            created_to: self.created_to,
            include_deleted: self.include_deleted.unwrap_or(false),
        };
        Some((filter, sort?))
    }
}

/// Refuses a creation range that ends before it starts.
pub(crate) fn check_creation_range(filter: &UserFilter) -> Result<(), AppError> {
    match (filter.created_from, filter.created_to) {
        (Some(from), Some(to)) if from > to => Err(AppError::invalid(
            "createdFrom",
            "must not be after createdTo",
        )),
        _ => Ok(()),
    }
}

/// Lists users with filters, sort and offset or cursor pages.
pub struct ListUsers {
    ports: Ports,
}

impl ListUsers {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Whether `who` may list users at all: admins only. [`Self::execute`] checks it
    /// before it reads any input; the edge asks it first when it cannot even read the
    /// query string, so that a refused caller gets the same answer either way.
    pub fn authorize(&self, who: &Principal) -> Result<(), AppError> {
        who.require_admin()
    }

    /// Runs it: authorizes, then validates every parameter (paging, sort, `q`, each
    /// problem reported) and the creation range.
    #[tracing::instrument(name = "list_users", skip_all)]
    pub async fn execute(
        &self,
        who: &Principal,
        input: &UserListInput,
        page: &PageInput,
    ) -> Result<Paged<User>, AppError> {
        self.authorize(who)?;
        let mut problems = Problems::default();
        let request = problems.check(page.parse());
        let parsed = input.parse(&mut problems);
        let (Some(request), Some((filter, sort))) = (request, parsed) else {
            return Err(problems.into_error());
        };
        check_creation_range(&filter)?;
        let query = UserQuery {
            filter,
            sort,
            page: request,
        };
        let page = self.ports.users.list(&query).await?;
        Ok(Paged {
            page,
            request: query.page,
        })
    }
}

/// Finds users by a search term, best matches first.
pub struct SearchUsers {
    ports: Ports,
}

impl SearchUsers {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Whether `who` may search users at all: admins only (see [`ListUsers::authorize`]).
    pub fn authorize(&self, who: &Principal) -> Result<(), AppError> {
        who.require_admin()
    }

    /// Runs it: authorizes, then reads the page and the [`SearchTerm`], in that order,
    /// reporting the first problem.
    #[tracing::instrument(name = "search_users", skip_all)]
    pub async fn execute(
        &self,
        who: &Principal,
        term: &str,
        page: &PageInput,
    ) -> Result<Paged<User>, AppError> {
        self.authorize(who)?;
        let request = page.parse()?;
        let term = SearchTerm::parse(term)?;
        let page = self.ports.users.search(&term, &request).await?;
        Ok(Paged { page, request })
    }
}

/// The background chore behind cheap list totals: folds the store's count notes.
pub struct FoldUserCounts {
    ports: Ports,
}

impl FoldUserCounts {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it; returns how many notes were folded.
    #[tracing::instrument(name = "fold_user_counts", skip_all)]
    pub async fn execute(&self) -> Result<u64, AppError> {
        Ok(self.ports.users.fold_counts().await?)
    }
}
