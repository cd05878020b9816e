//! The auth cache: [`RedisAuthCache`] shared by every instance, and [`LocalAuthCache`], its
//! in-process twin.
//!
//! Both keep, per user and per session, a *generation* that every invalidation replaces.
//! A snapshot is stored with the generations seen at lookup (the ticket's stamp) and is a
//! hit only while both are unchanged; a store whose stamp no longer matches is dropped.
//! Snapshots live [`SNAPSHOT_TTL`]: the bound on staleness should an invalidation be
//! lost (see `application`'s invalidation module). Generations outlive snapshots, so an
//! expired generation can never revive an old snapshot.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::access::{AuthSnapshot, CacheLookup, CacheTicket, Caller};
use domain::error::ServiceError;
use domain::ports::AuthCache;
use domain::profile::Profile;
use domain::session::SessionId;
use domain::user::{DisplayName, Email, Role, UserId, UserStatus, Username};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::connection::RedisConnection;

/// How long a snapshot is trusted at most.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(30);

/// How long a generation is kept: well past any snapshot stored under the one before.
const GENERATION_TTL: Duration = Duration::from_secs(600);

/// The generation of a user or session nobody invalidated (recently).
const NO_GENERATION: &str = "-";

/// Lua: store the snapshot only if both generations still read as the ticket's stamp.
const STORE_IF_CURRENT: &str = r"
local ug = redis.call('GET', KEYS[2]) or '-'
local sg = redis.call('GET', KEYS[3]) or '-'
if ug .. ':' .. sg == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
";

fn stamp(user_generation: &str, session_generation: &str) -> String {
    format!("{user_generation}:{session_generation}")
}

/// A snapshot as stored: what authorization needs and the caller's record without its
/// password hash; nothing secret.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// The stamp it was stored under.
    stamp: String,
    session: Uuid,
    expires: DateTime<Utc>,
    user: Uuid,
    role: String,
    must_change_password: bool,
    profile: StoredProfile,
}

/// The fields of a [`Profile`] that [`Stored`] does not already hold.
#[derive(Serialize, Deserialize)]
struct StoredProfile {
    username: String,
    email: Option<String>,
    display_name: String,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
    login_count: i64,
    failed_login_attempts: i32,
    locked_until: Option<DateTime<Utc>>,
    password_changed_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
    version: i64,
}

impl Stored {
    fn new(stamp: String, snapshot: &AuthSnapshot) -> Self {
        let p = &snapshot.profile;
        Self {
            stamp,
            session: snapshot.session_id.0,
            expires: snapshot.session_expires_at,
            user: snapshot.caller.id.0,
            role: snapshot.caller.role.as_str().to_owned(),
            must_change_password: snapshot.caller.must_change_password,
            profile: StoredProfile {
                username: p.username.as_str().to_owned(),
                email: p.email.as_ref().map(|e| e.as_str().to_owned()),
                display_name: p.display_name.as_str().to_owned(),
                status: p.status.as_str().to_owned(),
                created_at: p.created_at,
                updated_at: p.updated_at,
                last_login_at: p.last_login_at,
                login_count: p.login_count,
                failed_login_attempts: p.failed_login_attempts,
                locked_until: p.locked_until,
                password_changed_at: p.password_changed_at,
                deleted_at: p.deleted_at,
                version: p.version,
            },
        }
    }

