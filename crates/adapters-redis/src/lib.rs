#![doc = include_str!("../README.md")]

pub mod connection;
pub mod rate_limit;

pub use connection::{RedisConfig, RedisConnection};
pub use rate_limit::{FallbackRateLimiter, LocalRateLimiter, RedisRateLimiter};
