#![doc = include_str!("../README.md")]

mod auth;

pub use auth::{authenticated, ClientError};

/// The code progenitor generates from `openapi.json` (see `build.rs`): [`Client`], one
/// builder per operation, and the wire types in [`types`].
#[allow(
    missing_docs,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used,
    unused_imports
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/ems_client.rs"));
}

pub use generated::*;
