//! `cargo xtask bench`: throughput and latency of the release `ems` under wrk, one
//! configuration after another on the same machine and database, so that the rows can be
//! compared with each other (never with another machine's).
//!
//! Rows: `GET /api/health` (no authentication, no database: the floor of the stack), and
//! `GET /api/v1/profile` (token check through the auth cache, one database read) with the
//! in-process adapters, with Redis (when redis-server is installed: rate limit, auth
//! cache and activity note each one Redis round trip), with metrics off
//! (`METRICS_ENABLED=false`), and with OTLP tracing on. The tracing row exports to a
//! closed port, so it measures building and batching the spans in `ems`, not a
//! collector's work; the README says how to point it at a real one. The list rows repeat
//! one page of 200 users: served from the list cache (in-process and Redis), answered 304
//! to its own tag, and read from PostgreSQL with the cache off (ADR 0028).
//!
//! Then the login rows (`bench_login`: sign-ins beside the argon2id bound of the same run,
//! profile reads during a login flood), the seed's mixed load scenario (`bench_mix`) and
//! the rows at scale (`bench_scale`).
//!
//! Rate limits are lifted (one wrk client would spend any real budget in a moment).
//! wrk, `ems`, PostgreSQL and Redis share the machine's cores: the numbers are for
//! comparing rows, not absolute capacity. Server logs stay in `target/ems-bench/` only
//! for a run that failed.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::cmd::Cmd;
use crate::error::{bail, Context, Result};
use crate::flags::Bench;
use crate::paths::Paths;
use crate::pg::{self, Cluster};
use crate::redis::PrivateRedis;
use crate::secret;
use crate::tasks::server::{etag, free_loopback_port, login, Server};
use crate::tasks::{bench_login, bench_mix, bench_scale};
use crate::ui;

/// The database of the test cluster the measured server uses, recreated every run.
const DATABASE: &str = "ems_bench";

/// Users in the database while the rows before the scale rows run (the admin included).
const SMALL_LIST: u64 = 200;

/// The admin whose token the requests carry.
pub(super) const ADMIN: &str = "benchadmin";

/// One measured configuration.
struct Scenario {
    name: &'static str,
    path: &'static str,
    env: Vec<(&'static str, String)>,
    /// Send the page's own `ETag` back as `If-None-Match` (every answer a 304).
    revalidate: bool,
    /// Connections instead of `--connections` (the goal of p99 < 10 ms at 100).
    connections: Option<u32>,
}

/// What wrk reported for one scenario.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Measured {
    pub(super) requests_per_sec: f64,
    pub(super) p50: String,
    pub(super) p99: String,
    pub(super) non_2xx: u64,
}

