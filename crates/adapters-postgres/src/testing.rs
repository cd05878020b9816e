//! Test support (feature `test-support`): a fresh database per test, cloned from a
//! template that was migrated once.
//!
//! The cluster comes from `EMS_TEST_DATABASE_URL` (a superuser URL of its maintenance
//! database, e.g. `postgres://postgres@127.0.0.1:55432/postgres`). The template is named
//! after a digest of the embedded migrations (`ems_tpl_<12 hex>`), so a changed migration
//! gets a new template; it is created under an advisory lock on the maintenance database,
//! so parallel tests and parallel test processes build it once. Each test's database
//! (`ems_test_<uuid>`) is dropped when its [`TestDatabase`] is, unless
//! `EMS_TEST_KEEP_DB` is set (to inspect it after a failure).

use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::pool::{connect, driver_config};
use crate::{run_migrations, PgConfig, PgStore};

pub use crate::migrations::revert_all_migrations;

/// The variable naming the test cluster.
pub const DATABASE_URL_VAR: &str = "EMS_TEST_DATABASE_URL";

/// Key of the advisory lock taken while checking or creating the template ("EMS_TMPL").
const TEMPLATE_LOCK_KEY: i64 = 0x454D_535F_544D_504C;

/// The template name of this build's migrations.
pub fn template_name() -> String {
    format!("ems_tpl_{}", &env!("EMS_MIGRATIONS_DIGEST")[..12])
}

/// `url` with its database replaced by `database`.
pub fn url_with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

fn cluster_url() -> String {
    std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| {
        panic!("EMS_TEST_DATABASE_URL is not set: run the tests with `cargo xtask test`")
    })
}

async fn admin_connection(url: &str) -> AsyncPgConnection {
    let timeout = Duration::from_secs(10);
    let config = driver_config(url, timeout).unwrap_or_else(|e| panic!("{e}"));
    connect(config, timeout, None)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test cluster: {e}"))
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<Text, _>(name)
        .get_result::<Exists>(conn)
        .await
        .map(|r| r.exists)
        .unwrap_or_else(|e| panic!("cannot look up database {name}: {e}"))
}

/// Creates and migrates the template unless it exists; under the advisory lock.
async fn create_template(cluster: &str) -> String {
    let template = template_name();
    let mut conn = admin_connection(cluster).await;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot take the template lock: {e}"));
    if !database_exists(&mut conn, &template).await {
        let building = format!("{template}_build");
        conn.batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
        ))
        .await
        .unwrap_or_else(|e| panic!("cannot drop {building}: {e}"));
        conn.batch_execute(&format!("CREATE DATABASE \"{building}\""))
            .await
            .unwrap_or_else(|e| panic!("cannot create {building}: {e}"));
        run_migrations(&url_with_database(cluster, &building))
            .await
            .unwrap_or_else(|e| panic!("cannot migrate the template: {e}"));
        // The migration connection closes asynchronously; a rename (and every clone)
        // needs the database free of sessions.
        for _ in 0..100 {
            let n: i64 =
                diesel::sql_query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1")
                    .bind::<Text, _>(&building)
                    .get_result::<Number>(&mut conn)
                    .await
                    .map(|r| r.n)
                    .unwrap_or_else(|e| panic!("cannot count sessions: {e}"));
            if n == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        conn.batch_execute(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{template}\"; \
             ALTER DATABASE \"{template}\" IS_TEMPLATE true"
        ))
        .await
        .unwrap_or_else(|e| panic!("cannot finish template {template}: {e}"));
    }
    let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
        .execute(&mut conn)
        .await;
    template
}

/// The template, made once per process (and once per cluster across processes).
async fn template(cluster: &str) -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE.get_or_init(|| create_template(cluster)).await
}

/// One test's own database, migrated, dropped again when this value is.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    cluster: String,
}

