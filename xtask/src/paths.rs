//! Where things are: the workspace root (found from this crate's manifest, so xtask
//! works from any directory) and the target directory that holds all generated state.

use std::path::{Path, PathBuf};

use crate::error::{bail, Result};

/// The directories every task works with.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The workspace root (holds the root `Cargo.toml`).
    pub root: PathBuf,
    /// Cargo's target directory: `CARGO_TARGET_DIR` or `<root>/target`.
    pub target: PathBuf,
}

impl Paths {
    /// Locates the workspace.
    pub fn discover() -> Result<Self> {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let Some(root) = manifest_dir.parent() else {
            bail!(
                "xtask lives at {}, not inside a workspace",
                manifest_dir.display()
            );
        };
        if !root.join("Cargo.toml").is_file() {
            bail!("no Cargo.toml at the workspace root {}", root.display());
        }
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => root.join(dir),
            _ => root.join("target"),
        };
        Ok(Self {
            root: root.to_owned(),
            target,
        })
    }

    /// `target/ems-pg`: the project-local PostgreSQL clusters and the dev admin password.
    pub fn pg_dir(&self) -> PathBuf {
        self.target.join("ems-pg")
    }

    /// `target/ems-redis`: the private Redis's pidfile and log.
    pub fn redis_dir(&self) -> PathBuf {
        self.target.join("ems-redis")
    }
}