/// Runs every scenario and prints the table; an error when a run could not be made or a
/// request failed.
pub fn run(paths: &Paths, flags: &Bench) -> Result<()> {
    if Cmd::new("wrk").arg("--version").quiet().output().is_err() {
        bail!("wrk is not installed; on Debian/Ubuntu: sudo apt-get install -y wrk");
    }
    let work = paths.target.join("ems-bench");
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    ui::step("building the release ems");
    Cmd::new("cargo")
        .args(["build", "--release", "-p", "api-actix", "--bin", "ems"])
        .cwd(&paths.root)
        .run()?;
    let ems = paths.target.join("release").join("ems");

    let cluster = Cluster::new(pg::TEST, paths)?.start()?;
    let redis = PrivateRedis::start_if_available(paths)?;
    let outcome = (|| {
        cluster.drop_database(DATABASE)?;
        cluster.ensure_database(DATABASE)?;
        let database_url = cluster.url(DATABASE);
        Cmd::new(&ems)
            .arg("migrate")
            .env("DATABASE_URL", &database_url)
            .run()?;
        let password = secret::generate(ADMIN)?;
        let base = vec![
            ("DATABASE_URL", database_url.clone()),
            ("APP_ENV", "development".to_owned()),
            ("ADMIN_USERNAME", ADMIN.to_owned()),
            ("ADMIN_PASSWORD", password.clone()),
            ("RATE_LIMIT", "1000000000".to_owned()),
            ("LOGIN_RATE_LIMIT", "1000000000".to_owned()),
            ("ADMIN_WRITE_RATE_LIMIT", "1000000000".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ];
        // The admin and 199 more: the list rows' 200 users.
        bench_scale::seed(&cluster, DATABASE, 1, SMALL_LIST - 1)?;
        let mut rows = Vec::new();
        for scenario in scenarios(&database_url, redis.as_ref().map(PrivateRedis::url)) {
            let mut env = base.clone();
            env.extend(scenario.env.iter().cloned());
            let log = work.join(format!("{}.log", scenario.name));
            let measured = measure(&ems, &env, &log, &password, &scenario, flags)
                .with_context(|| format!("scenario {}", scenario.name))?;
            // A run logs one line per request (the default level): hundreds of megabytes
            // that are only worth keeping when the run failed.
            fs::remove_file(&log).ok();
            ui::note(format!(
                "{:<24} {:>10.0} req/s  p50 {:>9}  p99 {:>9}",
                scenario.name, measured.requests_per_sec, measured.p50, measured.p99
            ));
            rows.push((scenario.name, measured));
        }
        print_table(&rows, flags);
        if let Some((name, m)) = rows.iter().find(|(_, m)| m.non_2xx > 0) {
            bail!("{name}: {} responses were not 2xx", m.non_2xx);
        }
        let logins = bench_login::measure(paths, &ems, &base, &work, &password, flags)?;
        bench_login::print_table(&logins, flags);
        let mixed = bench_mix::measure(&ems, &base, &work, &password, flags)?;
        bench_mix::print_table(&mixed);

        let users = if flags.quick {
            bench_scale::USERS / 10
        } else {
            bench_scale::USERS
        };
        ui::step(format!("seeding {users} users"));
        let seeded = bench_scale::seed(&cluster, DATABASE, SMALL_LIST, users)?;
        let log = work.join("scale.log");
        // Every read at scale reaches PostgreSQL: the list cache would answer repeated
        // pages itself (the same database named as a replica turns it off).
        let mut uncached = base.clone();
        uncached.push(("DATABASE_READ_URL", cluster.url(DATABASE)));
        let mut sized = uncached.clone();
        sized.push((
            "DATABASE_MAX_CONNECTIONS",
            bench_scale::pool_for_this_machine(),
        ));
        let (mut reads, exports) = bench_scale::measure(&ems, &sized, &log, &password, flags)?;
        reads.push(bench_scale::measure_one(
            &ems, &uncached, &log, &password, flags,
        )?);
        fs::remove_file(&log).ok();
        print_table(&rows, flags);
        bench_login::print_table(&logins, flags);
        bench_mix::print_table(&mixed);
        bench_scale::print_table(users, seeded, &reads, &exports);
        match reads.iter().find(|(_, m)| m.non_2xx > 0) {
            Some((name, m)) => bail!("{name}: {} responses were not 2xx", m.non_2xx),
            None => Ok(()),
        }
    })();
    let redis_stopped = redis.map(PrivateRedis::stop).unwrap_or(Ok(()));
    let cluster_stopped = cluster.stop();
    outcome?;
    redis_stopped?;
    cluster_stopped
}

/// The rows of the first table. List rows repeat one page, so they are served from the
/// list cache (ADR 0028); the `uncached` row names the same database as a read replica,
/// which turns the cache off, to show what a page costs from PostgreSQL.
fn scenarios(database_url: &str, redis_url: Option<String>) -> Vec<Scenario> {
    let mut all = vec![
        Scenario {
            name: "health (floor)",
            path: "/api/health",
            env: vec![],
            revalidate: false,
            connections: None,
        },
        Scenario {
            name: "profile, in-process",
            path: "/api/v1/profile",
            env: vec![],
            revalidate: false,
            connections: None,
        },
        Scenario {
            name: "profile, in-process, 100 conn.",
            path: "/api/v1/profile",
            env: vec![],
            revalidate: false,
            connections: Some(100),
        },
    ];
    all.push(Scenario {
        name: "users?limit=1 (200 users)",
        path: "/api/v1/users?limit=1",
        env: vec![],
        revalidate: false,
        connections: None,
    });
    all.push(Scenario {
        name: "users?limit=100 (200 users)",
        path: "/api/v1/users?limit=100",
        env: vec![],
        revalidate: false,
        connections: None,
    });
    all.push(Scenario {
        name: "users?limit=100, 304",
        path: "/api/v1/users?limit=100",
        env: vec![],
        revalidate: true,
        connections: None,
    });
    all.push(Scenario {
        name: "users?limit=100, uncached",
        path: "/api/v1/users?limit=100",
        env: vec![("DATABASE_READ_URL", database_url.to_owned())],
        revalidate: false,
        connections: None,
    });
    match redis_url {
        Some(url) => {
            all.push(Scenario {
                name: "profile, Redis",
                path: "/api/v1/profile",
                env: vec![("REDIS_URL", url.clone())],
                revalidate: false,
                connections: None,
            });
            all.push(Scenario {
                name: "profile, Redis, 100 conn.",
                path: "/api/v1/profile",
                env: vec![("REDIS_URL", url.clone())],
                revalidate: false,
                connections: Some(100),
            });
            all.push(Scenario {
                name: "users?limit=100, Redis",
                path: "/api/v1/users?limit=100",
                env: vec![("REDIS_URL", url)],
                revalidate: false,
                connections: None,
            });
        }
        None => ui::note("redis-server is not installed: no Redis rows"),
    }
    all.push(Scenario {
        name: "profile, metrics off",
        path: "/api/v1/profile",
        env: vec![("METRICS_ENABLED", "false".to_owned())],
        revalidate: false,
        connections: None,
    });
    all.push(Scenario {
        name: "profile, tracing on",
        path: "/api/v1/profile",
        env: vec![
            // Nothing listens there: spans are built, batched and dropped on export.
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://127.0.0.1:9".to_owned(),
            ),
            // The exporter's own complaints would otherwise be part of the measurement.
            (
                "RUST_LOG",
                "info,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off".to_owned(),
            ),
        ],
        revalidate: false,
        connections: None,
    });
    all
}