impl TestDatabase {
    /// Creates `ems_test_<uuid>` from the migrated template. Panics when
    /// `EMS_TEST_DATABASE_URL` is unset or the cluster cannot be used.
    pub async fn new() -> TestDatabase {
        let cluster = cluster_url();
        let template = template(&cluster).await;
        let name = format!("ems_test_{}", Uuid::new_v4().simple());
        let mut conn = admin_connection(&cluster).await;
        conn.batch_execute(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
        ))
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        TestDatabase {
            url: url_with_database(&cluster, &name),
            name,
            cluster,
        }
    }

    /// Creates `ems_test_<uuid>` with nothing in it (from `template0`, not migrated): the
    /// target a restore needs.
    pub async fn empty() -> TestDatabase {
        let cluster = cluster_url();
        let name = format!("ems_test_{}", Uuid::new_v4().simple());
        let mut conn = admin_connection(&cluster).await;
        conn.batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE template0"))
            .await
            .unwrap_or_else(|e| panic!("cannot create empty database {name}: {e}"));
        TestDatabase {
            url: url_with_database(&cluster, &name),
            name,
            cluster,
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Settings for a store on this database: small pool, short timeouts, audit on, the
    /// database's own audit key.
    pub fn config(&self) -> PgConfig {
        PgConfig {
            url: self.url.clone(),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            audit_enabled: true,
            audit_key: std::sync::Arc::new(self.audit_key()),
        }
    }

    /// The key material of this database's audit key: derived from its name, so every
    /// store (and every server a test starts) over this database uses the same key.
    pub fn audit_key_material(&self) -> String {
        format!("ems-test-audit-key-for-{}", self.name)
    }

    /// This database's audit key ([`TestDatabase::audit_key_material`]).
    pub fn audit_key(&self) -> domain::audit_evidence::AuditKey {
        domain::audit_evidence::AuditKey::new(self.audit_key_material().into_bytes())
            .unwrap_or_else(|e| panic!("test audit key: {e}"))
    }

    /// A store on this database with [`TestDatabase::config`].
    pub fn store(&self) -> PgStore {
        PgStore::new(&self.config()).unwrap_or_else(|e| panic!("cannot build the store: {e}"))
    }

    /// A plain connection to this database, for assertions the ports do not offer.
    pub async fn connection(&self) -> AsyncPgConnection {
        admin_connection(&self.url).await
    }

    /// `EXPLAIN (ANALYZE, BUFFERS)` of the statements of a search's first page: the bounded
    /// count, then each rank query the page runs (exact, prefix, other), to test their plans.
    pub async fn search_plans(
        &self,
        term: &domain::search::SearchTerm,
        limit: domain::page::Limit,
    ) -> Vec<String> {
        crate::search::first_page_plans(&mut self.connection().await, term, limit)
            .await
            .unwrap_or_else(|e| panic!("cannot explain the search: {e}"))
    }

    /// Runs SQL (one or more statements, no results) on this database.
    pub async fn execute(&self, sql: &str) {
        self.connection()
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs SQL on the cluster's maintenance database (e.g. to refuse connections to this
    /// database and allow them again, as an outage would).
    pub async fn execute_on_cluster(&self, sql: &str) {
        admin_connection(&self.cluster)
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// How many server sessions are connected to this database and match `condition`
    /// (SQL over `pg_stat_activity`, e.g. `wait_event_type = 'Lock'`), counted from the
    /// maintenance database so that the counting session is never among them.
    pub async fn sessions_where(&self, condition: &str) -> i64 {
        let sql = format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND ({condition})"
        );
        diesel::sql_query(&sql)
            .bind::<Text, _>(&self.name)
            .get_result::<Number>(&mut admin_connection(&self.cluster).await)
            .await
            .map(|r| r.n)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a query returning one `bigint` column named `n`.
    pub async fn query_i64(&self, sql: &str) -> i64 {
        diesel::sql_query(sql)
            .get_result::<Number>(&mut self.connection().await)
            .await
            .map(|r| r.n)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::env::var_os("EMS_TEST_KEEP_DB").is_some() {
            return;
        }
        let cluster = self.cluster.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; the cleanup gets a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let timeout = Duration::from_secs(10);
                let Ok(config) = driver_config(&cluster, timeout) else {
                    return;
                };
                if let Ok(mut conn) = connect(config, timeout, None).await {
                    let _ = conn
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            url_with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            url_with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(url_with_database("postgres://h:1", "x"), "postgres://h:1/x");
    }

    #[test]
    fn the_template_is_named_after_the_migrations() {
        let name = template_name();
        assert!(name.starts_with("ems_tpl_") && name.len() == 20, "{name}");
    }
}
