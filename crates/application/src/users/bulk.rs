//! `DELETE /users/bulk` and `POST /users/bulk`: many users in one transaction with one
//! audit entry, and a result per item.

use std::collections::HashMap;

use domain::audit::{AuditAction, AuditEntry, EntityType, RequestContext};
use domain::session::RevocationReason;
use domain::user::{User, UserId};
use domain::FieldError;
use domain::RepoError;
use futures_util::future::join_all;
use serde_json::json;

use super::create::{build_user, CheckedNewUser, NewUserInput, ValidNewUser};
use super::ensure_another_active_admin;
use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// The most items one bulk request may carry.
pub const MAX_BULK_ITEMS: usize = 1000;

/// What happened to one user of a bulk delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkDeleteStatus {
    /// Soft-deleted now, sessions revoked.
    Deleted,
    /// No such user, or already deleted (also a repeat of an id in the same request).
    NotFound,
    /// The caller themselves, or an admin whose removal would leave no active admin.
    Forbidden,
}

/// The outcome for one requested id, in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkDeleteResult {
    /// The requested id.
    pub id: UserId,
    /// What happened.
    pub status: BulkDeleteStatus,
}

/// Soft-deletes many users in one transaction.
pub struct BulkDeleteUsers {
    ports: Ports,
}

