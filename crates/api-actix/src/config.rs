//! Settings: read once from the environment at start-up into typed values and passed
//! down explicitly (no global). A bad or missing value stops the start with one line
//! naming the variable; secrets are [`SecretString`]s and are never echoed or printed.
//!
//! `envy` only gathers the raw strings; every value is then parsed here, so each error
//! names its variable and says what is wrong without quoting a secret.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

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

/// Everything the server reads from its environment, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL` (required).
    pub database_url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS`: pool size (default 16).
    pub database_max_connections: u32,
    /// `DATABASE_TIMEOUT`: how long to wait to connect or to get a pooled connection
    /// (default 3s).
    pub database_timeout: Duration,
    /// `DATABASE_STATEMENT_TIMEOUT`: server-side statement timeout (default 10s).
    pub database_statement_timeout: Duration,
    /// `REDIS_URL`: without it the Redis-backed ports use in-process adapters.
    pub redis_url: Option<SecretString>,
    /// `REDIS_TIMEOUT`: deadline of one Redis call, connecting included (default 250ms);
    /// past it the call counts as failed and the caller falls back.
    pub redis_timeout: Duration,
    /// `SINGLE_INSTANCE` (default false): says this deployment is one instance, so it may
    /// run without `REDIS_URL` when `APP_ENV=production`.
    pub single_instance: bool,
    /// `SESSION_ACTIVITY_FLUSH_INTERVAL`: how often noted session use is written to
    /// `lastUsedAt` in the database (default 30s).
    pub session_activity_flush_interval: Duration,
    /// `BIND_ADDR` (default `127.0.0.1:8080`).
    pub bind_addr: SocketAddr,
    /// `TLS_CERT_FILE` + `TLS_KEY_FILE`: serve HTTPS (with HSTS) instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// `APP_ENV` (default `development`).
    pub app_env: AppEnv,
    /// `ADMIN_USERNAME` + `ADMIN_PASSWORD` (both or neither).
    pub admin: Option<AdminBootstrap>,
    /// `JWT_ACCESS_EXPIRY` (default 15m).
    pub jwt_access_expiry: Duration,
    /// `JWT_REFRESH_EXPIRY` (default 7d).
    pub jwt_refresh_expiry: Duration,
    /// `REFRESH_REUSE_GRACE` (default 0s).
    pub refresh_reuse_grace: Duration,
    /// `JWT_SIGNING_KEYS`: PEM private key paths, newest first (may be empty outside
    /// production: an ephemeral key is made then).
    pub jwt_signing_keys: Vec<PathBuf>,
    /// `JWT_ISSUER` (default `ems`).
    pub jwt_issuer: String,
    /// `JWT_AUDIENCE` (default `ems-api`).
    pub jwt_audience: String,
    /// `RATE_LIMIT`: requests per minute per client IP on every route (default 100).
    pub rate_limit: u32,
    /// `LOGIN_RATE_LIMIT`: login attempts per minute per client IP (default 5).
    pub login_rate_limit: u32,
    /// `ADMIN_WRITE_RATE_LIMIT`: admin writes (`POST`/`PUT`/`PATCH`/`DELETE` under
    /// `/api/v1/users`) per minute per client IP (default 30).
    pub admin_write_rate_limit: u32,
    /// `LOCKOUT_THRESHOLD`: consecutive failed logins that lock an account (default 10).
    pub lockout_threshold: i32,
    /// `LOCKOUT_DURATION` (default 15m).
    pub lockout_duration: Duration,
    /// `TRUSTED_PROXIES`: peers whose forwarding headers are believed (IPs or CIDRs).
    pub trusted_proxies: Vec<IpNet>,
    /// `AUDIT_ENABLED` (default true).
    pub audit_enabled: bool,
    /// `AUDIT_RETENTION_DAYS` (default 90).
    pub audit_retention_days: u32,
    /// `AUDIT_SEAL_INTERVAL`: how often new audit entries are sealed onto the hash chain
    /// (default 1s).
    pub audit_seal_interval: Duration,
    /// `AUDIT_RETENTION_INTERVAL`: how often retention purges old audit entries and ended
    /// sessions (default 1h).
    pub audit_retention_interval: Duration,
    /// `AUDIT_HMAC_KEY`: the file holding the audit key (read once at start, at least 32
    /// bytes). Required in production; unset elsewhere, an ephemeral key is made with a
    /// warning (entries written before a restart then no longer verify).
    pub audit_hmac_key: Option<PathBuf>,
    /// `METRICS_TOKEN`: when set, `/metrics` requires it as a bearer token.
    pub metrics_token: Option<SecretString>,
    /// `METRICS_ENABLED` (default true): false drops the request metrics middleware and
    /// answers `/metrics` with 404, for deployments that do not scrape.
    pub metrics_enabled: bool,
    /// `LOG_FORMAT` (default `json`).
    pub log_format: LogFormat,
    /// `LOG_FILE_DIR`: when set, log lines also go to a file there, rotated daily
    /// (unset: standard output only).
    pub log_file_dir: Option<PathBuf>,
    /// `LOG_FILE_RETENTION`: how many daily log files to keep (default 7).
    pub log_file_retention: usize,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: where traces go, when set.
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc`
    /// (default) or `http/protobuf`.
    pub otel_exporter_otlp_protocol: OtlpProtocol,
    /// `OTEL_SERVICE_NAME`: the `service.name` of exported spans (default `ems`).
    pub otel_service_name: String,
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

