//! `POST /users/import`: up to [`MAX_IMPORT_ROWS`] users from a file, each row validated
//! as `POST /users` validates its body, with a dry run that writes nothing.
//!
//! The order is cheapest first: fields and repeats within the file, then one lookup of
//! the names and emails already held, then the password policy, then hashing (the
//! dearest, bounded to [`IMPORT_BATCH`] pending at a time so the hasher's permits, not
//! the file's length, set the pace). The store's unique indexes stay the final word: a
//! user created concurrently between the lookup and the insert makes that row `INVALID`.

use domain::audit::{AuditAction, AuditEntry, EntityType, RequestContext};
use domain::password::Password;
use domain::user::{Role, TakenNames, User};
use domain::FieldError;
use domain::RepoError;
use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::bulk::{check_each, field_errors};
use super::create::{build_user, CheckedNewUser, NewUserInput, ValidNewUser};
use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;

/// The most rows one import may carry.
pub const MAX_IMPORT_ROWS: usize = 10_000;

/// How many passwords are judged or hashed at a time: enough to keep every hashing permit
/// busy, few enough that a 10 000-row file never queues 10 000 hashes.
pub const IMPORT_BATCH: usize = 32;

/// One row of an import as the file holds it; row `n` of the report is the `n`-th of
/// these (1-based).
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// Login name.
    pub username: String,
    /// Optional email.
    pub email: Option<String>,
    /// Human name.
    pub display_name: String,
    /// `USER` or `ADMIN` in the contract's spelling; `USER` when absent.
    pub role: Option<String>,
    /// Initial password; `None` to generate one (the user must then change it).
    pub password: Option<Password>,
}

/// What happened to one row.
#[derive(Debug)]
pub enum ImportOutcome {
    /// Created (not a dry run).
    Created(User),
    /// Would be created (dry run).
    Valid,
    /// Not created, and why, per field.
    Invalid(Vec<FieldError>),
}

/// The outcome of an import, one entry per row in file order.
#[derive(Debug)]
pub struct ImportReport {
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Row `n` (1-based) is `rows[n - 1]`.
    pub rows: Vec<ImportOutcome>,
}

impl ImportReport {
    /// Rows created.
    pub fn created(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r, ImportOutcome::Created(_)))
            .count()
    }

    /// Rows refused.
    pub fn failed(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r, ImportOutcome::Invalid(_)))
            .count()
    }
}

/// A row on its way through the checks: its input so far, or why it failed.
type Pending<T> = Result<T, AppError>;

/// Imports users.
pub struct ImportUsers {
    ports: Ports,
}

impl ImportUsers {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Whether `who` may import at all: admins only, checked before the edge reads the
    /// file (a refused caller learns nothing about its format).
    pub fn authorize(&self, who: &Principal) -> Result<(), AppError> {
        who.require_admin()
    }

    /// Runs it. Admin only; 1–[`MAX_IMPORT_ROWS`] rows. Every row gets an outcome. A dry
    /// run writes nothing (no user, no audit entry); otherwise the valid rows and one
    /// `IMPORT_USERS` entry (counts only) commit together or not at all.
    #[tracing::instrument(name = "import_users", skip_all, fields(import.rows = rows.len(), import.dry_run = dry_run))]
    pub async fn execute(
        &self,
        who: &Principal,
        rows: Vec<ImportRow>,
        dry_run: bool,
        ctx: &RequestContext,
    ) -> Result<ImportReport, AppError> {
        self.authorize(who)?;
        if rows.is_empty() || rows.len() > MAX_IMPORT_ROWS {
            return Err(AppError::invalid(
                "rows",
                format!("must hold 1 to {MAX_IMPORT_ROWS} users"),
            ));
        }
        let generated: Vec<bool> = rows.iter().map(|r| r.password.is_none()).collect();
        let checked = self.check(rows);
        let checked = self.against_store(checked).await?;
        let judged = self.judge_all(checked).await?;
        if dry_run {
            let rows = judged
                .into_iter()
                .map(|r| outcome(r.map(|_| ImportOutcome::Valid)))
                .collect::<Result<_, _>>()?;
            return Ok(ImportReport { dry_run, rows });
        }
        let built = self.hash_all(judged, &generated).await?;
        let rows = self.insert_all(who, built, &generated, ctx).await?;
        Ok(ImportReport { dry_run, rows })
    }

    /// Every field but the password's strength, the role, and repeats within the file.
    fn check(&self, rows: Vec<ImportRow>) -> Vec<Pending<CheckedNewUser>> {
        let mut roles = Vec::with_capacity(rows.len());
        let inputs: Vec<NewUserInput> = rows
            .into_iter()
            .map(|row| {
                let role = match row.role.as_deref().map(str::trim) {
                    None | Some("") => Ok(None),
                    Some(raw) => Role::parse(raw)
                        .map(Some)
                        .ok_or_else(|| FieldError::new("role", "must be USER or ADMIN")),
                };
                let password = row
                    .password
                    .unwrap_or_else(|| Password::new(self.ports.secrets.temporary_password()));
                let input = NewUserInput {
                    username: row.username,
                    email: row.email,
                    display_name: row.display_name,
                    password,
                    role: role.clone().ok().flatten(),
                };
                roles.push(role);
                input
            })
            .collect();
        let checked = check_each(&inputs, |field, first| {
            format!("repeats the {field} of row {}", first + 1)
        });
        checked
            .into_iter()
            .zip(roles)
            .map(|(fields, role)| match (fields, role) {
                (fields, Ok(_)) => fields,
                (Ok(_), Err(bad_role)) => Err(AppError::Validation(vec![bad_role])),
                (Err(AppError::Validation(mut problems)), Err(bad_role)) => {
                    problems.push(bad_role);
                    Err(AppError::Validation(problems))
                }
                (Err(other), Err(_)) => Err(other),
            })
            .collect()
    }

