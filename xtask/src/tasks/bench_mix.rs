//! The seed's load scenario for `cargo xtask bench`: 100 virtual users mixing sign-in,
//! refresh, profile, user list and search at about 1,000 requests per second, reported as
//! the rate reached, p95 and the error rate.
//!
//! The generator is wrk with a Lua script: each of the 100 connections waits
//! [`PACE_MS`] between its requests (so the arrival rate is bounded by 100 / (pace +
//! latency) ≈ 1,000 req/s instead of as fast as the server answers), and the tokens every
//! sign-in and refresh returns go to a pool its thread draws from: every refresh token is
//! presented exactly once, so refresh chains rotate as a real client's do. wrk cannot say
//! which connection a response belongs to, which is why the tokens are pooled per thread
//! rather than kept per virtual user.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::cmd::Cmd;
use crate::error::{bail, Context, Result};
use crate::flags::Bench;
use crate::tasks::bench::{write_private, ADMIN};
use crate::tasks::server::{free_loopback_port, login_body, Server};
use crate::ui;

/// Virtual users: wrk connections.
const USERS: u32 = 100;

/// Each virtual user's pause between requests: 100 users / 100 ms = 1,000 req/s at most.
const PACE_MS: u32 = 100;

/// What the scenario measured.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mixed {
    /// Requests answered per second over the run.
    pub(super) requests_per_sec: f64,
    /// 95th percentile latency, in milliseconds.
    pub(super) p95_ms: f64,
    /// Requests answered.
    pub(super) requests: u64,
    /// Answers that were not 2xx, plus socket errors and timeouts.
    pub(super) errors: u64,
}

impl Mixed {
    /// Errors as a share of the requests, in percent.
    pub(super) fn error_percent(&self) -> f64 {
        if self.requests == 0 {
            100.0
        } else {
            self.errors as f64 * 100.0 / self.requests as f64
        }
    }
}