/// The raw strings, as `envy` gathers them (keys matched case-insensitively).
#[derive(Deserialize, Default)]
struct Raw {
    database_url: Option<String>,
    database_max_connections: Option<String>,
    database_timeout: Option<String>,
    database_statement_timeout: Option<String>,
    redis_url: Option<String>,
    redis_timeout: Option<String>,
    single_instance: Option<String>,
    session_activity_flush_interval: Option<String>,
    bind_addr: Option<String>,
    tls_cert_file: Option<String>,
    tls_key_file: Option<String>,
    app_env: Option<String>,
    admin_username: Option<String>,
    admin_password: Option<String>,
    jwt_access_expiry: Option<String>,
    jwt_refresh_expiry: Option<String>,
    refresh_reuse_grace: Option<String>,
    jwt_signing_keys: Option<String>,
    jwt_issuer: Option<String>,
    jwt_audience: Option<String>,
    rate_limit: Option<String>,
    login_rate_limit: Option<String>,
    admin_write_rate_limit: Option<String>,
    lockout_threshold: Option<String>,
    lockout_duration: Option<String>,
    trusted_proxies: Option<String>,
    audit_enabled: Option<String>,
    audit_retention_days: Option<String>,
    audit_seal_interval: Option<String>,
    audit_retention_interval: Option<String>,
    audit_hmac_key: Option<String>,
    metrics_token: Option<String>,
    metrics_enabled: Option<String>,
    log_format: Option<String>,
    log_file_dir: Option<String>,
    log_file_retention: Option<String>,
    otel_exporter_otlp_endpoint: Option<String>,
    otel_exporter_otlp_protocol: Option<String>,
    otel_exporter_otlp_traces_protocol: Option<String>,
    otel_service_name: Option<String>,
}

/// Every variable this module reads, for documentation and the UTF-8 check.
pub const VARIABLES: [&str; 40] = [
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "DATABASE_TIMEOUT",
    "DATABASE_STATEMENT_TIMEOUT",
    "REDIS_URL",
    "REDIS_TIMEOUT",
    "SINGLE_INSTANCE",
    "SESSION_ACTIVITY_FLUSH_INTERVAL",
    "BIND_ADDR",
    "TLS_CERT_FILE",
    "TLS_KEY_FILE",
    "APP_ENV",
    "ADMIN_USERNAME",
    "ADMIN_PASSWORD",
    "JWT_ACCESS_EXPIRY",
    "JWT_REFRESH_EXPIRY",
    "REFRESH_REUSE_GRACE",
    "JWT_SIGNING_KEYS",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "RATE_LIMIT",
    "LOGIN_RATE_LIMIT",
    "ADMIN_WRITE_RATE_LIMIT",
    "LOCKOUT_THRESHOLD",
    "LOCKOUT_DURATION",
    "TRUSTED_PROXIES",
    "AUDIT_ENABLED",
    "AUDIT_RETENTION_DAYS",
    "AUDIT_SEAL_INTERVAL",
    "AUDIT_RETENTION_INTERVAL",
    "AUDIT_HMAC_KEY",
    "METRICS_TOKEN",
    "METRICS_ENABLED",
    "LOG_FORMAT",
    "LOG_FILE_DIR",
    "LOG_FILE_RETENTION",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
];

