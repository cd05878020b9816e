//! Rate limiting (the `RateLimiter` port): [`RedisRateLimiter`], one budget shared by
//! every instance, its in-process twin [`LocalRateLimiter`], and [`FallbackRateLimiter`],
//! which answers from the twin while Redis is unreachable.
//!
//! All three implement the same GCRA (generic cell rate algorithm): a budget of `limit`
//! requests refilled one every `60 s / limit`, with the whole budget as a burst. The
//! state per client and bucket is one number, the *theoretical arrival time* (TAT): a
//! request at `now` is allowed when `now >= TAT - (limit - 1) * interval`, and then moves
//! the TAT to `max(TAT, now) + interval`. A refused request changes nothing.

mod fallback;
mod local;
mod redis;

pub use fallback::FallbackRateLimiter;
pub use local::LocalRateLimiter;
pub use redis::RedisRateLimiter;
