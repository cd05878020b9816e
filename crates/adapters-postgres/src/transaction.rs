//! [`PgTransaction`]: one pooled connection with an open transaction, the write port.
//!
//! Dropping it without `commit` rolls back: a task on the runtime issues ROLLBACK and
//! only then returns the connection to the pool; if that fails or cannot run (no runtime),
//! the connection is detached from the pool and closed, which makes PostgreSQL roll back.
//! Either way no connection stuck in a transaction is ever handed out again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::PgExpressionMethods;
use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager};
use domain::audit::AuditEntry;
use domain::audit_evidence::{seal_entry, AuditKey, EntryFields, SALT_LEN};
use domain::lockout::LockoutState;
use domain::ports::Transaction;
use domain::preferences::Preferences;
use domain::session::{RevocationReason, Session, SessionId};
use domain::token::{RefreshToken, TokenHash};
use domain::user::{ErasedData, User, UserId};
use domain::RepoError;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use uuid::Uuid;

use crate::error::{query_error, StoreFailure};
use crate::rows::{NewAuditRow, NewPreferencesRow, RefreshTokenRow, SessionRow, UserRow};
use crate::schema::{audit_logs, refresh_tokens, sessions, user_preferences, users};
use crate::store::{timed, Observer, PooledConn};

type Tm = <AsyncPgConnection as AsyncConnection>::TransactionManager;

/// Key of the transaction-scoped advisory lock that serializes every transaction which
/// counts active admins ("EMS_ADMN" in ASCII).
pub(crate) const ADMIN_LOCK_KEY: i64 = 0x454D_535F_4144_4D4E;

/// An open transaction on a pooled connection.
pub struct PgTransaction {
    conn: Option<PooledConn>,
    audit_enabled: bool,
    audit_key: Arc<AuditKey>,
    deadline: Duration,
    rollback_timeout: Duration,
    observer: Observer,
}

impl std::fmt::Debug for PgTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTransaction")
            .field("open", &self.conn.is_some())
            .finish()
    }
}

impl PgTransaction {
    /// Wraps a connection on which a transaction was just begun.
    pub(crate) fn new(
        conn: PooledConn,
        audit_enabled: bool,
        audit_key: Arc<AuditKey>,
        deadline: Duration,
        rollback_timeout: Duration,
        observer: Observer,
    ) -> Self {
        Self {
            conn: Some(conn),
            audit_enabled,
            audit_key,
            deadline,
            rollback_timeout,
            observer,
        }
    }

    /// One port call on the open transaction's connection, under the deadline and timed
    /// by the observer. `Unknown` once the transaction is committed.
    async fn run<'s, T, Fut>(
        &'s mut self,
        call: impl FnOnce(&'s mut AsyncPgConnection) -> Fut,
    ) -> Result<T, RepoError>
    where
        Fut: Future<Output = Result<T, RepoError>> + 's,
    {
        let Some(conn) = self.conn.as_mut() else {
            return Err(already_committed());
        };
        timed(self.deadline, &self.observer, call(conn)).await
    }
}

/// The failure of a call on a transaction that was already committed.
fn already_committed() -> RepoError {
    StoreFailure::new("transaction", "already committed").into()
}

/// Whether a read row-locks what it reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// A plain read.
    None,
    /// `FOR UPDATE`: held until commit or rollback.
    ForUpdate,
}

/// Reads one user on `conn`.
async fn read_user(
    conn: &mut AsyncPgConnection,
    id: UserId,
    lock: Lock,
) -> Result<Option<User>, RepoError> {
    let query = users::table.find(id.0).select(UserRow::as_select());
    let row: Option<UserRow> = match lock {
        Lock::ForUpdate => query.for_update().first(conn).await,
        Lock::None => query.first(conn).await,
    }
    .optional()
    .map_err(|e| query_error("read user", e))?;
    row.map(User::try_from).transpose().map_err(RepoError::from)
}

/// Takes the transaction-scoped admin lock (re-entrant within the transaction).
async fn lock_admins(conn: &mut AsyncPgConnection) -> Result<(), RepoError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(ADMIN_LOCK_KEY)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| query_error("lock admins", e))
}

/// Runs one statement in a savepoint, so that an expected failure (a unique violation the
/// caller turns into 409) leaves the transaction usable, e.g. for per-row bulk results.
async fn in_savepoint<T, F>(
    conn: &mut AsyncPgConnection,
    context: &'static str,
    statement: F,
) -> Result<T, RepoError>
where
    F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, QueryResult<T>>,
{
    Tm::begin_transaction(conn)
        .await
        .map_err(|e| query_error("savepoint", e))?;
    match statement(conn).await {
        Ok(value) => {
            Tm::commit_transaction(conn)
                .await
                .map_err(|e| query_error("release savepoint", e))?;
            Ok(value)
        }
        Err(e) => {
            Tm::rollback_transaction(conn)
                .await
                .map_err(|e| query_error("rollback to savepoint", e))?;
            Err(query_error(context, e))
        }
    }
}

