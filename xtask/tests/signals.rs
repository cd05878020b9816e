//! Stop signals sent to the xtask process alone, as a supervisor or an IDE's stop button
//! sends them (not to its process group, as a terminal's Ctrl-C does): xtask must pass
//! them on to everything it started, kill what ignores them after its grace period, stop
//! its clusters, and exit with status 130, all without help from outside.
//!
//! The real xtask binary runs with a fake `cargo` first on its `PATH`, a shell script
//! that stands in for the program xtask starts: for `fence` it starts a grandchild and
//! waits (as `cargo test` waits for a test binary); for `dev` it runs the prebuilt `ems`
//! in place of `cargo run`, so `cargo xtask dev` runs for real against a fresh dev
//! cluster. That one needs PostgreSQL's server binaries and a built `ems`: without them
//! it fails in CI (`CI` set) and is skipped, saying so, elsewhere.

// Test helpers fail the test by panicking, as the tests themselves do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// xtask's grace period (`supervise::GRACE`) plus room for a loaded machine.
const GRACE_AND_SLACK: Duration = Duration::from_secs(15);

/// How long xtask may take to exit when its children honour the signal (well inside the
/// grace period, so a child that had to be killed fails the check).
const PROMPTLY: Duration = Duration::from_secs(5);

/// xtask's exit status once it was stopped (`interrupt::EXIT_CODE`).
const STOPPED: i32 = 130;

/// The dev cluster's port (`pg::DEV`).
const DEV_CLUSTER_PORT: u16 = 54320;

