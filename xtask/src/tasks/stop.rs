//! `cargo xtask stop`: stops the dev and test clusters and the private Redis whoever
//! started them, for servers an interrupted or concurrent run left behind.

use crate::error::Result;
use crate::paths::Paths;
use crate::pg::{self, Cluster};
use crate::{redis, ui};

/// Stops everything xtask may have left running.
pub fn run(paths: &Paths) -> Result<()> {
    for spec in [pg::DEV, pg::TEST] {
        let cluster = Cluster::new(spec, paths)?;
        if cluster.stop_if_running()? {
            ui::note(format!("stopped the {} cluster", spec.name));
        } else {
            ui::note(format!("the {} cluster was not running", spec.name));
        }
    }
    if redis::stop_any(paths)? {
        ui::note(format!("stopped the Redis on port {}", redis::PORT));
    } else {
        ui::note(format!("no Redis on port {}", redis::PORT));
    }
    Ok(())
}
