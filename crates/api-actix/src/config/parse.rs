//! How one variable becomes a typed value. Each parser reads its variable from the
//! [`Env`] and, on failure, names it in a [`ConfigError`] without quoting a secret.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

use super::env::Env;
use super::ConfigError;

pub(super) fn required_secret(
    env: &mut Env,
    var: &'static str,
) -> Result<SecretString, ConfigError> {
    env.get(var)
        .map(SecretString::from)
        .ok_or_else(|| ConfigError::new(var, "is required but not set"))
}

pub(super) fn secret(env: &mut Env, var: &'static str) -> Option<SecretString> {
    env.get(var).map(SecretString::from)
}

/// Checks a URL's scheme without ever quoting the URL (it may hold a password). A value
/// without `://` is let through: libpq also takes `host=... dbname=...` strings.
pub(super) fn check_scheme(
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

pub(super) fn text(env: &mut Env, var: &'static str, default: &str) -> String {
    env.get(var)
        .map_or_else(|| default.to_owned(), |v| v.trim().to_owned())
}

pub(super) fn path(env: &mut Env, var: &'static str) -> Option<PathBuf> {
    env.get(var).map(|path| PathBuf::from(path.trim()))
}

/// A comma list of paths, blanks skipped.
pub(super) fn paths(env: &mut Env, var: &'static str) -> Vec<PathBuf> {
    env.get(var)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default()
}

/// One of `choices` (`(spelling, value)`, matched case-insensitively), or `default`.
pub(super) fn choice<T: Copy>(
    env: &mut Env,
    var: &'static str,
    choices: &[(&str, T)],
    default: T,
) -> Result<T, ConfigError> {
    let Some(raw) = env.get(var) else {
        return Ok(default);
    };
    let raw = raw.trim();
    choices
        .iter()
        .find(|(spelling, _)| spelling.eq_ignore_ascii_case(raw))
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(spelling, _)| *spelling).collect();
            let (last, rest) = names.split_last().unwrap_or((&"", &[]));
            let spelled = if rest.is_empty() {
                (*last).to_owned()
            } else {
                format!("{} or {last}", rest.join(", "))
            };
            ConfigError::new(var, format!("invalid value {raw:?} (use {spelled})"))
        })
}

pub(super) fn duration(
    env: &mut Env,
    var: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let value = env.get(var);
    let raw = value.as_deref().map_or(default, str::trim);
    humantime::parse_duration(raw).map_err(|_| {
        ConfigError::new(
            var,
            format!("invalid duration {raw:?} (use e.g. 15m, 7d, 30s)"),
        )
    })
}

/// A duration that may be unset (`None`), longer than 0s when set.
pub(super) fn optional_duration(
    env: &mut Env,
    var: &'static str,
) -> Result<Option<Duration>, ConfigError> {
    if env.get(var).is_none() {
        return Ok(None);
    }
    nonzero_duration(env, var, "").map(Some)
}

pub(super) fn nonzero_duration(
    env: &mut Env,
    var: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let d = duration(env, var, default)?;
    if d.is_zero() {
        return Err(ConfigError::new(var, "must be longer than 0s"));
    }
    Ok(d)
}

pub(super) fn number<T: std::str::FromStr>(
    env: &mut Env,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match env.get(var).as_deref().map(str::trim) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| {
            ConfigError::new(var, format!("invalid number {raw:?} (use a whole number)"))
        }),
    }
}

/// A whole number of at least 1; `why` completes the message when it is not.
pub(super) fn at_least_one<T>(
    env: &mut Env,
    var: &'static str,
    default: T,
    why: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
{
    let n = number(env, var, default)?;
    if n < T::from(1) {
        return Err(ConfigError::new(var, format!("must be at least 1{why}")));
    }
    Ok(n)
}

pub(super) fn boolean(
    env: &mut Env,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    const TRUE: [&str; 4] = ["true", "1", "yes", "on"];
    const FALSE: [&str; 4] = ["false", "0", "no", "off"];
    match env.get(var).as_deref().map(str::trim) {
        None => Ok(default),
        Some(v) if TRUE.iter().any(|t| v.eq_ignore_ascii_case(t)) => Ok(true),
        Some(v) if FALSE.iter().any(|t| v.eq_ignore_ascii_case(t)) => Ok(false),
        Some(v) => Err(ConfigError::new(
            var,
            format!("invalid boolean {v:?} (use true or false)"),
        )),
    }
}

pub(super) fn socket_addr(
    env: &mut Env,
    var: &'static str,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let value = env.get(var);
    let raw = value.as_deref().map_or(default, str::trim);
    raw.parse().map_err(|_| {
        ConfigError::new(
            var,
            format!("invalid socket address {raw:?} (use e.g. 0.0.0.0:8080 or [::]:8080)"),
        )
    })
}

/// A comma list of IPs or CIDRs.
pub(super) fn networks(env: &mut Env, var: &'static str) -> Result<Vec<IpNet>, ConfigError> {
    let Some(list) = env.get(var) else {
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
                        var,
                        format!(
                            "invalid IP address or CIDR {item:?} (use e.g. 10.0.0.1,10.1.0.0/16)"
                        ),
                    )
                })
        })
        .collect()
}
