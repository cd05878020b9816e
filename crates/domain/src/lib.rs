#![doc = include_str!("../README.md")]

pub mod access;
pub mod audit;
pub mod error;
pub mod page;
pub mod password;
pub mod ports;
pub mod preferences;
pub mod rate_limit;
pub mod session;
pub mod text;
pub mod token;
pub mod user;

pub use error::{FieldError, RepoError};