/// A scratch directory for one test: the fake `cargo`, pid files and xtask's log.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        fs::remove_dir_all(&dir).ok();
        fs::create_dir_all(dir.join("bin")).unwrap();
        Self { dir }
    }

    /// Puts `script` on the fake PATH as `cargo`.
    fn fake_cargo(&self, script: &str) {
        let path = self.dir.join("bin").join("cargo");
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The pid written to `name` by the fake cargo, once it exists.
    fn pid_file(&self, name: &str, xtask: &mut Xtask) -> Pid {
        let path = self.path(name);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = fs::read_to_string(&path).unwrap_or_default();
            if let Ok(pid) = text.trim().parse() {
                return Pid::from_raw(pid);
            }
            if let Some(status) = xtask.child.try_wait().unwrap() {
                panic!(
                    "xtask ended ({status}) before writing {name}:\n{}",
                    xtask.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {name} after 60 s:\n{}",
                xtask.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        fs::remove_dir_all(&self.dir).ok();
    }
}

/// A running xtask; killed, with the processes it was meant to stop, if a test fails.
struct Xtask {
    child: Child,
    log: PathBuf,
    leftovers: Vec<Pid>,
}

impl Xtask {
    /// `xtask args` with the scratch `bin/` first on `PATH`, its output to `xtask.log`.
    fn start(scratch: &Scratch, args: &[&str], configure: impl FnOnce(&mut Command)) -> Self {
        let log = scratch.path("xtask.log");
        let out = fs::File::create(&log).unwrap();
        let path = format!(
            "{}:{}",
            scratch.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(args)
            .env("PATH", path)
            .env("XTASK_TEST_DIR", &scratch.dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        configure(&mut command);
        Self {
            child: command.spawn().unwrap(),
            log,
            leftovers: Vec::new(),
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    /// Signals the xtask process only, not its group.
    fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).unwrap();
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How xtask exited, if it did within `timeout`.
    fn exit_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Xtask {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
        for pid in &self.leftovers {
            if is_running(*pid) {
                kill(*pid, Signal::SIGKILL).ok();
            }
        }
    }
}

/// Whether `pid` is a live process (an exited one not yet reaped is not).
fn is_running(pid: Pid) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last parenthesis.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Waits up to `timeout` for every one of `pids` to be gone.
fn all_gone_within(pids: &[Pid], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while pids.iter().any(|pid| is_running(*pid)) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
    true
}

/// A fake cargo that starts a grandchild (a shell that becomes `sleep 600`) and waits
/// for it, writing both pids. `prelude` runs first in the child (e.g. a trap ignoring
/// SIGTERM, which the grandchild inherits), `grandchild_prelude` in the grandchild only.
fn waiting_cargo(prelude: &str, grandchild_prelude: &str) -> String {
    format!(
        "#!/bin/sh\n\
         {prelude}\n\
         echo $$ > \"$XTASK_TEST_DIR/child.pid\"\n\
         sh -c '{grandchild_prelude}\n\
         echo $$ > \"$XTASK_TEST_DIR/grandchild.pid\"; exec sleep 600'\n"
    )
}

/// Runs `xtask fence` (its first step runs `cargo tree`) with `fake` as cargo, waits
/// until the grandchild runs, and returns xtask with the two pids it must stop.
fn fence_with_fake_cargo(scratch: &Scratch, fake: &str) -> (Xtask, [Pid; 2]) {
    scratch.fake_cargo(fake);
    let mut xtask = Xtask::start(scratch, &["fence"], |_| {});
    let child = scratch.pid_file("child.pid", &mut xtask);
    let grandchild = scratch.pid_file("grandchild.pid", &mut xtask);
    xtask.leftovers = vec![child, grandchild];
    assert!(is_running(child) && is_running(grandchild));
    (xtask, [child, grandchild])
}

fn assert_stopped_by(
    xtask: &mut Xtask,
    signal: Signal,
    timeout: Duration,
    children: &[Pid],
) -> Duration {
    let started = Instant::now();
    xtask.signal(signal);
    let status = xtask.exit_within(timeout).unwrap_or_else(|| {
        panic!(
            "xtask still runs {}s after {}:\n{}",
            timeout.as_secs(),
            signal.as_str(),
            xtask.log()
        )
    });
    let took = started.elapsed();
    assert_eq!(
        status.code(),
        Some(STOPPED),
        "exit status after {}:\n{}",
        signal.as_str(),
        xtask.log()
    );
    assert!(
        all_gone_within(children, Duration::from_secs(2)),
        "xtask exited but left {children:?} running:\n{}",
        xtask.log()
    );
    let log = xtask.log();
    assert!(log.contains("xtask: interrupted"), "{log}");
    took
}

#[test]
fn sigterm_to_xtask_alone_stops_its_child_and_grandchild_and_exits_130() {
    let scratch = Scratch::new("sigterm");
    let (mut xtask, children) = fence_with_fake_cargo(&scratch, &waiting_cargo("", ""));

    let took = assert_stopped_by(&mut xtask, Signal::SIGTERM, PROMPTLY, &children);

    assert!(took < PROMPTLY, "took {took:?}");
}

#[test]
fn sigint_to_xtask_alone_stops_its_child_and_grandchild_and_exits_130() {
    let scratch = Scratch::new("sigint");
    let (mut xtask, children) = fence_with_fake_cargo(&scratch, &waiting_cargo("", ""));

    let took = assert_stopped_by(&mut xtask, Signal::SIGINT, PROMPTLY, &children);

    assert!(took < PROMPTLY, "took {took:?}");
}

#[test]
fn children_that_ignore_the_signal_are_killed_after_the_grace_period() {
    let scratch = Scratch::new("ignored");
    let (mut xtask, children) = fence_with_fake_cargo(&scratch, &waiting_cargo("trap '' TERM", ""));

    let took = assert_stopped_by(&mut xtask, Signal::SIGTERM, GRACE_AND_SLACK, &children);

    assert!(
        took >= Duration::from_secs(9),
        "killed after {took:?}, before the grace period was over"
    );
}

#[test]
fn a_grandchild_that_ignores_the_signal_is_killed_before_xtask_exits() {
    let scratch = Scratch::new("orphan");
    // The child dies of SIGTERM at once and xtask stops waiting; its grandchild lives on.
    let (mut xtask, children) =
        fence_with_fake_cargo(&scratch, &waiting_cargo("", "trap \"\" TERM"));

    let took = assert_stopped_by(&mut xtask, Signal::SIGTERM, GRACE_AND_SLACK, &children);

    assert!(took >= Duration::from_secs(9), "killed after {took:?}");
}

#[test]
fn a_second_signal_kills_the_children_and_exits_at_once() {
    let scratch = Scratch::new("twice");
    let (mut xtask, children) = fence_with_fake_cargo(&scratch, &waiting_cargo("trap '' TERM", ""));
    xtask.signal(Signal::SIGTERM);
    thread::sleep(Duration::from_millis(500));
    assert!(
        children.iter().all(|pid| is_running(*pid)),
        "they ignore SIGTERM"
    );

    let took = assert_stopped_by(&mut xtask, Signal::SIGTERM, PROMPTLY, &children);

    assert!(took < PROMPTLY, "took {took:?}");
    assert!(xtask.log().contains("again"), "{}", xtask.log());
}

/// What the real `dev` run needs that a machine may lack; empty when all is there.
fn dev_requirements(ems: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let pg_bin_dirs = fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.flatten()
                .map(|d| d.path().join("bin"))
                .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
                .count()
        })
        .unwrap_or(0);
    let pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .is_some_and(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file());
    if pg_bin_dirs == 0 && !pg_config {
        missing.push("PostgreSQL server binaries (apt-get install postgresql)".to_owned());
    }
    if !ems.is_file() {
        missing.push(format!(
            "the ems binary at {} (cargo build -p api-actix --bin ems)",
            ems.display()
        ));
    }
    if TcpListener::bind((Ipv4Addr::LOCALHOST, DEV_CLUSTER_PORT)).is_err() {
        missing.push(format!(
            "a free port {DEV_CLUSTER_PORT} for the dev cluster (`cargo xtask stop`?)"
        ));
    }
    missing
}

/// Whether `GET /api/health` answers 200 on `addr`.
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let request = format!("GET /api/health HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut response = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.split_whitespace().nth(1) == Some("200")
}

#[test]
fn sigterm_to_cargo_xtask_dev_stops_ems_and_the_dev_cluster() {
    let ems = Path::new(env!("CARGO_BIN_EXE_xtask")).with_file_name("ems");
    let missing = dev_requirements(&ems);
    if !missing.is_empty() {
        let what = missing.join("; ");
        assert!(
            std::env::var_os("CI").is_none_or(|ci| ci.is_empty()),
            "CI must run the real `cargo xtask dev` test, but this machine lacks: {what}"
        );
        eprintln!(
            "SKIPPED sigterm_to_cargo_xtask_dev_stops_ems_and_the_dev_cluster: this machine \
             lacks {what}"
        );
        return;
    }
    let scratch = Scratch::new("dev");
    scratch.fake_cargo(
        "#!/bin/sh\n\
         # Stands in for `cargo run -p api-actix --bin ems -- SUBCOMMAND`: the built ems.\n\
         while [ \"$#\" -gt 0 ] && [ \"$1\" != -- ]; do shift; done\n\
         shift\n\
         if [ \"$1\" = serve ]; then echo $$ > \"$XTASK_TEST_DIR/serve.pid\"; fi\n\
         exec \"$EMS_BIN\" \"$@\"\n",
    );
    let bind = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .unwrap();
    let target = scratch.path("target");
    let started = Instant::now();
    let mut xtask = Xtask::start(&scratch, &["dev"], |command| {
        command
            .env("CARGO_TARGET_DIR", &target)
            .env("BIND_ADDR", bind.to_string())
            .env("EMS_BIN", &ems);
        // The dev defaults, not whatever the calling shell points ems at.
        for key in [
            "DATABASE_URL",
            "REDIS_URL",
            "JWT_SIGNING_KEYS",
            "AUDIT_HMAC_KEY",
            "TLS_CERT_FILE",
            "TLS_KEY_FILE",
            "LOG_FILE_DIR",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ] {
            command.env_remove(key);
        }
    });
    let serve = scratch.pid_file("serve.pid", &mut xtask);
    let pid_file = target.join("ems-pg/dev/data/postmaster.pid");
    let postmaster = Pid::from_raw(
        fs::read_to_string(&pid_file)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
    );
    xtask.leftovers = vec![serve, postmaster];
    while !healthy(bind) {
        assert!(
            is_running(serve),
            "ems serve exited before it was healthy:\n{}",
            xtask.log()
        );
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "ems not healthy on {bind} after 25 s:\n{}",
            xtask.log()
        );
        thread::sleep(Duration::from_millis(100));
    }

    let took = assert_stopped_by(
        &mut xtask,
        Signal::SIGTERM,
        GRACE_AND_SLACK,
        &[serve, postmaster],
    );

    assert!(
        took < Duration::from_secs(8),
        "ems took {took:?}: it was killed after the grace period instead of stopping on \
         the forwarded signal:\n{}",
        xtask.log()
    );
    assert!(
        !pid_file.exists(),
        "the dev cluster was not shut down cleanly"
    );
    assert!(!healthy(bind));
    let log = xtask.log();
    assert!(log.contains("stopping the dev cluster"), "{log}");
    eprintln!(
        "cargo xtask dev: healthy after {:?}, stopped {took:?} after SIGTERM",
        started.elapsed() - took
    );
}
