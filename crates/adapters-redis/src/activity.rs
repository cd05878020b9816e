//! Session use noted on the request path and written behind in batches:
//! [`RedisSessionActivity`] shared by every instance, and [`LocalSessionActivity`], its
//! in-process twin. Times only move forward; a drain hands each note to one caller.
//! The Redis adapter skips a note when this instance noted the same session less than
//! [`COALESCE`] ago: a busy client costs one Redis write per session every few seconds,
//! not one per request, and `lastUsedAt` lags by at most that much.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use domain::error::ServiceError;
use domain::ports::SessionActivity;
use domain::session::SessionId;
use uuid::Uuid;

use crate::connection::RedisConnection;

/// Notes of one session closer together than this are coalesced by the Redis adapter.
pub const COALESCE: Duration = Duration::from_secs(5);

/// How many recently noted sessions an instance remembers before forgetting the old ones.
const RECENT_CAPACITY: usize = 100_000;

/// The hash of noted times (after the key prefix): field = session id, value = Unix
/// milliseconds.
const KEY: &str = "activity";

/// Lua: keep the later of the noted and the given time.
const TOUCH: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or tonumber(cur) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
";

/// Lua: take every note out at once.
const DRAIN: &str = r"
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return all
";

fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

fn parse(field: &str, ms: &str) -> Option<(SessionId, DateTime<Utc>)> {
    Some((
        SessionId(Uuid::parse_str(field).ok()?),
        from_millis(ms.parse().ok()?)?,
    ))
}

/// Notes in one Redis hash.
#[derive(Debug, Clone)]
pub struct RedisSessionActivity {
    redis: RedisConnection,
    touch: Arc<redis::Script>,
    drain: Arc<redis::Script>,
    /// When this instance last wrote a note of each session.
    recent: Arc<Mutex<HashMap<SessionId, Instant>>>,
}

impl RedisSessionActivity {
    /// Notes on the shared connection.
    pub fn new(redis: RedisConnection) -> Self {
        Self {
            redis,
            touch: Arc::new(redis::Script::new(TOUCH)),
            drain: Arc::new(redis::Script::new(DRAIN)),
            recent: Arc::default(),
        }
    }

    /// Whether a note of `session` was written less than [`COALESCE`] ago; if not,
    /// remembers that one is being written now.
    fn noted_recently(&self, session: SessionId) -> bool {
        let now = Instant::now();
        let Ok(mut recent) = self.recent.lock() else {
            return false;
        };
        if recent
            .get(&session)
            .is_some_and(|at| now.duration_since(*at) < COALESCE)
        {
            return true;
        }
        if recent.len() >= RECENT_CAPACITY {
            recent.retain(|_, at| now.duration_since(*at) < COALESCE);
        }
        recent.insert(session, now);
        false
    }

    /// Forgets that `session` was noted, so that the next request tries again.
    fn forget(&self, session: SessionId) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.remove(&session);
        }
    }
}

#[async_trait]
impl SessionActivity for RedisSessionActivity {
    async fn touch(&self, session: SessionId, at: DateTime<Utc>) -> Result<(), ServiceError> {
        if self.noted_recently(session) {
            return Ok(());
        }
        let script = self.touch.clone();
        let key = self.redis.key(KEY);
        let written = self
            .redis
            .call("activity.touch", |mut conn| async move {
                script
                    .key(key)
                    .arg(session.0.to_string())
                    .arg(at.timestamp_millis())
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await;
        if written.is_err() {
            self.forget(session);
        }
        written.map(|_| ())
    }

    async fn pending(
        &self,
        sessions: &[SessionId],
    ) -> Result<Vec<(SessionId, DateTime<Utc>)>, ServiceError> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let fields: Vec<String> = sessions.iter().map(|s| s.0.to_string()).collect();
        let key = self.redis.key(KEY);
        let values: Vec<Option<i64>> = self
            .redis
            .call("activity.pending", |mut conn| {
                let fields = fields.clone();
                let key = key.clone();
                async move {
                    redis::cmd("HMGET")
                        .arg(key)
                        .arg(&fields)
                        .query_async(&mut conn)
                        .await
                }
            })
            .await?;
        Ok(sessions
            .iter()
            .zip(values)
            .filter_map(|(id, ms)| Some((*id, from_millis(ms?)?)))
            .collect())
    }

    async fn drain(&self) -> Result<Vec<(SessionId, DateTime<Utc>)>, ServiceError> {
        let script = self.drain.clone();
        let key = self.redis.key(KEY);
        let flat: Vec<String> = self
            .redis
            .call("activity.drain", |mut conn| async move {
                script.key(key).invoke_async(&mut conn).await
            })
            .await?;
        Ok(flat
            .chunks_exact(2)
            .filter_map(|pair| parse(&pair[0], &pair[1]))
            .collect())
    }
}

/// The in-process twin.
#[derive(Debug, Default)]
pub struct LocalSessionActivity {
    noted: Mutex<HashMap<SessionId, DateTime<Utc>>>,
}

impl LocalSessionActivity {
    /// Nothing noted yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn noted(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<SessionId, DateTime<Utc>>>, ServiceError> {
        self.noted
            .lock()
            .map_err(|_| ServiceError("session activity: poisoned".into()))
    }
}

#[async_trait]
impl SessionActivity for LocalSessionActivity {
    async fn touch(&self, session: SessionId, at: DateTime<Utc>) -> Result<(), ServiceError> {
        let mut noted = self.noted()?;
        let entry = noted.entry(session).or_insert(at);
        *entry = (*entry).max(at);
        Ok(())
    }

    async fn pending(
        &self,
        sessions: &[SessionId],
    ) -> Result<Vec<(SessionId, DateTime<Utc>)>, ServiceError> {
        let noted = self.noted()?;
        Ok(sessions
            .iter()
            .filter_map(|id| noted.get(id).map(|at| (*id, *at)))
            .collect())
    }

    async fn drain(&self) -> Result<Vec<(SessionId, DateTime<Utc>)>, ServiceError> {
        Ok(std::mem::take(&mut *self.noted()?).into_iter().collect())
    }
}
