//! Settings: read once from the environment at start-up into typed groups and passed
//! down explicitly (no global). A bad or missing value stops the start with one line
//! naming the variable; secrets are [`SecretString`]s and are never echoed or printed.
//!
//! [`env`] holds the one list of variable names; [`parse`] turns one variable into a
//! typed value; each group below reads its own variables.

mod env;
mod parse;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

use env::Env;
pub use env::{var, VARIABLES};

/// Which kind of deployment this is; `production` refuses unsafe shortcuts such as an
/// ephemeral JWT signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppEnv {
    /// Local development (the default).
    #[default]
    Development,
    /// A real deployment.
    Production,
    /// Automated tests.
    Test,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line (the default), for log shippers.
    #[default]
    Json,
    /// Human-friendly multi-colour lines for a terminal.
    Pretty,
}

/// How spans travel to the collector (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (the default; a collector listens on 4317).
    #[default]
    Grpc,
    /// OTLP over HTTP with protobuf bodies (port 4318, `/v1/traces` appended).
    HttpProtobuf,
}

/// Which traces are recorded and exported (`OTEL_TRACES_SAMPLER`, the OpenTelemetry
/// names; the ratio from `OTEL_TRACES_SAMPLER_ARG`, 0 to 1). A parent-based sampler
/// follows the caller's sampled flag and applies its rule to new traces only, so a
/// fleet tracing 1 % keeps every trace whole.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum TraceSampler {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio`: this share of trace ids, whatever the caller decided.
    TraceIdRatio(f64),
    /// `parentbased_always_on` (the default).
    #[default]
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`.
    ParentBasedTraceIdRatio(f64),
}

/// The admin account created at start when no admin exists (`ADMIN_USERNAME` +
/// `ADMIN_PASSWORD`, both validated against the same rules as any account).
#[derive(Debug, Clone)]
pub struct AdminBootstrap {
    /// The admin's login name.
    pub username: domain::user::Username,
    /// The admin's password; meets the password policy.
    pub password: SecretString,
}

/// The server's own certificate and key (`TLS_CERT_FILE` + `TLS_KEY_FILE`, both or
/// neither): `ems serve` then speaks HTTPS only. The files are read when the server is
/// built, so a bad file stops the start like a bad setting does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, RSA or SEC1) of that certificate.
    pub key_file: PathBuf,
}

/// Everything the server reads from its environment, validated, in groups.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_ENV` (default `development`).
    pub app_env: AppEnv,
    /// The PostgreSQL connection.
    pub database: DatabaseSettings,
    /// The optional shared Redis.
    pub redis: RedisSettings,
    /// The listener.
    pub http: HttpSettings,
    /// `ADMIN_USERNAME` + `ADMIN_PASSWORD` (both or neither).
    pub admin: Option<AdminBootstrap>,
    /// Access and refresh tokens.
    pub jwt: JwtSettings,
    /// Sessions.
    pub sessions: SessionSettings,
    /// Per-client-IP request budgets.
    pub rate_limits: RateLimitSettings,
    /// Account lockout after failed logins.
    pub lockout: LockoutSettings,
    /// Password expiry and the purge of deleted accounts.
    pub accounts: AccountSettings,
    /// The audit log.
    pub audit: AuditSettings,
    /// `/metrics`.
    pub metrics: MetricsSettings,
    /// Log lines.
    pub log: LogSettings,
    /// `ems backup`.
    pub backup: BackupSettings,
    /// OpenTelemetry traces.
    pub telemetry: TelemetrySettings,
}

/// The PostgreSQL connection.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL` (required).
    pub url: SecretString,
    /// `DATABASE_READ_URL`: a replica for lists, searches and exports; unset = the
    /// primary serves those too.
    pub read_url: Option<SecretString>,
    /// `DATABASE_MAX_CONNECTIONS`: pool size (default 16).
    pub max_connections: u32,
    /// `DATABASE_TIMEOUT`: how long to wait to connect or to get a pooled connection
    /// (default 3s).
    pub timeout: Duration,
    /// `DATABASE_STATEMENT_TIMEOUT`: server-side statement timeout (default 10s).
    pub statement_timeout: Duration,
}

/// The optional shared Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `REDIS_URL`: without it the Redis-backed ports use in-process adapters.
    pub url: Option<SecretString>,
    /// `REDIS_TIMEOUT`: deadline of one Redis call, connecting included (default 250ms);
    /// past it the call counts as failed and the caller falls back.
    pub timeout: Duration,
    /// `REDIS_KEY_PREFIX` (default `ems:`): before every key, so deployments can share
    /// one Redis.
    pub key_prefix: String,
    /// `SINGLE_INSTANCE` (default false): says this deployment is one instance, so it may
    /// run without `REDIS_URL` when `APP_ENV=production`.
    pub single_instance: bool,
}