/// Serves with `env`, signs in, warms up, then one measured wrk run of the scenario.
fn measure(
    ems: &Path,
    env: &[(&'static str, String)],
    log: &Path,
    password: &str,
    scenario: &Scenario,
    flags: &Bench,
) -> Result<Measured> {
    let addr = free_loopback_port()?;
    let server = Server::start(ems, addr, env, log)?;
    let outcome = (|| {
        server.wait_healthy(Duration::from_secs(60))?;
        let token = login(server.addr(), ADMIN, password)?;
        let mut extra = Vec::new();
        if scenario.revalidate {
            let tag = etag(server.addr(), &token, scenario.path)?;
            extra = vec!["-H".into(), format!("If-None-Match: {tag}")];
        }
        wrk_run_with(
            server.addr(),
            &token,
            scenario.path,
            scenario.connections.unwrap_or(flags.connections),
            flags,
            extra,
        )
    })();
    let stopped = server.stop();
    let measured = outcome?;
    stopped?;
    Ok(measured)
}

/// Warms up ([`Bench::warmup_secs`]), then one measured wrk run of `GET path` with `token`.
pub(super) fn wrk_run(
    addr: std::net::SocketAddr,
    token: &str,
    path: &str,
    connections: u32,
    flags: &Bench,
) -> Result<Measured> {
    wrk_run_with(addr, token, path, connections, flags, Vec::new())
}

/// [`wrk_run`] with more wrk arguments (headers).
fn wrk_run_with(
    addr: std::net::SocketAddr,
    token: &str,
    path: &str,
    connections: u32,
    flags: &Bench,
    more: Vec<String>,
) -> Result<Measured> {
    let mut extra = vec!["-H".into(), format!("Authorization: Bearer {token}")];
    extra.extend(more);
    let load = Load {
        addr,
        path,
        connections,
        extra,
    };
    load.run(flags.warmup_secs())?;
    load.run(flags.duration_secs)
}

/// One wrk load: `path` on `addr` over `connections`, with `extra` arguments (headers, a
/// Lua script). They may hold a secret of the run, so wrk's command line is not echoed.
pub(super) struct Load<'a> {
    pub(super) addr: std::net::SocketAddr,
    pub(super) path: &'a str,
    pub(super) connections: u32,
    pub(super) extra: Vec<String>,
}

impl Load<'_> {
    /// Runs it for `secs` seconds with latency statistics and reads the report.
    pub(super) fn run(&self, secs: u32) -> Result<Measured> {
        let out = Cmd::new("wrk")
            .args(["-t2", "-c"])
            .arg(self.connections.to_string())
            .arg("-d")
            .arg(format!("{secs}s"))
            .arg("--latency")
            .args(&self.extra)
            .arg(format!("http://{}{}", self.addr, self.path))
            .quiet()
            .output()?;
        if !out.status.success() {
            bail!(
                "wrk failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        match parse_wrk(&report) {
            Some(measured) => Ok(measured),
            None => bail!("cannot read wrk's report:\n{report}"),
        }
    }
}

/// Writes a file only the owner may read: wrk scripts carry the run's admin password.
pub(super) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// Requests/sec, the 50th and 99th percentile and the non-2xx count of `wrk --latency`.
fn parse_wrk(report: &str) -> Option<Measured> {
    let field = |prefix: &str, index: usize| {
        report
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.split_whitespace().nth(index))
            .map(str::to_owned)
    };
    Some(Measured {
        requests_per_sec: field("Requests/sec:", 1)?.parse().ok()?,
        p50: field("50%", 1)?,
        p99: field("99%", 1)?,
        non_2xx: field("Non-2xx or 3xx responses:", 4)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    })
}

