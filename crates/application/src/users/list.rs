//! `GET /users` and `GET /users/search` (rendered pages served from the list cache while
//! no user changed), and the list filters `GET /users/export` shares.

use chrono::{DateTime, Utc};
use domain::list_cache::{ListKey, ListLookup, RenderedList};
use domain::page::{PageRequest, UserFilter, UserQuery, UserSort};
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
    /// problem reported) and the creation range, and reads the page from the store (the
    /// edge serves [`Self::execute_rendered`], which puts the list cache in front).
    #[tracing::instrument(name = "list_users", skip_all)]
    pub async fn execute(
        &self,
        who: &Principal,
        input: &UserListInput,
        page: &PageInput,
    ) -> Result<Paged<User>, AppError> {
        let query = self.query(who, input, page)?;
        read_list(&self.ports, &query).await
    }

    /// [`Self::execute`] rendered by `render` (whose errors the caller's error type holds)
    /// for the wire, served from the list cache while no user changed since the page was
    /// rendered (same checks first).
    #[tracing::instrument(name = "list_users", skip_all)]
    pub async fn execute_rendered<R, E>(
        &self,
        who: &Principal,
        input: &UserListInput,
        page: &PageInput,
        render: R,
    ) -> Result<RenderedList, E>
    where
        R: FnOnce(Paged<User>) -> Result<RenderedList, E>,
        E: From<AppError>,
    {
        let query = self.query(who, input, page)?;
        cached(
            &self.ports,
            ListKey::users(&query),
            read_list(&self.ports, &query),
            render,
        )
        .await
    }

    /// The query `who` asks for, once authorized and valid.
    fn query(
        &self,
        who: &Principal,
        input: &UserListInput,
        page: &PageInput,
    ) -> Result<UserQuery, AppError> {
        self.authorize(who)?;
        let mut problems = Problems::default();
        let request = problems.check(page.parse());
        let parsed = input.parse(&mut problems);
        let (Some(request), Some((filter, sort))) = (request, parsed) else {
            return Err(problems.into_error());
        };
        check_creation_range(&filter)?;
        Ok(UserQuery {
            filter,
            sort,
            page: request,
        })
    }
}

async fn read_list(ports: &Ports, query: &UserQuery) -> Result<Paged<User>, AppError> {
    let page = ports.users.list(query).await?;
    Ok(Paged {
        page,
        request: query.page.clone(),
    })
}

/// The page under `key` from the list cache, or `read` rendered by `render` and offered
/// to the cache under the ticket taken before reading. A cache that cannot answer or
/// store costs a database read, never an answer.
async fn cached<R, E>(
    ports: &Ports,
    key: ListKey,
    read: impl std::future::Future<Output = Result<Paged<User>, AppError>>,
    render: R,
) -> Result<RenderedList, E>
where
    R: FnOnce(Paged<User>) -> Result<RenderedList, E>,
    E: From<AppError>,
{
    let ticket = match ports.lists.lookup(&key).await {
        Ok(ListLookup::Hit(page)) => return Ok(page),
        Ok(ListLookup::Miss(ticket)) => Some(ticket),
        Err(err) => {
            tracing::debug!(error = %err, "list cache unavailable; reading the database");
            None
        }
    };
    let page = render(read.await?)?;
    if let Some(ticket) = ticket {
        if let Err(err) = ports.lists.store(&ticket, &page).await {
            tracing::debug!(error = %err, "list page not cached");
        }
    }
    Ok(page)
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
    /// reporting the first problem, and reads the store (see [`ListUsers::execute`]).
    #[tracing::instrument(name = "search_users", skip_all)]
    pub async fn execute(
        &self,
        who: &Principal,
        term: &str,
        page: &PageInput,
    ) -> Result<Paged<User>, AppError> {
        let (term, request) = self.query(who, term, page)?;
        read_search(&self.ports, &term, request).await
    }

    /// [`Self::execute`] rendered by `render`, served from the list cache while no user
    /// changed since the page was rendered (same checks first).
    #[tracing::instrument(name = "search_users", skip_all)]
    pub async fn execute_rendered<R, E>(
        &self,
        who: &Principal,
        term: &str,
        page: &PageInput,
        render: R,
    ) -> Result<RenderedList, E>
    where
        R: FnOnce(Paged<User>) -> Result<RenderedList, E>,
        E: From<AppError>,
    {
        let (term, request) = self.query(who, term, page)?;
        let key = ListKey::search(&term, &request);
        cached(
            &self.ports,
            key,
            read_search(&self.ports, &term, request),
            render,
        )
        .await
    }

    fn query(
        &self,
        who: &Principal,
        term: &str,
        page: &PageInput,
    ) -> Result<(SearchTerm, PageRequest), AppError> {
        self.authorize(who)?;
        let request = page.parse()?;
        let term = SearchTerm::parse(term)?;
        Ok((term, request))
    }
}

async fn read_search(
    ports: &Ports,
    term: &SearchTerm,
    request: PageRequest,
) -> Result<Paged<User>, AppError> {
    let page = ports.users.search(term, &request).await?;
    Ok(Paged { page, request })
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