/// The listener.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `BIND_ADDR` (default `127.0.0.1:8080`).
    pub bind_addr: SocketAddr,
    /// `TLS_CERT_FILE` + `TLS_KEY_FILE`: serve HTTPS (with HSTS) instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// `TRUSTED_PROXIES`: peers whose forwarding headers are believed (IPs or CIDRs).
    pub trusted_proxies: Vec<IpNet>,
}

/// Access and refresh tokens.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// `JWT_SIGNING_KEYS`: PEM private key paths, newest first (may be empty outside
    /// production: an ephemeral key is made then).
    pub signing_keys: Vec<PathBuf>,
    /// `JWT_ISSUER` (default `ems`).
    pub issuer: String,
    /// `JWT_AUDIENCE` (default `ems-api`).
    pub audience: String,
    /// `JWT_ACCESS_EXPIRY` (default 15m).
    pub access_expiry: Duration,
    /// `JWT_REFRESH_EXPIRY` (default 7d).
    pub refresh_expiry: Duration,
    /// `REFRESH_REUSE_GRACE` (default 0s).
    pub refresh_reuse_grace: Duration,
    /// `JWT_KEY_CHECK_INTERVAL`: how often this instance announces its key ids and
    /// compares them with its peers' through Redis (default 10s).
    pub key_check_interval: Duration,
}

/// Sessions.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `SESSION_ACTIVITY_FLUSH_INTERVAL`: how often noted session use is written to
    /// `lastUsedAt` in the database (default 30s).
    pub activity_flush_interval: Duration,
}

/// Per-client-IP request budgets, per minute.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// `RATE_LIMIT`: requests on every route (default 100).
    pub all: u32,
    /// `LOGIN_RATE_LIMIT`: login attempts (default 5).
    pub login: u32,
    /// `ADMIN_WRITE_RATE_LIMIT`: admin writes (`POST`/`PUT`/`PATCH`/`DELETE` under
    /// `/api/v1/users`) (default 30).
    pub admin_write: u32,
}

/// Account lockout after failed logins.
#[derive(Debug, Clone)]
pub struct LockoutSettings {
    /// `LOCKOUT_THRESHOLD`: consecutive failed logins that lock an account (default 10).
    pub threshold: i32,
    /// `LOCKOUT_DURATION` (default 15m).
    pub duration: Duration,
}

/// Password expiry and the purge of deleted accounts.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// `PASSWORD_MAX_AGE`: a sign-in with an older password sets the password-change
    /// gate (default unset = never).
    pub password_max_age: Option<Duration>,
    /// `USER_PURGE_AFTER`: soft-deleted users are anonymized this long after deletion
    /// (default 30d).
    pub user_purge_after: Duration,
}

/// The audit log.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// `AUDIT_ENABLED` (default true).
    pub enabled: bool,
    /// `AUDIT_RETENTION_DAYS` (default 90).
    pub retention_days: u32,
    /// `AUDIT_SEAL_INTERVAL`: how often new audit entries are sealed onto the hash chain
    /// (default 1s).
    pub seal_interval: Duration,
    /// `AUDIT_RETENTION_INTERVAL`: how often retention purges old audit entries and ended
    /// sessions (default 1h).
    pub retention_interval: Duration,
    /// `AUDIT_HMAC_KEY`: the file holding the audit key (read once at start, at least 32
    /// bytes). Required in production; unset elsewhere, an ephemeral key is made with a
    /// warning (entries written before a restart then no longer verify).
    pub hmac_key: Option<PathBuf>,
}

/// `/metrics`.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// `METRICS_TOKEN`: when set, `/metrics` requires it as a bearer token.
    pub token: Option<SecretString>,
    /// `METRICS_ENABLED` (default true): false drops the request metrics middleware and
    /// answers `/metrics` with 404, for deployments that do not scrape.
    pub enabled: bool,
}

/// Log lines.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `LOG_FORMAT` (default `json`).
    pub format: LogFormat,
    /// `LOG_FILE_DIR`: when set, log lines also go to a file there, rotated daily
    /// (unset: standard output only).
    pub file_dir: Option<PathBuf>,
    /// `LOG_FILE_RETENTION`: how many daily log files to keep (default 7).
    pub file_retention: usize,
}

/// `ems backup`.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    /// `BACKUP_KEEP`: how many `ems-*.dump` archives a backup leaves in its directory,
    /// itself included (default 7).
    pub keep: usize,
}