impl Settings {
    /// Reads the process environment. A variable of ours that is not valid UTF-8 is an
    /// error; other variables are ignored.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars = Vec::new();
        for (key, value) in std::env::vars_os() {
            let Some(key) = key.to_str().map(str::to_owned) else {
                continue;
            };
            let known = VARIABLES.iter().find(|v| v.eq_ignore_ascii_case(&key));
            match (value.into_string(), known) {
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
        let raw: Raw = envy::from_iter(
            vars.into_iter()
                .filter(|(_, value)| !value.trim().is_empty()),
        )
        .map_err(|e| ConfigError::new("environment", e.to_string()))?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<Self, ConfigError> {
        let database_url = required_secret("DATABASE_URL", raw.database_url)?;
        check_scheme(
            "DATABASE_URL",
            &database_url,
            &["postgres://", "postgresql://"],
        )?;
        let redis_url = raw.redis_url.map(SecretString::from);
        if let Some(url) = &redis_url {
            check_scheme(
                "REDIS_URL",
                url,
                &["redis://", "rediss://", "redis+unix://", "unix://"],
            )?;
        }
        let app_env = match raw.app_env.as_deref().map(str::trim) {
            None => AppEnv::default(),
            Some(v) if v.eq_ignore_ascii_case("development") => AppEnv::Development,
            Some(v) if v.eq_ignore_ascii_case("production") => AppEnv::Production,
            Some(v) if v.eq_ignore_ascii_case("test") => AppEnv::Test,
            Some(v) => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("invalid value {v:?} (use development, production or test)"),
                ))
            }
        };
        let log_format = match raw.log_format.as_deref().map(str::trim) {
            None => LogFormat::default(),
            Some(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(v) if v.eq_ignore_ascii_case("pretty") => LogFormat::Pretty,
            Some(v) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("invalid value {v:?} (use json or pretty)"),
                ))
            }
        };
        let jwt_signing_keys: Vec<PathBuf> = raw
            .jwt_signing_keys
            .as_deref()
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        if jwt_signing_keys.is_empty() && app_env == AppEnv::Production {
            return Err(ConfigError::new(
                "JWT_SIGNING_KEYS",
                "is required when APP_ENV=production (an ephemeral key would log everybody out on restart)",
            ));
        }
        let audit_hmac_key = raw.audit_hmac_key.map(|path| PathBuf::from(path.trim()));
        if audit_hmac_key.is_none() && app_env == AppEnv::Production {
            return Err(ConfigError::new(
                "AUDIT_HMAC_KEY",
                "is required when APP_ENV=production (an ephemeral key would leave the audit log unverifiable after a restart)",
            ));
        }
        let single_instance = boolean("SINGLE_INSTANCE", raw.single_instance, false)?;
        if redis_url.is_none() && app_env == AppEnv::Production && !single_instance {
            return Err(ConfigError::new(
                "REDIS_URL",
                "is required when APP_ENV=production unless SINGLE_INSTANCE=true (instances \
                 without a shared Redis keep their own auth caches and rate limits, so several \
                 of them would serve revoked sessions)",
            ));
        }
        let jwt_access_expiry = duration("JWT_ACCESS_EXPIRY", raw.jwt_access_expiry, "15m")?;
        let jwt_refresh_expiry = duration("JWT_REFRESH_EXPIRY", raw.jwt_refresh_expiry, "7d")?;
        if jwt_access_expiry.is_zero() {
            return Err(ConfigError::new(
                "JWT_ACCESS_EXPIRY",
                "must be longer than 0s",
            ));
        }
        if jwt_refresh_expiry.is_zero() {
            return Err(ConfigError::new(
                "JWT_REFRESH_EXPIRY",
                "must be longer than 0s",
            ));
        }
        let lockout_threshold = number::<i32>("LOCKOUT_THRESHOLD", raw.lockout_threshold, 10)?;
        if lockout_threshold < 1 {
            return Err(ConfigError::new("LOCKOUT_THRESHOLD", "must be at least 1"));
        }
        Ok(Self {
            database_url,
            database_max_connections: positive(
                "DATABASE_MAX_CONNECTIONS",
                raw.database_max_connections,
                16,
            )?,
            database_timeout: nonzero_duration("DATABASE_TIMEOUT", raw.database_timeout, "3s")?,
            database_statement_timeout: nonzero_duration(
                "DATABASE_STATEMENT_TIMEOUT",
                raw.database_statement_timeout,
                "10s",
            )?,
            redis_url,
            redis_timeout: nonzero_duration("REDIS_TIMEOUT", raw.redis_timeout, "250ms")?,
            single_instance,
            session_activity_flush_interval: nonzero_duration(
                "SESSION_ACTIVITY_FLUSH_INTERVAL",
                raw.session_activity_flush_interval,
                "30s",
            )?,
            bind_addr: bind_addr(raw.bind_addr)?,
            tls: tls_files(raw.tls_cert_file, raw.tls_key_file)?,
            app_env,
            admin: admin(raw.admin_username, raw.admin_password)?,
            jwt_access_expiry,
            jwt_refresh_expiry,
            refresh_reuse_grace: duration("REFRESH_REUSE_GRACE", raw.refresh_reuse_grace, "0s")?,
            jwt_signing_keys,
            jwt_issuer: text(raw.jwt_issuer, "ems"),
            jwt_audience: text(raw.jwt_audience, "ems-api"),
            rate_limit: positive("RATE_LIMIT", raw.rate_limit, 100)?,
            login_rate_limit: positive("LOGIN_RATE_LIMIT", raw.login_rate_limit, 5)?,
            admin_write_rate_limit: positive(
                "ADMIN_WRITE_RATE_LIMIT",
                raw.admin_write_rate_limit,
                30,
            )?,
            lockout_threshold,
            lockout_duration: nonzero_duration("LOCKOUT_DURATION", raw.lockout_duration, "15m")?,
            trusted_proxies: trusted_proxies(raw.trusted_proxies)?,
            audit_enabled: boolean("AUDIT_ENABLED", raw.audit_enabled, true)?,
            audit_retention_days: positive("AUDIT_RETENTION_DAYS", raw.audit_retention_days, 90)?,
            audit_seal_interval: nonzero_duration(
                "AUDIT_SEAL_INTERVAL",
                raw.audit_seal_interval,
                "1s",
            )?,
            audit_retention_interval: nonzero_duration(
                "AUDIT_RETENTION_INTERVAL",
                raw.audit_retention_interval,
                "1h",
            )?,
            audit_hmac_key,
            metrics_token: raw.metrics_token.map(SecretString::from),
            metrics_enabled: boolean("METRICS_ENABLED", raw.metrics_enabled, true)?,
            log_format,
            log_file_dir: raw.log_file_dir.map(|dir| PathBuf::from(dir.trim())),
            log_file_retention: log_file_retention(raw.log_file_retention)?,
            otel_exporter_otlp_endpoint: otlp_endpoint(raw.otel_exporter_otlp_endpoint)?,
            otel_exporter_otlp_protocol: otlp_protocol(
                raw.otel_exporter_otlp_traces_protocol,
                raw.otel_exporter_otlp_protocol,
            )?,
            otel_service_name: raw
                .otel_service_name
                .map_or_else(|| "ems".to_owned(), |name| name.trim().to_owned()),
        })
    }
}

