//! Contract tests of the signing key announcements: each runs against the in-process twin
//! and, when `EMS_TEST_REDIS_URL` is set, against Redis (every Redis case under a key
//! prefix of its own, so concurrent runs and other tests' instances are not its peers).

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use adapters_redis::{LocalKeyAnnouncements, RedisConfig, RedisConnection, RedisKeyAnnouncements};
use chrono::{DateTime, TimeZone, Utc};
use domain::ports::KeyAnnouncements;
use domain::signing_keys::KeySet;
use uuid::Uuid;

fn connection(prefix: &str) -> Option<RedisConnection> {
    let url = adapters_redis::testing::redis_url()?;
    Some(
        RedisConnection::connect_lazy(&RedisConfig {
            url,
            timeout: Duration::from_secs(2),
            key_prefix: prefix.into(),
        })
        .expect("EMS_TEST_REDIS_URL is a Redis URL"),
    )
}

/// The twin, and Redis under a fresh prefix when it is there; two handles each, as two
/// instances would hold.
/// A variant's name and two handles on it, as two instances would hold.
type Variants = Vec<(
    &'static str,
    Arc<dyn KeyAnnouncements>,
    Arc<dyn KeyAnnouncements>,
)>;

fn variants() -> Variants {
    let local: Arc<dyn KeyAnnouncements> = Arc::new(LocalKeyAnnouncements::new());
    let mut all = vec![("local", local.clone(), local)];
    let prefix = format!("{}:", Uuid::new_v4().simple());
    if let Some(conn) = connection(&prefix) {
        all.push((
            "redis",
            Arc::new(RedisKeyAnnouncements::new(conn.clone())),
            Arc::new(RedisKeyAnnouncements::new(conn)),
        ));
    }
    all
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn keys(signing: &str) -> KeySet {
    KeySet::new(signing, ["0011223344556677"]).unwrap()
}

#[tokio::test]
async fn each_instance_sees_the_others_live_sets_but_not_its_own() {
    for (name, one, two) in variants() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let peers = one.announce(a, &keys("aa"), at(0), at(30)).await.unwrap();
        assert!(peers.is_empty(), "{name}: the first instance has no peers");
        let peers = two.announce(b, &keys("bb"), at(1), at(31)).await.unwrap();
        assert_eq!(peers, [keys("aa")], "{name}");
        let peers = one.announce(c, &keys("aa"), at(2), at(32)).await.unwrap();
        let mut signing: Vec<&str> = peers.iter().map(KeySet::signing).collect();
        signing.sort_unstable();
        assert_eq!(signing, ["aa", "bb"], "{name}");
        // Announcing again renews, it does not add a member.
        let again = one.announce(a, &keys("aa"), at(3), at(33)).await.unwrap();
        assert_eq!(again.len(), 2, "{name}: {again:?}");
    }
}

#[tokio::test]
async fn an_announcement_past_its_time_is_forgotten() {
    for (name, one, two) in variants() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        one.announce(a, &keys("aa"), at(0), at(30)).await.unwrap();
        let peers = two.announce(b, &keys("bb"), at(30), at(60)).await.unwrap();
        assert_eq!(peers, [keys("aa")], "{name}: live up to its time");
        let peers = two.announce(b, &keys("bb"), at(31), at(61)).await.unwrap();
        assert!(peers.is_empty(), "{name}: gone after it: {peers:?}");
    }
}

#[tokio::test]
async fn deployments_under_other_key_prefixes_are_not_peers() {
    let run = Uuid::new_v4().simple().to_string();
    let (Some(x), Some(y)) = (
        connection(&format!("{run}-x:")),
        connection(&format!("{run}-y:")),
    ) else {
        return;
    };
    let (x, y) = (RedisKeyAnnouncements::new(x), RedisKeyAnnouncements::new(y));
    x.announce(Uuid::new_v4(), &keys("aa"), at(0), at(30))
        .await
        .unwrap();
    let peers = y
        .announce(Uuid::new_v4(), &keys("bb"), at(0), at(30))
        .await
        .unwrap();
    assert!(peers.is_empty(), "{peers:?}");
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_an_empty_answer() {
    let conn = RedisConnection::connect_lazy(&RedisConfig {
        url: "redis://127.0.0.1:1".into(),
        timeout: Duration::from_millis(200),
        key_prefix: "ems:".into(),
    })
    .unwrap();
    let announcements = RedisKeyAnnouncements::new(conn);
    let started = std::time::Instant::now();
    let outcome = announcements
        .announce(Uuid::new_v4(), &keys("aa"), at(0), at(30))
        .await;
    assert!(outcome.is_err(), "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}
