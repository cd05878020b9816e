//! The bundle of ports and the policy every use case is built from.

use std::sync::Arc;

use chrono::Duration;
use domain::ports::{
    AuditRepository, AuthCache, CheckpointSigner, Clock, HealthCheck, IdGenerator,
    KeyAnnouncements, ListCache, PasswordHasher, PasswordStrength, SecretGenerator,
    SecurityMetrics, SessionActivity, SessionRepository, SystemProbe, TokenIssuer, UnitOfWork,
    UserRepository,
};

/// The outside world as the use cases see it. Cloning shares the adapters.
#[derive(Clone)]
pub struct Ports {
    /// User reads.
    pub users: Arc<dyn UserRepository>,
    /// Session reads.
    pub sessions: Arc<dyn SessionRepository>,
    /// Audit log reads, sealing and retention (appends go through transactions).
    pub audit: Arc<dyn AuditRepository>,
    /// Signing and verifying audit checkpoints.
    pub checkpoints: Arc<dyn CheckpointSigner>,
    /// Transactions: every write.
    pub uow: Arc<dyn UnitOfWork>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// The new-password policy, off the async workers.
    pub strength: Arc<dyn PasswordStrength>,
    /// Access token signing and verification.
    pub tokens: Arc<dyn TokenIssuer>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// New ids.
    pub ids: Arc<dyn IdGenerator>,
    /// Random secrets.
    pub secrets: Arc<dyn SecretGenerator>,
    /// Database readiness.
    pub database: Arc<dyn HealthCheck>,
    /// Snapshots of live sessions, so that authentication need not read the database.
    pub auth_cache: Arc<dyn AuthCache>,
    /// Rendered user-list pages, so that an unchanged page needs no database read.
    pub lists: Arc<dyn ListCache>,
    /// Last use of sessions, written behind.
    pub activity: Arc<dyn SessionActivity>,
    /// Which JWT keys the other instances hold.
    pub key_announcements: Arc<dyn KeyAnnouncements>,
    /// Redis readiness, when Redis is configured.
    pub redis: Option<Arc<dyn HealthCheck>>,
    /// Security counters (login outcomes).
    pub metrics: Arc<dyn SecurityMetrics>,
    /// Disk and memory of the host, for the detailed health report.
    pub system: Arc<dyn SystemProbe>,
}

/// Security settings the use cases enforce (parsed from configuration by the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token (and idle session) lifetime.
    pub refresh_ttl: Duration,
    /// How long a spent refresh token may be retried without counting as reuse.
    pub reuse_grace: Duration,
    /// Consecutive failed logins that lock an account.
    pub lockout_threshold: i32,
    /// How long a lockout lasts.
    pub lockout_duration: Duration,
    /// How old a password may get before a sign-in sets the password-change gate
    /// (`None`: never).
    pub password_max_age: Option<Duration>,
}

impl Policy {
    /// The lockout rules these settings make.
    pub fn lockout(&self) -> domain::lockout::LockoutPolicy {
        domain::lockout::LockoutPolicy {
            threshold: self.lockout_threshold,
            duration: self.lockout_duration,
        }
    }
}

impl Default for Policy {
    /// The contract's defaults.
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(7),
            reuse_grace: Duration::zero(),
            lockout_threshold: 10,
            lockout_duration: Duration::minutes(15),
            password_max_age: None,
        }
    }
}
