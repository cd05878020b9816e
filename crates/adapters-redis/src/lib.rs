#![doc = include_str!("../README.md")]

pub mod connection;

pub use connection::{RedisConfig, RedisConnection};
