#![doc = include_str!("../README.md")]

mod archive;
mod audit;
mod cursor;
mod erasure;
mod error;
mod migrations;
mod page;
mod pool;
mod rows;
mod schema;
mod search;
mod sql;
mod store;
mod tls;
mod transaction;
mod users;

#[cfg(feature = "test-support")]
pub mod testing;

pub use archive::{dump, restore, ArchiveError};
pub use migrations::{embedded_versions, revert_migrations, run_migrations, MigrationError};
pub use pool::{ephemeral_audit_key, redact_url, PgConfig};
pub use store::{PgStore, PoolStatus, QueryObserver};
pub use transaction::PgTransaction;
