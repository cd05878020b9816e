#![doc = include_str!("../README.md")]

pub mod access;
pub mod audit;
pub mod audit_evidence;
pub mod error;
pub mod list_cache;
pub mod lockout;
pub mod page;
pub mod password;
pub mod ports;
pub mod preferences;
pub mod profile;
pub mod rate_limit;
pub mod search;
pub mod session;
pub mod sign_in;
pub mod signing_keys;
pub mod text;
pub mod token;
pub mod user;

pub use error::{FieldError, RepoError};
