//! Faults: an unreachable database fails fast with `Unavailable`; the pool heals.

use std::time::{Duration, Instant};

use adapters_postgres::testing::TestDatabase;
use adapters_postgres::{PgConfig, PgStore};
use domain::ports::{HealthCheck, SessionRepository, UnitOfWork, UserRepository};
use domain::session::SessionId;
use domain::user::UserId;
use domain::RepoError;
use uuid::Uuid;

use crate::helpers::{insert, user, wait_until};

fn config(url: &str) -> PgConfig {
    PgConfig {
        url: url.into(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(2),
        audit_enabled: true,
        audit_key: std::sync::Arc::new(adapters_postgres::ephemeral_audit_key()),
    }
}

/// A local port with nothing listening.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn assert_unavailable<T: std::fmt::Debug>(r: Result<T, RepoError>) {
    assert!(matches!(r, Err(RepoError::Unavailable(_))), "{r:?}");
}

#[tokio::test]
async fn building_a_store_does_no_io() {
    let store = PgStore::new(&config(&format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        closed_port()
    )))
    .unwrap();
    assert_eq!(store.pool_status().size, 0);
}

#[tokio::test]
async fn every_port_fails_fast_with_unavailable_when_the_port_is_closed() {
    let store = PgStore::new(&config(&format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        closed_port()
    )))
    .unwrap();

    let started = Instant::now();
    assert_unavailable(store.ping().await);
    assert_unavailable(store.get(UserId(Uuid::now_v7())).await);
    assert_unavailable(store.any_admin().await);
    assert_unavailable(store.find_for_auth(SessionId(Uuid::now_v7())).await);
    assert_unavailable(store.begin().await.map(|_| ()));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unroutable_address_fails_within_the_connect_timeout() {
    // TEST-NET-1 never answers: either the connect times out or the network refuses.
    let store = PgStore::new(&config("postgres://postgres@192.0.2.1:5432/postgres")).unwrap();
    let started = Instant::now();
    assert_unavailable(store.ping().await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_pool_replaces_connections_the_server_closed() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let ann = user("ann");
    insert(&store, &[&ann]).await;
    store.ping().await.unwrap();
    assert!(store.pool_status().size >= 1);

    // What a database restart does to open connections.
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    wait_until("the closed sessions are gone", || async {
        db.sessions_where("backend_type = 'client backend'").await == 0
    })
    .await;

    assert!(store.get(ann.id).await.unwrap().is_some());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn an_exhausted_pool_answers_unavailable_after_the_acquire_timeout() {
    let db = TestDatabase::new().await;
    let mut cfg = db.config();
    cfg.max_connections = 1;
    cfg.acquire_timeout = Duration::from_millis(300);
    let store = PgStore::new(&cfg).unwrap();
    let _held = store.begin().await.unwrap();

    let started = Instant::now();
    assert_unavailable(store.ping().await);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_running_past_the_statement_timeout_is_unavailable() {
    let db = TestDatabase::new().await;
    let holder = db.store();
    let mut cfg = db.config();
    cfg.statement_timeout = Duration::from_millis(300);
    let impatient = PgStore::new(&cfg).unwrap();

    // The admin lock is held until `held` ends, so the second count waits on it.
    let mut held = holder.begin().await.unwrap();
    held.count_active_admins().await.unwrap();

    let started = Instant::now();
    let mut tx = impatient.begin().await.unwrap();
    assert_unavailable(tx.count_active_admins().await);
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(tx);
    held.commit().await.unwrap();

    // The impatient store still works: the cancelled statement only ended its transaction.
    impatient.ping().await.unwrap();
}

#[tokio::test]
async fn the_pool_recovers_by_itself_after_an_outage() {
    let db = TestDatabase::new().await;
    let mut cfg = db.config();
    cfg.acquire_timeout = Duration::from_secs(1);
    cfg.connect_timeout = Duration::from_secs(1);
    let store = PgStore::new(&cfg).unwrap();
    store.ping().await.unwrap();

    db.execute_on_cluster(&format!(
        "ALTER DATABASE \"{0}\" ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{0}'",
        db.name()
    ))
    .await;
    let started = Instant::now();
    assert_unavailable(store.ping().await);
    assert_unavailable(store.begin().await.map(|_| ()));
    assert!(started.elapsed() < Duration::from_secs(5));

    db.execute_on_cluster(&format!(
        "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true",
        db.name()
    ))
    .await;
    store.ping().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.commit().await.unwrap();
}
