//! `ems backup DIR` and `ems restore FILE`: whole-database archives in a directory of
//! their own, written so that a failure never leaves a file that looks like a backup.
//!
//! An archive is written under a hidden temporary name (mode 0600), synced, and only then
//! renamed to `ems-<UTC time>.dump`; older archives are pruned to `BACKUP_KEEP` after
//! that, so a failed run leaves every older backup as it was. PostgreSQL itself is
//! reached through `adapters_postgres::{dump, restore}`.

mod retention;

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use adapters_postgres::ArchiveError;
use secrecy::ExposeSecret;

use crate::config::{BackupSettings, DatabaseSettings};

/// A backup that was written.
#[derive(Debug)]
pub struct Written {
    /// The new archive.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The older archives deleted to keep `BACKUP_KEEP`.
    pub deleted: Vec<PathBuf>,
}

/// Why a backup or a restore failed; displays as one line, never with the password.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The directory cannot be created or is not one.
    #[error("cannot use {} as the backup directory: {source}", dir.display())]
    Directory {
        /// The directory given.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The archive cannot be written into the directory (permissions, full disk).
    #[error("cannot write a backup into {}: {source} (older backups were left as they were)", dir.display())]
    Write {
        /// The directory given.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `pg_dump` is missing or failed; its partial output was deleted.
    #[error("{source} (no backup was written; older backups were left as they were)")]
    Dump {
        /// What the adapter reported.
        source: ArchiveError,
    },
    /// An archive of that name exists already (two backups in one millisecond).
    #[error("{} already exists; it was not overwritten", path.display())]
    Exists {
        /// The name taken.
        path: PathBuf,
    },
    /// The new archive is complete, but an older one could not be deleted.
    #[error("wrote {}, but cannot delete the older backup {}: {source}", written.display(), path.display())]
    Prune {
        /// The new archive (complete).
        written: PathBuf,
        /// The archive that stays.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The archive to restore cannot be read.
    #[error("cannot read {}: {source}", file.display())]
    Archive {
        /// The file given.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The target is not empty, or `pg_restore` is missing or failed (and rolled back).
    #[error("{source}")]
    Restore {
        /// What the adapter reported.
        source: ArchiveError,
    },
}

/// Writes a new archive of the database into `dir` (made, mode 0700, if missing), then
/// deletes all but the newest `BACKUP_KEEP` archives there.
pub async fn backup(
    database: &DatabaseSettings,
    settings: &BackupSettings,
    dir: &Path,
) -> Result<Written, BackupError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| BackupError::Directory {
            dir: dir.to_owned(),
            source,
        })?;
    let name = retention::file_name(chrono::Utc::now());
    let path = dir.join(&name);
    let partial = dir.join(retention::partial_name(&name));
    let write_error = |source| BackupError::Write {
        dir: dir.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(write_error)?;
    let written = write(database, &file, dir, &path).await;
    drop(file);
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(err) => {
            // Half an archive must not survive to be mistaken for one.
            let _ = std::fs::remove_file(&partial);
            return Err(err);
        }
    };
    if let Err(source) = std::fs::rename(&partial, &path).and_then(|()| sync_dir(dir)) {
        let _ = std::fs::remove_file(&partial);
        return Err(write_error(source));
    }
    let deleted = retention::prune(dir, &name, settings.keep).map_err(|(old, source)| {
        BackupError::Prune {
            written: path.clone(),
            path: old,
            source,
        }
    })?;
    Ok(Written {
        path,
        bytes,
        deleted,
    })
}

/// Dumps into `file` and makes it durable; its size.
async fn write(
    database: &DatabaseSettings,
    file: &File,
    dir: &Path,
    path: &Path,
) -> Result<u64, BackupError> {
    let io = |source| BackupError::Write {
        dir: dir.to_owned(),
        source,
    };
    if path.symlink_metadata().is_ok() {
        return Err(BackupError::Exists {
            path: path.to_owned(),
        });
    }
    let out = file.try_clone().map_err(io)?;
    adapters_postgres::dump(database.url.expose_secret(), out, database.timeout)
        .await
        .map_err(|source| BackupError::Dump { source })?;
    file.sync_all().map_err(io)?;
    Ok(file.metadata().map_err(io)?.len())
}

/// Makes the rename durable: a crash right after still finds the archive by its name.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Loads the archive `file` into the database, which must be empty.
pub async fn restore(database: &DatabaseSettings, file: &Path) -> Result<(), BackupError> {
    let archive_error = |source| BackupError::Archive {
        file: file.to_owned(),
        source,
    };
    let metadata = File::open(file)
        .and_then(|f| f.metadata())
        .map_err(archive_error)?;
    if !metadata.is_file() {
        return Err(archive_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    adapters_postgres::restore(database.url.expose_secret(), file, database.timeout)
        .await
        .map_err(|source| BackupError::Restore { source })
}
