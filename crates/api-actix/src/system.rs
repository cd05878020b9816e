//! [`HostProbe`]: the [`SystemProbe`] port over the operating system, for
//! `/api/health/detailed`. Linux reads `/proc/self/status`; disk space comes from
//! `statvfs(3)` on the directory the server started in.

use std::path::PathBuf;

use domain::ports::{DiskUsage, SystemProbe};

/// Measures the disk of one directory and this process's memory.
#[derive(Debug, Clone)]
pub struct HostProbe {
    dir: PathBuf,
}

impl HostProbe {
    /// Probes the current directory (where the server runs and writes its files).
    pub fn current_dir() -> Self {
        Self {
            dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }
}

impl SystemProbe for HostProbe {
    // The statvfs field types differ between targets (u32 or u64).
    #[allow(clippy::useless_conversion)]
    fn disk(&self) -> Option<DiskUsage> {
        let stat = nix::sys::statvfs::statvfs(&self.dir).ok()?;
        let fragment = u64::from(stat.fragment_size());
        let (blocks, available) = (u64::from(stat.blocks()), u64::from(stat.blocks_available()));
        Some(DiskUsage {
            path: self.dir.display().to_string(),
            total_bytes: blocks.saturating_mul(fragment),
            available_bytes: available.saturating_mul(fragment),
        })
    }

    fn resident_memory_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        parse_vm_rss(&status)
    }
}

/// The `VmRSS:` line of `/proc/<pid>/status`, in bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => value.checked_mul(1024),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tems\nVmPeak:\t  9000 kB\nVmRSS:\t   5120 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(5120 * 1024));
        assert_eq!(parse_vm_rss("Name:\tems\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_host_reports_disk_and_memory() {
        let probe = HostProbe::current_dir();
        let disk = probe.disk().unwrap();
        assert!(disk.total_bytes > 0 && disk.available_bytes <= disk.total_bytes);
        assert!(!disk.path.is_empty());
        assert!(probe.resident_memory_bytes().unwrap() > 1024 * 1024);
    }
}
