//! `cargo xtask fuzz`: schemathesis, the outside fuzzer, against a running `ems`.
//!
//! Starts the test cluster, recreates database `ems_fuzz`, builds `ems`, migrates, and
//! serves it on a free loopback port with an admin whose password is random per run and
//! with rate limits and lockout out of the way (the fuzzer is one client sending
//! thousands of requests, many of them failed logins). Then it runs schemathesis (installed
//! in a project-local virtualenv at [`SCHEMATHESIS_VERSION`] if missing) over every operation
//! of `/api/docs/openapi.json`, authenticated as that admin through the hooks in
//! `fuzz_hooks.py` (which log in, survive fuzzed logouts and keep the admin's own account
//! out of fuzzed paths). Any 5xx, undocumented status, content type, header or response
//! body fails the run. The server and the cluster are stopped in any case.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cmd::{describe, Cmd};
use crate::error::{bail, Context, Result};
use crate::flags::Fuzz;
use crate::interrupt;
use crate::paths::Paths;
use crate::pg::{self, Cluster};
use crate::secret;
use crate::ui;

/// The schemathesis release the checks were written against; pinned so that a new
/// release's new checks do not fail an unchanged server.
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// The database of the test cluster the fuzzed server uses, recreated every run.
const DATABASE: &str = "ems_fuzz";

/// The admin the fuzzer signs in as.
const ADMIN: &str = "admin";

/// The checks that gate: no 5xx, and every response as documented.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// The hooks schemathesis loads (`SCHEMATHESIS_HOOKS`).
const HOOKS: &str = include_str!("fuzz_hooks.py");

/// Runs the fuzzer; an error when it found anything or could not run.
pub fn run(paths: &Paths, flags: &Fuzz) -> Result<()> {
    let work = paths.target.join("ems-fuzz");
    fs::create_dir_all(work.join("hooks"))
        .with_context(|| format!("cannot create {}", work.display()))?;
    fs::write(work.join("hooks").join("ems_fuzz_hooks.py"), HOOKS)
        .context("cannot write the schemathesis hooks")?;

    ui::step("schemathesis");
    let python = ensure_schemathesis(&work)?;

    ui::step("building ems");
    Cmd::new("cargo")
        .args(["build", "-p", "api-actix", "--bin", "ems"])
        .cwd(&paths.root)
        .run()?;
    let ems = paths.target.join("debug").join("ems");

    let cluster = Cluster::new(pg::TEST, paths)?.start()?;
    cluster.drop_database(DATABASE)?;
    cluster.ensure_database(DATABASE)?;
    let database_url = cluster.url(DATABASE);
    ui::step(format!("migrating {DATABASE}"));
    Cmd::new(&ems)
        .arg("migrate")
        .env("DATABASE_URL", &database_url)
        .run()?;

    let password = secret::generate(ADMIN)?;
    let addr = free_loopback_port()?;
    let log = work.join("ems.log");
    ui::step(format!("serving ems on {addr} (log: {})", log.display()));
    let server = Server::start(&ems, &database_url, addr, &password, &log)?;
    let outcome = server
        .wait_healthy(Duration::from_secs(60))
        .and_then(|()| fuzz(&python, &work, addr, &password, flags));
    let stopped = server.stop();
    let cluster_stopped = cluster.stop();
    outcome?;
    stopped?;
    cluster_stopped
}

/// The Python of a project-local virtualenv (`target/ems-fuzz/venv`) holding the pinned
/// schemathesis, made on first use. A virtualenv, because Debian's and Ubuntu's system
/// Python refuses `pip install` outside one (PEP 668), and nothing leaks into the user's
/// site-packages.
fn ensure_schemathesis(work: &Path) -> Result<PathBuf> {
    let venv = work.join("venv");
    let python = venv.join("bin").join("python3");
    if !python.exists() {
        ui::note(format!("making a Python virtualenv in {}", venv.display()));
        Cmd::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .run()
            .context(
                "schemathesis needs Python 3.9+ with venv as `python3` \
                 (Debian/Ubuntu: apt-get install python3-venv)",
            )?;
    }
    let probe = Cmd::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('schemathesis'))",
        ])
        .quiet()
        .output();
    let installed = match probe {
        Ok(out) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        _ => None,
    };
    if installed.as_deref() == Some(SCHEMATHESIS_VERSION) {
        ui::note(format!("schemathesis {SCHEMATHESIS_VERSION} is installed"));
        return Ok(python);
    }
    ui::note(format!(
        "installing schemathesis {SCHEMATHESIS_VERSION} (found: {})",
        installed.as_deref().unwrap_or("none")
    ));
    let spec = format!("schemathesis=={SCHEMATHESIS_VERSION}");
    Cmd::new(&python)
        .args(["-m", "pip", "install", "--quiet", spec.as_str()])
        .run()?;
    Ok(python)
}

