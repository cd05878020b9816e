//! `cargo xtask dev`: the server on a laptop in one command. Starts (or reuses) the dev
//! cluster, makes sure `ems_dev` exists and is migrated, then runs `ems serve` with a
//! bootstrap admin whose password is generated once and kept in
//! `target/ems-pg/dev-admin-password`. Ctrl-C stops the server, then the cluster.

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
         │ Database:  {database_url}\n\
         │ Ctrl-C stops the server and the cluster.\n\
         └────────────────────────────────────────────────────────────\n",
        password = admin.password,
        file = password_file.display(),
    );

    let status = ems(paths, "serve")
        .env("DATABASE_URL", &database_url)
        .env("BIND_ADDR", &bind)
        .env("ADMIN_USERNAME", DEV_ADMIN)
        .secret_env("ADMIN_PASSWORD", &admin.password)
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
    use super::browsable_url;

    #[test]
    fn wildcard_binds_are_shown_as_loopback() {
        assert_eq!(browsable_url("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(browsable_url("0.0.0.0:9000"), "http://127.0.0.1:9000");
        assert_eq!(browsable_url("[::]:9000"), "http://127.0.0.1:9000");
    }
}
