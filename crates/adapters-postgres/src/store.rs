//! [`PgStore`]: the pool and the read ports (users, sessions, health), plus the
//! [`UnitOfWork`] that opens [`PgTransaction`]s for writes.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager};
use domain::audit_evidence::AuditKey;
use domain::page::{Page, PageRequest, Position, UserQuery};
use domain::ports::{
    HealthCheck, PoolStats, SessionRepository, Transaction, UnitOfWork, UserRepository,
};
use domain::preferences::Preferences;
use domain::search::SearchTerm;
use domain::session::{Session, SessionId};
use domain::user::{TakenNames, User, UserId, Username};
use domain::RepoError;

use crate::error::{deadline_passed, pool_error, query_error};
use crate::page::{assemble, checked_count, fetch_limit, offset, NewestFirst};
use crate::pool::{build_pool, PgConfig};
use crate::rows::{PreferencesRow, SessionRow, UserRow};
use crate::schema::{sessions, user_preferences, users};
use crate::transaction::PgTransaction;

/// A connection checked out of the pool.
pub(crate) type PooledConn = Object<AsyncPgConnection>;

diesel::define_sql_function! {
    /// PostgreSQL's `lower(text)`.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Occupancy of the connection pool, for `/api/health/detailed` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open now.
    pub size: usize,
    /// Open connections not checked out.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// The PostgreSQL store: implements the repository, unit-of-work and health ports.
/// Cheap to clone; clones share one pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool<AsyncPgConnection>,
    /// `DATABASE_READ_URL`'s pool, for the reads a replica may serve (lists, searches and
    /// what exports read); `None`: those read the primary too.
    read_pool: Option<Pool<AsyncPgConnection>>,
    audit_enabled: bool,
    audit_key: Arc<AuditKey>,
    deadline: Duration,
    statement_timeout: Duration,
    observer: Option<Arc<dyn QueryObserver>>,
}

/// Told how long each port call took (pool wait included), e.g. to feed a histogram.
/// Called on the request path: must be cheap and never block.
pub trait QueryObserver: Send + Sync {
    /// One port call (a read, or one statement of a transaction) finished.
    fn query_finished(&self, elapsed: Duration);
}

/// The observer of a store, cheap to clone into each transaction.
pub(crate) type Observer = Option<Arc<dyn QueryObserver>>;

/// Runs `fut` and tells `observer` how long it took, failed or not.
async fn observed<T>(observer: &Observer, fut: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let result = fut.await;
    if let Some(observer) = observer {
        observer.query_finished(started.elapsed());
    }
    result
}

/// [`with_deadline`], timed by `observer`: how every port call runs.
pub(crate) async fn timed<T>(
    deadline: Duration,
    observer: &Observer,
    fut: impl Future<Output = Result<T, RepoError>>,
) -> Result<T, RepoError> {
    observed(observer, with_deadline(deadline, fut)).await
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.pool_status())
            .field("audit_enabled", &self.inner.audit_enabled)
            .finish()
    }
}

/// Runs `fut`, turning a passed deadline into `Unavailable`: the last resort against a
/// database that accepted a connection and then stopped answering.
async fn with_deadline<T>(
    deadline: Duration,
    fut: impl Future<Output = Result<T, RepoError>>,
) -> Result<T, RepoError> {
    tokio::time::timeout(deadline, fut)
        .await
        .unwrap_or_else(|_| Err(deadline_passed()))
}