fn required_secret(var: &'static str, value: Option<String>) -> Result<SecretString, ConfigError> {
    value
        .map(SecretString::from)
        .ok_or_else(|| ConfigError::new(var, "is required but not set"))
}

/// Checks a URL's scheme without ever quoting the URL (it may hold a password). A value
/// without `://` is let through: libpq also takes `host=... dbname=...` strings.
fn check_scheme(
    var: &'static str,
    url: &SecretString,
    schemes: &[&str],
) -> Result<(), ConfigError> {
    let value = url.expose_secret().trim();
    let Some((scheme, _)) = value.split_once("://") else {
        return Ok(());
    };
    if schemes
        .iter()
        .any(|s| s.trim_end_matches("://").eq_ignore_ascii_case(scheme))
    {
        Ok(())
    } else {
        Err(ConfigError::new(
            var,
            format!("must be a URL starting with {}", schemes.join(" or ")),
        ))
    }
}

fn text(value: Option<String>, default: &str) -> String {
    value.map_or_else(|| default.to_owned(), |v| v.trim().to_owned())
}

fn duration(
    var: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    let raw = value.as_deref().map_or(default, str::trim);
    humantime::parse_duration(raw).map_err(|_| {
        ConfigError::new(
            var,
            format!("invalid duration {raw:?} (use e.g. 15m, 7d, 30s)"),
        )
    })
}

fn nonzero_duration(
    var: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    let d = duration(var, value, default)?;
    if d.is_zero() {
        return Err(ConfigError::new(var, "must be longer than 0s"));
    }
    Ok(d)
}

fn number<T: std::str::FromStr>(
    var: &'static str,
    value: Option<String>,
    default: T,
) -> Result<T, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| {
            ConfigError::new(var, format!("invalid number {raw:?} (use a whole number)"))
        }),
    }
}

fn positive(var: &'static str, value: Option<String>, default: u32) -> Result<u32, ConfigError> {
    let n = number(var, value, default)?;
    if n == 0 {
        return Err(ConfigError::new(var, "must be at least 1"));
    }
    Ok(n)
}

/// `LOG_FILE_RETENTION`: at least one file (the current one) is kept.
fn log_file_retention(value: Option<String>) -> Result<usize, ConfigError> {
    let n = number::<usize>("LOG_FILE_RETENTION", value, 7)?;
    if n == 0 {
        return Err(ConfigError::new(
            "LOG_FILE_RETENTION",
            "must be at least 1 (the file being written)",
        ));
    }
    Ok(n)
}

fn boolean(var: &'static str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(default),
        Some(v)
            if ["true", "1", "yes", "on"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t)) =>
        {
            Ok(true)
        }
        Some(v)
            if ["false", "0", "no", "off"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t)) =>
        {
            Ok(false)
        }
        Some(v) => Err(ConfigError::new(
            var,
            format!("invalid boolean {v:?} (use true or false)"),
        )),
    }
}

fn bind_addr(value: Option<String>) -> Result<SocketAddr, ConfigError> {
    let raw = value.as_deref().map_or("127.0.0.1:8080", str::trim);
    raw.parse().map_err(|_| {
        ConfigError::new(
            "BIND_ADDR",
            format!("invalid socket address {raw:?} (use e.g. 0.0.0.0:8080 or [::]:8080)"),
        )
    })
}