/// Rolls the connection back in the background, then returns it to the pool; closes it
/// instead when that is impossible.
fn rollback_in_background(mut conn: PooledConn, timeout: Duration) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(async move {
                let rolled_back =
                    tokio::time::timeout(timeout, Tm::rollback_transaction(&mut *conn)).await;
                if !matches!(rolled_back, Ok(Ok(()))) {
                    tracing::warn!(
                        "rollback of a dropped transaction failed; closing its connection"
                    );
                    drop(Object::take(conn));
                }
            });
        }
        Err(_) => drop(Object::take(conn)),
    }
}

impl Drop for PgTransaction {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            rollback_in_background(conn, self.rollback_timeout);
        }
    }
}

#[async_trait]
impl Transaction for PgTransaction {
    #[tracing::instrument(name = "pg.tx.user_for_update", skip_all, fields(user.id = %id))]
    async fn user_for_update(&mut self, id: UserId) -> Result<Option<User>, RepoError> {
        self.run(|conn| read_user(conn, id, Lock::ForUpdate)).await
    }

    #[tracing::instrument(name = "pg.tx.user", skip_all, fields(user.id = %id))]
    async fn user(&mut self, id: UserId) -> Result<Option<User>, RepoError> {
        self.run(|conn| read_user(conn, id, Lock::None)).await
    }

    #[tracing::instrument(name = "pg.tx.insert_user", skip_all, fields(user.id = %user.id))]
    async fn insert_user(&mut self, user: &User) -> Result<(), RepoError> {
        let row = UserRow::from(user);
        self.run(|conn| async move {
            in_savepoint(conn, "insert user", |c| {
                async move {
                    diesel::insert_into(users::table)
                        .values(&row)
                        .execute(c)
                        .await
                }
                .boxed()
            })
            .await
            .map(|_| ())
        })
        .await
    }