impl PgStore {
    /// Builds the store and its pool. Does no I/O: connections open on first use, so the
    /// server starts (and answers `/api/health`) while the database is still down.
    pub fn new(cfg: &PgConfig) -> Result<PgStore, RepoError> {
        let pool = build_pool(cfg)?;
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                read_pool: None,
                audit_enabled: cfg.audit_enabled,
                audit_key: cfg.audit_key.clone(),
                deadline: cfg.operation_deadline(),
                statement_timeout: cfg.statement_timeout,
                observer: None,
            }),
        })
    }

    /// The same store (sharing its pool) with every port call timed by `observer`.
    pub fn with_observer(self, observer: Arc<dyn QueryObserver>) -> PgStore {
        let inner = &self.inner;
        PgStore {
            inner: Arc::new(Inner {
                pool: inner.pool.clone(),
                read_pool: inner.read_pool.clone(),
                audit_enabled: inner.audit_enabled,
                audit_key: inner.audit_key.clone(),
                deadline: inner.deadline,
                statement_timeout: inner.statement_timeout,
                observer: Some(observer),
            }),
        }
    }

    /// The same store with lists and searches of users and of the audit log (what the
    /// exports read, too) served by `replica`'s pool; everything else, every write and
    /// the per-request auth check among them, stays on the primary. Does no I/O.
    pub fn with_read_replica(self, replica: &PgConfig) -> Result<PgStore, RepoError> {
        let read_pool = build_pool(replica)?;
        let inner = &self.inner;
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool: inner.pool.clone(),
                read_pool: Some(read_pool),
                audit_enabled: inner.audit_enabled,
                audit_key: inner.audit_key.clone(),
                deadline: inner.deadline,
                statement_timeout: inner.statement_timeout,
                observer: inner.observer.clone(),
            }),
        })
    }

    /// The audit key (`AUDIT_HMAC_KEY`).
    pub(crate) fn audit_key(&self) -> &AuditKey {
        &self.inner.audit_key
    }

    /// The pool's current occupancy.
    pub fn pool_status(&self) -> PoolStatus {
        let status = self.inner.pool.status();
        PoolStatus {
            size: status.size,
            idle: status.available,
            waiting: status.waiting,
        }
    }

    /// Checks a connection out of the pool.
    async fn conn(&self) -> Result<PooledConn, RepoError> {
        self.inner.pool.get().await.map_err(pool_error)
    }

    /// One port call: `call` gets a pooled connection, and the whole of it, pool wait
    /// included, runs under the deadline and is timed by the observer.
    pub(crate) async fn run<T, Fut>(
        &self,
        call: impl FnOnce(PooledConn) -> Fut,
    ) -> Result<T, RepoError>
    where
        Fut: Future<Output = Result<T, RepoError>>,
    {
        timed(self.inner.deadline, &self.inner.observer, async {
            call(self.conn().await?).await
        })
        .await
    }

    /// [`run`](Self::run) on the read replica when there is one: for reads that may lag
    /// the primary by the replication delay.
    pub(crate) async fn run_read<T, Fut>(
        &self,
        call: impl FnOnce(PooledConn) -> Fut,
    ) -> Result<T, RepoError>
    where
        Fut: Future<Output = Result<T, RepoError>>,
    {
        let Some(read_pool) = &self.inner.read_pool else {
            return self.run(call).await;
        };
        timed(self.inner.deadline, &self.inner.observer, async {
            call(read_pool.get().await.map_err(pool_error)?).await
        })
        .await
    }

    /// [`run`](Self::run) without the deadline, for a call whose length grows with the
    /// data (verification reads the whole audit chain): each of its statements is still
    /// bounded by the statement timeout, and it is still timed.
    pub(crate) async fn run_unbounded<T, Fut>(
        &self,
        call: impl FnOnce(PooledConn) -> Fut,
    ) -> Result<T, RepoError>
    where
        Fut: Future<Output = Result<T, RepoError>>,
    {
        observed(&self.inner.observer, async {
            call(self.conn().await?).await
        })
        .await
    }
}

#[async_trait]
impl UserRepository for PgStore {
    #[tracing::instrument(name = "pg.users.get", skip_all, fields(user.id = %id))]
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        self.run(|mut conn| async move {
            let row: Option<UserRow> = users::table
                .find(id.0)
                .select(UserRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(|e| query_error("get user", e))?;
            row.map(User::try_from).transpose().map_err(RepoError::from)
        })
        .await
    }

