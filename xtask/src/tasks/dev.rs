//! `cargo xtask dev`: the server on a laptop in one command. Starts (or reuses) the dev
//! cluster, makes sure `ems_dev` exists and is migrated, then runs `ems serve` with a
//! bootstrap admin whose password is generated once and kept in
//! `target/ems-pg/dev-admin-password`, and a JWT signing key made once by `ems keygen`
//! and kept in `target/ems-pg/dev-signing-key.pem`, so tokens survive restarts, and an
//! audit key (`AUDIT_HMAC_KEY`) made once and kept in `target/ems-pg/dev-audit-key`, so
//! the audit log still verifies after a restart.
//! Ctrl-C, or SIGINT/SIGTERM sent to xtask alone, stops the server, then the cluster
//! (see [`crate::interrupt`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cmd::describe;
use crate::error::{bail, Result};
use crate::flags::Dev;
use crate::interrupt;
use crate::paths::Paths;
use crate::pg::{self, Cluster};
use crate::secret;
use crate::tasks::ems;
use crate::ui;

/// The database of the dev cluster the server uses.
pub const DEV_DATABASE: &str = "ems_dev";

/// The bootstrap admin of the dev server.
pub const DEV_ADMIN: &str = "admin";

/// The dev server's signing key, under `target/ems-pg/`.
pub const DEV_SIGNING_KEY: &str = "dev-signing-key.pem";

/// The dev server's audit key, under `target/ems-pg/`.
pub const DEV_AUDIT_KEY: &str = "dev-audit-key";

/// Random characters of the dev audit key (62 symbols each: about 380 bits).
const DEV_AUDIT_KEY_LEN: usize = 64;

/// The `AUDIT_HMAC_KEY` of the dev server: the developer's own (non-blank) one, else the
/// kept dev key, made first when missing.
fn audit_key(from_env: Option<String>, dev_key: &Path) -> Result<(OsString, String)> {
    match from_env {
        Some(path) if !path.trim().is_empty() => Ok((
            path.into(),
            "AUDIT_HMAC_KEY from your environment".to_owned(),
        )),
        _ => {
            if secret::ensure_key(dev_key, DEV_AUDIT_KEY_LEN)? {
                ui::step("making the dev audit key");
            }
            Ok((
                dev_key.as_os_str().to_owned(),
                format!(
                    "{} (kept: the log verifies after restarts)",
                    dev_key.display()
                ),
            ))
        }
    }
}

/// Where the dev server's `JWT_SIGNING_KEYS` come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SigningKeys {
    /// The developer's own `JWT_SIGNING_KEYS` (e.g. to try a rotation), used as given.
    FromEnv(String),
    /// The kept dev key; `exists` false means `ems keygen` makes it first.
    DevKey { path: PathBuf, exists: bool },
}

impl SigningKeys {
    /// A non-blank `JWT_SIGNING_KEYS` in our environment wins; otherwise the dev key.
    fn choose(from_env: Option<String>, dev_key: &Path) -> Self {
        match from_env {
            Some(list) if !list.trim().is_empty() => Self::FromEnv(list),
            _ => Self::DevKey {
                path: dev_key.to_owned(),
                exists: dev_key.exists(),
            },
        }
    }

    /// The value `ems serve` gets.
    fn value(&self) -> OsString {
        match self {
            Self::FromEnv(list) => list.into(),
            Self::DevKey { path, .. } => path.clone().into_os_string(),
        }
    }

    /// The banner's line about them.
    fn describe(&self) -> String {
        match self {
            Self::FromEnv(_) => "JWT_SIGNING_KEYS from your environment".to_owned(),
            Self::DevKey { path, .. } => {
                format!("{} (kept: tokens survive restarts)", path.display())
            }
        }
    }
}

