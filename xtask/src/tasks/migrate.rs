//! `cargo xtask migrate`: `ems migrate` against `DATABASE_URL`, or against the dev
//! cluster's `ems_dev` when it is unset (starting the cluster for the occasion).

use crate::error::Result;
use crate::paths::Paths;
use crate::pg::{self, Cluster};
use crate::tasks::dev::DEV_DATABASE;
use crate::tasks::ems;
use crate::ui;

/// Applies pending migrations.
pub fn run(paths: &Paths) -> Result<()> {
    if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        ui::step(format!("migrating {} (DATABASE_URL)", redact(&url)));
        // The inherited environment carries DATABASE_URL; it is not echoed.
        return ems(paths, "migrate").run();
    }
    let cluster = Cluster::new(pg::DEV, paths)?.start()?;
    cluster.ensure_database(DEV_DATABASE)?;
    ui::step(format!("migrating {DEV_DATABASE} on the dev cluster"));
    ems(paths, "migrate")
        .env("DATABASE_URL", cluster.url(DEV_DATABASE))
        .run()?;
    cluster.stop()
}

/// The URL with any password masked, for printing.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(unparsable URL)".to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            redact("postgres://ems:s3cret@db:5432/ems"),
            "postgres://ems:***@db:5432/ems"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:54320/ems_dev"),
            "postgres://postgres@127.0.0.1:54320/ems_dev"
        );
        assert_eq!(redact("nonsense"), "(unparsable URL)");
    }
}
