//! Faults: an unreachable database fails fast with `Unavailable`; the pool heals.

use std::time::{Duration, Instant};

use adapters_postgres::testing::TestDatabase;
use adapters_postgres::{PgConfig, PgStore};
use domain::ports::{HealthCheck, SessionRepository, UnitOfWork, UserRepository};
use domain::session::SessionId;
use domain::user::UserId;
use domain::RepoError;
use uuid::Uuid;

use crate::helpers::{insert, user};

fn config(url: &str) -> PgConfig {
    PgConfig {
        url: url.into(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(2),
        audit_enabled: true,
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
    tokio::time::sleep(Duration::from_millis(200)).await;

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
