//! The rows of `cargo xtask bench` at scale: the bench database seeded with a million
//! users (one `generate_series` statement, then `VACUUM ANALYZE`), then the admin reads
//! that grow with the table (first list page with its total, a deep offset, searches of
//! every shape) under wrk, and both exports read to the end by one client, with the
//! server's resident memory before and at its peak.
//!
//! Seeded users are `user0000001`…, `user1@example.com`…, display name `Person 1`…, so
//! `q=Person` matches every row, `q=bu` and `q=zzz` none, and `q=Person 4242` a hundred.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{bail, Context, Result};
use crate::flags::Bench;
use crate::pg::Running;
use crate::tasks::bench::{wrk_run, Measured, ADMIN};
use crate::tasks::server::{free_loopback_port, login, Server};
use crate::ui;

/// Users seeded for the full bench; `--quick` seeds a tenth.
pub(super) const USERS: u64 = 1_000_000;

/// wrk connections of the admin read rows: an admin console's concurrency, not a crowd's.
const CONNECTIONS: u32 = 10;

/// The pool the rows at scale run with: twice the cores PostgreSQL shares here with `ems`
/// and wrk. The default (16) keeps more backends runnable than two cores serve, and the
/// ones waiting for a core stall statements in parse and bind for 50–400 ms: p99 of a
/// no-match search 40–157 ms at p50 4 ms with 16, 8–10 ms with 4 (by hand, 1M users).
pub(super) fn pool_for_this_machine() -> String {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    (2 * cores).to_string()
}

/// The row measured again with the default pool, beside its figure with the sized one.
pub(super) const DEFAULT_POOL_ROW: (&str, &str) = (
    "search q=zzz, default pool (16)",
    "/api/v1/users/search?q=zzz",
);

/// The admin reads measured at scale: (row name, path).
const READS: [(&str, &str); 8] = [
    ("users: first page + total", "/api/v1/users?limit=20"),
    (
        "users: offset 500000",
        "/api/v1/users?limit=20&offset=500000",
    ),
    (
        "users?q=Person (all match)",
        "/api/v1/users?q=Person&limit=20",
    ),
    (
        "search q=Person (all match)",
        "/api/v1/users/search?q=Person",
    ),
    ("search q=u (one character)", "/api/v1/users/search?q=u"),
    ("search q=bu (no match)", "/api/v1/users/search?q=bu"),
    ("search q=zzz (no match)", "/api/v1/users/search?q=zzz"),
    (
        "search q=Person 4242 (111)",
        "/api/v1/users/search?q=Person%204242",
    ),
];