    #[tracing::instrument(
        name = "pg.tx.update_user",
        skip_all,
        fields(user.id = %user.id, user.version = expected_version)
    )]
    async fn update_user(&mut self, user: &User, expected_version: i64) -> Result<(), RepoError> {
        let row = UserRow::from(user);
        self.run(|conn| async move {
            let id = row.id;
            let updated = in_savepoint(conn, "update user", |c| {
                async move {
                    diesel::update(
                        users::table
                            .filter(users::id.eq(row.id))
                            .filter(users::version.eq(expected_version)),
                    )
                    .set(&row)
                    .execute(c)
                    .await
                }
                .boxed()
            })
            .await?;
            if updated == 1 {
                return Ok(());
            }
            let exists: bool = diesel::select(diesel::dsl::exists(users::table.find(id)))
                .get_result(conn)
                .await
                .map_err(|e| query_error("update user", e))?;
            Err(if exists {
                RepoError::Conflict
            } else {
                RepoError::NotFound
            })
        })
        .await
    }

    #[tracing::instrument(
        name = "pg.tx.write_lockout",
        skip_all,
        fields(user.id = %id, login.failed_attempts = state.failed_attempts)
    )]
    async fn write_lockout(
        &mut self,
        id: UserId,
        state: LockoutState,
        at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.run(|conn| async move {
            let n = diesel::update(users::table.find(id.0))
                .set((
                    users::failed_login_attempts.eq(state.failed_attempts),
                    users::locked_until.eq(state.locked_until),
                    users::version.eq(users::version + 1),
                    users::updated_at.eq(at),
                ))
                .execute(conn)
                .await
                .map_err(|e| query_error("write lockout", e))?;
            if n == 1 {
                Ok(())
            } else {
                Err(RepoError::NotFound)
            }
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.record_login", skip_all, fields(user.id = %id))]
    async fn record_login(
        &mut self,
        id: UserId,
        state: LockoutState,
        at: DateTime<Utc>,
    ) -> Result<User, RepoError> {
        self.run(|conn| async move {
            let row: Option<UserRow> = diesel::update(users::table.find(id.0))
                .set((
                    users::last_login_at.eq(at),
                    users::login_count.eq(users::login_count + 1),
                    users::failed_login_attempts.eq(state.failed_attempts),
                    users::locked_until.eq(state.locked_until),
                    users::version.eq(users::version + 1),
                    users::updated_at.eq(at),
                ))
                .returning(UserRow::as_returning())
                .get_result(conn)
                .await
                .optional()
                .map_err(|e| query_error("record login", e))?;
            User::try_from(row.ok_or(RepoError::NotFound)?).map_err(RepoError::from)
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.acting_admin", skip_all, fields(user.id = %id))]
    async fn acting_admin(&mut self, id: UserId) -> Result<Option<User>, RepoError> {
        self.run(|conn| async move {
            lock_admins(conn).await?;
            // Read after the lock: a READ COMMITTED statement sees every change committed
            // by the transaction that held it before.
            read_user(conn, id, Lock::None).await
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.count_active_admins", skip_all)]
    async fn count_active_admins(&mut self) -> Result<i64, RepoError> {
        self.run(|conn| async move {
            // Held until commit or rollback: every transaction that counts admins (and so
            // may remove one) runs after the previous one finished, and its count, taken
            // by a later statement, sees that one's outcome.
            lock_admins(conn).await?;
            let admins = crate::users::admins(conn).await?;
            let active = admins.iter().filter(|u| u.is_active_admin()).count();
            // A Vec holds at most isize::MAX items: the count always fits.
            Ok(i64::try_from(active).unwrap_or(i64::MAX))
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.put_preferences", skip_all, fields(user.id = %id))]
    async fn put_preferences(&mut self, id: UserId, prefs: &Preferences) -> Result<(), RepoError> {
        self.run(|conn| async move {
            let row = NewPreferencesRow {
                user_id: id.0,
                theme: prefs.theme.as_str(),
                language: prefs.language.as_str(),
                notifications: prefs.notifications,
            };
            diesel::insert_into(user_preferences::table)
                .values(&row)
                .on_conflict(user_preferences::user_id)
                .do_update()
                .set((&row, user_preferences::updated_at.eq(diesel::dsl::now)))
                .execute(conn)
                .await
                .map(|_| ())
                .map_err(|e| query_error("put preferences", e))
        })
        .await
    }

    #[tracing::instrument(
        name = "pg.tx.insert_session",
        skip_all,
        fields(session.id = %session.id, user.id = %session.user_id)
    )]
    async fn insert_session(&mut self, session: &Session) -> Result<(), RepoError> {
        let row = SessionRow::from(session);
        self.run(|conn| async move {
            diesel::insert_into(sessions::table)
                .values(&row)
                .execute(conn)
                .await
                .map(|_| ())
                .map_err(|e| query_error("insert session", e))
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.session_for_update", skip_all, fields(session.id = %id))]
    async fn session_for_update(&mut self, id: SessionId) -> Result<Option<Session>, RepoError> {
        self.run(|conn| async move {
            let row: Option<SessionRow> = sessions::table
                .find(id.0)
                .select(SessionRow::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()
                .map_err(|e| query_error("lock session", e))?;
            Ok(row.map(Session::from))
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.touch_session", skip_all, fields(session.id = %id))]
    async fn touch_session(
        &mut self,
        id: SessionId,
        last_used_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.run(|conn| async move {
            let n = diesel::update(sessions::table.find(id.0))
                .set((
                    sessions::last_used_at.eq(last_used_at),
                    sessions::expires_at.eq(expires_at),
                ))
                .execute(conn)
                .await
                .map_err(|e| query_error("touch session", e))?;
            if n == 0 {
                Err(RepoError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    #[tracing::instrument(
        name = "pg.tx.revoke_session",
        skip_all,
        fields(session.id = %id, session.revocation_reason = reason.as_str())
    )]
    async fn revoke_session(
        &mut self,
        id: SessionId,
        at: DateTime<Utc>,
        reason: RevocationReason,
    ) -> Result<bool, RepoError> {
        self.run(|conn| async move {
            let n = diesel::update(
                sessions::table
                    .filter(sessions::id.eq(id.0))
                    .filter(sessions::revoked_at.is_null()),
            )
            .set((
                sessions::revoked_at.eq(at),
                sessions::revoked_reason.eq(reason.as_str()),
            ))
            .execute(conn)
            .await
            .map_err(|e| query_error("revoke session", e))?;
            Ok(n == 1)
        })
        .await
    }

    #[tracing::instrument(
        name = "pg.tx.revoke_user_sessions",
        skip_all,
        fields(user.id = %user_id, session.revocation_reason = reason.as_str())
    )]
    async fn revoke_user_sessions(
        &mut self,
        user_id: UserId,
        at: DateTime<Utc>,
        reason: RevocationReason,
        except: Option<SessionId>,
    ) -> Result<u64, RepoError> {
        self.run(|conn| async move {
            let n = diesel::update(
                sessions::table
                    .filter(sessions::user_id.eq(user_id.0))
                    .filter(sessions::revoked_at.is_null())
                    .filter(
                        sessions::id
                            .nullable()
                            .is_distinct_from(except.map(|s| s.0)),
                    ),
            )
            .set((
                sessions::revoked_at.eq(at),
                sessions::revoked_reason.eq(reason.as_str()),
            ))
            .execute(conn)
            .await
            .map_err(|e| query_error("revoke user sessions", e))?;
            Ok(n as u64)
        })
        .await
    }

    #[tracing::instrument(
        name = "pg.tx.insert_refresh_token",
        skip_all,
        fields(session.id = %token.session_id, token.id = %token.id)
    )]
    async fn insert_refresh_token(&mut self, token: &RefreshToken) -> Result<(), RepoError> {
        let row = RefreshTokenRow::from(token);
        self.run(|conn| async move {
            diesel::insert_into(refresh_tokens::table)
                .values(&row)
                .execute(conn)
                .await
                .map(|_| ())
                .map_err(|e| query_error("insert refresh token", e))
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.refresh_token_for_update", skip_all)]
    async fn refresh_token_for_update(
        &mut self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshToken>, RepoError> {
        let hash = hash.0.to_vec();
        self.run(|conn| async move {
            let row: Option<RefreshTokenRow> = refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(&hash))
                .select(RefreshTokenRow::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()
                .map_err(|e| query_error("lock refresh token", e))?;
            row.map(RefreshToken::try_from)
                .transpose()
                .map_err(RepoError::from)
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.retire_refresh_tokens", skip_all, fields(session.id = %session_id))]
    async fn retire_refresh_tokens(
        &mut self,
        session_id: SessionId,
        at: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        self.run(|conn| async move {
            diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::session_id.eq(session_id.0))
                    .filter(refresh_tokens::spent_at.is_null()),
            )
            .set((
                refresh_tokens::spent_at.eq(at),
                refresh_tokens::retired_at.eq(at),
            ))
            .execute(conn)
            .await
            .map(|n| n as u64)
            .map_err(|e| query_error("retire refresh tokens", e))
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.spend_refresh_token", skip_all, fields(token.id = %id))]
    async fn spend_refresh_token(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<(), RepoError> {
        self.run(|conn| async move {
            // The first spend time is kept: the reuse grace window is measured from it.
            let n = diesel::update(
                refresh_tokens::table
                    .filter(refresh_tokens::id.eq(id))
                    .filter(refresh_tokens::spent_at.is_null()),
            )
            .set(refresh_tokens::spent_at.eq(at))
            .execute(conn)
            .await
            .map_err(|e| query_error("spend refresh token", e))?;
            if n == 1 {
                return Ok(());
            }
            let exists: bool = diesel::select(diesel::dsl::exists(refresh_tokens::table.find(id)))
                .get_result(conn)
                .await
                .map_err(|e| query_error("spend refresh token", e))?;
            if exists {
                Ok(())
            } else {
                Err(RepoError::NotFound)
            }
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.erase_personal_data", skip_all, fields(user.id = %id))]
    async fn erase_personal_data(&mut self, id: UserId) -> Result<ErasedData, RepoError> {
        self.run(|conn| crate::erasure::erase_personal_data(conn, id))
            .await
    }

    #[tracing::instrument(
        name = "pg.tx.append_audit",
        skip_all,
        fields(audit.action = entry.action.as_str(), audit.id = %entry.id)
    )]
    async fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), RepoError> {
        if !self.audit_enabled {
            return Ok(());
        }
        // Bound to the key here, in the writing transaction: no shared lock, and a row
        // that did not come through this call never verifies (ADR 0015).
        let mut salt = [0u8; SALT_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        let evidence = seal_entry(&self.audit_key, &EntryFields::from(entry), &salt);
        self.run(|conn| async move {
            diesel::insert_into(audit_logs::table)
                .values(&NewAuditRow::new(entry, &evidence))
                .execute(conn)
                .await
                .map(|_| ())
                .map_err(|e| query_error("append audit entry", e))
        })
        .await
    }

    #[tracing::instrument(name = "pg.tx.commit", skip_all)]
    async fn commit(&mut self) -> Result<(), RepoError> {
        let Some(mut conn) = self.conn.take() else {
            return Err(already_committed());
        };
        // On any failure the connection goes back to the pool, which discards it if its
        // transaction state is unknown (a timed-out COMMIT leaves it marked broken).
        timed(self.deadline, &self.observer, async {
            Tm::commit_transaction(&mut *conn)
                .await
                .map_err(|e| query_error("commit", e))
        })
        .await
    }
}