fn admin(
    username: Option<String>,
    password: Option<String>,
) -> Result<Option<AdminBootstrap>, ConfigError> {
    match (username, password) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::new(
            "ADMIN_PASSWORD",
            "must be set together with ADMIN_USERNAME",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "ADMIN_USERNAME",
            "must be set together with ADMIN_PASSWORD",
        )),
        (Some(name), Some(password)) => {
            let username = domain::user::Username::parse(name.trim())
                .map_err(|e| ConfigError::new("ADMIN_USERNAME", e.message))?;
            domain::password::NewPassword::parse(&password, &username, &[]).map_err(|e| {
                let problem = match e {
                    domain::password::PasswordError::Weak { ref feedback } => {
                        format!("{e}: {}", feedback.join(" "))
                    }
                    other => other.to_string(),
                };
                ConfigError::new("ADMIN_PASSWORD", problem)
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
fn tls_files(cert: Option<String>, key: Option<String>) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert_file: PathBuf::from(cert.trim()),
            key_file: PathBuf::from(key.trim()),
        })),
        (Some(_), None) => Err(ConfigError::new(
            "TLS_KEY_FILE",
            "is required when TLS_CERT_FILE is set (set both or neither)",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "TLS_CERT_FILE",
            "is required when TLS_KEY_FILE is set (set both or neither)",
        )),
    }
}

fn trusted_proxies(value: Option<String>) -> Result<Vec<IpNet>, ConfigError> {
    let Some(list) = value else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError::new(
                        "TRUSTED_PROXIES",
                        format!(
                            "invalid IP address or CIDR {item:?} (use e.g. 10.0.0.1,10.1.0.0/16)"
                        ),
                    )
                })
        })
        .collect()
}

fn otlp_endpoint(value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value.map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.starts_with("http://") || v.starts_with("https://") => Ok(Some(v)),
        Some(_) => Err(ConfigError::new(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "must be an http:// or https:// URL",
        )),
    }
}

