//! `GET /users` and `GET /users/search`.

use domain::page::{Page, PageRequest, UserQuery};
use domain::search::SearchTerm;
use domain::user::User;

use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// Lists users with filters, sort and offset or cursor pages.
pub struct ListUsers {
    ports: Ports,
}

impl ListUsers {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only.
    #[tracing::instrument(name = "list_users", skip_all)]
    pub async fn execute(
        &self,
        who: &Principal,
        query: &UserQuery,
    ) -> Result<Page<User>, AppError> {
        who.require_admin()?;
        if let (Some(from), Some(to)) = (query.filter.created_from, query.filter.created_to) {
            if from > to {
                return Err(AppError::invalid(
                    "createdFrom",
                    "must not be after createdTo",
                ));
            }
        }
        Ok(self.ports.users.list(query).await?)
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

    /// Runs it. Admin only; the term is a [`SearchTerm`].
    #[tracing::instrument(name = "search_users", skip_all)]
    pub async fn execute(
        &self,
        who: &Principal,
        term: &str,
        page: &PageRequest,
    ) -> Result<Page<User>, AppError> {
        who.require_admin()?;
        let term = SearchTerm::parse(term).map_err(|e| AppError::Validation(vec![e]))?;
        Ok(self.ports.users.search(&term, page).await?)
    }
}