    #[tracing::instrument(name = "pg.users.find_by_username", skip_all)]
    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, RepoError> {
        self.run(|mut conn| async move {
            let row: Option<UserRow> = users::table
                .filter(lower(users::username).eq(lower(username.as_str())))
                .select(UserRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(|e| query_error("find user by name", e))?;
            row.map(User::try_from).transpose().map_err(RepoError::from)
        })
        .await
    }

    #[tracing::instrument(
        name = "pg.users.list",
        skip_all,
        fields(page.limit = query.page.limit.get(), page.cursor = matches!(query.page.position, Position::After(_)))
    )]
    async fn list(&self, query: &UserQuery) -> Result<Page<User>, RepoError> {
        self.run_read(|mut conn| async move { crate::users::list(&mut conn, query).await })
            .await
    }

    #[tracing::instrument(
        name = "pg.users.search",
        skip_all,
        fields(page.limit = page.limit.get(), search.term_len = term.as_str().chars().count())
    )]
    async fn search(&self, term: &SearchTerm, page: &PageRequest) -> Result<Page<User>, RepoError> {
        self.run_read(|mut conn| async move { crate::search::search(&mut conn, term, page).await })
            .await
    }

    #[tracing::instrument(name = "pg.users.fold_counts", skip_all)]
    async fn fold_counts(&self) -> Result<u64, RepoError> {
        self.run(|mut conn| async move { crate::users::fold_counts(&mut conn).await })
            .await
    }

    #[tracing::instrument(name = "pg.users.any_admin", skip_all)]
    async fn any_admin(&self) -> Result<bool, RepoError> {
        self.run(|mut conn| async move {
            let admins = crate::users::admins(&mut conn).await?;
            Ok(admins.iter().any(|u| !u.is_deleted()))
        })
        .await
    }

    #[tracing::instrument(name = "pg.users.preferences", skip_all, fields(user.id = %id))]
    async fn preferences(&self, id: UserId) -> Result<Option<Preferences>, RepoError> {
        self.run(|mut conn| async move {
            let row: Option<PreferencesRow> = user_preferences::table
                .find(id.0)
                .select(PreferencesRow::as_select())
                .first(&mut conn)
                .await
                .optional()
                .map_err(|e| query_error("get preferences", e))?;
            row.map(Preferences::try_from)
                .transpose()
                .map_err(RepoError::from)
        })
        .await
    }

    #[tracing::instrument(name = "pg.users.deleted_before", skip_all)]
    async fn deleted_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<UserId>, RepoError> {
        self.run(|mut conn| async move {
            crate::erasure::deleted_before(&mut conn, cutoff, limit).await
        })
        .await
    }

    #[tracing::instrument(
        name = "pg.users.taken_names",
        skip_all,
        fields(names.count = usernames.len(), emails.count = emails.len())
    )]
    async fn taken_names(
        &self,
        usernames: &[String],
        emails: &[String],
    ) -> Result<TakenNames, RepoError> {
        self.run(
            |mut conn| async move { crate::users::taken_names(&mut conn, usernames, emails).await },
        )
        .await
    }
}

/// The order of session pages, under its cursor signature.
const SESSIONS_ORDER: NewestFirst = NewestFirst("sessions");

/// The active sessions of a user at `now`, as a boxed query to filter further.
fn active_sessions<'a>(
    user_id: UserId,
    now: DateTime<Utc>,
) -> sessions::BoxedQuery<'a, diesel::pg::Pg> {
    sessions::table
        .filter(sessions::user_id.eq(user_id.0))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .into_boxed()
}

#[async_trait]
impl SessionRepository for PgStore {
    #[tracing::instrument(name = "pg.sessions.find_for_auth", skip_all, fields(session.id = %id))]
    async fn find_for_auth(&self, id: SessionId) -> Result<Option<(Session, User)>, RepoError> {
        self.run(|mut conn| async move {
            let row: Option<(SessionRow, UserRow)> = sessions::table
                .inner_join(users::table)
                .filter(sessions::id.eq(id.0))
                .select((SessionRow::as_select(), UserRow::as_select()))
                .first(&mut conn)
                .await
                .optional()
                .map_err(|e| query_error("find session for auth", e))?;
            match row {
                Some((session, user)) => Ok(Some((session.into(), User::try_from(user)?))),
                None => Ok(None),
            }
        })
        .await
    }

