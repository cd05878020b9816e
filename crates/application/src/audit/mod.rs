//! The audit log: building entries (for the use cases that audit), listing and verifying
//! it (admin only), and the background steps that seal it and apply retention.

mod entries;
mod jobs;
mod read;
#[cfg(test)]
mod tests;

pub(crate) use entries::{about_session, about_user};
pub use jobs::{RunRetention, SealAuditLog};
pub use read::{AuditListInput, CreateAuditCheckpoint, ListAuditLogs, VerifyAuditLog};
