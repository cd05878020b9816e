//! The one list of the variables `ems` reads, and the environment as the parser sees it.
//!
//! Each name is written once, in [`variables!`]: it becomes a constant in [`var`] that
//! the parser reads by, and an entry of [`VARIABLES`] that the UTF-8 check, the README
//! tidy test and the "every variable is read" test use. A typo is a compile error.

use std::collections::{BTreeSet, HashMap};

macro_rules! variables {
    ($($name:ident),* $(,)?) => {
        /// The name of each variable, the one spelling of it in the code.
        #[allow(missing_docs)] // each constant is its own name
        pub mod var {
            $(pub const $name: &str = stringify!($name);)*
        }

        /// Every variable the parser reads, in the README's order.
        pub const VARIABLES: &[&str] = &[$(var::$name),*];
    };
}

variables! {
    DATABASE_URL,
    DATABASE_READ_URL,
    REDIS_URL,
    REDIS_TIMEOUT,
    REDIS_KEY_PREFIX,
    SINGLE_INSTANCE,
    SESSION_ACTIVITY_FLUSH_INTERVAL,
    BIND_ADDR,
    TLS_CERT_FILE,
    TLS_KEY_FILE,
    APP_ENV,
    ADMIN_USERNAME,
    ADMIN_PASSWORD,
    JWT_SIGNING_KEYS,
    JWT_ISSUER,
    JWT_AUDIENCE,
    JWT_ACCESS_EXPIRY,
    JWT_REFRESH_EXPIRY,
    REFRESH_REUSE_GRACE,
    JWT_KEY_CHECK_INTERVAL,
    LOCKOUT_THRESHOLD,
    LOCKOUT_DURATION,
    PASSWORD_MAX_AGE,
    USER_PURGE_AFTER,
    RATE_LIMIT,
    LOGIN_RATE_LIMIT,
    ADMIN_WRITE_RATE_LIMIT,
    TRUSTED_PROXIES,
    AUDIT_ENABLED,
    AUDIT_RETENTION_DAYS,
    AUDIT_SEAL_INTERVAL,
    AUDIT_HMAC_KEY,
    AUDIT_RETENTION_INTERVAL,
    METRICS_TOKEN,
    METRICS_ENABLED,
    LOG_FORMAT,
    LOG_FILE_DIR,
    LOG_FILE_RETENTION,
    BACKUP_KEEP,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SERVICE_NAME,
    OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG,
    DATABASE_MAX_CONNECTIONS,
    DATABASE_TIMEOUT,
    DATABASE_STATEMENT_TIMEOUT,
}

/// Our variables' values: names matched case-insensitively, blank values dropped (they
/// mean the default), anything that is not one of [`VARIABLES`] ignored.
pub(super) struct Env {
    values: HashMap<&'static str, String>,
    read: BTreeSet<&'static str>,
}

impl Env {
    /// The variables among `vars` that are ours.
    pub(super) fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let values = vars
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .filter_map(|(key, value)| known(&key).map(|var| (var, value)))
            .collect();
        Self {
            values,
            read: BTreeSet::new(),
        }
    }

    /// The value of `var`, if set; the read is noted (see [`Env::read`]).
    pub(super) fn get(&mut self, var: &'static str) -> Option<String> {
        self.read.insert(var);
        self.values.get(var).cloned()
    }

    /// Every variable read so far: after a full parse, all of [`VARIABLES`].
    #[cfg(test)]
    pub(super) fn read(&self) -> &BTreeSet<&'static str> {
        &self.read
    }
}

/// The variable of ours named `key`, spelled in any case.
pub(super) fn known(key: &str) -> Option<&'static str> {
    VARIABLES
        .iter()
        .copied()
        .find(|var| var.eq_ignore_ascii_case(key))
}
