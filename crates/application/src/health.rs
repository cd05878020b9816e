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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, Mocks};

    #[tokio::test]
    async fn readiness_follows_the_database() {
        let mut mocks = Mocks::new();
        mocks.database.expect_ping().times(1).returning(|| Ok(()));
        assert!(Health::new(mocks.ports()).ready().await.is_ok());

        let mut mocks = Mocks::new();
        mocks
            .database
            .expect_ping()
            .returning(|| Err(testing::down()));
        let health = Health::new(mocks.ports());
        assert!(matches!(
            health.ready().await,
            Err(AppError::Unavailable(_))
        ));
        assert_eq!(health.live(), "ok");
    }
}
