//! Health bodies.

use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

/// `{status: "ok"}`.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
pub struct HealthDto {
    /// Always `ok` when answered with 200.
    pub status: String,
}

/// `GET /api/health/detailed`: dependencies, resources and uptime.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct DetailedHealthDto {
    /// `ok`, or `degraded` when the database or Redis does not answer (still 200: readiness is
    /// the probe that answers 503).
    pub status: String,
    /// The database.
    pub database: DatabaseHealthDto,
    /// Redis: `{status: "DISABLED"}` while `REDIS_URL` is unset.
    pub redis: RedisHealthDto,
    /// Disk space where the server runs.
    pub disk: DiskDto,
    /// Memory of the server process.
    pub memory: MemoryDto,
    /// Whole seconds since the server started.
    pub uptime_seconds: u64,
    /// The server's version.
    pub version: String,
}

/// The database part of the detailed health report.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseHealthDto {
    /// `up` or `down`.
    pub status: String,
    /// How long the ping took, to answer or to fail, in milliseconds.
    pub latency_ms: f64,
    /// The connection pool.
    pub connections: ConnectionsDto,
}

/// Connection pool occupancy.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
pub struct ConnectionsDto {
    /// Connections open now.
    pub size: u64,
    /// Open connections not checked out.
    pub idle: u64,
    /// Callers waiting for a connection.
    pub waiting: u64,
}

/// The Redis part of the detailed health report.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct RedisHealthDto {
    /// `DISABLED` without `REDIS_URL`; `up` or `down` once Redis is configured.
    pub status: String,
    /// Ping latency in milliseconds; absent while disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

/// Disk space of the server's working directory.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct DiskDto {
    /// The directory measured.
    pub path: String,
    /// Size of its file system in bytes (null where the platform cannot tell).
    pub total_bytes: Option<u64>,
    /// Bytes still available to the server (null where the platform cannot tell).
    pub available_bytes: Option<u64>,
}

/// Memory of the server process.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryDto {
    /// Resident set size in bytes (null where the platform cannot tell).
    pub rss_bytes: Option<u64>,
}

impl From<application::health::HealthReport> for DetailedHealthDto {
    fn from(report: application::health::HealthReport) -> Self {
        use application::health::OverallStatus;
        let db = report.database;
        let (path, total_bytes, available_bytes) = match report.disk {
            Some(d) => (d.path, Some(d.total_bytes), Some(d.available_bytes)),
            None => (String::new(), None, None),
        };
        Self {
            status: match report.status {
                OverallStatus::Ok => "ok",
                OverallStatus::Degraded => "degraded",
            }
            .to_owned(),
            database: DatabaseHealthDto {
                status: if db.up { "up" } else { "down" }.to_owned(),
                latency_ms: db.latency_ms,
                connections: ConnectionsDto {
                    size: db.connections.size,
                    idle: db.connections.idle,
                    waiting: db.connections.waiting,
                },
            },
            redis: match report.redis {
                Some(redis) => RedisHealthDto {
                    status: if redis.up { "up" } else { "down" }.to_owned(),
                    latency_ms: Some(redis.latency_ms),
                },
                None => RedisHealthDto {
                    status: "DISABLED".to_owned(),
                    latency_ms: None,
                },
            },
            disk: DiskDto {
                path,
                total_bytes,
                available_bytes,
            },
            memory: MemoryDto {
                rss_bytes: report.rss_bytes,
            },
            uptime_seconds: report.uptime_seconds,
            version: report.version.to_owned(),
        }
    }
}