/// The script: the mix per 100 requests (2 sign-ins, 10 refreshes, 45 profile reads, 25
/// list pages, 18 searches), the token pools, and a `done` that prints the figures wrk's
/// own report lacks (p95, errors by kind).
fn script(password: &str) -> String {
    let login = login_body(ADMIN, password);
    format!(
        r#"local login_body = [==[{login}]==]
local json = {{ ["Content-Type"] = "application/json" }}
local access, refresh = {{}}, {{}}
local n, signing_in = 0, false
errors = 0
threads = {{}}

function setup(thread) table.insert(threads, thread) end

function delay() return {PACE_MS} end

function request()
  n = n + 1
  local r = n % 100
  if #access == 0 then
    if signing_in then return wrk.format("GET", "/api/health") end
    signing_in = true
    return wrk.format("POST", "/api/v1/auth/login", json, login_body)
  end
  if r < 2 then
    return wrk.format("POST", "/api/v1/auth/login", json, login_body)
  end
  if r < 12 and #refresh > 0 then
    local token = table.remove(refresh, 1)
    return wrk.format("POST", "/api/v1/auth/refresh", json,
      '{{"refreshToken":"' .. token .. '"}}')
  end
  local auth = {{ ["Authorization"] = "Bearer " .. access[math.random(#access)] }}
  if r < 57 then return wrk.format("GET", "/api/v1/profile", auth) end
  if r < 82 then return wrk.format("GET", "/api/v1/users?limit=20", auth) end
  return wrk.format("GET", "/api/v1/users/search?q=bench" .. (r % 7), auth)
end

function response(status, headers, body)
  if status >= 300 then errors = errors + 1 return end
  local a = body:match('"accessToken":"([^"]+)"')
  local t = body:match('"refreshToken":"([^"]+)"')
  if a then
    table.insert(access, a)
    if #access > 20 then table.remove(access, 1) end
  end
  if t then
    table.insert(refresh, t)
    if #refresh > 50 then table.remove(refresh, 1) end
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("errors") end
  local e = summary.errors
  bad = bad + e.connect + e.read + e.write + e.timeout
  io.write(string.format("mix requests %d\n", summary.requests))
  io.write(string.format("mix seconds %.3f\n", summary.duration / 1e6))
  io.write(string.format("mix p95_ms %.3f\n", latency:percentile(95) / 1000))
  io.write(string.format("mix errors %d\n", bad))
end
"#
    )
}

/// Serves with `env`, runs the scenario for the bench's mixed-load length, stops.
pub(super) fn measure(
    ems: &Path,
    env: &[(&'static str, String)],
    work: &Path,
    password: &str,
    flags: &Bench,
) -> Result<Mixed> {
    let script_path = work.join("mix.lua");
    write_private(&script_path, &script(password))
        .with_context(|| format!("cannot write {}", script_path.display()))?;
    let log = work.join("mix.log");
    let addr = free_loopback_port()?;
    let outcome = (|| {
        let server = Server::start(ems, addr, env, &log)?;
        let run = (|| {
            server.wait_healthy(Duration::from_secs(60))?;
            let secs = if flags.quick { 5 } else { 60 };
            ui::step(format!(
                "mixed load: {USERS} virtual users, {PACE_MS} ms apart, {secs} s"
            ));
            let out = Cmd::new("wrk")
                .args(["-t2", "-c"])
                .arg(USERS.to_string())
                .arg("-d")
                .arg(format!("{secs}s"))
                .arg("--timeout")
                .arg("2s")
                .arg("-s")
                .arg(&script_path)
                .arg(format!("http://{addr}/"))
                .quiet()
                .output()?;
            let report = String::from_utf8_lossy(&out.stdout).into_owned();
            if !out.status.success() {
                bail!(
                    "wrk failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            parse(&report).with_context(|| format!("cannot read wrk's report:\n{report}"))
        })();
        let stopped = server.stop();
        let mixed = run?;
        stopped?;
        Ok(mixed)
    })();
    fs::remove_file(&script_path).ok();
    if outcome.is_ok() {
        fs::remove_file(&log).ok();
    }
    outcome
}

/// The `mix ...` lines the script's `done` prints.
fn parse(report: &str) -> Result<Mixed> {
    let value = |key: &str| -> Result<f64> {
        report
            .lines()
            .find_map(|line| {
                line.strip_prefix("mix ")?
                    .strip_prefix(key)?
                    .strip_prefix(' ')
            })
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| crate::error::Error::msg(format!("no `mix {key}` line")))
    };
    let requests = value("requests")?;
    let seconds = value("seconds")?;
    if seconds <= 0.0 {
        bail!("the run took no time");
    }
    Ok(Mixed {
        requests_per_sec: requests / seconds,
        p95_ms: value("p95_ms")?,
        requests: requests as u64,
        errors: value("errors")? as u64,
    })
}

/// The scenario's row beside the seed's goals.
pub(super) fn print_table(mixed: &Mixed) {
    ui::step("the seed's load scenario (wrk + Lua, tokens rotated)");
    println!("| mixed load | req/s | p95 | errors | goal |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| {USERS} users: login, refresh, profile, list, search | {:.0} | {:.1} ms | {:.3} % ({} of {}) | 1,000 req/s, p95 < 200 ms, errors < 0.1 % |",
        mixed.requests_per_sec,
        mixed.p95_ms,
        mixed.error_percent(),
        mixed.errors,
        mixed.requests
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_figures_are_read() {
        let report = "Running 1m test\n  2 threads\nmix requests 58000\nmix seconds 60.000\n\
                      mix p95_ms 12.500\nmix errors 3\nRequests/sec: 966.66\n";
        let mixed = parse(report).unwrap();
        assert_eq!(mixed.requests, 58_000);
        assert!((mixed.requests_per_sec - 966.666).abs() < 0.01);
        assert_eq!(mixed.p95_ms, 12.5);
        assert_eq!(mixed.errors, 3);
        assert!((mixed.error_percent() - 0.00517).abs() < 0.0001);
        assert!(parse("Requests/sec: 1\n").is_err());
    }

    #[test]
    fn the_script_signs_in_as_the_bench_admin_and_rotates_refresh_tokens() {
        let lua = script("p\"w");
        assert!(lua.contains(&format!("\"username\":\"{ADMIN}\"")));
        assert!(lua.contains("\"password\":\"p\\\"w\""));
        assert!(
            lua.contains("table.remove(refresh, 1)"),
            "each refresh token used once"
        );
        assert!(lua.contains(&format!("function delay() return {PACE_MS} end")));
    }
}