/// The measured reads, by row name.
pub(super) type Reads = Vec<(&'static str, Measured)>;

/// One export read to the end.
pub(super) struct Exported {
    /// `csv` or `json`.
    pub(super) format: &'static str,
    /// Body bytes received.
    pub(super) bytes: u64,
    /// Wall time of the whole download.
    pub(super) elapsed: Duration,
    /// Resident memory of `ems` before the export, in KiB.
    pub(super) rss_before_kib: u64,
    /// Peak resident memory of `ems` after it (`VmHWM`), in KiB.
    pub(super) rss_peak_kib: u64,
}

/// Seeds users number `first` to `last` (`user0000001`… as in the module docs) into
/// `database` (already migrated) and returns how long it took.
pub(super) fn seed(cluster: &Running, database: &str, first: u64, last: u64) -> Result<Duration> {
    let started = Instant::now();
    cluster.psql_in(
        database,
        &format!(
            "INSERT INTO users (id, username, email, display_name, password_hash, role, \
             status, created_at, updated_at, password_changed_at) \
             SELECT gen_random_uuid(), 'user' || lpad(g::text, 7, '0'), \
             'user' || g || '@example.com', 'Person ' || g, '!', 'USER', 'ACTIVE', \
             now() - g * interval '1 second', now(), now() \
             FROM generate_series({first}, {last}) AS g"
        ),
    )?;
    // The insert left one count note per user (ADR 0027): fold them as the server's job
    // would, so the first measured page does not pay for a million notes or their dead
    // rows. Separately: VACUUM cannot run in a transaction.
    cluster.psql_in(
        database,
        "BEGIN; DELETE FROM user_counts; \
         INSERT INTO user_counts (role, status, deleted, n) \
         SELECT role, status, deleted_at IS NOT NULL, count(*) FROM users GROUP BY 1, 2, 3; \
         COMMIT;",
    )?;
    cluster.psql_in(database, "VACUUM ANALYZE users, user_counts")?;
    Ok(started.elapsed())
}

/// Serves `env` over the seeded database and measures [`DEFAULT_POOL_ROW`] alone.
pub(super) fn measure_one(
    ems: &Path,
    env: &[(&'static str, String)],
    log: &Path,
    password: &str,
    flags: &Bench,
) -> Result<(&'static str, Measured)> {
    let addr = free_loopback_port()?;
    let server = Server::start(ems, addr, env, log)?;
    let outcome = (|| {
        server.wait_healthy(Duration::from_secs(60))?;
        let token = login(server.addr(), ADMIN, password)?;
        let (name, path) = DEFAULT_POOL_ROW;
        let measured = wrk_run(server.addr(), &token, path, CONNECTIONS, flags)?;
        ui::note(format!(
            "{:<30} {:>8.0} req/s  p50 {:>9}  p99 {:>9}",
            name, measured.requests_per_sec, measured.p50, measured.p99
        ));
        Ok((name, measured))
    })();
    let stopped = server.stop();
    let measured = outcome?;
    stopped?;
    Ok(measured)
}

/// Serves `env` over the seeded database and measures the reads and both exports.
pub(super) fn measure(
    ems: &Path,
    env: &[(&'static str, String)],
    log: &Path,
    password: &str,
    flags: &Bench,
) -> Result<(Reads, Vec<Exported>)> {
    let addr = free_loopback_port()?;
    let server = Server::start(ems, addr, env, log)?;
    let outcome = (|| {
        server.wait_healthy(Duration::from_secs(60))?;
        let token = login(server.addr(), ADMIN, password)?;
        let mut rows = Vec::new();
        for (name, path) in READS {
            let measured = wrk_run(server.addr(), &token, path, CONNECTIONS, flags)
                .with_context(|| format!("scenario {name}"))?;
            ui::note(format!(
                "{:<30} {:>8.0} req/s  p50 {:>9}  p99 {:>9}",
                name, measured.requests_per_sec, measured.p50, measured.p99
            ));
            rows.push((name, measured));
        }
        let mut exports = Vec::new();
        for format in ["csv", "json"] {
            let rss_before_kib = memory_kib(server.pid(), "VmRSS:")?;
            let (bytes, elapsed) = download(
                server.addr(),
                &token,
                &format!("/api/v1/users/export?format={format}"),
            )?;
            let rss_peak_kib = memory_kib(server.pid(), "VmHWM:")?;
            ui::note(format!(
                "export {format}: {bytes} bytes in {:.1} s",
                elapsed.as_secs_f64()
            ));
            exports.push(Exported {
                format,
                bytes,
                elapsed,
                rss_before_kib,
                rss_peak_kib,
            });
        }
        Ok((rows, exports))
    })();
    let stopped = server.stop();
    let measured = outcome?;
    stopped?;
    Ok(measured)
}

/// A `/proc/<pid>/status` memory line (`VmRSS:`, `VmHWM:`) in KiB.
pub(super) fn memory_kib(pid: u32, key: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok());
    match kib {
        Some(kib) => Ok(kib),
        None => bail!("no {key} in {path}"),
    }
}

/// `GET path` over HTTP/1.0, read to the end: the body's size and the wall time. Fails
/// unless the status is 200.
fn download(addr: SocketAddr, token: &str, path: &str) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .with_context(|| format!("cannot reach ems at {addr}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .context("cannot set a read timeout")?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .context("cannot send the export request")?;
    let mut buf = vec![0u8; 1 << 16];
    let mut head = Vec::new();
    let mut body = 0u64;
    let mut in_body = false;
    loop {
        let n = stream.read(&mut buf).context("the export stopped")?;
        if n == 0 {
            break;
        }
        if in_body {
            body += n as u64;
            continue;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let status = String::from_utf8_lossy(&head[..end]);
            if !status.starts_with("HTTP/1.1 200") && !status.starts_with("HTTP/1.0 200") {
                let line = status.lines().next().unwrap_or_default().to_owned();
                bail!("{path}: {line}");
            }
            body = (head.len() - end - 4) as u64;
            in_body = true;
        }
    }
    if !in_body {
        bail!("{path}: the response ended inside its head");
    }
    Ok((body, started.elapsed()))
}

/// Prints the scale rows: reads beside the list's floor, exports as rows per second.
pub(super) fn print_table(
    users: u64,
    seeded: Duration,
    rows: &[(&str, Measured)],
    exports: &[Exported],
) {
    ui::step(format!(
        "{users} users (seeded in {:.0} s), wrk {CONNECTIONS} connections, list cache off, \
         pool {} (2 × cores) unless the row says otherwise",
        seeded.as_secs_f64(),
        pool_for_this_machine()
    ));
    println!("| admin read at scale | req/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, m) in rows {
        println!(
            "| {name} | {:.0} | {} | {} |",
            m.requests_per_sec, m.p50, m.p99
        );
    }
    println!();
    println!("| export | rows/s | MB/s | RSS before | RSS peak | growth |");
    println!("|---|---:|---:|---:|---:|---:|");
    for e in exports {
        let secs = e.elapsed.as_secs_f64().max(f64::EPSILON);
        println!(
            "| {} ({users} rows, {:.1} s) | {:.0} | {:.0} | {} MB | {} MB | {} MB |",
            e.format,
            secs,
            users as f64 / secs,
            e.bytes as f64 / secs / 1e6,
            e.rss_before_kib / 1024,
            e.rss_peak_kib / 1024,
            e.rss_peak_kib.saturating_sub(e.rss_before_kib) / 1024,
        );
    }
}
