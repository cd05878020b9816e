#![doc = include_str!("../README.md")]

pub mod activity;
pub mod auth_cache;
pub mod connection;
pub mod key_announcements;
pub mod list_cache;
pub mod rate_limit;
#[doc(hidden)]
pub mod testing;

pub use activity::{LocalSessionActivity, RedisSessionActivity};
pub use auth_cache::{LocalAuthCache, RedisAuthCache};
pub use connection::{RedisConfig, RedisConnection, DEFAULT_KEY_PREFIX, SPAN_TARGET};
pub use key_announcements::{LocalKeyAnnouncements, RedisKeyAnnouncements};
pub use list_cache::{LocalListCache, NoListCache, RedisListCache};
pub use rate_limit::{FallbackRateLimiter, LocalRateLimiter, RedisRateLimiter};
