//! The login rows of `cargo xtask bench`: sign-ins per second under wrk (a Lua script posts
//! the bench admin's credentials), beside the argon2id bound of the same run, measured by
//! `adapters-crypto`'s `argon2_bound` example (the product's own hasher: same crate,
//! parameters and permits) with the server stopped; then `GET /api/v1/profile` measured
//! while a login flood runs beside it, and the server's resident memory at its peak.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::cmd::Cmd;
use crate::error::{bail, Context, Result};
use crate::flags::Bench;
use crate::paths::Paths;
use crate::tasks::bench::{write_private, Load, Measured, ADMIN};
use crate::tasks::bench_scale::memory_kib;
use crate::tasks::server::{free_loopback_port, login, login_body, Server};
use crate::ui;

/// wrk connections of the profile reads measured during the login flood.
const PROFILE_CONNECTIONS: u32 = 10;

/// What the login rows measured.
pub(super) struct Logins {
    /// Sign-ins alone.
    pub(super) alone: Measured,
    /// Verifications per second of the product's hasher alone: the bound.
    pub(super) bound: f64,
    /// Sign-ins while profile reads run beside them.
    pub(super) flooding: Measured,
    /// Profile reads during that flood.
    pub(super) profile: Measured,
    /// Peak resident memory of `ems` over the runs, in KiB.
    pub(super) rss_peak_kib: u64,
}

/// Builds the bound's example, serves with `env`, measures, stops, measures the bound.
pub(super) fn measure(
    paths: &Paths,
    ems: &Path,
    env: &[(&'static str, String)],
    work: &Path,
    password: &str,
    flags: &Bench,
) -> Result<Logins> {
    ui::step("building the argon2id bound (adapters-crypto example argon2_bound)");
    Cmd::new("cargo")
        .args([
            "build",
            "--release",
            "-p",
            "adapters-crypto",
            "--example",
            "argon2_bound",
        ])
        .cwd(&paths.root)
        .run()?;
    let bound_bin = paths
        .target
        .join("release")
        .join("examples")
        .join("argon2_bound");

    let script = work.join("login.lua");
    write_script(&script, password)?;
    let log = work.join("login.log");
    let outcome = serve_and_measure(ems, env, &log, &script, password, flags);
    fs::remove_file(&script).ok();
    let (alone, flooding, profile, rss_peak_kib) = outcome?;
    fs::remove_file(&log).ok();

    let out = Cmd::new(&bound_bin)
        .arg(flags.duration_secs.to_string())
        .arg(flags.connections.to_string())
        .quiet()
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let bound = match (out.status.success(), parse_bound(&text)) {
        (true, Some(rate)) if rate > 0.0 => rate,
        _ => bail!(
            "argon2_bound failed: {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    };
    Ok(Logins {
        alone,
        bound,
        flooding,
        profile,
        rss_peak_kib,
    })
}

type Runs = (Measured, Measured, Measured, u64);

fn serve_and_measure(
    ems: &Path,
    env: &[(&'static str, String)],
    log: &Path,
    script: &Path,
    password: &str,
    flags: &Bench,
) -> Result<Runs> {
    let addr = free_loopback_port()?;
    let server = Server::start(ems, addr, env, log)?;
    let outcome = (|| {
        server.wait_healthy(Duration::from_secs(60))?;
        let token = login(server.addr(), ADMIN, password)?;
        let logins = Load {
            addr,
            path: "/api/v1/auth/login",
            connections: flags.connections,
            extra: vec!["-s".into(), script.display().to_string()],
        };
        let profile = Load {
            addr,
            path: "/api/v1/profile",
            connections: PROFILE_CONNECTIONS,
            extra: vec!["-H".into(), format!("Authorization: Bearer {token}")],
        };
        logins.run(flags.warmup_secs())?;
        let alone = logins.run(flags.duration_secs)?;
        let (flooding, reads) = std::thread::scope(|scope| {
            let flood = scope.spawn(|| logins.run(flags.duration_secs));
            let reads = profile.run(flags.duration_secs);
            let flood = flood
                .join()
                .unwrap_or_else(|_| Err(crate::error::Error::msg("the login flood panicked")));
            (flood, reads)
        });
        let rss_peak = memory_kib(server.pid(), "VmHWM:")?;
        Ok((alone, flooding?, reads?, rss_peak))
    })();
    let stopped = server.stop();
    let runs = outcome?;
    stopped?;
    for (name, m) in [
        ("login", &runs.0),
        ("login flood", &runs.1),
        ("profile", &runs.2),
    ] {
        if m.non_2xx > 0 {
            bail!("{name}: {} responses were not 2xx", m.non_2xx);
        }
    }
    Ok(runs)
}

/// The wrk script that signs the bench admin in (the run's password: the file is 0600 and
/// removed after the run).
fn write_script(path: &Path, password: &str) -> Result<()> {
    let body = login_body(ADMIN, password);
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.body = [==[{body}]==]\n"
    );
    write_private(path, &lua).with_context(|| format!("cannot write {}", path.display()))
}

/// The rate of `verifies/s <rate>`.
fn parse_bound(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix("verifies/s "))
        .and_then(|rate| rate.trim().parse().ok())
}

/// The login table: each figure beside its bound of the same run.
pub(super) fn print_table(logins: &Logins, flags: &Bench) {
    ui::step(format!(
        "logins: wrk, 2 threads, {} connections, {} s per row; profile reads beside the \
         flood over {PROFILE_CONNECTIONS} connections",
        flags.connections, flags.duration_secs
    ));
    println!("| login workload | req/s | p50 | p99 | against |");
    println!("|---|---:|---:|---:|---|");
    let ratio = |rate: f64| rate / logins.bound;
    println!(
        "| argon2id verify, product hasher alone (bound) | {:.1} | | | |",
        logins.bound
    );
    println!(
        "| login | {:.1} | {} | {} | {:.2} of the bound |",
        logins.alone.requests_per_sec,
        logins.alone.p50,
        logins.alone.p99,
        ratio(logins.alone.requests_per_sec)
    );
    println!(
        "| login, during profile reads | {:.1} | {} | {} | {:.2} of the bound |",
        logins.flooding.requests_per_sec,
        logins.flooding.p50,
        logins.flooding.p99,
        ratio(logins.flooding.requests_per_sec)
    );
    println!(
        "| profile, during the login flood | {:.0} | {} | {} | p99 goal < 50 ms |",
        logins.profile.requests_per_sec, logins.profile.p50, logins.profile.p99
    );
    println!(
        "\nPeak RSS of ems over the login runs: {:.1} MiB",
        logins.rss_peak_kib as f64 / 1024.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_read_from_its_one_line() {
        assert_eq!(parse_bound("verifies/s 81.25\n"), Some(81.25));
        assert_eq!(parse_bound("noise\nverifies/s 3\n"), Some(3.0));
        assert_eq!(parse_bound("verifies/s fast"), None);
        assert_eq!(parse_bound(""), None);
    }

    #[test]
    fn the_script_posts_the_admin_and_is_private() {
        let dir = std::env::temp_dir().join(format!("ems-bench-login-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("login.lua");
        write_script(&path, "pa\"ss").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("wrk.method = \"POST\""));
        assert!(text.contains(&format!("\"username\":\"{ADMIN}\"")));
        assert!(text.contains("\"password\":\"pa\\\"ss\""));
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