/// OpenTelemetry traces.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: where traces go, when set.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc`
    /// (default) or `http/protobuf`.
    pub otlp_protocol: OtlpProtocol,
    /// `OTEL_SERVICE_NAME`: the `service.name` of exported spans (default `ems`).
    pub service_name: String,
    /// `OTEL_TRACES_SAMPLER` + `OTEL_TRACES_SAMPLER_ARG` (default
    /// `parentbased_always_on`).
    pub sampler: TraceSampler,
}

/// A setting that is missing or malformed. Displays as one line, `VARIABLE: problem`,
/// and never contains the value of a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
        }
    }
}

impl Settings {
    /// Reads the process environment. A variable of ours that is not valid UTF-8 is an
    /// error; other variables are ignored.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars = Vec::new();
        for (key, value) in std::env::vars_os() {
            let Some(key) = key.to_str().map(str::to_owned) else {
                continue;
            };
            match (value.into_string(), env::known(&key)) {
                (Ok(value), _) => vars.push((key, value)),
                (Err(_), Some(var)) => {
                    return Err(ConfigError::new(var, "is not valid UTF-8"));
                }
                (Err(_), None) => {}
            }
        }
        Self::from_vars(vars)
    }

    /// Parses the given variables as if they were the environment (for tests and
    /// tools). Unset and empty (or blank) values mean the default.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::read(&mut Env::new(vars))
    }

    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        let settings = Self {
            database: DatabaseSettings::read(env)?,
            redis: RedisSettings::read(env)?,
            sessions: SessionSettings::read(env)?,
            http: HttpSettings::read(env)?,
            app_env: parse::choice(
                env,
                var::APP_ENV,
                &[
                    ("development", AppEnv::Development),
                    ("production", AppEnv::Production),
                    ("test", AppEnv::Test),
                ],
                AppEnv::default(),
            )?,
            admin: admin(env)?,
            jwt: JwtSettings::read(env)?,
            lockout: LockoutSettings::read(env)?,
            accounts: AccountSettings::read(env)?,
            rate_limits: RateLimitSettings::read(env)?,
            audit: AuditSettings::read(env)?,
            metrics: MetricsSettings::read(env)?,
            log: LogSettings::read(env)?,
            backup: BackupSettings::read(env)?,
            telemetry: TelemetrySettings::read(env)?,
        };
        settings.check_production()?;
        Ok(settings)
    }

    /// What `APP_ENV=production` refuses: shortcuts that are fine on a laptop only.
    fn check_production(&self) -> Result<(), ConfigError> {
        if self.app_env != AppEnv::Production {
            return Ok(());
        }
        if self.jwt.signing_keys.is_empty() {
            return Err(ConfigError::new(
                var::JWT_SIGNING_KEYS,
                "is required when APP_ENV=production (an ephemeral key would log everybody out on restart)",
            ));
        }
        if self.audit.hmac_key.is_none() {
            return Err(ConfigError::new(
                var::AUDIT_HMAC_KEY,
                "is required when APP_ENV=production (an ephemeral key would leave the audit log unverifiable after a restart)",
            ));
        }
        if self.redis.url.is_none() && !self.redis.single_instance {
            return Err(ConfigError::new(
                var::REDIS_URL,
                "is required when APP_ENV=production unless SINGLE_INSTANCE=true (instances \
                 without a shared Redis keep their own auth caches and rate limits, so several \
                 of them would serve revoked sessions)",
            ));
        }
        Ok(())
    }
}

impl DatabaseSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        let url = parse::required_secret(env, var::DATABASE_URL)?;
        parse::check_scheme(var::DATABASE_URL, &url, &["postgres://", "postgresql://"])?;
        let read_url = parse::secret(env, var::DATABASE_READ_URL);
        if let Some(read_url) = &read_url {
            parse::check_scheme(
                var::DATABASE_READ_URL,
                read_url,
                &["postgres://", "postgresql://"],
            )?;
        }
        Ok(Self {
            url,
            read_url,
            max_connections: parse::at_least_one(env, var::DATABASE_MAX_CONNECTIONS, 16, "")?,
            timeout: parse::nonzero_duration(env, var::DATABASE_TIMEOUT, "3s")?,
            statement_timeout: parse::nonzero_duration(
                env,
                var::DATABASE_STATEMENT_TIMEOUT,
                "10s",
            )?,
        })
    }
}