/// The signal-specific variable wins over the general one, as the OTLP exporter
/// specification asks.
fn otlp_protocol(
    traces: Option<String>,
    general: Option<String>,
) -> Result<OtlpProtocol, ConfigError> {
    let (var, value) = match (traces, general) {
        (Some(v), _) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", v),
        (None, Some(v)) => ("OTEL_EXPORTER_OTLP_PROTOCOL", v),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = vec![(
            "DATABASE_URL".to_owned(),
            "postgres://u:pw@db/ems".to_owned(),
        )];
        all.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        all
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(vars(pairs))
    }

    fn error_of(pairs: &[(&str, &str)]) -> ConfigError {
        match parse(pairs) {
            Err(e) => e,
            Ok(_) => panic!("expected an error for {pairs:?}"),
        }
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.database_url.expose_secret(), "postgres://u:pw@db/ems");
        assert!(s.redis_url.is_none());
        assert_eq!(s.redis_timeout, Duration::from_millis(250));
        assert_eq!(s.session_activity_flush_interval, Duration::from_secs(30));
        assert_eq!(s.bind_addr, "127.0.0.1:8080".parse().unwrap());
        assert!(s.tls.is_none());
        assert_eq!(s.app_env, AppEnv::Development);
        assert!(s.admin.is_none());
        assert_eq!(s.jwt_access_expiry, Duration::from_secs(15 * 60));
        assert_eq!(s.jwt_refresh_expiry, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(s.refresh_reuse_grace, Duration::ZERO);
        assert_eq!(s.rate_limit, 100);
        assert_eq!(s.login_rate_limit, 5);
        assert_eq!(s.admin_write_rate_limit, 30);
        assert_eq!(s.lockout_threshold, 10);
        assert_eq!(s.lockout_duration, Duration::from_secs(15 * 60));
        assert!(s.trusted_proxies.is_empty());
        assert!(s.audit_enabled);
        assert_eq!(s.audit_retention_days, 90);
        assert_eq!(s.audit_seal_interval, Duration::from_secs(1));
        assert_eq!(s.audit_retention_interval, Duration::from_secs(3600));
        assert!(s.audit_hmac_key.is_none());
        assert!(s.metrics_token.is_none());
        assert!(s.metrics_enabled);
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(s.log_file_dir.is_none());
        assert_eq!(s.log_file_retention, 7);
        assert!(s.otel_exporter_otlp_endpoint.is_none());
        assert_eq!(s.otel_exporter_otlp_protocol, OtlpProtocol::Grpc);
        assert_eq!(s.otel_service_name, "ems");
        assert!(s.jwt_signing_keys.is_empty());
        assert_eq!(s.jwt_issuer, "ems");
        assert_eq!(s.jwt_audience, "ems-api");
        assert_eq!(s.database_max_connections, 16);
        assert_eq!(s.database_timeout, Duration::from_secs(3));
        assert_eq!(s.database_statement_timeout, Duration::from_secs(10));
    }

    #[test]
    fn the_otlp_protocol_prefers_the_traces_variable_and_the_service_name_is_read() {
        let general = parse(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).unwrap();
        assert_eq!(
            general.otel_exporter_otlp_protocol,
            OtlpProtocol::HttpProtobuf
        );
        let both = parse(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", " grpc "),
            ("OTEL_SERVICE_NAME", " ems-eu-1 "),
        ])
        .unwrap();
        assert_eq!(both.otel_exporter_otlp_protocol, OtlpProtocol::Grpc);
        assert_eq!(both.otel_service_name, "ems-eu-1");
        let traces = error_of(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ]);
        assert_eq!(traces.var, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "{traces}");
    }

    #[test]
    fn every_setting_is_read_from_its_variable() {
        let s = parse(&[
            ("REDIS_URL", "redis://cache:6379"),
            ("BIND_ADDR", "0.0.0.0:9000"),
            ("APP_ENV", "production"),
            ("ADMIN_USERNAME", "root-admin"),
            ("ADMIN_PASSWORD", "Vy7#qLm2!pXw9zRt"),
            ("JWT_ACCESS_EXPIRY", "5m"),
            ("JWT_REFRESH_EXPIRY", "30d"),
            ("REFRESH_REUSE_GRACE", "30s"),
            ("RATE_LIMIT", "1000"),
            ("LOGIN_RATE_LIMIT", "20"),
            ("ADMIN_WRITE_RATE_LIMIT", "7"),
            ("LOCKOUT_THRESHOLD", "3"),
            ("LOCKOUT_DURATION", "1h"),
            ("TRUSTED_PROXIES", "10.0.0.1, 10.1.0.0/16,::1"),
            ("AUDIT_ENABLED", "false"),
            ("AUDIT_RETENTION_DAYS", "30"),
            ("METRICS_TOKEN", "metrics-secret"),
            ("LOG_FORMAT", "pretty"),
            ("LOG_FILE_DIR", " /var/log/ems "),
            ("LOG_FILE_RETENTION", "30"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317"),
            ("JWT_SIGNING_KEYS", "/keys/new.pem, /keys/old.pem"),
            ("AUDIT_HMAC_KEY", " /keys/audit.key "),
            ("JWT_ISSUER", "https://ems.example"),
            ("JWT_AUDIENCE", "ems-web"),
            ("DATABASE_MAX_CONNECTIONS", "4"),
            ("DATABASE_TIMEOUT", "500ms"),
            ("DATABASE_STATEMENT_TIMEOUT", "2s"),
        ])
        .unwrap();
        assert_eq!(s.redis_url.unwrap().expose_secret(), "redis://cache:6379");
        assert_eq!(s.bind_addr, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(s.app_env, AppEnv::Production);
        let admin = s.admin.unwrap();
        assert_eq!(admin.username.as_str(), "root-admin");
        assert_eq!(admin.password.expose_secret(), "Vy7#qLm2!pXw9zRt");
        assert_eq!(s.jwt_access_expiry, Duration::from_secs(300));
        assert_eq!(s.jwt_refresh_expiry, Duration::from_secs(30 * 86400));
        assert_eq!(s.refresh_reuse_grace, Duration::from_secs(30));
        assert_eq!((s.rate_limit, s.login_rate_limit), (1000, 20));
        assert_eq!(s.admin_write_rate_limit, 7);
        assert_eq!(s.lockout_threshold, 3);
        assert_eq!(s.lockout_duration, Duration::from_secs(3600));
        assert_eq!(s.trusted_proxies.len(), 3);
        assert!(s.trusted_proxies[0].contains(&"10.0.0.1".parse::<IpAddr>().unwrap()));
        assert!(s.trusted_proxies[1].contains(&"10.1.200.3".parse::<IpAddr>().unwrap()));
        assert!(!s.audit_enabled);
        assert_eq!(s.audit_retention_days, 30);
        assert_eq!(s.metrics_token.unwrap().expose_secret(), "metrics-secret");
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.log_file_dir, Some(PathBuf::from("/var/log/ems")));
        assert_eq!(s.log_file_retention, 30);
        assert_eq!(
            s.otel_exporter_otlp_endpoint.as_deref(),
            Some("http://otel:4317")
        );
        assert_eq!(
            s.jwt_signing_keys,
            vec![
                PathBuf::from("/keys/new.pem"),
                PathBuf::from("/keys/old.pem")
            ]
        );
        assert_eq!(s.audit_hmac_key, Some(PathBuf::from("/keys/audit.key")));
        assert_eq!(s.jwt_issuer, "https://ems.example");
        assert_eq!(s.jwt_audience, "ems-web");
        assert_eq!(s.database_max_connections, 4);
        assert_eq!(s.database_timeout, Duration::from_millis(500));
        assert_eq!(s.database_statement_timeout, Duration::from_secs(2));
    }

    #[test]
    fn empty_values_mean_the_default() {
        let s = parse(&[("RATE_LIMIT", ""), ("REDIS_URL", "  "), ("LOG_FORMAT", "")]).unwrap();
        assert_eq!(s.rate_limit, 100);
        assert!(s.redis_url.is_none());
    }

    #[test]
    fn a_missing_database_url_is_named() {
        let e = Settings::from_vars(Vec::<(String, String)>::new()).unwrap_err();
        assert_eq!(e.to_string(), "DATABASE_URL: is required but not set");
    }

    #[test]
    fn a_bad_duration_names_its_variable_and_value() {
        assert_eq!(
            error_of(&[("JWT_ACCESS_EXPIRY", "15x")]).to_string(),
            r#"JWT_ACCESS_EXPIRY: invalid duration "15x" (use e.g. 15m, 7d, 30s)"#
        );
    }

    #[test]
    fn every_parse_error_names_its_variable() {
        let cases: &[(&str, &str)] = &[
            ("DATABASE_MAX_CONNECTIONS", "many"),
            ("DATABASE_MAX_CONNECTIONS", "0"),
            ("DATABASE_TIMEOUT", "3"),
            ("DATABASE_TIMEOUT", "0s"),
            ("DATABASE_STATEMENT_TIMEOUT", "soon"),
            ("REDIS_URL", "http://cache"),
            ("BIND_ADDR", "localhost"),
            ("APP_ENV", "staging"),
            ("JWT_ACCESS_EXPIRY", "0s"),
            ("JWT_REFRESH_EXPIRY", "7 days and a bit"),
            ("REFRESH_REUSE_GRACE", "-1s"),
            ("RATE_LIMIT", "-5"),
            ("RATE_LIMIT", "0"),
            ("LOGIN_RATE_LIMIT", "5/min"),
            ("ADMIN_WRITE_RATE_LIMIT", "0"),
            ("LOCKOUT_THRESHOLD", "0"),
            ("LOCKOUT_THRESHOLD", "ten"),
            ("LOCKOUT_DURATION", "forever"),
            ("TRUSTED_PROXIES", "10.0.0.1,not-an-ip"),
            ("AUDIT_ENABLED", "maybe"),
            ("AUDIT_RETENTION_DAYS", "90d"),
            ("AUDIT_SEAL_INTERVAL", "0s"),
            ("AUDIT_RETENTION_INTERVAL", "hourly"),
            ("LOG_FORMAT", "xml"),
            ("LOG_FILE_RETENTION", "0"),
            ("LOG_FILE_RETENTION", "a week"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "otel:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp"),
        ];
        for (var, value) in cases {
            let e = error_of(&[(var, value)]);
            assert_eq!(e.var, *var, "{var}={value} gave {e}");
            let line = e.to_string();
            assert!(line.starts_with(&format!("{var}: ")), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn log_file_settings_are_optional_and_a_bad_retention_is_named() {
        let s = parse(&[("LOG_FILE_DIR", "logs")]).unwrap();
        assert_eq!(s.log_file_dir, Some(PathBuf::from("logs")));
        assert_eq!(s.log_file_retention, 7);
        assert_eq!(
            error_of(&[("LOG_FILE_RETENTION", "0")]).to_string(),
            "LOG_FILE_RETENTION: must be at least 1 (the file being written)"
        );
        assert_eq!(
            error_of(&[("LOG_FILE_RETENTION", "7d")]).to_string(),
            r#"LOG_FILE_RETENTION: invalid number "7d" (use a whole number)"#
        );
    }

    #[test]
    fn admin_credentials_come_in_pairs_and_must_be_valid() {
        assert_eq!(
            error_of(&[("ADMIN_USERNAME", "boss")]).var,
            "ADMIN_PASSWORD"
        );
        assert_eq!(
            error_of(&[("ADMIN_PASSWORD", "Vy7#qLm2!pXw9zRt")]).var,
            "ADMIN_USERNAME"
        );
        assert_eq!(
            error_of(&[
                ("ADMIN_USERNAME", "b"),
                ("ADMIN_PASSWORD", "Vy7#qLm2!pXw9zRt")
            ])
            .var,
            "ADMIN_USERNAME"
        );
        let weak = error_of(&[
            ("ADMIN_USERNAME", "boss"),
            ("ADMIN_PASSWORD", "password123"),
        ]);
        assert_eq!(weak.var, "ADMIN_PASSWORD");
        assert!(!weak.to_string().contains("password123"), "{weak}");
    }

    #[test]
    fn tls_files_come_in_pairs() {
        let s = parse(&[
            ("TLS_CERT_FILE", " /etc/ems/cert.pem "),
            ("TLS_KEY_FILE", "/etc/ems/key.pem"),
        ])
        .unwrap();
        assert_eq!(
            s.tls,
            Some(TlsFiles {
                cert_file: PathBuf::from("/etc/ems/cert.pem"),
                key_file: PathBuf::from("/etc/ems/key.pem"),
            })
        );
        assert_eq!(
            error_of(&[("TLS_CERT_FILE", "/etc/ems/cert.pem")]).to_string(),
            "TLS_KEY_FILE: is required when TLS_CERT_FILE is set (set both or neither)"
        );
        assert_eq!(
            error_of(&[("TLS_KEY_FILE", "/etc/ems/key.pem")]).to_string(),
            "TLS_CERT_FILE: is required when TLS_KEY_FILE is set (set both or neither)"
        );
        let blank = parse(&[("TLS_CERT_FILE", " "), ("TLS_KEY_FILE", "")]).unwrap();
        assert!(blank.tls.is_none(), "empty means unset");
    }

    #[test]
    fn production_without_signing_keys_is_refused() {
        let e = error_of(&[("APP_ENV", "production")]);
        assert_eq!(e.var, "JWT_SIGNING_KEYS");
        let e = error_of(&[("APP_ENV", "production"), ("JWT_SIGNING_KEYS", " , ")]);
        assert_eq!(e.var, "JWT_SIGNING_KEYS");
        assert!(parse(&[
            ("APP_ENV", "production"),
            ("JWT_SIGNING_KEYS", "/k.pem"),
            ("SINGLE_INSTANCE", "true"),
            ("AUDIT_HMAC_KEY", "/audit.key"),
        ])
        .is_ok());
    }

    #[test]
    fn production_without_an_audit_key_is_refused_in_one_line() {
        let e = error_of(&[("APP_ENV", "production"), ("JWT_SIGNING_KEYS", "/k.pem")]);
        assert_eq!(e.var, "AUDIT_HMAC_KEY");
        let line = e.to_string();
        assert!(line.starts_with("AUDIT_HMAC_KEY: is required") && !line.contains('\n'));
        let e = error_of(&[
            ("APP_ENV", "production"),
            ("JWT_SIGNING_KEYS", "/k.pem"),
            ("AUDIT_HMAC_KEY", "  "),
        ]);
        assert_eq!(e.var, "AUDIT_HMAC_KEY", "blank means unset");
        assert!(parse(&[("APP_ENV", "test")])
            .unwrap()
            .audit_hmac_key
            .is_none());
    }

    #[test]
    fn production_without_redis_starts_only_when_declared_single_instance() {
        let keys = ("JWT_SIGNING_KEYS", "/k.pem");
        let audit = ("AUDIT_HMAC_KEY", "/audit.key");
        let e = error_of(&[("APP_ENV", "production"), keys, audit]);
        assert_eq!(e.var, "REDIS_URL");
        assert!(e.problem.contains("SINGLE_INSTANCE=true"), "{e}");
        let e = error_of(&[
            ("APP_ENV", "production"),
            keys,
            audit,
            ("SINGLE_INSTANCE", "false"),
        ]);
        assert_eq!(e.var, "REDIS_URL");
        assert_eq!(
            error_of(&[
                ("APP_ENV", "production"),
                keys,
                audit,
                ("SINGLE_INSTANCE", "yes please")
            ])
            .var,
            "SINGLE_INSTANCE"
        );
        let single = parse(&[
            ("APP_ENV", "production"),
            keys,
            audit,
            ("SINGLE_INSTANCE", "true"),
        ]);
        assert!(single.unwrap().single_instance);
        let shared = parse(&[
            ("APP_ENV", "production"),
            keys,
            audit,
            ("REDIS_URL", "redis://cache:6379"),
        ]);
        assert!(!shared.unwrap().single_instance);
        assert!(parse(&[]).is_ok(), "development needs neither");
    }

    #[test]
    fn secrets_are_never_echoed_or_printed() {
        let e = Settings::from_vars(vec![(
            "DATABASE_URL".to_owned(),
            "mysql://root:hunter2@db".to_owned(),
        )])
        .unwrap_err();
        assert_eq!(e.var, "DATABASE_URL");
        assert!(!e.to_string().contains("hunter2"));

        let e = error_of(&[("REDIS_URL", "http://:hunter2@cache")]);
        assert!(!e.to_string().contains("hunter2"));

        let s = parse(&[
            ("REDIS_URL", "redis://:hunter2@cache"),
            ("METRICS_TOKEN", "hunter2-metrics"),
            ("ADMIN_USERNAME", "boss"),
            ("ADMIN_PASSWORD", "Vy7#qLm2!pXw9zRt"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        for secret in ["hunter2", "pw@db", "Vy7#qLm2"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
    }

    #[test]
    fn a_libpq_key_value_database_url_is_accepted() {
        let s = Settings::from_vars(vec![(
            "DATABASE_URL".to_owned(),
            "host=/tmp dbname=ems user=ems".to_owned(),
        )])
        .unwrap();
        assert_eq!(
            s.database_url.expose_secret(),
            "host=/tmp dbname=ems user=ems"
        );
    }

    #[test]
    fn variable_names_are_matched_case_insensitively_and_app_env_values_too() {
        let s = Settings::from_vars(vec![
            ("database_url".to_owned(), "postgresql://db/ems".to_owned()),
            ("APP_ENV".to_owned(), "Test".to_owned()),
        ])
        .unwrap();
        assert_eq!(s.app_env, AppEnv::Test);
    }
}
