//! Running servers as an unprivileged user. PostgreSQL refuses to run as root, so when
//! xtask runs as root (containers, CI) the cluster belongs to a dedicated system user,
//! `ems-pg`, created on first use, and its tools run through `runuser`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::cmd::{on_path, Cmd};
use crate::error::{bail, Context, Result};
use crate::ui;

/// The system user that owns the clusters when xtask runs as root.
pub const SYSTEM_USER: &str = "ems-pg";

/// Who runs the server processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAs {
    /// The invoking user, who is not root.
    Me,
    /// A dedicated unprivileged user (we are root).
    User {
        /// Login name.
        name: String,
        /// Numeric user id.
        uid: u32,
        /// Numeric primary group id.
        gid: u32,
    },
}

impl RunAs {
    /// The invoking user unless that is root; then [`SYSTEM_USER`], created if missing.
    pub fn for_server() -> Result<Self> {
        if effective_uid()? != 0 {
            return Ok(Self::Me);
        }
        if on_path("runuser").is_none() {
            bail!(
                "running as root, and PostgreSQL refuses root: `runuser` (util-linux) is \
                 needed to run it as the unprivileged user {SYSTEM_USER}; install util-linux \
                 or run xtask as an ordinary user"
            );
        }
        if lookup_ids(SYSTEM_USER).is_none() {
            ui::note(format!(
                "creating the unprivileged system user {SYSTEM_USER} (PostgreSQL refuses to run as root)"
            ));
            let created = Cmd::new("useradd")
                .args([
                    "--system",
                    "--no-create-home",
                    "--user-group",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    SYSTEM_USER,
                ])
                .run();
            // Another xtask may have created it meanwhile: only the lookup decides.
            if let (Err(e), None) = (created, lookup_ids(SYSTEM_USER)) {
                return Err(e);
            }
        }
        match lookup_ids(SYSTEM_USER) {
            Some((uid, gid)) => Ok(Self::User {
                name: SYSTEM_USER.to_owned(),
                uid,
                gid,
            }),
            None => bail!("the system user {SYSTEM_USER} does not exist after useradd"),
        }
    }

    /// A command running `program` as this user.
    pub fn cmd(&self, program: impl AsRef<Path>) -> Cmd {
        match self {
            Self::Me => Cmd::new(program.as_ref()),
            Self::User { name, .. } => Cmd::new("runuser")
                .args(["-u", name, "--"])
                .arg(program.as_ref()),
        }
    }

    /// Gives `path` and everything below it to this user (a no-op for [`RunAs::Me`]).
    pub fn own(&self, path: &Path) -> Result<()> {
        let Self::User { uid, gid, .. } = self else {
            return Ok(());
        };
        chown_tree(path, *uid, *gid)
    }

    /// Makes sure this user can reach `dir`: every ancestor needs search (x) permission.
    /// Only "others" x is added, never read or write.
    pub fn make_reachable(&self, dir: &Path) -> Result<()> {
        let Self::User { name, uid, .. } = self else {
            return Ok(());
        };
        for ancestor in dir.ancestors().skip(1) {
            let meta = fs::metadata(ancestor)
                .with_context(|| format!("cannot inspect {}", ancestor.display()))?;
            let mode = meta.permissions().mode();
            let reachable = mode & 0o001 != 0 || (meta.uid() == *uid && mode & 0o100 != 0);
            if !reachable {
                fs::set_permissions(ancestor, fs::Permissions::from_mode(mode | 0o001))
                    .with_context(|| format!("cannot make {} traversable", ancestor.display()))?;
                ui::note(format!(
                    "made {} traversable (o+x) so that {name} can reach the cluster",
                    ancestor.display()
                ));
            }
        }
        Ok(())
    }
}

/// The effective user id, from `/proc/self/status` (std has no `geteuid`), else `id -u`.
pub fn effective_uid() -> Result<u32> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        if let Some(uid) = parse_effective_uid(&status) {
            return Ok(uid);
        }
    }
    let out = Cmd::new("id").arg("-u").quiet().read()?;
    out.trim()
        .parse()
        .with_context(|| format!("unexpected `id -u` output {:?}", out.trim()))
}

/// The effective uid from a `/proc/<pid>/status` text (`Uid: real effective saved fs`).
fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The uid and gid of `user`, `None` when there is no such user.
fn lookup_ids(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Cmd::new("id").args([flag, user]).quiet().output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<()> {
    let meta =
        fs::symlink_metadata(path).with_context(|| format!("cannot inspect {}", path.display()))?;
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .with_context(|| format!("cannot chown {}", path.display()))?;
    }
    if meta.is_dir() {
        let entries =
            fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", path.display()))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_uid_is_the_second_uid_field() {
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn as_me_a_command_runs_the_program_directly() {
        let cmd = RunAs::Me.cmd("/usr/bin/pg_ctl").arg("status");
        assert_eq!(cmd.display(), "/usr/bin/pg_ctl status");
    }

    #[test]
    fn as_the_system_user_a_command_goes_through_runuser() {
        let run_as = RunAs::User {
            name: SYSTEM_USER.to_owned(),
            uid: 999,
            gid: 999,
        };
        let cmd = run_as.cmd("/usr/bin/pg_ctl").arg("status");
        assert_eq!(cmd.display(), "runuser -u ems-pg -- /usr/bin/pg_ctl status");
    }
}
