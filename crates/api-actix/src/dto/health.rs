//! Health bodies.

use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

/// `{status: "ok"}`.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
pub struct HealthDto {
    /// Always `ok` when answered with 200.
    pub status: String,
}