fn print_table(rows: &[(&str, Measured)], flags: &Bench) {
    ui::step(format!(
        "wrk, 2 threads, {} connections, {} s per row",
        flags.connections, flags.duration_secs
    ));
    // The first row is the floor: every other row is read beside it.
    let floor = rows.first().map(|(_, m)| m.requests_per_sec);
    println!("| configuration | req/s | p50 | p99 | of the floor |");
    println!("|---|---:|---:|---:|---:|");
    for (name, m) in rows {
        let ratio = floor
            .filter(|f| *f > 0.0)
            .map_or(String::new(), |f| format!("{:.2}", m.requests_per_sec / f));
        println!(
            "| {name} | {:.0} | {} | {} | {ratio} |",
            m.requests_per_sec, m.p50, m.p99
        );
    }
    let rate = |wanted: &str| {
        rows.iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, m)| m.requests_per_sec)
    };
    if let (Some(local), Some(redis)) = (rate("profile, in-process"), rate("profile, Redis")) {
        if local > 0.0 {
            println!(
                "\nprofile with Redis: {:.2} of in-process (goal: within 25 %, at least 0.75)",
                redis / local
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 20s test @ http://127.0.0.1:1/api/v1/profile
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.86ms    1.45ms  30.12ms   80.00%
    Req/Sec     5.20k   400.00     6.00k    70.00%
  Latency Distribution
     50%    4.64ms
     75%    5.40ms
     90%    6.50ms
     99%    9.52ms
  207563 requests in 20.00s, 150.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  10378.17
Transfer/sec:      7.50MB
";

    #[test]
    fn wrk_reports_are_read_for_rate_percentiles_and_failures() {
        assert_eq!(
            parse_wrk(REPORT),
            Some(Measured {
                requests_per_sec: 10378.17,
                p50: "4.64ms".into(),
                p99: "9.52ms".into(),
                non_2xx: 3,
            })
        );
        let clean = REPORT.replace("  Non-2xx or 3xx responses: 3\n", "");
        assert_eq!(parse_wrk(&clean).map(|m| m.non_2xx), Some(0));
        assert_eq!(parse_wrk("garbage"), None);
    }

    #[test]
    fn redis_adds_a_row_only_when_installed() {
        let names = |s: Vec<Scenario>| s.iter().map(|s| s.name).collect::<Vec<_>>();
        assert!(!names(scenarios("postgres://x", None)).contains(&"profile, Redis"));
        assert!(
            names(scenarios("postgres://x", Some("redis://x".into()))).contains(&"profile, Redis")
        );
    }
}
