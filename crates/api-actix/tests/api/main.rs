//! HTTP tests: the real server on port 0 over a fresh database per test, driven
//! through the contract alone.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod auth;
mod backup;
mod bulk_export;
mod client_journeys;
mod control_characters;
mod errors;
mod gdpr;
mod health;
mod helpers;
mod import;
mod instances;
mod keys;
mod list_cache;
mod logging;
mod observability;
mod openapi;
mod openapi_copy;
mod profile;
mod profile_cache;
mod races;
mod rate_limits;
mod read_replica;
mod redis_faults;
mod security_headers;
mod sessions;
mod tls;
mod tracing_spans;
mod users;
