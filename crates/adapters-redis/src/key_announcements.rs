//! Which JWT keys each instance holds: [`RedisKeyAnnouncements`], one sorted set shared by
//! every instance, and [`LocalKeyAnnouncements`], its in-process twin (one instance has no
//! peers to disagree with; the twin keeps the port's behaviour for tests and single use).
//!
//! Each member is `<instance id>|<encoded key set>` scored by the Unix milliseconds until
//! which it holds; an announcement removes the expired members, adds (or renews) its own
//! and reads the rest in one atomic pipeline.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::error::ServiceError;
use domain::ports::KeyAnnouncements;
use domain::signing_keys::KeySet;
use uuid::Uuid;

use crate::connection::RedisConnection;

/// The sorted set of announcements (after the key prefix).
const KEY: &str = "signing-keys";

/// The most members read back: a flood of members (a bug or a hostile writer) costs one
/// bounded read, never an unbounded one.
const MAX_READ: isize = 1_000;

/// Announcements in one Redis sorted set.
#[derive(Debug, Clone)]
pub struct RedisKeyAnnouncements {
    redis: RedisConnection,
}

impl RedisKeyAnnouncements {
    /// Announcements on the shared connection.
    pub fn new(redis: RedisConnection) -> Self {
        Self { redis }
    }
}

/// The member of `instance` announcing `keys`.
fn member(instance: Uuid, keys: &KeySet) -> String {
    format!("{}|{}", instance.simple(), keys.encode())
}

/// The set of a member written by another instance than `own`; `None` for our own and for
/// anything unreadable.
fn peer(own: Uuid, member: &str) -> Option<KeySet> {
    let (instance, keys) = member.split_once('|')?;
    let instance = Uuid::try_parse(instance).ok()?;
    (instance != own).then(|| KeySet::decode(keys)).flatten()
}

#[async_trait]
impl KeyAnnouncements for RedisKeyAnnouncements {
    async fn announce(
        &self,
        instance: Uuid,
        keys: &KeySet,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<KeySet>, ServiceError> {
        let key = self.redis.key(KEY);
        let own = member(instance, keys);
        let now_ms = now.timestamp_millis();
        let until_ms = until.timestamp_millis();
        // The set outlives its newest member by nothing: when every instance is gone,
        // it goes too.
        let keep_ms = (until_ms - now_ms).max(1);
        let members: Vec<String> = self
            .redis
            .call("signing_keys.announce", |mut conn| async move {
                redis::pipe()
                    .atomic()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&key)
                    .arg("-inf")
                    .arg(format!("({now_ms}"))
                    .ignore()
                    .cmd("ZADD")
                    .arg(&key)
                    .arg(until_ms)
                    .arg(&own)
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(keep_ms)
                    .ignore()
                    .cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(MAX_READ - 1)
                    .query_async::<(Vec<String>,)>(&mut conn)
                    .await
                    .map(|(members,)| members)
            })
            .await?;
        Ok(members.iter().filter_map(|m| peer(instance, m)).collect())
    }
}

/// The in-process twin: the announcements of this process only.
#[derive(Debug, Default)]
pub struct LocalKeyAnnouncements {
    live: Mutex<HashMap<Uuid, (KeySet, DateTime<Utc>)>>,
}

impl LocalKeyAnnouncements {
    /// Nothing announced yet.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl KeyAnnouncements for LocalKeyAnnouncements {
    async fn announce(
        &self,
        instance: Uuid,
        keys: &KeySet,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<KeySet>, ServiceError> {
        let mut live = self
            .live
            .lock()
            .map_err(|_| ServiceError("signing key announcements: poisoned".into()))?;
        live.retain(|_, (_, until)| *until >= now);
        live.insert(instance, (keys.clone(), until));
        Ok(live
            .iter()
            .filter(|(id, _)| **id != instance)
            .map(|(_, (keys, _))| keys.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_names_its_instance_and_round_trips_for_peers_only() {
        let keys = KeySet::new("a1", ["b2"]).unwrap();
        let me = Uuid::from_u128(1);
        let other = Uuid::from_u128(2);
        let text = member(other, &keys);
        assert_eq!(text, format!("{}|a1;a1,b2", other.simple()));
        assert_eq!(peer(me, &text), Some(keys.clone()));
        assert_eq!(peer(other, &text), None, "our own member is not a peer");
        for garbage in [
            "",
            "|",
            "x|a1;a1",
            "00000000000000000000000000000002|a1",
            "a1;a1",
        ] {
            assert_eq!(peer(me, garbage), None, "{garbage:?}");
        }
    }
}
