//! HTTP tests: the real server on port 0 over a fresh database per test, driven
//! through the contract alone.

mod auth;
mod errors;
mod health;
mod helpers;
mod profile;
mod users;
