//! `cargo xtask sdk typescript`: the TypeScript client, generated and proven.
//!
//! Lays out `target/sdk/typescript/` from `xtask/sdk/typescript/` (the npm manifest and
//! lockfile that pin openapi-typescript, openapi-fetch and tsc, the tsconfig and the
//! journey script), installs the pinned tools with `npm ci` when the lockfile changed,
//! generates `src/schema.ts` with openapi-typescript from `crates/client/openapi.json`
//! (the checked-in copy of the served document, kept equal to it by
//! `api::openapi_copy`), type-checks and compiles everything with tsc, and then, unless
//! `--no-run`, serves `ems` over database `ems_sdk` of the test cluster (as `fuzz` does)
//! and runs the journey with node against it. Nothing generated lands outside `target/`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::cmd::Cmd;
use crate::error::{bail, Context, Result};
use crate::flags::Sdk;
use crate::paths::Paths;
use crate::pg::{self, Cluster};
use crate::secret;
use crate::tasks::server::{free_loopback_port, Server};
use crate::ui;

/// The database of the test cluster the journey's server uses, recreated every run.
const DATABASE: &str = "ems_sdk";

/// The admin the journey signs in as.
const ADMIN: &str = "admin";

/// The kept sources under `xtask/sdk/typescript/`, copied as they are.
const SOURCES: [&str; 4] = [
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "src/journey.ts",
];

/// Where `npm ci` records the lockfile it installed, to skip it next time.
const INSTALLED_LOCK: &str = "node_modules/.ems-installed-lock.json";

/// Generates, type-checks and (unless `--no-run`) exercises the TypeScript client.
pub fn run(paths: &Paths, flags: &Sdk) -> Result<()> {
    let kept = paths.root.join("xtask").join("sdk").join("typescript");
    let work = paths.target.join("sdk").join("typescript");
    ui::step(format!("laying out {}", work.display()));
    lay_out(&kept, &work)?;
    install(&work)?;

    let document = paths
        .root
        .join("crates")
        .join("client")
        .join("openapi.json");
    ui::step(format!("openapi-typescript {}", document.display()));
    Cmd::new(work.join("node_modules/.bin/openapi-typescript"))
        .arg(&document)
        .args(["--output", "src/schema.ts"])
        .cwd(&work)
        .run()?;
    ui::step("tsc (type-check and compile)");
    Cmd::new(work.join("node_modules/.bin/tsc"))
        .args(["--project", "."])
        .cwd(&work)
        .run()?;
    if flags.no_run {
        ui::note("--no-run: the journey was compiled, not run");
        return Ok(());
    }
    journey(paths, &work)
}

/// Copies the kept sources into `work` (the generated schema and the compiled output
/// are remade; `node_modules` stays for the next run).
fn lay_out(kept: &Path, work: &Path) -> Result<()> {
    for name in SOURCES {
        let to = work.join(name);
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        fs::copy(kept.join(name), &to)
            .with_context(|| format!("cannot copy {name} to {}", to.display()))?;
    }
    let dist = work.join("dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).with_context(|| format!("cannot clear {}", dist.display()))?;
    }
    Ok(())
}

/// `npm ci` from the lockfile, unless exactly that lockfile is installed already.
fn install(work: &Path) -> Result<()> {
    let lock = fs::read(work.join("package-lock.json")).context("cannot read package-lock.json")?;
    if fs::read(work.join(INSTALLED_LOCK)).is_ok_and(|installed| installed == lock) {
        ui::note("the pinned npm tools are installed");
        return Ok(());
    }
    ui::step("npm ci (the pinned tools, from xtask/sdk/typescript/package-lock.json)");
    Cmd::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .cwd(work)
        .run()
        .context("the TypeScript SDK needs node 20+ and npm on PATH (Debian: apt-get install nodejs npm)")?;
    fs::write(work.join(INSTALLED_LOCK), lock).context("cannot record the installed lockfile")?;
    Ok(())
}

/// Serves `ems` over a fresh `ems_sdk` and runs the compiled journey against it.
fn journey(paths: &Paths, work: &Path) -> Result<()> {
    ui::step("building ems");
    Cmd::new("cargo")
        .args(["build", "-p", "api-actix", "--bin", "ems"])
        .cwd(&paths.root)
        .run()?;
    let ems = paths.target.join("debug").join("ems");

    let cluster = Cluster::new(pg::TEST, paths)?.start()?;
    let outcome = serve_and_run(&cluster, &ems, work);
    let cluster_stopped = cluster.stop();
    outcome?;
    cluster_stopped
}

fn serve_and_run(cluster: &pg::Running, ems: &Path, work: &Path) -> Result<()> {
    cluster.drop_database(DATABASE)?;
    cluster.ensure_database(DATABASE)?;
    let database_url = cluster.url(DATABASE);
    ui::step(format!("migrating {DATABASE}"));
    Cmd::new(ems)
        .arg("migrate")
        .env("DATABASE_URL", &database_url)
        .run()?;

    let password = secret::generate(ADMIN)?;
    let addr = free_loopback_port()?;
    let log = work.join("ems.log");
    ui::step(format!("serving ems on {addr} (log: {})", log.display()));
    let env = [
        ("DATABASE_URL", database_url),
        ("APP_ENV", "development".to_owned()),
        ("ADMIN_USERNAME", ADMIN.to_owned()),
        ("ADMIN_PASSWORD", password.clone()),
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let server = Server::start(ems, addr, &env, &log)?;
    let outcome = server.wait_healthy(Duration::from_secs(60)).and_then(|()| {
        ui::step("node dist/journey.js (login, profile, list users, refresh, logout)");
        let status = Cmd::new("node")
            .arg("dist/journey.js")
            .cwd(work)
            .env("EMS_BASE_URL", format!("http://{addr}"))
            .env("EMS_ADMIN_USERNAME", ADMIN)
            .secret_env("EMS_ADMIN_PASSWORD", &password)
            .status()?;
        if !status.success() {
            bail!(
                "the TypeScript SDK journey failed; server log: {}",
                log.display()
            );
        }
        Ok(())
    });
    let stopped = server.stop();
    outcome?;
    stopped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kept_source_exists_and_the_lockfile_pins_the_tools() {
        let kept = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("sdk")
            .join("typescript");
        for name in SOURCES {
            assert!(kept.join(name).is_file(), "xtask/sdk/typescript/{name}");
        }
        let lock = fs::read_to_string(kept.join("package-lock.json")).unwrap();
        for tool in [
            "openapi-typescript",
            "openapi-fetch",
            "typescript",
            "@types/node",
        ] {
            assert!(
                lock.contains(&format!("\"node_modules/{tool}\"")),
                "{tool} is pinned by the lockfile"
            );
        }
    }
}
