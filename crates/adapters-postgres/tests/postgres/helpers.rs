//! Fixtures: entities with sensible defaults and short ways to store them.

use std::sync::atomic::{AtomicUsize, Ordering};

use adapters_postgres::{PgStore, QueryObserver};
use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::password::PasswordHash;
use domain::ports::UnitOfWork;
use domain::session::{Session, SessionId};
use domain::user::{DisplayName, Email, Role, User, UserId, UserStatus, Username};
use uuid::Uuid;

/// A fixed instant, so that tests do not depend on the clock.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
}

/// An active USER named `name`, created at `t0`, without email.
pub fn user(name: &str) -> User {
    User {
        id: UserId(Uuid::now_v7()),
        username: Username::parse(name).unwrap(),
        email: None,
        display_name: DisplayName::parse(&format!("{name} display")).unwrap(),
        password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        role: Role::User,
        status: UserStatus::Active,
        must_change_password: false,
        created_at: t0(),
        updated_at: t0(),
        last_login_at: None,
        login_count: 0,
        failed_login_attempts: 0,
        locked_until: None,
        password_changed_at: t0(),
        deleted_at: None,
        version: 1,
    }
}

/// `user(name)` with an email.
pub fn user_with_email(name: &str, email: &str) -> User {
    User {
        email: Some(Email::parse(email).unwrap()),
        ..user(name)
    }
}

/// Stores users in one committed transaction.
pub async fn insert(store: &PgStore, users: &[&User]) {
    let mut tx = store.begin().await.unwrap();
    for u in users {
        tx.insert_user(u).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// An active session of `user_id` created at `created`, living a week.
pub fn session(user_id: UserId, created: DateTime<Utc>) -> Session {
    Session {
        id: SessionId(Uuid::now_v7()),
        user_id,
        created_at: created,
        last_used_at: created,
        expires_at: created + Duration::days(7),
        ip_address: Some("203.0.113.7".into()),
        user_agent: Some("test-agent/1.0".into()),
        revoked_at: None,
    }
}

/// Stores sessions in one committed transaction.
pub async fn insert_sessions(store: &PgStore, sessions: &[&Session]) {
    let mut tx = store.begin().await.unwrap();
    for s in sessions {
        tx.insert_session(s).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// A [`QueryObserver`] that counts the port calls it is told about.
#[derive(Default)]
pub struct CountingObserver(AtomicUsize);

impl CountingObserver {
    /// Calls observed so far.
    pub fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl QueryObserver for CountingObserver {
    fn query_finished(&self, _: std::time::Duration) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `check` every 20 ms until it holds; panics naming `what` after 10 s. For a
/// state the database reaches by itself (a session blocked on a lock, one gone).
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not within 10 s: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