    /// Refuses the rows whose name or email some user already holds: one lookup for the
    /// whole file, before any password is judged.
    async fn against_store(
        &self,
        checked: Vec<Pending<CheckedNewUser>>,
    ) -> Result<Vec<Pending<CheckedNewUser>>, AppError> {
        let valid = || checked.iter().filter_map(|r| r.as_ref().ok());
        let names: Vec<String> = valid()
            .map(|u| u.username.as_str().to_lowercase())
            .collect();
        if names.is_empty() {
            return Ok(checked);
        }
        let emails: Vec<String> = valid()
            .filter_map(|u| u.email.as_ref().map(|e| e.as_str().to_lowercase()))
            .collect();
        let taken: TakenNames = self.ports.users.taken_names(&names, &emails).await?;
        Ok(checked
            .into_iter()
            .map(|row| {
                let user = row?;
                let mut problems = Vec::new();
                if taken
                    .usernames
                    .contains(&user.username.as_str().to_lowercase())
                {
                    problems.push(FieldError::new("username", "is taken"));
                }
                if let Some(email) = &user.email {
                    if taken.emails.contains(&email.as_str().to_lowercase()) {
                        problems.push(FieldError::new("email", "is taken"));
                    }
                }
                if problems.is_empty() {
                    Ok(user)
                } else {
                    Err(AppError::Validation(problems))
                }
            })
            .collect())
    }

    /// Judges the passwords of the rows still valid, [`IMPORT_BATCH`] at a time (the
    /// [`domain::ports::PasswordStrength`] adapter bounds the parallelism further).
    async fn judge_all(
        &self,
        checked: Vec<Pending<CheckedNewUser>>,
    ) -> Result<Vec<Pending<ValidNewUser>>, AppError> {
        let ports = &self.ports;
        stream::iter(checked)
            .map(|row| async move {
                match row {
                    Ok(fields) => fields.judge(ports).await,
                    Err(e) => Err(e),
                }
            })
            .buffered(IMPORT_BATCH)
            .map(row_or_abort)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// Hashes the valid rows' passwords, [`IMPORT_BATCH`] pending at a time, and builds
    /// their users; a generated password must be changed at first use.
    async fn hash_all(
        &self,
        judged: Vec<Pending<ValidNewUser>>,
        generated: &[bool],
    ) -> Result<Vec<Pending<User>>, AppError> {
        let now = self.ports.clock.now();
        let ports = &self.ports;
        stream::iter(judged.into_iter().zip(generated.iter().copied()))
            .map(|(row, generated)| async move {
                let mut user = build_user(ports, row?, now).await?;
                user.must_change_password = generated;
                Ok(user)
            })
            .buffered(IMPORT_BATCH)
            .map(row_or_abort)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// Inserts the valid rows in one transaction (each insert in its own savepoint, so a
    /// clash with a user created since the lookup refuses only that row) and appends the
    /// one `IMPORT_USERS` entry; any other failure drops the transaction, writing nothing.
    async fn insert_all(
        &self,
        who: &Principal,
        built: Vec<Pending<User>>,
        generated: &[bool],
        ctx: &RequestContext,
    ) -> Result<Vec<ImportOutcome>, AppError> {
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        let mut rows = Vec::with_capacity(built.len());
        for row in built {
            let inserted = match row {
                Ok(user) => match tx.insert_user(&user).await {
                    Ok(()) => Ok(ImportOutcome::Created(user)),
                    Err(RepoError::UsernameTaken) => Err(AppError::UsernameTaken),
                    Err(RepoError::EmailTaken) => Err(AppError::EmailTaken),
                    Err(other) => return Err(other.into()),
                },
                Err(e) => Err(e),
            };
            rows.push(outcome(inserted)?);
        }
        let is_created = |r: &ImportOutcome| matches!(r, ImportOutcome::Created(_));
        let created = rows.iter().filter(|r| is_created(r)).count();
        let generated = rows
            .iter()
            .zip(generated)
            .filter(|(r, generated)| **generated && is_created(r))
            .count();
        let entry = AuditEntry::new(
            self.ports.ids.new_id(),
            &ctx.clone().with_actor(who.user.id),
            AuditAction::ImportUsers,
            EntityType::User,
            None,
            json!({
                "rows": rows.len(),
                "created": created,
                "failed": rows.len() - created,
                "generatedPasswords": generated,
            }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// A row's failure stays the row's when it is about its fields; any other (the hasher or
/// estimator could not run) fails the whole import.
fn row_or_abort<T>(row: Pending<T>) -> Result<Pending<T>, AppError> {
    match row {
        Ok(v) => Ok(Ok(v)),
        Err(e) if field_errors(&e).is_some() => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

/// A row's final outcome: its fields' problems, or the whole import's failure.
fn outcome(row: Pending<ImportOutcome>) -> Result<ImportOutcome, AppError> {
    match row {
        Ok(done) => Ok(done),
        Err(e) => match field_errors(&e) {
            Some(problems) => Ok(ImportOutcome::Invalid(problems)),
            None => Err(e),
        },
    }
}