    /// The snapshot, if it is well-formed (anything else counts as a miss).
    fn snapshot(self) -> Option<AuthSnapshot> {
        let role = Role::parse(&self.role)?;
        let p = self.profile;
        let profile = Profile {
            id: UserId(self.user),
            username: Username::parse(&p.username).ok()?,
            email: match p.email {
                Some(email) => Some(Email::parse(&email).ok()?),
                None => None,
            },
            display_name: DisplayName::parse(&p.display_name).ok()?,
            role,
            status: UserStatus::parse(&p.status)?,
            must_change_password: self.must_change_password,
            created_at: p.created_at,
            updated_at: p.updated_at,
            last_login_at: p.last_login_at,
            login_count: p.login_count,
            failed_login_attempts: p.failed_login_attempts,
            locked_until: p.locked_until,
            password_changed_at: p.password_changed_at,
            deleted_at: p.deleted_at,
            version: p.version,
        };
        Some(AuthSnapshot {
            session_id: SessionId(self.session),
            session_expires_at: self.expires,
            caller: Caller {
                id: UserId(self.user),
                role,
                must_change_password: self.must_change_password,
            },
            profile: std::sync::Arc::new(profile),
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How many decoded snapshots [`RedisAuthCache`] keeps beside the values they came from.
const DECODED_CAPACITY: usize = 10_000;

/// A stored value and what it decoded to: the same bytes always decode the same way, so a
/// session's snapshot is parsed and validated once per stored value, not on every request
/// (≈ 2 µs each). Whether it is a hit is still judged on every lookup.
struct Decoded {
    raw: String,
    stamp: String,
    user: Uuid,
    session: Uuid,
    snapshot: Option<AuthSnapshot>,
}

impl Decoded {
    fn of(raw: String) -> Option<Self> {
        let stored = serde_json::from_str::<Stored>(&raw).ok()?;
        Some(Self {
            raw,
            stamp: stored.stamp.clone(),
            user: stored.user,
            session: stored.session,
            snapshot: stored.snapshot(),
        })
    }

    /// The snapshot when it was stored under `current` for this session and user.
    fn hit(&self, current: &str, session: SessionId, user: UserId) -> Option<AuthSnapshot> {
        if self.stamp == current && self.user == user.0 && self.session == session.0 {
            self.snapshot.clone()
        } else {
            None
        }
    }
}

/// Snapshots in Redis, shared by every instance.
#[derive(Clone)]
pub struct RedisAuthCache {
    redis: RedisConnection,
    store_script: std::sync::Arc<redis::Script>,
    decoded: std::sync::Arc<Mutex<HashMap<SessionId, Decoded>>>,
}

impl std::fmt::Debug for RedisAuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAuthCache")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl RedisAuthCache {
    /// A cache on the shared connection.
    pub fn new(redis: RedisConnection) -> Self {
        Self {
            redis,
            store_script: std::sync::Arc::new(redis::Script::new(STORE_IF_CURRENT)),
            decoded: std::sync::Arc::default(),
        }
    }

    /// The hit in `raw`, the value stored for `session`, decoded once per distinct value.
    fn hit_in(
        &self,
        raw: String,
        current: &str,
        session: SessionId,
        user: UserId,
    ) -> Option<AuthSnapshot> {
        let remembered = |decoded: &HashMap<SessionId, Decoded>| {
            decoded
                .get(&session)
                .filter(|d| d.raw == raw)
                .map(|d| d.hit(current, session, user))
        };
        if let Some(hit) = self.decoded.lock().ok().as_deref().and_then(remembered) {
            return hit;
        }
        let decoded = Decoded::of(raw)?;
        let hit = decoded.hit(current, session, user);
        if let Ok(mut all) = self.decoded.lock() {
            if all.len() >= DECODED_CAPACITY {
                all.clear();
            }
            all.insert(session, decoded);
        }
        hit
    }
}

impl RedisAuthCache {
    fn snapshot_key(&self, session: SessionId) -> String {
        self.redis.key(&format!("auth:snap:{}", session.0))
    }

    fn user_generation_key(&self, user: UserId) -> String {
        self.redis.key(&format!("auth:ug:{}", user.0))
    }

    fn session_generation_key(&self, session: SessionId) -> String {
        self.redis.key(&format!("auth:sg:{}", session.0))
    }
}

#[async_trait]
impl AuthCache for RedisAuthCache {
    async fn lookup(&self, session: SessionId, user: UserId) -> Result<CacheLookup, ServiceError> {
        let keys = [
            self.snapshot_key(session),
            self.user_generation_key(user),
            self.session_generation_key(session),
        ];
        let (stored, ug, sg): (Option<String>, Option<String>, Option<String>) = self
            .redis
            .call("auth_cache.lookup", |mut conn| async move {
                redis::cmd("MGET").arg(&keys).query_async(&mut conn).await
            })
            .await?;
        let current = stamp(
            ug.as_deref().unwrap_or(NO_GENERATION),
            sg.as_deref().unwrap_or(NO_GENERATION),
        );
        let hit = stored.and_then(|raw| self.hit_in(raw, &current, session, user));
        Ok(CacheLookup::of(hit, session, user, current))
    }

    async fn store(
        &self,
        ticket: &CacheTicket,
        snapshot: &AuthSnapshot,
    ) -> Result<(), ServiceError> {
        if !ticket.admits(snapshot) {
            return Ok(());
        }
        let value = serde_json::to_string(&Stored::new(ticket.stamp.clone(), snapshot))
            .map_err(|e| ServiceError(format!("auth cache: {e}")))?;
        let script = self.store_script.clone();
        let keys = [
            self.snapshot_key(ticket.session_id),
            self.user_generation_key(ticket.user_id),
            self.session_generation_key(ticket.session_id),
        ];
        let stamp = ticket.stamp.clone();
        self.redis
            .call("auth_cache.store", |mut conn| async move {
                script
                    .key(&keys[0])
                    .key(&keys[1])
                    .key(&keys[2])
                    .arg(stamp)
                    .arg(value)
                    .arg(millis(SNAPSHOT_TTL))
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(|_| ())
    }

    async fn invalidate(
        &self,
        users: &[UserId],
        sessions: &[SessionId],
    ) -> Result<(), ServiceError> {
        if users.is_empty() && sessions.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for user in users {
            pipe.cmd("SET")
                .arg(self.user_generation_key(*user))
                .arg(Uuid::new_v4().simple().to_string())
                .arg("PX")
                .arg(millis(GENERATION_TTL))
                .ignore();
        }
        for session in sessions {
            pipe.cmd("SET")
                .arg(self.session_generation_key(*session))
                .arg(Uuid::new_v4().simple().to_string())
                .arg("PX")
                .arg(millis(GENERATION_TTL))
                .ignore();
            pipe.cmd("DEL").arg(self.snapshot_key(*session)).ignore();
        }
        self.redis
            .call("auth_cache.invalidate", |mut conn| async move {
                pipe.query_async::<()>(&mut conn).await
            })
            .await
    }
}

/// A value that expires.
struct Expiring<T> {
    value: T,
    until: Instant,
}

#[derive(Default)]
struct LocalState {
    snapshots: HashMap<SessionId, Expiring<(String, AuthSnapshot)>>,
    user_generations: HashMap<UserId, Expiring<u64>>,
    session_generations: HashMap<SessionId, Expiring<u64>>,
    next_generation: u64,
    ops: u64,
}

impl LocalState {
    fn stamp(&self, session: SessionId, user: UserId, now: Instant) -> String {
        let generation = |g: Option<&Expiring<u64>>| match g {
            Some(g) if g.until > now => g.value.to_string(),
            _ => NO_GENERATION.to_owned(),
        };
        stamp(
            &generation(self.user_generations.get(&user)),
            &generation(self.session_generations.get(&session)),
        )
    }

    /// Drops expired entries now and then, so the maps stay as small as the live state.
    fn sweep(&mut self, now: Instant) {
        self.ops += 1;
        if self.ops.is_multiple_of(1024) {
            self.snapshots.retain(|_, e| e.until > now);
            self.user_generations.retain(|_, e| e.until > now);
            self.session_generations.retain(|_, e| e.until > now);
        }
    }
}

/// The in-process twin: the same rules in this process's memory, for a single instance.
#[derive(Default)]
pub struct LocalAuthCache {
    state: Mutex<LocalState>,
}

impl std::fmt::Debug for LocalAuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAuthCache").finish_non_exhaustive()
    }
}

impl LocalAuthCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, LocalState>, ServiceError> {
        self.state
            .lock()
            .map_err(|_| ServiceError("auth cache: poisoned".into()))
    }
}

#[async_trait]
impl AuthCache for LocalAuthCache {
    async fn lookup(&self, session: SessionId, user: UserId) -> Result<CacheLookup, ServiceError> {
        let now = Instant::now();
        let mut state = self.state()?;
        state.sweep(now);
        let current = state.stamp(session, user, now);
        let hit = state
            .snapshots
            .get(&session)
            .filter(|e| e.until > now && e.value.0 == current && e.value.1.caller.id == user)
            .map(|e| e.value.1.clone());
        Ok(CacheLookup::of(hit, session, user, current))
    }

    async fn store(
        &self,
        ticket: &CacheTicket,
        snapshot: &AuthSnapshot,
    ) -> Result<(), ServiceError> {
        if !ticket.admits(snapshot) {
            return Ok(());
        }
        let now = Instant::now();
        let mut state = self.state()?;
        if state.stamp(ticket.session_id, ticket.user_id, now) == ticket.stamp {
            state.snapshots.insert(
                ticket.session_id,
                Expiring {
                    value: (ticket.stamp.clone(), snapshot.clone()),
                    until: now + SNAPSHOT_TTL,
                },
            );
        }
        Ok(())
    }

    async fn invalidate(
        &self,
        users: &[UserId],
        sessions: &[SessionId],
    ) -> Result<(), ServiceError> {
        let now = Instant::now();
        let mut state = self.state()?;
        for user in users {
            state.next_generation += 1;
            let value = state.next_generation;
            state.user_generations.insert(
                *user,
                Expiring {
                    value,
                    until: now + GENERATION_TTL,
                },
            );
        }
        for session in sessions {
            state.next_generation += 1;
            let value = state.next_generation;
            state.session_generations.insert(
                *session,
                Expiring {
                    value,
                    until: now + GENERATION_TTL,
                },
            );
            state.snapshots.remove(session);
        }
        Ok(())
    }
}
