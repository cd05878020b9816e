//! Test fixtures: mocks of every port with sensible defaults, and sample entities.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use domain::error::RepoError;
use domain::password::PasswordHash;
use domain::ports::{
    LoginOutcome, MockAuditRepository, MockAuthCache, MockCheckpointSigner, MockClock,
    MockHealthCheck, MockIdGenerator, MockKeyAnnouncements, MockListCache, MockPasswordHasher,
    MockPasswordStrength, MockSecretGenerator, MockSessionActivity, MockSessionRepository,
    MockSystemProbe, MockTokenIssuer, MockTransaction, MockUnitOfWork, MockUserRepository,
    SecurityMetrics,
};
use domain::session::{Session, SessionId};
use domain::token::RefreshSecret;
use domain::user::{DisplayName, Role, User, UserId, UserStatus, Username};
use uuid::Uuid;

use crate::ports::Ports;
use crate::principal::Principal;

/// The fixed "now" of every test.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
        .single()
        .expect("valid date")
}

/// A deterministic id.
pub(crate) fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// An active user with the given role.
pub(crate) fn user(n: u128, role: Role) -> User {
    User {
        id: UserId(id(n)),
        username: Username::parse(&format!("user{n}")).expect("valid"),
        email: None,
        display_name: DisplayName::parse(&format!("User {n}")).expect("valid"),
        password_hash: PasswordHash::new("$argon2id$stored"),
        role,
        status: UserStatus::Active,
        must_change_password: false,
        created_at: now(),
        updated_at: now(),
        last_login_at: None,
        login_count: 0,
        failed_login_attempts: 0,
        locked_until: None,
        password_changed_at: now(),
        deleted_at: None,
        version: 1,
    }
}

/// An active session of `user`.
pub(crate) fn session(n: u128, user: UserId) -> Session {
    Session {
        id: SessionId(id(n)),
        user_id: user,
        created_at: now(),
        last_used_at: now(),
        expires_at: now() + chrono::Duration::days(7),
        ip_address: None,
        user_agent: None,
        revoked_at: None,
    }
}

/// The caller `user` in session 900.
pub(crate) fn principal(user: User) -> Principal {
    Principal {
        user: domain::access::Caller::from(&user),
        session_id: SessionId(id(900)),
        profile: std::sync::Arc::new(domain::profile::Profile::from(user)),
    }
}

/// Every port as a mock. Set expectations, then call [`Mocks::ports`].
pub(crate) struct Mocks {
    pub users: MockUserRepository,
    pub sessions: MockSessionRepository,
    pub audit: MockAuditRepository,
    pub checkpoints: MockCheckpointSigner,
    pub uow: MockUnitOfWork,
    pub hasher: MockPasswordHasher,
    /// No expectation by default: [`Mocks::judging`] runs the real policy.
    pub strength: MockPasswordStrength,
    pub tokens: MockTokenIssuer,
    pub secrets: MockSecretGenerator,
    pub database: MockHealthCheck,
    pub cache: MockAuthCache,
    pub lists: MockListCache,
    pub activity: MockSessionActivity,
    pub key_announcements: MockKeyAnnouncements,
    /// `Some` to run with Redis configured.
    pub redis: Option<MockHealthCheck>,
    pub system: MockSystemProbe,
    /// Every login outcome counted, in order.
    pub logins: Arc<std::sync::Mutex<Vec<LoginOutcome>>>,
    /// What the clock tells: [`now`] unless a test moves it.
    pub now: DateTime<Utc>,
}

/// Records login outcomes for [`Mocks::logins`].
struct RecordingMetrics(Arc<std::sync::Mutex<Vec<LoginOutcome>>>);

impl SecurityMetrics for RecordingMetrics {
    fn login_attempt(&self, outcome: LoginOutcome) {
        self.0.lock().expect("not poisoned").push(outcome);
    }
}

impl Mocks {
    pub(crate) fn new() -> Self {
        Self {
            users: MockUserRepository::new(),
            sessions: MockSessionRepository::new(),
            audit: MockAuditRepository::new(),
            checkpoints: MockCheckpointSigner::new(),
            uow: MockUnitOfWork::new(),
            hasher: MockPasswordHasher::new(),
            strength: MockPasswordStrength::new(),
            tokens: MockTokenIssuer::new(),
            secrets: MockSecretGenerator::new(),
            database: MockHealthCheck::new(),
            cache: MockAuthCache::new(),
            lists: MockListCache::new(),
            activity: MockSessionActivity::new(),
            key_announcements: MockKeyAnnouncements::new(),
            redis: None,
            system: MockSystemProbe::new(),
            logins: Arc::default(),
            now: now(),
        }
    }

