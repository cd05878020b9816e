//! Admin user management.

mod anonymize;
mod bootstrap;
mod bulk;
mod create;
mod export;
mod import;
mod lifecycle;
mod list;
mod reset_password;
mod update;

pub use anonymize::{AnonymizeUser, PurgeDeletedUsers, PURGE_BATCH};
pub use bootstrap::BootstrapAdmin;
pub use bulk::{
    BulkCreateItem, BulkCreateUsers, BulkDeleteResult, BulkDeleteStatus, BulkDeleteUsers,
    MAX_BULK_ITEMS,
};
pub use create::{CreateUser, NewUserInput};
pub use export::{ExportFormat, ExportUsers, UserExport};
pub use import::{
    ImportOutcome, ImportReport, ImportRow, ImportUsers, IMPORT_BATCH, MAX_IMPORT_ROWS,
};
pub use lifecycle::{DeleteUser, GetUser, RestoreUser};
pub use list::{FoldUserCounts, ListUsers, SearchUsers, UserListInput};
pub use reset_password::ResetPassword;
pub use update::{UpdateUser, UserPatch};

use domain::ports::Transaction;
use domain::user::User;

use crate::error::AppError;

/// Re-checks, inside `tx`, that the caller of an admin write is still an active admin: the
/// role in the request's principal may predate a demotion, block or deletion that
/// committed since. Under the admin lock (taken first, before any row lock), so none can
/// commit before `tx` ends either. `Forbidden` otherwise.
pub(crate) async fn still_admin(
    tx: &mut dyn Transaction,
    who: &crate::principal::Principal,
) -> Result<(), AppError> {
    match tx.acting_admin(who.user.id).await? {
        Some(actor) if actor.is_active_admin() => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// Refuses a change that would leave no active admin. `target` is the admin about to
/// stop counting; the count is taken under the store's admin lock.
pub(crate) async fn ensure_another_active_admin(
    tx: &mut dyn Transaction,
    target: &User,
) -> Result<(), AppError> {
    if !target.is_active_admin() {
        return Ok(());
    }
    if tx.count_active_admins().await? <= 1 {
        return Err(AppError::LastAdmin(
            "the last active admin cannot be removed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod update_audit_tests;

#[cfg(test)]
mod list_cache_tests;