/// Runs the dev server until it exits or Ctrl-C.
pub fn run(paths: &Paths, flags: &Dev) -> Result<()> {
    let cluster = Cluster::new(pg::DEV, paths)?.start()?;
    if flags.reset {
        ui::note(format!("--reset: dropping {DEV_DATABASE}"));
        cluster.drop_database(DEV_DATABASE)?;
    }
    let created = cluster.ensure_database(DEV_DATABASE)?;
    let password_file = paths.pg_dir().join("dev-admin-password");
    let admin = secret::load_or_create(&password_file, DEV_ADMIN)?;
    if admin.created && !created {
        ui::warn(format!(
            "{} is new but {DEV_DATABASE} already existed: if it already has an admin, that \
             admin keeps its old password. `cargo xtask dev --reset` starts from an empty \
             database.",
            password_file.display()
        ));
    }
    let database_url = cluster.url(DEV_DATABASE);

    ui::step(format!("migrating {DEV_DATABASE}"));
    ems(paths, "migrate")
        .env("DATABASE_URL", &database_url)
        .run()?;
    if interrupt::interrupted() {
        return cluster.stop();
    }

    let keys = SigningKeys::choose(
        std::env::var("JWT_SIGNING_KEYS").ok(),
        &paths.pg_dir().join(DEV_SIGNING_KEY),
    );
    if let SigningKeys::DevKey {
        path,
        exists: false,
    } = &keys
    {
        ui::step("making the dev JWT signing key");
        ems(paths, "keygen").arg(path).run()?;
        if interrupt::interrupted() {
            return cluster.stop();
        }
    }

    let (audit_key, audit_key_line) = audit_key(
        std::env::var("AUDIT_HMAC_KEY").ok(),
        &paths.pg_dir().join(DEV_AUDIT_KEY),
    )?;

    let bind = std::env::var("BIND_ADDR")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let base = browsable_url(&bind);
    println!(
        "\n\
         ┌─ EMS dev server ───────────────────────────────────────────\n\
         │ API:       {base}/api/v1\n\
         │ Explorer:  {base}/api/docs\n\
         │ Health:    {base}/api/health\n\
         │ Log in as: {DEV_ADMIN} / {password}\n\
         │            (kept in {file})\n\
         │ Tokens:    signed with {keys}\n\
         │ Audit key: {audit_key_line}\n\
         │ Database:  {database_url}\n\
         │ Ctrl-C stops the server and the cluster.\n\
         └────────────────────────────────────────────────────────────\n",
        password = admin.password,
        file = password_file.display(),
        keys = keys.describe(),
    );

    let status = ems(paths, "serve")
        .env("DATABASE_URL", &database_url)
        .env("BIND_ADDR", &bind)
        .env("ADMIN_USERNAME", DEV_ADMIN)
        .secret_env("ADMIN_PASSWORD", &admin.password)
        .env("JWT_SIGNING_KEYS", keys.value())
        .env("AUDIT_HMAC_KEY", &audit_key)
        .env("APP_ENV", "development")
        .env("LOG_FORMAT", "pretty")
        .status()?;
    cluster.stop()?;
    if !status.success() && !interrupt::interrupted() {
        bail!("ems serve stopped ({})", describe(status));
    }
    Ok(())
}

/// An address a browser can open: a wildcard bind is reachable on loopback.
fn browsable_url(bind: &str) -> String {
    let bind = bind
        .strip_prefix("0.0.0.0:")
        .or_else(|| bind.strip_prefix("[::]:"))
        .map(|port| format!("127.0.0.1:{port}"))
        .unwrap_or_else(|| bind.to_owned());
    format!("http://{bind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_shown_as_loopback() {
        assert_eq!(browsable_url("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(browsable_url("0.0.0.0:9000"), "http://127.0.0.1:9000");
        assert_eq!(browsable_url("[::]:9000"), "http://127.0.0.1:9000");
    }

    #[test]
    fn the_dev_audit_key_is_made_once_unless_the_environment_names_one() {
        let dir = std::env::temp_dir().join(format!("xtask-dev-audit-{}", std::process::id()));
        let key = dir.join(DEV_AUDIT_KEY);

        let (path, line) = audit_key(None, &key).unwrap();
        assert_eq!(path, key.clone().into_os_string());
        assert!(line.contains("verifies after restarts"), "{line}");
        let made = std::fs::read_to_string(&key).unwrap();
        assert!(made.trim().len() >= 32, "enough key material for ems");
        audit_key(Some(" ".to_owned()), &key).unwrap();
        assert_eq!(
            std::fs::read_to_string(&key).unwrap(),
            made,
            "kept, not remade"
        );

        let (own, line) = audit_key(Some("/keys/audit.key".to_owned()), &key).unwrap();
        assert_eq!(own, OsString::from("/keys/audit.key"));
        assert!(line.contains("your environment"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_dev_key_is_used_unless_the_environment_names_keys() {
        let dir = std::env::temp_dir().join(format!("xtask-dev-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join(DEV_SIGNING_KEY);

        let missing = SigningKeys::choose(None, &key);
        assert_eq!(
            missing,
            SigningKeys::DevKey {
                path: key.clone(),
                exists: false
            }
        );
        assert_eq!(missing.value(), key.clone().into_os_string());
        assert!(missing.describe().contains("survive restarts"));

        std::fs::write(&key, "kept").unwrap();
        let blank = SigningKeys::choose(Some("  ".to_owned()), &key);
        assert_eq!(
            blank,
            SigningKeys::DevKey {
                path: key.clone(),
                exists: true
            },
            "a blank variable means unset, as ems reads it"
        );

        let own = SigningKeys::choose(Some("/keys/new.pem,/keys/old.pem".to_owned()), &key);
        assert_eq!(own.value(), OsString::from("/keys/new.pem,/keys/old.pem"));
        assert!(own.describe().contains("your environment"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