impl RedisSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        let url = parse::secret(env, var::REDIS_URL);
        if let Some(url) = &url {
            parse::check_scheme(
                var::REDIS_URL,
                url,
                &["redis://", "rediss://", "redis+unix://", "unix://"],
            )?;
        }
        Ok(Self {
            url,
            timeout: parse::nonzero_duration(env, var::REDIS_TIMEOUT, "250ms")?,
            key_prefix: parse::text(env, var::REDIS_KEY_PREFIX, "ems:"),
            single_instance: parse::boolean(env, var::SINGLE_INSTANCE, false)?,
        })
    }
}

impl SessionSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        Ok(Self {
            activity_flush_interval: parse::nonzero_duration(
                env,
                var::SESSION_ACTIVITY_FLUSH_INTERVAL,
                "30s",
            )?,
        })
    }
}

impl HttpSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bind_addr: parse::socket_addr(env, var::BIND_ADDR, "127.0.0.1:8080")?,
            tls: tls_files(env)?,
            trusted_proxies: parse::networks(env, var::TRUSTED_PROXIES)?,
        })
    }
}

impl JwtSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        Ok(Self {
            signing_keys: parse::paths(env, var::JWT_SIGNING_KEYS),
            issuer: parse::text(env, var::JWT_ISSUER, "ems"),
            audience: parse::text(env, var::JWT_AUDIENCE, "ems-api"),
            access_expiry: parse::nonzero_duration(env, var::JWT_ACCESS_EXPIRY, "15m")?,
            refresh_expiry: parse::nonzero_duration(env, var::JWT_REFRESH_EXPIRY, "7d")?,
            refresh_reuse_grace: parse::duration(env, var::REFRESH_REUSE_GRACE, "0s")?,
            key_check_interval: parse::nonzero_duration(env, var::JWT_KEY_CHECK_INTERVAL, "10s")?,
        })
    }
}

impl LockoutSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        Ok(Self {
            threshold: parse::at_least_one(env, var::LOCKOUT_THRESHOLD, 10, "")?,
            duration: parse::nonzero_duration(env, var::LOCKOUT_DURATION, "15m")?,
        })
    }
}

impl AccountSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        Ok(Self {
            password_max_age: parse::optional_duration(env, var::PASSWORD_MAX_AGE)?,
            user_purge_after: parse::nonzero_duration(env, var::USER_PURGE_AFTER, "30d")?,
        })
    }
}

impl RateLimitSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        Ok(Self {
            all: parse::at_least_one(env, var::RATE_LIMIT, 100, "")?,
            login: parse::at_least_one(env, var::LOGIN_RATE_LIMIT, 5, "")?,
            admin_write: parse::at_least_one(env, var::ADMIN_WRITE_RATE_LIMIT, 30, "")?,
        })
    }
}

impl AuditSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        Ok(Self {
            enabled: parse::boolean(env, var::AUDIT_ENABLED, true)?,
            retention_days: parse::at_least_one(env, var::AUDIT_RETENTION_DAYS, 90, "")?,
            seal_interval: parse::nonzero_duration(env, var::AUDIT_SEAL_INTERVAL, "1s")?,
            hmac_key: parse::path(env, var::AUDIT_HMAC_KEY),
            retention_interval: parse::nonzero_duration(env, var::AUDIT_RETENTION_INTERVAL, "1h")?,
        })
    }
}

impl MetricsSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        Ok(Self {
            token: parse::secret(env, var::METRICS_TOKEN),
            enabled: parse::boolean(env, var::METRICS_ENABLED, true)?,
        })
    }
}

impl LogSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        Ok(Self {
            format: parse::choice(
                env,
                var::LOG_FORMAT,
                &[("json", LogFormat::Json), ("pretty", LogFormat::Pretty)],
                LogFormat::default(),
            )?,
            file_dir: parse::path(env, var::LOG_FILE_DIR),
            file_retention: parse::at_least_one(
                env,
                var::LOG_FILE_RETENTION,
                7,
                " (the file being written)",
            )?,
        })
    }
}

impl BackupSettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        Ok(Self {
            keep: parse::at_least_one(env, var::BACKUP_KEEP, 7, " (the backup just written)")?,
        })
    }
}

impl TelemetrySettings {
    fn read(env: &mut Env) -> Result<Self, ConfigError> {
        let otlp_endpoint = match env.get(var::OTEL_EXPORTER_OTLP_ENDPOINT) {
            None => None,
            Some(v) if v.trim().starts_with("http://") || v.trim().starts_with("https://") => {
                Some(v.trim().to_owned())
            }
            Some(_) => {
                return Err(ConfigError::new(
                    var::OTEL_EXPORTER_OTLP_ENDPOINT,
                    "must be an http:// or https:// URL",
                ))
            }
        };
        Ok(Self {
            otlp_endpoint,
            otlp_protocol: otlp_protocol(env)?,
            service_name: parse::text(env, var::OTEL_SERVICE_NAME, "ems"),
            sampler: trace_sampler(env)?,
        })
    }
}