    #[tracing::instrument(
        name = "pg.sessions.list_active",
        skip_all,
        fields(user.id = %user_id, page.limit = page.limit.get())
    )]
    async fn list_active(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Session>, RepoError> {
        self.run(|mut conn| async move {
            let mut query = active_sessions(user_id, now)
                .select(SessionRow::as_select())
                .order((sessions::created_at.desc(), sessions::id.desc()))
                .limit(fetch_limit(page.limit));
            let total = match &page.position {
                Position::After(c) => {
                    let (at, id) = SESSIONS_ORDER.after(c)?;
                    query = query.filter(sessions::created_at.le(at)).filter(
                        sessions::created_at
                            .lt(at)
                            .or(sessions::created_at.eq(at).and(sessions::id.lt(id))),
                    );
                    None
                }
                Position::Offset(n) => {
                    query = query.offset(offset(n.get()));
                    let n: i64 = active_sessions(user_id, now)
                        .count()
                        .get_result(&mut conn)
                        .await
                        .map_err(|e| query_error("count sessions", e))?;
                    Some(checked_count("count sessions", n)?)
                }
            };
            let rows: Vec<SessionRow> = query
                .load(&mut conn)
                .await
                .map_err(|e| query_error("list sessions", e))?;
            assemble(
                rows,
                page.limit,
                total,
                |r| SESSIONS_ORDER.cursor(r.created_at, r.id),
                |r| Ok(Session::from(r)),
            )
        })
        .await
    }

    #[tracing::instrument(name = "pg.sessions.count_active_users", skip_all)]
    async fn count_active_users(&self, now: DateTime<Utc>) -> Result<u64, RepoError> {
        self.run(|mut conn| async move {
            let users: i64 = sessions::table
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .select(diesel::dsl::count(sessions::user_id).aggregate_distinct())
                .get_result(&mut conn)
                .await
                .map_err(|e| query_error("count active users", e))?;
            checked_count("count active users", users)
        })
        .await
    }

    #[tracing::instrument(name = "pg.sessions.record_activity", skip_all, fields(db.rows = seen.len()))]
    async fn record_activity(&self, seen: &[(SessionId, DateTime<Utc>)]) -> Result<u64, RepoError> {
        use diesel::sql_types::{Array, Timestamptz, Uuid as SqlUuid};
        if seen.is_empty() {
            return Ok(0);
        }
        let ids: Vec<uuid::Uuid> = seen.iter().map(|(id, _)| id.0).collect();
        let times: Vec<DateTime<Utc>> = seen.iter().map(|(_, at)| *at).collect();
        self.run(|mut conn| async move {
            // One statement for the whole batch; GREATEST-by-filter so that a late batch
            // never moves a session's time backwards.
            let moved = diesel::sql_query(
                "UPDATE sessions AS s SET last_used_at = v.at \
                 FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at) \
                 WHERE s.id = v.id AND s.last_used_at < v.at",
            )
            .bind::<Array<SqlUuid>, _>(ids)
            .bind::<Array<Timestamptz>, _>(times)
            .execute(&mut conn)
            .await
            .map_err(|e| query_error("record session activity", e))?;
            Ok(moved as u64)
        })
        .await
    }
}

#[async_trait]
impl UnitOfWork for PgStore {
    #[tracing::instrument(name = "pg.begin", skip_all)]
    async fn begin(&self) -> Result<Box<dyn Transaction>, RepoError> {
        self.run(|mut conn| async move {
            <AsyncPgConnection as AsyncConnection>::TransactionManager::begin_transaction(
                &mut *conn,
            )
            .await
            .map_err(|e| query_error("begin", e))?;
            Ok(Box::new(PgTransaction::new(
                conn,
                self.inner.audit_enabled,
                self.inner.audit_key.clone(),
                self.inner.deadline,
                self.inner.statement_timeout,
                self.inner.observer.clone(),
            )) as Box<dyn Transaction>)
        })
        .await
    }
}

#[async_trait]
impl HealthCheck for PgStore {
    #[tracing::instrument(name = "pg.ping", skip_all)]
    async fn ping(&self) -> Result<(), RepoError> {
        self.run(|mut conn| async move {
            diesel::sql_query("SELECT 1")
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| query_error("ping", e))
        })
        .await
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        let status = self.pool_status();
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Some(PoolStats {
            size: count(status.size),
            idle: count(status.idle),
            waiting: count(status.waiting),
        })
    }
}
