//! Adapter tests against a real PostgreSQL: one fresh database per test, cloned from the
//! migrated template (`adapters_postgres::testing`). Run with `cargo xtask test`, or set
//! `EMS_TEST_DATABASE_URL` to a superuser URL of a disposable cluster.

// Tests may unwrap (COMMON.md); clippy only knows that for `#[test]` functions themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod audit_chain;
mod counts;
mod erasure;
mod faults;
mod helpers;
mod migrations;
mod pagination;
mod preferences;
mod read_replica;
mod search;
mod sessions;
mod tls;
mod tokens;
mod transactions;
mod users;