/// Runs schemathesis against the server; an error when it reports any failure.
fn fuzz(python: &Path, work: &Path, addr: SocketAddr, password: &str, flags: &Fuzz) -> Result<()> {
    if interrupt::interrupted() {
        bail!("interrupted");
    }
    let base = format!("http://{addr}");
    let report = work.join("report");
    if report.exists() {
        fs::remove_dir_all(&report)
            .with_context(|| format!("cannot clear {}", report.display()))?;
    }
    ui::step(format!(
        "schemathesis over {base}/api/docs/openapi.json (seed {}, {} examples per operation)",
        flags.seed, flags.max_examples
    ));
    let status = Cmd::new(python)
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("{base}/api/docs/openapi.json"))
        .args(["--url", base.as_str()])
        .args(["--checks", CHECKS])
        .arg("--max-examples")
        .arg(flags.max_examples.to_string())
        .arg("--seed")
        .arg(flags.seed.to_string())
        // One worker: reproducible with the seed, and several workers trip a thread-safety
        // bug of CPython 3.11's `ast` inside hypothesis.
        .args(["--workers", "1", "--generation-database", "none"])
        .args(["--report", "junit,ndjson", "--report-dir"])
        .arg(&report)
        .args(&flags.schemathesis_args)
        // schemathesis keeps state in `.schemathesis/` of its working directory: not the repo.
        .cwd(work)
        .env("SCHEMATHESIS_HOOKS", "ems_fuzz_hooks")
        .env("PYTHONPATH", work.join("hooks"))
        .env("EMS_FUZZ_BASE_URL", &base)
        .env("EMS_FUZZ_ADMIN_USERNAME", ADMIN)
        .secret_env("EMS_FUZZ_ADMIN_PASSWORD", password)
        .status()?;
    ui::note(format!("reports: {}", report.display()));
    if !status.success() {
        bail!(
            "schemathesis found problems ({}); the failures and their curl commands are above",
            describe(status)
        );
    }
    Ok(())
}

/// A port nobody listens on right now (the kernel's pick; released before `ems` binds
/// it, so a race with another program is possible but unlikely).
fn free_loopback_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free port on 127.0.0.1")?;
    listener
        .local_addr()
        .context("cannot read the port the kernel picked")
}

/// The `ems serve` child process.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(
        ems: &Path,
        database_url: &str,
        addr: SocketAddr,
        password: &str,
        log: &Path,
    ) -> Result<Self> {
        let out =
            fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("cannot reopen {}", log.display()))?;
        let child = Command::new(ems)
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", addr.to_string())
            .env("APP_ENV", "development")
            .env("ADMIN_USERNAME", ADMIN)
            .env("ADMIN_PASSWORD", password)
            // One client sending thousands of requests and failed logins on purpose.
            .env("LOCKOUT_THRESHOLD", "1000000")
            .env("RATE_LIMIT", "1000000")
            .env("LOGIN_RATE_LIMIT", "1000000")
            .env("ADMIN_WRITE_RATE_LIMIT", "1000000")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {}", ems.display()))?;
        Ok(Self {
            child,
            addr,
            log: log.to_owned(),
        })
    }

    /// Polls `GET /api/health` until it answers 200.
    fn wait_healthy(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if health_ok(self.addr) {
                return Ok(());
            }
            if Instant::now() >= deadline || interrupt::interrupted() {
                bail!(
                    "ems did not become healthy on {} within {}s; see {}",
                    self.addr,
                    timeout.as_secs(),
                    self.log.display()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, then SIGKILL when it has not exited within ten seconds.
    fn stop(mut self) -> Result<()> {
        if self.child.try_wait().ok().flatten().is_some() {
            bail!("ems exited during the run; see {}", self.log.display());
        }
        let pid = self.child.id().to_string();
        Cmd::new("kill")
            .args(["-TERM", pid.as_str()])
            .quiet()
            .run()
            .ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(100));
        }
        self.child.kill().ok();
        self.child.wait().ok();
        Ok(())
    }
}

/// Whether `GET /api/health` answers 200 (plain HTTP/1.0 over a socket: xtask has no
/// HTTP client and needs none for one request).
fn health_ok(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let request = format!("GET /api/health HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    is_ok_status_line(&head[..read])
}

/// "HTTP/1.x 200 …".
fn is_ok_status_line(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let mut words = text.split_whitespace();
    matches!(
        (words.next(), words.next()),
        (Some(version), Some("200")) if version.starts_with("HTTP/1.")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_200_status_line_is_healthy() {
        assert!(is_ok_status_line(b"HTTP/1.1 200 OK\r\n"));
        assert!(is_ok_status_line(b"HTTP/1.0 200 "));
        assert!(!is_ok_status_line(b"HTTP/1.1 503 Service"));
        assert!(!is_ok_status_line(b""));
    }

    #[test]
    fn a_free_port_is_on_loopback() {
        let addr = free_loopback_port().unwrap();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
    }

    #[test]
    fn the_hooks_guard_the_admin_and_renew_the_token() {
        assert!(HOOKS.contains("def before_call"));
        assert!(HOOKS.contains("def after_call"));
        assert!(HOOKS.contains("EMS_FUZZ_ADMIN_PASSWORD"));
    }
}
