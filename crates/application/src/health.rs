//! `/api/health` (liveness) and `/api/health/ready` (readiness).

use crate::error::AppError;
use crate::ports::Ports;

/// Liveness and readiness.
pub struct Health {
    ports: Ports,
}

impl Health {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Liveness: the process answers; no dependency is touched.
    pub fn live(&self) -> &'static str {
        "ok"
    }

    /// Readiness: the database answers. `Unavailable` otherwise.
    #[tracing::instrument(name = "readiness", skip_all)]
    pub async fn ready(&self) -> Result<(), AppError> {
        self.ports.database.ping().await.map_err(AppError::from)
    }
}
