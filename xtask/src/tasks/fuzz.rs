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
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cmd::{describe, Cmd};
use crate::error::{bail, Context, Result};
use crate::flags::Fuzz;
use crate::interrupt;
use crate::paths::Paths;
use crate::pg::{self, Cluster};
use crate::secret;
use crate::tasks::server::{free_loopback_port, Server};
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
    let env = [
        ("DATABASE_URL", database_url.clone()),
        ("APP_ENV", "development".to_owned()),
        ("ADMIN_USERNAME", ADMIN.to_owned()),
        ("ADMIN_PASSWORD", password.clone()),
        // One client sending thousands of requests and failed logins on purpose.
        ("LOCKOUT_THRESHOLD", "1000000".to_owned()),
        ("RATE_LIMIT", "1000000".to_owned()),
        ("LOGIN_RATE_LIMIT", "1000000".to_owned()),
        ("ADMIN_WRITE_RATE_LIMIT", "1000000".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let server = Server::start(&ems, addr, &env, &log)?;
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
    if interrupt::interrupted() {
        bail!("schemathesis was stopped ({})", describe(status));
    }
    if !status.success() {
        bail!(
            "schemathesis found problems ({}); the failures and their curl commands are above",
            describe(status)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hooks_guard_the_admin_and_renew_the_token() {
        assert!(HOOKS.contains("def before_call"));
        assert!(HOOKS.contains("def after_call"));
        assert!(HOOKS.contains("EMS_FUZZ_ADMIN_PASSWORD"));
    }
}
