//! Project-local PostgreSQL clusters under `target/ems-pg/<name>`: found binaries,
//! `initdb` once, then start/reuse/stop with `pg_ctl`. Each cluster listens on
//! 127.0.0.1 only, on its own port, with its Unix socket inside its own directory, and
//! trusts every local connection: it is a throwaway development database that nobody
//! else can reach. When xtask runs as root, the cluster belongs to [`RunAs::User`].
//!
//! Layout of `target/ems-pg/<name>/`: `data/` (PGDATA), `run/` (socket), `postgres.log`,
//! and `initialized` (written after a complete `initdb`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::cmd::{on_path, Cmd};
use crate::error::{bail, Context, Error, Result};
use crate::interrupt;
use crate::paths::Paths;
use crate::sysuser::RunAs;
use crate::ui;

/// The superuser every cluster is initialised with; trust auth, no password.
pub const SUPERUSER: &str = "postgres";

/// Which cluster: its name (directory) and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Directory name under `target/ems-pg/`.
    pub name: &'static str,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Data nobody needs after a crash: trade durability for speed (fsync off).
    pub throwaway: bool,
}

/// The cluster `cargo xtask dev` and `migrate` use; its data survives between runs.
pub const DEV: Spec = Spec {
    name: "dev",
    port: 54320,
    throwaway: false,
};

/// The cluster `cargo xtask test` and `coverage` use; every test makes its own database.
pub const TEST: Spec = Spec {
    name: "test",
    port: 54321,
    throwaway: true,
};

/// How to get the server binaries, for the error when they are missing.
pub const INSTALL_HINT: &str = "\
PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found, neither through \
`pg_config --bindir` nor in /usr/lib/postgresql/*/bin.
Install them on Debian/Ubuntu with:

    sudo apt-get install -y postgresql

The packaged system service does not need to run: xtask starts its own cluster under \
target/ems-pg/ (you may `sudo systemctl disable --now postgresql`). On other systems install \
the PostgreSQL server package and make sure `pg_config --bindir` names its bin directory.";

const TOOLS: [&str; 4] = ["initdb", "pg_ctl", "postgres", "psql"];

/// A directory holding the PostgreSQL server tools.
#[derive(Debug, Clone)]
pub struct Bin {
    dir: PathBuf,
}

impl Bin {
    /// `pg_config --bindir` when it holds the server tools, else the newest
    /// `/usr/lib/postgresql/<major>/bin`, else an error with [`INSTALL_HINT`].
    pub fn find() -> Result<Self> {
        if on_path("pg_config").is_some() {
            if let Ok(out) = Cmd::new("pg_config").arg("--bindir").quiet().read() {
                let dir = PathBuf::from(out.trim());
                if has_tools(&dir) {
                    return Ok(Self { dir });
                }
            }
        }
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let major = e.file_name().to_str()?.parse::<u32>().ok()?;
                        Some((major, e.path().join("bin")))
                    })
                    .filter(|(_, dir)| has_tools(dir))
                    .collect()
            })
            .unwrap_or_default();
        versions.sort();
        match versions.pop() {
            Some((_, dir)) => Ok(Self { dir }),
            None => Err(Error::msg(INSTALL_HINT)),
        }
    }

    /// The path of one tool.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The major version these binaries serve ("15"), from `postgres --version`.
    pub fn major_version(&self) -> Result<String> {
        let out = Cmd::new(self.tool("postgres"))
            .arg("--version")
            .quiet()
            .read()?;
        parse_major_version(&out)
            .with_context(|| format!("unexpected `postgres --version` output {:?}", out.trim()))
    }
}

fn has_tools(dir: &Path) -> bool {
    TOOLS.iter().all(|t| dir.join(t).is_file())
}

/// "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)" → "15".
fn parse_major_version(version_output: &str) -> Result<String, &'static str> {
    let number = version_output
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .ok_or("no version number")?;
    let major: String = number.chars().take_while(|c| c.is_ascii_digit()).collect();
    Ok(major)
}

/// What is on disk for a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No complete `initdb` yet.
    Uninitialized,
    /// Initialised, no server running.
    Stopped,
    /// A postmaster serves this data directory.
    Running,
    /// `postmaster.pid` names a process that is gone or is not our postmaster.
    Stale,
}

/// One project-local cluster, not necessarily running.
#[derive(Debug)]
pub struct Cluster {
    spec: Spec,
    dir: PathBuf,
    bin: Bin,
    run_as: RunAs,
}