impl BulkDeleteUsers {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only; 1–[`MAX_BULK_ITEMS`] ids. Every id gets a result; the
    /// deletions, session revocations and the one `BULK_DELETE_USERS` entry commit
    /// together or not at all.
    #[tracing::instrument(name = "bulk_delete_users", skip_all, fields(bulk.count = ids.len()))]
    pub async fn execute(
        &self,
        who: &Principal,
        ids: Vec<UserId>,
        ctx: &RequestContext,
    ) -> Result<Vec<BulkDeleteResult>, AppError> {
        who.require_admin()?;
        if ids.is_empty() || ids.len() > MAX_BULK_ITEMS {
            return Err(AppError::invalid(
                "ids",
                format!("must list 1 to {MAX_BULK_ITEMS} user ids"),
            ));
        }
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        let mut results = Vec::with_capacity(ids.len());
        let mut revoked_sessions = 0_u64;
        for id in ids {
            let status = if id == who.user.id {
                BulkDeleteStatus::Forbidden
            } else {
                match tx.user_for_update(id).await?.filter(|u| !u.is_deleted()) {
                    None => BulkDeleteStatus::NotFound,
                    Some(mut user) => match ensure_another_active_admin(tx.as_mut(), &user).await {
                        Err(AppError::LastAdmin(_)) => BulkDeleteStatus::Forbidden,
                        Err(other) => return Err(other),
                        Ok(()) => {
                            let expected = user.version;
                            user.deleted_at = Some(now);
                            user.touch(now);
                            tx.update_user(&user, expected).await?;
                            revoked_sessions += tx
                                .revoke_user_sessions(
                                    id,
                                    now,
                                    RevocationReason::AccountDisabled,
                                    None,
                                )
                                .await?;
                            BulkDeleteStatus::Deleted
                        }
                    },
                }
            };
            results.push(BulkDeleteResult { id, status });
        }
        let ids_with = |wanted: BulkDeleteStatus| -> Vec<String> {
            results
                .iter()
                .filter(|r| r.status == wanted)
                .map(|r| r.id.to_string())
                .collect()
        };
        let (deleted, not_found, forbidden) = (
            ids_with(BulkDeleteStatus::Deleted),
            ids_with(BulkDeleteStatus::NotFound),
            ids_with(BulkDeleteStatus::Forbidden),
        );
        let entry = AuditEntry::new(
            self.ports.ids.new_id(),
            &ctx.clone().with_actor(who.user.id),
            AuditAction::BulkDeleteUsers,
            EntityType::User,
            None,
            json!({
                "requested": results.len(),
                "deleted": deleted.len(),
                "notFound": not_found.len(),
                "forbidden": forbidden.len(),
                "deletedIds": deleted,
                "notFoundIds": not_found,
                "forbiddenIds": forbidden,
                "revokedSessions": revoked_sessions,
            }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(results)
    }
}

/// The outcome of one item of a non-atomic bulk create, in request order.
#[derive(Debug)]
pub struct BulkCreateItem {
    /// Position in the request.
    pub index: usize,
    /// The created user, or why this one was not created.
    pub result: Result<User, AppError>,
}

/// Creates many users: all or nothing (`atomic`), or as many as possible.
pub struct BulkCreateUsers {
    ports: Ports,
}

impl BulkCreateUsers {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// All or nothing. Admin only; 1–[`MAX_BULK_ITEMS`] users. Any invalid, repeated
    /// or taken item fails the whole batch with one `Validation` whose fields are
    /// `users[i].<field>`; nothing is created then.
    #[tracing::instrument(name = "bulk_create_users", skip_all, fields(bulk.count = inputs.len(), bulk.atomic = true))]
    pub async fn atomic(
        &self,
        who: &Principal,
        inputs: Vec<NewUserInput>,
        ctx: &RequestContext,
    ) -> Result<Vec<User>, AppError> {
        let checked = self.check(who, &inputs)?;
        let checked = self.judge_all(checked).await;
        let problems: Vec<FieldError> = checked
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| indexed(i, e)))
            .flatten()
            .collect();
        if !problems.is_empty() {
            return Err(AppError::Validation(problems));
        }
        let users = self.hash_all(checked).await;
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        let mut problems = Vec::new();
        let mut created = Vec::with_capacity(users.len());
        for (i, user) in users.into_iter().enumerate() {
            match insert(tx.as_mut(), user?).await? {
                Ok(user) => created.push(user),
                Err(e) => problems.extend(indexed(i, &e)),
            }
        }
        if !problems.is_empty() {
            // Dropping the transaction rolls every insert back.
            return Err(AppError::Validation(problems));
        }
        tx.append_audit(&self.entry(who, ctx, true, created.len(), &created, now))
            .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// As many as possible. Admin only; 1–[`MAX_BULK_ITEMS`] users. Each item gets a
    /// result; the created users and one `BULK_CREATE_USERS` entry commit together.
    #[tracing::instrument(name = "bulk_create_users", skip_all, fields(bulk.count = inputs.len(), bulk.atomic = false))]
    pub async fn partial(
        &self,
        who: &Principal,
        inputs: Vec<NewUserInput>,
        ctx: &RequestContext,
    ) -> Result<Vec<BulkCreateItem>, AppError> {
        let checked = self.check(who, &inputs)?;
        let checked = self.judge_all(checked).await;
        let requested = checked.len();
        let users = self.hash_all(checked).await;
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        let mut items = Vec::with_capacity(requested);
        for (index, user) in users.into_iter().enumerate() {
            let result = match user {
                Ok(user) => insert(tx.as_mut(), user).await?,
                Err(e) => Err(e),
            };
            items.push(BulkCreateItem { index, result });
        }
        let created: Vec<User> = items
            .iter()
            .filter_map(|i| i.result.as_ref().ok().cloned())
            .collect();
        tx.append_audit(&self.entry(who, ctx, false, requested, &created, now))
            .await?;
        tx.commit().await?;
        Ok(items)
    }

    /// Authorizes, bounds the batch, validates each item's fields and finds repeats
    /// within it: everything cheap, before any password is judged.
    fn check(
        &self,
        who: &Principal,
        inputs: &[NewUserInput],
    ) -> Result<Vec<Result<CheckedNewUser, AppError>>, AppError> {
        who.require_admin()?;
        if inputs.is_empty() || inputs.len() > MAX_BULK_ITEMS {
            return Err(AppError::invalid(
                "users",
                format!("must list 1 to {MAX_BULK_ITEMS} users"),
            ));
        }
        Ok(check_each(inputs, |field, first| {
            format!("repeats users[{first}].{field}")
        }))
    }

    /// Judges the passwords of the items whose other fields are valid, concurrently
    /// (the [`domain::ports::PasswordStrength`] adapter bounds the parallelism); invalid
    /// items pass through.
    async fn judge_all(
        &self,
        checked: Vec<Result<CheckedNewUser, AppError>>,
    ) -> Vec<Result<ValidNewUser, AppError>> {
        let ports = &self.ports;
        join_all(checked.into_iter().map(|item| async move {
            match item {
                Ok(fields) => fields.judge(ports).await,
                Err(e) => Err(e),
            }
        }))
        .await
    }

    /// Hashes the valid items' passwords concurrently (the hasher bounds the
    /// parallelism) and builds their users; invalid items pass through.
    async fn hash_all(
        &self,
        checked: Vec<Result<ValidNewUser, AppError>>,
    ) -> Vec<Result<User, AppError>> {
        let now = self.ports.clock.now();
        let ports = &self.ports;
        join_all(checked.into_iter().map(|item| async move {
            match item {
                Ok(valid) => build_user(ports, valid, now).await,
                Err(e) => Err(e),
            }
        }))
        .await
    }

    fn entry(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        atomic: bool,
        requested: usize,
        created: &[User],
        now: chrono::DateTime<chrono::Utc>,
    ) -> AuditEntry {
        AuditEntry::new(
            self.ports.ids.new_id(),
            &ctx.clone().with_actor(who.user.id),
            AuditAction::BulkCreateUsers,
            EntityType::User,
            None,
            json!({
                "atomic": atomic,
                "requested": requested,
                "created": created.len(),
                "failed": requested - created.len(),
                "createdIds": created.iter().map(|u| u.id.to_string()).collect::<Vec<_>>(),
            }),
            now,
        )
    }
}

/// Inserts one user: a clash is this item's failure (the store's savepoint keeps the
/// transaction usable); anything else fails the batch.
async fn insert(
    tx: &mut dyn domain::ports::Transaction,
    user: User,
) -> Result<Result<User, AppError>, AppError> {
    match tx.insert_user(&user).await {
        Ok(()) => Ok(Ok(user)),
        Err(RepoError::UsernameTaken) => Ok(Err(AppError::UsernameTaken)),
        Err(RepoError::EmailTaken) => Ok(Err(AppError::EmailTaken)),
        Err(other) => Err(other.into()),
    }
}

/// Validates each item's fields and finds repeats within the batch (names and emails
/// compared case-insensitively, as the store's unique indexes do): a repeat is refused
/// with `repeats(field, index of the first)`. Shared by bulk create and import.
pub(crate) fn check_each(
    inputs: &[NewUserInput],
    repeats: impl Fn(&str, usize) -> String,
) -> Vec<Result<CheckedNewUser, AppError>> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut emails: HashMap<String, usize> = HashMap::new();
    inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let valid = input.check_fields()?;
            let name = valid.username.as_str().to_lowercase();
            if let Some(first) = names.get(&name) {
                return Err(AppError::invalid("username", repeats("username", *first)));
            }
            if let Some(email) = &valid.email {
                let email = email.as_str().to_lowercase();
                if let Some(first) = emails.get(&email) {
                    return Err(AppError::invalid("email", repeats("email", *first)));
                }
                emails.insert(email, i);
            }
            names.insert(name, i);
            Ok(valid)
        })
        .collect()
}

/// An item's failure as field errors (`username`, `password`, ...), what one row or item
/// of a batch reports; `None` for a failure that is not about its fields.
pub(crate) fn field_errors(err: &AppError) -> Option<Vec<FieldError>> {
    Some(match err {
        AppError::Validation(fields) => fields.clone(),
        AppError::WeakPassword { field, feedback } => {
            let mut message = "is too weak".to_owned();
            if !feedback.is_empty() {
                message = format!("{message}: {}", feedback.join(" "));
            }
            vec![FieldError::new(field.clone(), message)]
        }
        AppError::UsernameTaken => vec![FieldError::new("username", "is taken")],
        AppError::EmailTaken => vec![FieldError::new("email", "is taken")],
        _ => return None,
    })
}

/// An item's failure as `users[i].<field>` validation errors.
fn indexed(i: usize, err: &AppError) -> Vec<FieldError> {
    match field_errors(err) {
        Some(fields) => fields
            .into_iter()
            .map(|f| FieldError::new(format!("users[{i}].{}", f.field), f.message))
            .collect(),
        None => vec![FieldError::new(format!("users[{i}]"), err.to_string())],
    }
}
