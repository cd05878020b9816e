//! Which files of a backup directory are `ems backup`'s archives, and which of them a
//! run deletes. Names carry the UTC time at a fixed width
//! (`ems-20261204T190656.123Z.dump`), so sorting by name sorts by age; any other file,
//! an operator's `ems-before-upgrade.dump` included, is never touched.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

const PREFIX: &str = "ems-";
const SUFFIX: &str = ".dump";
/// `20261204T190656.123Z`: digits except at these positions.
const STAMP_SHAPE: [(usize, u8); 3] = [(8, b'T'), (15, b'.'), (19, b'Z')];
const STAMP_LEN: usize = 20;

/// The archive name for a backup taken at `at`.
pub(super) fn file_name(at: DateTime<Utc>) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// The hidden name an archive is written under until it is complete; it is not a
/// backup's name, so a failed run's leftovers are never counted or restored by mistake.
pub(super) fn partial_name(name: &str) -> String {
    format!(".{name}.partial")
}

/// Whether `name` is an archive `ems backup` wrote.
fn is_backup(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix(SUFFIX))
    else {
        return false;
    };
    stamp.len() == STAMP_LEN
        && stamp.bytes().enumerate().all(|(i, b)| {
            match STAMP_SHAPE.iter().find(|(at, _)| *at == i) {
                Some((_, expected)) => b == *expected,
                None => b.is_ascii_digit(),
            }
        })
}

/// The archives among `names` to delete so that `keep` remain, `written` (the one just
/// made) always among them even if the clock went back since an older one.
fn to_delete<'a>(names: &[&'a str], written: &str, keep: usize) -> Vec<&'a str> {
    let mut older: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| is_backup(name) && *name != written)
        .collect();
    older.sort_unstable_by(|a, b| b.cmp(a));
    older.into_iter().skip(keep.saturating_sub(1)).collect()
}

/// Deletes the archives in `dir` beyond the newest `keep`; the paths deleted, or the
/// one that could not be.
pub(super) fn prune(
    dir: &Path,
    written: &str,
    keep: usize,
) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    let listing = std::fs::read_dir(dir).map_err(|e| (dir.to_owned(), e))?;
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| (dir.to_owned(), e))?;
        // Regular files only: a directory or a symlink with a backup's name is not ours.
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if let (true, Ok(name)) = (is_file, entry.file_name().into_string()) {
            names.push(name);
        }
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut deleted = Vec::new();
    for name in to_delete(&names, written, keep) {
        let path = dir.join(name);
        std::fs::remove_file(&path).map_err(|e| (path.clone(), e))?;
        deleted.push(path);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_archive_is_named_after_its_utc_time_to_the_millisecond() {
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 19, 6, 56).unwrap()
            + chrono::Duration::milliseconds(7);
        let name = file_name(at);
        assert_eq!(name, "ems-20261204T190656.007Z.dump");
        assert!(is_backup(&name));
        assert!(!is_backup(&partial_name(&name)));
    }

    #[test]
    fn only_names_of_the_exact_shape_are_backups() {
        for other in [
            "ems-before-upgrade.dump",
            "ems-20261204T190656Z.dump",
            "ems-20261204T190656.007Z.dump.gz",
            "ems-2026120xT190656.007Z.dump",
            "xems-20261204T190656.007Z.dump",
            "notes.txt",
        ] {
            assert!(!is_backup(other), "{other}");
        }
    }

    #[test]
    fn the_newest_are_kept_and_the_new_one_always_is() {
        let names = [
            "ems-20260101T000000.000Z.dump",
            "ems-20260103T000000.000Z.dump",
            "ems-before-upgrade.dump",
            "ems-20260102T000000.000Z.dump",
            "ems-20260104T000000.000Z.dump",
        ];
        assert_eq!(
            to_delete(&names, "ems-20260104T000000.000Z.dump", 2),
            [
                "ems-20260102T000000.000Z.dump",
                "ems-20260101T000000.000Z.dump"
            ]
        );
        assert!(to_delete(&names, "ems-20260104T000000.000Z.dump", 10).is_empty());
        // A clock set back: the new archive sorts oldest and still stays.
        assert_eq!(
            to_delete(&names, "ems-20260101T000000.000Z.dump", 1),
            [
                "ems-20260104T000000.000Z.dump",
                "ems-20260103T000000.000Z.dump",
                "ems-20260102T000000.000Z.dump"
            ]
        );
    }
}