impl Cluster {
    /// The cluster `spec` of this workspace. Finds the binaries and, when we are root,
    /// the unprivileged user.
    pub fn new(spec: Spec, paths: &Paths) -> Result<Self> {
        let bin = Bin::find()?;
        let run_as = RunAs::for_server()?;
        Ok(Self {
            spec,
            dir: paths.pg_dir().join(spec.name),
            bin,
            run_as,
        })
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn sockets(&self) -> PathBuf {
        self.dir.join("run")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    fn marker(&self) -> PathBuf {
        self.dir.join("initialized")
    }

    fn label(&self) -> String {
        format!("the {} cluster ({})", self.spec.name, self.dir.display())
    }

    /// What is on disk and whether a server runs on it.
    pub fn state(&self) -> Result<State> {
        if !self.marker().is_file() || !self.data().join("PG_VERSION").is_file() {
            return Ok(State::Uninitialized);
        }
        let pid_file = self.data().join("postmaster.pid");
        let Ok(contents) = fs::read_to_string(&pid_file) else {
            return Ok(State::Stopped);
        };
        let Some(pid) = contents
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok())
        else {
            return Ok(State::Stale);
        };
        if is_postmaster_of(pid, &self.data()) {
            Ok(State::Running)
        } else {
            Ok(State::Stale)
        }
    }

    /// Starts the cluster, initialising it first if needed, or reuses the server that
    /// already runs on it. The returned guard stops the server when dropped, but only
    /// if this call started it.
    pub fn start(self) -> Result<Running> {
        ui::step(format!("PostgreSQL: {}", self.label()));
        self.prepare_dirs()?;
        let mut state = self.state()?;
        if state != State::Uninitialized {
            state = self.check_version(state)?;
        }
        if state == State::Uninitialized {
            self.init()?;
            state = State::Stopped;
        }
        self.write_conf()?;
        let owned = match state {
            State::Running => {
                ui::note(format!(
                    "already running on port {}: reusing it (it stays up afterwards; \
                     `cargo xtask stop` stops it)",
                    self.spec.port
                ));
                false
            }
            State::Stale => {
                ui::note("removing a stale postmaster.pid left by a server that is gone");
                self.remove_stale_locks()?;
                self.pg_ctl_start()?;
                true
            }
            State::Stopped | State::Uninitialized => {
                self.pg_ctl_start()?;
                true
            }
        };
        let running = Running {
            cluster: self,
            owned,
            stopped: false,
        };
        running.wait_ready()?;
        Ok(running)
    }

    /// Stops the server on this cluster if one runs, whoever started it.
    pub fn stop_if_running(&self) -> Result<bool> {
        match self.state()? {
            State::Running => {
                self.pg_ctl_stop()?;
                Ok(true)
            }
            State::Stale => {
                self.remove_stale_locks()?;
                Ok(false)
            }
            State::Stopped | State::Uninitialized => Ok(false),
        }
    }

    fn prepare_dirs(&self) -> Result<()> {
        for dir in [self.dir.as_path(), self.sockets().as_path()] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        self.run_as.make_reachable(&self.dir)?;
        self.run_as.own(&self.dir)
    }

    /// A data directory made by another major version cannot be started: a throwaway
    /// cluster is made anew, the dev cluster is left for the user to decide.
    fn check_version(&self, state: State) -> Result<State> {
        let on_disk =
            fs::read_to_string(self.data().join("PG_VERSION")).context("cannot read PG_VERSION")?;
        let on_disk = on_disk.trim();
        let ours = self.bin.major_version()?;
        if on_disk == ours {
            return Ok(state);
        }
        if state == State::Running {
            ui::warn(format!(
                "{} was made by PostgreSQL {on_disk} and runs; the binaries found are {ours}",
                self.label()
            ));
            return Ok(state);
        }
        if self.spec.throwaway {
            ui::note(format!(
                "data made by PostgreSQL {on_disk}, binaries are {ours}: recreating the cluster"
            ));
            fs::remove_dir_all(self.data())
                .with_context(|| format!("cannot remove {}", self.data().display()))?;
            fs::remove_file(self.marker()).ok();
            return Ok(State::Uninitialized);
        }
        bail!(
            "{} was made by PostgreSQL {on_disk} but the binaries found are {ours}; dump what \
             you need and remove {} to start afresh",
            self.label(),
            self.dir.display()
        )
    }

    fn init(&self) -> Result<()> {
        let data = self.data();
        if data.exists() {
            // No marker: an earlier initdb did not finish. Its leftovers block a new one.
            ui::note("removing an incomplete data directory");
            fs::remove_dir_all(&data)
                .with_context(|| format!("cannot remove {}", data.display()))?;
        }
        let mut initdb = self
            .run_as
            .cmd(self.bin.tool("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .cwd(&self.dir);
        if self.spec.throwaway {
            initdb = initdb.arg("--no-sync");
        }
        let out = initdb.output()?;
        if !out.status.success() {
            bail!(
                "initdb failed for {}:\n{}{}",
                self.label(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let conf = data.join("postgresql.conf");
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .with_context(|| format!("cannot open {}", conf.display()))?;
        file.write_all(b"\n# Settings of cargo xtask, rewritten at every start.\ninclude_if_exists = 'ems.conf'\n")
            .with_context(|| format!("cannot write {}", conf.display()))?;
        fs::write(self.marker(), b"initdb completed\n")
            .with_context(|| format!("cannot write {}", self.marker().display()))?;
        self.run_as.own(&self.marker())?;
        ui::note("initialised a new cluster (superuser `postgres`, trust auth on 127.0.0.1)");
        Ok(())
    }

    fn write_conf(&self) -> Result<()> {
        let socket = self
            .sockets()
            .join(format!(".s.PGSQL.{}.lock", self.spec.port));
        // sun_path holds 108 bytes; beyond that the server refuses to start.
        let socket_dir = if socket.as_os_str().len() < 100 {
            self.sockets().display().to_string()
        } else {
            ui::note("path too long for a Unix socket: TCP on 127.0.0.1 only");
            String::new()
        };
        let conf = render_conf(self.spec, &socket_dir);
        let path = self.data().join("ems.conf");
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.run_as.own(&path)
    }

    fn remove_stale_locks(&self) -> Result<()> {
        let port = self.spec.port;
        for path in [
            self.data().join("postmaster.pid"),
            self.sockets().join(format!(".s.PGSQL.{port}.lock")),
            self.sockets().join(format!(".s.PGSQL.{port}")),
        ] {
            if path.exists() {
                fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        Ok(())
    }

    fn pg_ctl_start(&self) -> Result<()> {
        let status = self
            .run_as
            .cmd(self.bin.tool("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .args(["-w", "-t", "60", "start"])
            .cwd(&self.dir)
            .status()?;
        if !status.success() && interrupt::interrupted() {
            // pg_ctl was stopped while it waited; the server it launched (in a session of
            // its own, so the signal missed it) may be up by now.
            if let Err(e) = self.stop_if_running() {
                ui::warn(e);
            }
            bail!("stopped while starting {}", self.label());
        }
        if !status.success() {
            bail!(
                "cannot start {} on port {} (is another server using that port?); \
                 end of {}:\n{}",
                self.label(),
                self.spec.port,
                self.log().display(),
                tail(&self.log(), 20)
            );
        }
        Ok(())
    }

    fn pg_ctl_stop(&self) -> Result<()> {
        let status = self
            .run_as
            .cmd(self.bin.tool("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .cwd(&self.dir)
            .cleanup()
            .status()?;
        if !status.success() {
            bail!(
                "cannot stop {}; end of {}:\n{}",
                self.label(),
                self.log().display(),
                tail(&self.log(), 20)
            );
        }
        Ok(())
    }
}

/// The settings xtask owns; `socket_dir` empty turns Unix sockets off.
fn render_conf(spec: Spec, socket_dir: &str) -> String {
    let mut conf = format!(
        "# Written by cargo xtask at every start; edits here are overwritten.\n\
         port = {port}\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = {sockets}\n\
         max_connections = 200\n",
        port = spec.port,
        sockets = quote_literal(socket_dir),
    );
    if spec.throwaway {
        conf.push_str(
            "# Throwaway test data: durability buys nothing here.\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n",
        );
    }
    conf
}

/// A running server on a [`Cluster`]. Stops it when dropped if we started it.
#[derive(Debug)]
pub struct Running {
    cluster: Cluster,
    owned: bool,
    stopped: bool,
}

impl Running {
    /// The connection URL of database `db` (as the trusted superuser, no password).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{db}",
            self.cluster.spec.port
        )
    }

    fn psql_cmd(&self, sql: &str) -> Cmd {
        self.psql_cmd_in("postgres", sql)
    }

    fn psql_cmd_in(&self, db: &str, sql: &str) -> Cmd {
        Cmd::new(self.cluster.bin.tool("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-U", SUPERUSER, "-d", db])
            .arg("-p")
            .arg(self.cluster.spec.port.to_string())
            .arg("-c")
            .arg(sql)
            .quiet()
    }

    /// Runs SQL in the `postgres` database and returns the unaligned rows.
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.psql_cmd(sql).read()
    }

    /// Runs SQL in database `db` and returns the unaligned rows.
    pub fn psql_in(&self, db: &str, sql: &str) -> Result<String> {
        self.psql_cmd_in(db, sql).read()
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.psql_cmd("SELECT 1").output() {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) if Instant::now() >= deadline => bail!(
                    "{} does not accept connections on port {}: {}",
                    self.cluster.label(),
                    self.cluster.spec.port,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                Err(e) => return Err(e),
                Ok(_) => thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// Creates database `name` unless it exists; true when it was created.
    pub fn ensure_database(&self, name: &str) -> Result<bool> {
        let exists = self.psql(&format!(
            "SELECT 1 FROM pg_database WHERE datname = {}",
            quote_literal(name)
        ))?;
        if !exists.trim().is_empty() {
            return Ok(false);
        }
        self.psql(&format!("CREATE DATABASE {}", quote_ident(name)))?;
        ui::note(format!("created database {name}"));
        Ok(true)
    }

    /// Drops database `name` if it exists, even with open connections or when it is
    /// marked as a template.
    pub fn drop_database(&self, name: &str) -> Result<()> {
        let is_template = self.psql(&format!(
            "SELECT datistemplate FROM pg_database WHERE datname = {}",
            quote_literal(name)
        ))?;
        if is_template.trim() == "t" {
            self.psql(&format!(
                "ALTER DATABASE {} IS_TEMPLATE false",
                quote_ident(name)
            ))?;
        }
        self.psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))?;
        Ok(())
    }

    /// Drops every database whose name starts with `prefix`; returns their names.
    pub fn drop_databases_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let rows = self.psql(&format!(
            "SELECT datname FROM pg_database WHERE datname LIKE {} ORDER BY datname",
            quote_literal(&format!("{}%", escape_like(prefix)))
        ))?;
        let names: Vec<String> = rows
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        for name in &names {
            self.drop_database(name)?;
        }
        Ok(names)
    }

    /// Stops the server if we started it; reports what happened.
    pub fn stop(mut self) -> Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if !self.owned {
            ui::note(format!(
                "leaving {} running: it was running before (`cargo xtask stop` stops it)",
                self.cluster.label()
            ));
            return Ok(());
        }
        ui::step(format!("stopping {}", self.cluster.label()));
        self.cluster.pg_ctl_stop()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            ui::warn(e);
        }
    }
}

/// Whether `pid` is the postmaster serving `data`. A postmaster's working directory is
/// its data directory, which also tells it apart from an unrelated process that reused
/// the pid of a crashed server. Without `/proc`, trust the pid file.
fn is_postmaster_of(pid: u32, data: &Path) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !Path::new("/proc/self").exists() {
        return true;
    }
    if !proc_dir.exists() {
        return false;
    }
    match (fs::read_link(proc_dir.join("cwd")), fs::canonicalize(data)) {
        (Ok(cwd), Ok(data)) => cwd == data,
        // Not allowed to look (another user's process): judge by the program name.
        _ => fs::read_to_string(proc_dir.join("comm"))
            .map(|comm| matches!(comm.trim(), "postgres" | "postmaster"))
            .unwrap_or(false),
    }
}

/// The last `n` lines of a log file, for error messages.
fn tail(path: &Path, n: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read it: {e})"),
    }
}

/// An SQL string literal.
fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An SQL identifier.
fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Escapes LIKE wildcards so that `s` matches only itself (backslash is the default
/// LIKE escape character).
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_version_is_read_from_postgres_version_output() {
        assert_eq!(
            parse_major_version("postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)\n"),
            Ok("15".to_owned())
        );
        assert_eq!(
            parse_major_version("postgres (PostgreSQL) 17beta1"),
            Ok("17".to_owned())
        );
        assert!(parse_major_version("postgres").is_err());
    }

    #[test]
    fn quoting_doubles_the_quote_characters() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn like_prefix_matches_underscores_literally() {
        assert_eq!(escape_like("ems_test_"), "ems\\_test\\_");
        assert_eq!(escape_like("100%"), "100\\%");
    }

    #[test]
    fn test_cluster_config_is_loopback_only_and_not_durable() {
        let conf = render_conf(TEST, "/x/run");
        assert!(conf.contains("port = 54321\n"));
        assert!(conf.contains("listen_addresses = '127.0.0.1'\n"));
        assert!(conf.contains("unix_socket_directories = '/x/run'\n"));
        assert!(conf.contains("fsync = off\n"));
    }

    #[test]
    fn dev_cluster_config_keeps_durability_and_can_disable_sockets() {
        let conf = render_conf(DEV, "");
        assert!(conf.contains("port = 54320\n"));
        assert!(conf.contains("unix_socket_directories = ''\n"));
        assert!(!conf.contains("fsync"));
    }

    #[test]
    fn a_pid_that_does_not_exist_is_not_a_postmaster() {
        // Linux pids stay below 2^22 by default.
        assert!(!is_postmaster_of(u32::MAX - 1, Path::new("/nonexistent")));
    }

    #[test]
    fn a_live_process_counts_only_when_it_works_in_the_data_directory() {
        let me = std::process::id();
        let Ok(cwd) = std::env::current_dir() else {
            return;
        };
        assert!(is_postmaster_of(me, &cwd));
        assert!(!is_postmaster_of(me, Path::new("/nonexistent")));
    }
}