/// The sampler and, for the ratio ones, its ratio (default 1, as the specification
/// says); the argument of another sampler is ignored, as the specification also says.
fn trace_sampler(env: &mut Env) -> Result<TraceSampler, ConfigError> {
    let arg = env.get(var::OTEL_TRACES_SAMPLER_ARG);
    let ratio = || -> Result<f64, ConfigError> {
        let Some(raw) = &arg else { return Ok(1.0) };
        raw.trim()
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| {
                ConfigError::new(
                    var::OTEL_TRACES_SAMPLER_ARG,
                    format!("invalid ratio {raw:?} (use a number from 0 to 1)"),
                )
            })
    };
    use TraceSampler as S;
    let sampler = parse::choice(
        env,
        var::OTEL_TRACES_SAMPLER,
        &[
            ("always_on", S::AlwaysOn),
            ("always_off", S::AlwaysOff),
            ("traceidratio", S::TraceIdRatio(1.0)),
            ("parentbased_always_on", S::ParentBasedAlwaysOn),
            ("parentbased_always_off", S::ParentBasedAlwaysOff),
            ("parentbased_traceidratio", S::ParentBasedTraceIdRatio(1.0)),
        ],
        S::default(),
    )?;
    Ok(match sampler {
        S::TraceIdRatio(_) => S::TraceIdRatio(ratio()?),
        S::ParentBasedTraceIdRatio(_) => S::ParentBasedTraceIdRatio(ratio()?),
        other => other,
    })
}

/// The signal-specific variable wins over the general one, as the OTLP exporter
/// specification asks.
fn otlp_protocol(env: &mut Env) -> Result<OtlpProtocol, ConfigError> {
    let traces = env.get(var::OTEL_EXPORTER_OTLP_TRACES_PROTOCOL);
    let general = env.get(var::OTEL_EXPORTER_OTLP_PROTOCOL);
    let (var, value) = match (traces, general) {
        (Some(v), _) => (var::OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, v),
        (None, Some(v)) => (var::OTEL_EXPORTER_OTLP_PROTOCOL, v),
        (None, None) => return Ok(OtlpProtocol::default()),
    };
    match value.trim() {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        other => Err(ConfigError::new(
            var,
            format!("unsupported protocol {other:?} (use grpc or http/protobuf)"),
        )),
    }
}

fn admin(env: &mut Env) -> Result<Option<AdminBootstrap>, ConfigError> {
    let username = env.get(var::ADMIN_USERNAME);
    let password = env.get(var::ADMIN_PASSWORD);
    match (username, password) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::new(
            var::ADMIN_PASSWORD,
            "must be set together with ADMIN_USERNAME",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            var::ADMIN_USERNAME,
            "must be set together with ADMIN_PASSWORD",
        )),
        (Some(name), Some(password)) => {
            let username = domain::user::Username::parse(name.trim())
                .map_err(|e| ConfigError::new(var::ADMIN_USERNAME, e.message))?;
            domain::password::NewPassword::parse(&password, &username, &[]).map_err(|e| {
                let problem = match e {
                    domain::password::PasswordError::Weak { ref feedback } => {
                        format!("{e}: {}", feedback.join(" "))
                    }
                    other => other.to_string(),
                };
                ConfigError::new(var::ADMIN_PASSWORD, problem)
            })?;
            Ok(Some(AdminBootstrap {
                username,
                password: SecretString::from(password),
            }))
        }
    }
}

/// Both or neither: a certificate without its key (or the reverse) is a half-made TLS
/// setup, refused rather than silently served as plain HTTP.
fn tls_files(env: &mut Env) -> Result<Option<TlsFiles>, ConfigError> {
    let cert = parse::path(env, var::TLS_CERT_FILE);
    let key = parse::path(env, var::TLS_KEY_FILE);
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert_file), Some(key_file)) => Ok(Some(TlsFiles {
            cert_file,
            key_file,
        })),
        (Some(_), None) => Err(ConfigError::new(
            var::TLS_KEY_FILE,
            "is required when TLS_CERT_FILE is set (set both or neither)",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            var::TLS_CERT_FILE,
            "is required when TLS_KEY_FILE is set (set both or neither)",
        )),
    }
}

#[cfg(test)]
mod tests;