    /// The next `begin()` hands out `tx`, in which the caller of an admin write is still
    /// an active admin (a test of the opposite builds its transaction without this).
    pub(crate) fn with_tx(mut self, mut tx: MockTransaction) -> Self {
        still_an_admin(&mut tx);
        self.uow
            .expect_begin()
            .times(1)
            .return_once(move || Ok(Box::new(tx)));
        self
    }

    /// Token minting succeeds: a refresh secret and a signed access token.
    pub(crate) fn minting(mut self) -> Self {
        self.secrets
            .expect_refresh_secret()
            .returning(|| RefreshSecret::new("fresh-secret"));
        self.tokens
            .expect_issue()
            .returning(|_| Ok("signed.jwt".into()));
        self
    }

    /// `users.get` finds `user` as stored.
    pub(crate) fn knowing(mut self, user: User) -> Self {
        self.users
            .expect_get()
            .returning(move |_| Ok(Some(user.clone())));
        self
    }

    /// Hashing succeeds.
    pub(crate) fn hashing(mut self) -> Self {
        self.hasher
            .expect_hash()
            .returning(|_| Ok(PasswordHash::new("$argon2id$new")));
        self
    }

    /// Passwords are judged by the real policy, as the blocking adapter would.
    pub(crate) fn judging(mut self) -> Self {
        self.strength
            .expect_judge()
            .returning(|candidate, username, context| {
                let context: Vec<&str> = context.iter().map(String::as_str).collect();
                Ok(domain::password::NewPassword::parse(
                    candidate.expose(),
                    username,
                    &context,
                ))
            });
        self
    }

    pub(crate) fn ports(self) -> Ports {
        let counter = Arc::new(AtomicU64::new(1_000));
        let mut ids = MockIdGenerator::new();
        ids.expect_new_id()
            .returning(move || Uuid::from_u128(u128::from(counter.fetch_add(1, Ordering::SeqCst))));
        let mut clock = MockClock::new();
        let at = self.now;
        clock.expect_now().returning(move || at);
        Ports {
            users: Arc::new(self.users),
            sessions: Arc::new(self.sessions),
            audit: Arc::new(self.audit),
            checkpoints: Arc::new(self.checkpoints),
            uow: Arc::new(self.uow),
            hasher: Arc::new(self.hasher),
            strength: Arc::new(self.strength),
            tokens: Arc::new(self.tokens),
            clock: Arc::new(clock),
            ids: Arc::new(ids),
            secrets: Arc::new(self.secrets),
            database: Arc::new(self.database),
            auth_cache: Arc::new(self.cache),
            lists: Arc::new(self.lists),
            activity: Arc::new(self.activity),
            key_announcements: Arc::new(self.key_announcements),
            redis: self
                .redis
                .map(|r| Arc::new(r) as Arc<dyn domain::ports::HealthCheck>),
            metrics: Arc::new(RecordingMetrics(self.logins)),
            system: Arc::new(self.system),
        }
    }
}

/// `tx` finds every acting admin still an active admin.
pub(crate) fn still_an_admin(tx: &mut MockTransaction) {
    tx.expect_acting_admin().returning(|id| {
        let mut actor = user(1, Role::Admin);
        actor.id = id;
        Ok(Some(actor))
    });
}

/// A transaction that expects exactly one commit and records audited actions.
pub(crate) fn committing_tx() -> (MockTransaction, Arc<std::sync::Mutex<Vec<String>>>) {
    let mut tx = MockTransaction::new();
    let audited = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&audited);
    tx.expect_append_audit().returning(move |entry| {
        sink.lock()
            .expect("not poisoned")
            .push(entry.action.as_str().to_owned());
        Ok(())
    });
    tx.expect_commit().times(1).returning(|| Ok(()));
    (tx, audited)
}

/// The audited actions, in order.
pub(crate) fn actions(audited: &Arc<std::sync::Mutex<Vec<String>>>) -> Vec<String> {
    audited.lock().expect("not poisoned").clone()
}

/// A store that is down.
pub(crate) fn down() -> RepoError {
    RepoError::Unavailable("connection refused".into())
}
