//! `cargo xtask cluster`: three `ems serve` processes on one PostgreSQL and one Redis
//! behind nginx, all on loopback, driven from outside through the proxy to show that they
//! behave as one server:
//!
//! - one rate budget: `RATE_LIMIT` and `LOGIN_RATE_LIMIT` hold across the instances;
//! - a logout served by one instance is seen by every instance on the next request;
//! - the audit chain stays valid (`GET /api/v1/audit-logs/verify`, walked every second)
//!   while the instances' sealer and retention jobs compete and instances stop and start;
//! - a rolling restart (each instance SIGTERMed and restarted in turn) under a load of
//!   about 200 requests per second loses no request: no error other than a 503 with
//!   `Retry-After`, and every acknowledged write is there afterwards;
//! - one instance SIGKILLed under load: only requests it had in flight may fail (told to
//!   retry by the proxy), and it serves again once restarted.
//!
//! It prints the figures and a table and fails on any violated property. The pieces:
//! [`nginx`] (configuration and process), [`client`] (HTTP from chosen client IPs),
//! [`load`] (the load generator) and [`report`] (the checks' verdicts and the table).

mod client;
mod load;
mod nginx;
mod report;

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cmd::{on_path, Cmd};
use crate::error::{bail, Context, Error, Result};
use crate::flags::Cluster as Flags;
use crate::paths::Paths;
use crate::pg::{self, Cluster};
use crate::secret;
use crate::supervise::{self, Role, Supervised};
use crate::tasks::server::{free_loopback_port, Server};
use crate::ui;

use self::client::{fresh_ip, json_string, Request, Response};
use self::load::{Load, Plan, Tally, Worker};
use self::nginx::{Nginx, PROXY_IP};
use self::report::{Row, Verdicts};

/// The database of the test cluster the instances share, recreated every run.
const DATABASE: &str = "ems_cluster";

/// The admin the checks act as.
const ADMIN: &str = "clusteradmin";

/// Instances behind the proxy.
const INSTANCES: usize = 3;

/// Load workers; with [`INTERVAL`] about 200 requests per second in all.
const WORKERS: usize = 10;

/// Time between two requests of one worker.
const INTERVAL: Duration = Duration::from_millis(50);

/// `RATE_LIMIT` of the instances: small, so the budget test can spend it whole (a
/// refill every 5 s), while the load, whose every request has its own client IP, never
/// meets it.
const RATE_LIMIT: u32 = 12;

/// `LOGIN_RATE_LIMIT` of the instances (a refill every 15 s).
const LOGIN_RATE_LIMIT: u32 = 4;

/// Requests over each budget the budget test sends.
const OVER: u32 = 6;

/// One instance: its address and, while it runs, its process.
struct Instance {
    addr: SocketAddr,
    server: Option<Server>,
    starts: u32,
}

/// Everything the run started, stopped in reverse order by [`Stack::stop`].
struct Stack {
    ems: PathBuf,
    env: Vec<(&'static str, String)>,
    work: PathBuf,
    instances: Vec<Instance>,
    nginx: Option<Nginx>,
    redis: Option<Supervised>,
}

/// Runs the whole check; an error naming every violated property.
pub fn run(paths: &Paths, flags: &Flags) -> Result<()> {
    let nginx_bin = nginx::find()?;
    let Some(redis_bin) = on_path("redis-server") else {
        bail!(
            "redis-server is not installed; on Debian/Ubuntu: sudo apt-get install -y redis-server"
        );
    };
    let work = paths.target.join("ems-cluster");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("cannot clear {}", work.display()))?;
    }
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    let profile = if flags.release { "release" } else { "debug" };
    ui::step(format!("building ems ({profile})"));
    let mut build = Cmd::new("cargo").args(["build", "-p", "api-actix", "--bin", "ems"]);
    if flags.release {
        build = build.arg("--release");
    }
    build.cwd(&paths.root).run()?;
    let ems = paths.target.join(profile).join("ems");

    let cluster = Cluster::new(pg::TEST, paths)?.start()?;
    cluster.drop_database(DATABASE)?;
    cluster.ensure_database(DATABASE)?;
    let database_url = cluster.url(DATABASE);
    Cmd::new(&ems)
        .arg("migrate")
        .env("DATABASE_URL", &database_url)
        .run()?;

    let mut stack = Stack {
        ems,
        env: Vec::new(),
        work: work.clone(),
        instances: Vec::new(),
        nginx: None,
        redis: None,
    };
    let outcome = (|| {
        let redis_addr = free_loopback_port()?;
        stack.redis = Some(start_redis(&redis_bin, redis_addr, &work)?);
        let admin_password = secret::generate(ADMIN)?;
        stack.env = instance_env(
            &stack.ems,
            &work,
            &database_url,
            redis_addr,
            &admin_password,
        )?;
        for _ in 0..INSTANCES {
            stack.instances.push(Instance {
                addr: free_loopback_port()?,
                server: None,
                starts: 0,
            });
        }
        // One after the other: the first creates the admin, the others find it.
        for i in 0..INSTANCES {
            stack.start_instance(i)?;
        }
        let addrs: Vec<SocketAddr> = stack.instances.iter().map(|i| i.addr).collect();
        let proxy = free_loopback_port()?;
        ui::step(format!("nginx on {proxy} in front of {addrs:?}"));
        stack.nginx = Some(Nginx::start(
            &nginx_bin,
            proxy,
            &addrs,
            &work.join("nginx"),
        )?);
        check(&mut stack, proxy, &admin_password)
    })();
    let stopped = stack.stop();
    let cluster_stopped = cluster.stop();
    if outcome.is_err() {
        ui::note(format!("logs: {}", work.display()));
    }
    outcome?;
    stopped?;
    cluster_stopped
}

/// The settings every instance shares: one database, one Redis, the same signing and
/// audit keys, the proxy trusted, small budgets and busy background jobs.
fn instance_env(
    ems: &Path,
    work: &Path,
    database_url: &str,
    redis: SocketAddr,
    admin_password: &str,
) -> Result<Vec<(&'static str, String)>> {
    let signing_key = work.join("jwt-signing.pem");
    Cmd::new(ems)
        .arg("keygen")
        .arg(&signing_key)
        .quiet()
        .read()
        .context("cannot make the shared signing key")?;
    let audit_key = work.join("audit-hmac.key");
    secret::ensure_key(&audit_key, 64)?;
    Ok(vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("REDIS_URL", format!("redis://{redis}")),
        ("APP_ENV", "development".to_owned()),
        ("ADMIN_USERNAME", ADMIN.to_owned()),
        ("ADMIN_PASSWORD", admin_password.to_owned()),
        ("JWT_SIGNING_KEYS", signing_key.display().to_string()),
        ("AUDIT_HMAC_KEY", audit_key.display().to_string()),
        ("TRUSTED_PROXIES", PROXY_IP.to_string()),
        ("RATE_LIMIT", RATE_LIMIT.to_string()),
        ("LOGIN_RATE_LIMIT", LOGIN_RATE_LIMIT.to_string()),
        // The jobs that must run on one instance at a time, run often.
        ("AUDIT_SEAL_INTERVAL", "1s".to_owned()),
        ("AUDIT_RETENTION_INTERVAL", "2s".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ])
}

/// `redis-server` in the foreground on `addr`, memory only.
fn start_redis(binary: &Path, addr: SocketAddr, work: &Path) -> Result<Supervised> {
    ui::step(format!("Redis on {addr}"));
    let log = fs::File::create(work.join("redis.log")).context("cannot create redis.log")?;
    let mut command = Command::new(binary);
    command
        .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(work)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null());
    let child = supervise::spawn(&mut command, Role::Work).context("cannot start redis-server")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !crate::redis::ping(addr.port()) {
        if Instant::now() >= deadline {
            bail!("redis-server does not answer on {addr}");
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok(child)
}

impl Stack {
    fn start_instance(&mut self, i: usize) -> Result<()> {
        let instance = &mut self.instances[i];
        instance.starts += 1;
        let log = self
            .work
            .join(format!("ems-{}.{}.log", i + 1, instance.starts));
        let server = Server::start(&self.ems, instance.addr, &self.env, &log)?;
        server.wait_healthy(Duration::from_secs(60))?;
        ui::note(format!("instance {} serves on {}", i + 1, instance.addr));
        instance.server = Some(server);
        Ok(())
    }

    fn stop_instance(&mut self, i: usize) -> Result<()> {
        match self.instances[i].server.take() {
            Some(server) => server.stop(),
            None => Ok(()),
        }
    }

    fn kill_instance(&mut self, i: usize) -> Result<()> {
        match self.instances[i].server.take() {
            Some(server) => server.kill(),
            None => Ok(()),
        }
    }

    fn port(&self, i: usize) -> u16 {
        self.instances[i].addr.port()
    }

    /// Stops nginx, the instances and Redis; the first error, after trying all.
    fn stop(&mut self) -> Result<()> {
        let mut first: Option<Error> = None;
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        };
        if let Some(nginx) = self.nginx.take() {
            note(nginx.stop());
        }
        for i in 0..self.instances.len() {
            note(self.stop_instance(i));
        }
        if let Some(redis) = self.redis.take() {
            note(redis.stop().map(|_| ()).context("cannot stop redis-server"));
        }
        first.map_or(Ok(()), Err)
    }
}

/// Sends `request` through `to`, retrying when told to; an error when no answer came.
fn ask(to: SocketAddr, request: &Request<'_>) -> Result<Response> {
    for _ in 0..10 {
        let response = request
            .send(fresh_ip(), to)
            .with_context(|| format!("{} {} to {to}", request.method, request.path))?;
        if !response.told_to_retry() {
            return Ok(response);
        }
        thread::sleep(Duration::from_millis(500));
    }
    bail!(
        "{} {}: still told to retry after 10 attempts",
        request.method,
        request.path
    )
}

/// Signs in through `to` from `from`; the whole answer.
fn login_from(from: Ipv4Addr, to: SocketAddr, username: &str, password: &str) -> Result<Response> {
    let body = format!(
        "{{\"username\":{},\"password\":{}}}",
        json_string(username),
        json_string(password)
    );
    Request::new("POST", "/api/v1/auth/login")
        .json(&body)
        .send(from, to)
        .context("cannot sign in")
}

/// Signs in through the proxy and returns the access token.
fn token(proxy: SocketAddr, username: &str, password: &str) -> Result<String> {
    let r = login_from(fresh_ip(), proxy, username, password)?;
    match (r.status, r.field("accessToken")) {
        (200, Some(token)) => Ok(token.to_owned()),
        (status, _) => bail!("signing in as {username} answered {status}"),
    }
}

/// Every check, in order, then the table; an error when any property was violated.
fn check(stack: &mut Stack, proxy: SocketAddr, admin_password: &str) -> Result<()> {
    let checks_started = Instant::now();
    let admin = token(proxy, ADMIN, admin_password)?;
    let password = secret::generate("clw")?;
    let mut workers = Vec::new();
    for index in 0..WORKERS {
        let username = format!("clw{index}");
        let body = format!(
            "{{\"username\":\"{username}\",\"displayName\":\"worker {index}\",\"password\":{}}}",
            json_string(&password)
        );
        let created = ask(
            proxy,
            &Request::new("POST", "/api/v1/users")
                .token(&admin)
                .json(&body),
        )?;
        if created.status != 201 {
            bail!("creating {username} answered {}", created.status);
        }
        workers.push(Worker {
            index,
            token: token(proxy, &username, &password)?,
        });
    }
    let mut verdicts = Verdicts::default();
    let ports: Vec<u16> = (0..INSTANCES).map(|i| stack.port(i)).collect();

    ui::step("one rate budget across the instances");
    rate_budget(proxy, &ports, &password, &mut verdicts)?;

    ui::step("revocation seen by every instance on the next request");
    revocation(stack, proxy, &password, &mut verdicts)?;

    let plan = |phase: &str| Plan {
        proxy,
        admin_token: admin.clone(),
        password: password.clone(),
        prefix: format!("cl{phase}"),
        interval: INTERVAL,
    };
    let mut rows = Vec::new();

    ui::step("rolling restart under load");
    let plan_rolling = plan("r");
    let started = Instant::now();
    let load = Load::start(&plan_rolling, &workers).context("cannot start the load")?;
    let mut windows = Vec::new();
    let outcome = (|| {
        // real timer: the load runs on the wall clock.
        thread::sleep(Duration::from_secs(3));
        for i in 0..INSTANCES {
            let from = Instant::now();
            ui::note(format!(
                "SIGTERM to instance {} ({})",
                i + 1,
                stack.instances[i].addr
            ));
            stack.stop_instance(i)?;
            stack.start_instance(i)?;
            windows.push((stack.port(i), from, Instant::now()));
            // real timer: let the restarted instance take its share before the next.
            thread::sleep(Duration::from_secs(2));
        }
        thread::sleep(Duration::from_secs(2));
        Ok::<_, Error>(())
    })();
    let rolling = load.stop();
    let rolling_secs = started.elapsed();
    outcome?;
    let since_restart: Vec<(u16, Instant)> = windows.iter().map(|(p, _, end)| (*p, *end)).collect();
    let checked = acknowledged(proxy, &admin, &workers, &rolling, &mut verdicts)?;
    verdicts.load("rolling restart", &rolling, &windows, &since_restart);
    rows.push(Row::new(
        "rolling restart (SIGTERM each)",
        &rolling,
        rolling_secs,
        checked,
    ));

    ui::step("one instance SIGKILLed under load");
    let victim = 1;
    let plan_kill = plan("k");
    let started = Instant::now();
    let load = Load::start(&plan_kill, &workers).context("cannot start the load")?;
    let mut windows = Vec::new();
    let mut rejoined = Vec::new();
    let outcome = (|| {
        thread::sleep(Duration::from_secs(3));
        let at = Instant::now();
        ui::note(format!(
            "SIGKILL to instance {} ({})",
            victim + 1,
            stack.instances[victim].addr
        ));
        stack.kill_instance(victim)?;
        // In-flight requests fail at the kill; allow a second for their answers.
        windows.push((stack.port(victim), at, at + Duration::from_secs(1)));
        // real timer: the proxy runs on the survivors for a while.
        thread::sleep(Duration::from_secs(4));
        stack.start_instance(victim)?;
        rejoined.push((stack.port(victim), Instant::now()));
        thread::sleep(Duration::from_secs(4));
        Ok::<_, Error>(())
    })();
    let killed = load.stop();
    let killed_secs = started.elapsed();
    outcome?;
    let checked = acknowledged(proxy, &admin, &workers, &killed, &mut verdicts)?;
    verdicts.load("SIGKILL", &killed, &windows, &rejoined);
    rows.push(Row::new(
        "one instance SIGKILLed",
        &killed,
        killed_secs,
        checked,
    ));

    let walk = ask(
        proxy,
        &Request::new("GET", "/api/v1/audit-logs/verify").token(&admin),
    )?;
    verdicts.expect(
        walk.status == 200 && walk.is_true("valid"),
        format!("audit chain valid at the end ({})", walk.body.trim()),
    );

    report::print(&rows);
    ui::note(format!(
        "checks took {} s (instances started before)",
        checks_started.elapsed().as_secs()
    ));
    verdicts.finish()
}

/// `RATE_LIMIT` + [`OVER`] requests and `LOGIN_RATE_LIMIT` + [`OVER`] logins from one
/// client IP through the proxy: exactly [`OVER`] of each are 429, and the allowed ones
/// were served by more than one instance.
fn rate_budget(
    proxy: SocketAddr,
    ports: &[u16],
    password: &str,
    verdicts: &mut Verdicts,
) -> Result<()> {
    let client = Ipv4Addr::new(127, 3, 0, 1);
    let mut refused = 0;
    let mut served = BTreeMap::new();
    let started = Instant::now();
    for _ in 0..RATE_LIMIT + OVER {
        let r = Request::new("GET", "/api/health")
            .send(client, proxy)
            .context("GET /api/health through the proxy")?;
        match r.status {
            429 => refused += 1,
            200 => *served.entry(r.served_by().unwrap_or(0)).or_insert(0) += 1,
            other => bail!("GET /api/health answered {other}"),
        }
    }
    let elapsed = started.elapsed();
    ui::note(format!(
        "RATE_LIMIT={RATE_LIMIT}: {} requests in {} ms, {refused} refused (429), \
         allowed per instance {served:?}",
        RATE_LIMIT + OVER,
        elapsed.as_millis()
    ));
    verdicts.expect(
        refused == OVER,
        format!(
            "RATE_LIMIT holds across instances: {refused} of {} refused, want {OVER}",
            RATE_LIMIT + OVER
        ),
    );
    verdicts.expect(
        served.len() >= 2 && served.keys().all(|p| ports.contains(p)),
        format!("the allowed requests were spread over the instances: {served:?}"),
    );

    let client = Ipv4Addr::new(127, 3, 0, 2);
    let (mut refused, mut served) = (0, BTreeMap::new());
    for _ in 0..LOGIN_RATE_LIMIT + OVER {
        let r = login_from(client, proxy, "clw0", password)?;
        match r.status {
            429 => refused += 1,
            200 => *served.entry(r.served_by().unwrap_or(0)).or_insert(0) += 1,
            other => bail!("a login answered {other}"),
        }
    }
    ui::note(format!(
        "LOGIN_RATE_LIMIT={LOGIN_RATE_LIMIT}: {} logins, {refused} refused (429), \
         allowed per instance {served:?}",
        LOGIN_RATE_LIMIT + OVER
    ));
    verdicts.expect(
        refused == OVER,
        format!(
            "LOGIN_RATE_LIMIT holds across instances: {refused} of {} refused, want {OVER}",
            LOGIN_RATE_LIMIT + OVER
        ),
    );
    verdicts.expect(
        served.len() >= 2,
        format!("the allowed logins were spread over the instances: {served:?}"),
    );
    Ok(())
}

/// A session used on every instance, logged out through the proxy, then refused by
/// every instance asked directly.
fn revocation(
    stack: &Stack,
    proxy: SocketAddr,
    password: &str,
    verdicts: &mut Verdicts,
) -> Result<()> {
    let access = token(proxy, "clw1", password)?;
    let profile = Request::new("GET", "/api/v1/profile").token(&access);
    for instance in &stack.instances {
        // Warms each instance's view of the session, so a stale one would show.
        let r = profile
            .send(fresh_ip(), instance.addr)
            .with_context(|| format!("GET /api/v1/profile on {}", instance.addr))?;
        verdicts.expect(
            r.status == 200,
            format!(
                "the session works on {} before logout ({})",
                instance.addr, r.status
            ),
        );
    }
    let out = ask(
        proxy,
        &Request::new("POST", "/api/v1/auth/logout")
            .token(&access)
            .json("{}"),
    )?;
    let by = out.served_by().unwrap_or(0);
    verdicts.expect(
        out.status == 204,
        format!(
            "logout through the proxy answered {} {}",
            out.status,
            out.body.trim()
        ),
    );
    let mut seen = Vec::new();
    for instance in &stack.instances {
        let r = profile
            .send(fresh_ip(), instance.addr)
            .with_context(|| format!("GET /api/v1/profile on {}", instance.addr))?;
        seen.push(format!("{} → {}", instance.addr.port(), r.status));
        verdicts.expect(
            r.status == 401 && r.body.contains("SESSION_REVOKED"),
            format!(
                "after a logout served by :{by}, {} answers {} (want 401 SESSION_REVOKED)",
                instance.addr, r.status
            ),
        );
    }
    ui::note(format!(
        "logout served by :{by}; next request on each instance: {}",
        seen.join(", ")
    ));
    Ok(())
}

/// Checks every write the load had acknowledged: each created user exists, and each
/// worker's display name is its last acknowledged one (or one it sent later without an
/// answer). Returns how many writes were checked.
fn acknowledged(
    proxy: SocketAddr,
    admin: &str,
    workers: &[Worker],
    tally: &Tally,
    verdicts: &mut Verdicts,
) -> Result<u64> {
    let mut checked = 0;
    let mut missing = Vec::new();
    for (id, username) in &tally.created {
        let r = ask(
            proxy,
            &Request::new("GET", &format!("/api/v1/users/{id}")).token(admin),
        )?;
        checked += 1;
        if r.status != 200 || r.field("username") != Some(username.as_str()) {
            missing.push(username.clone());
        }
    }
    for username in &tally.created_unheard {
        let r = ask(
            proxy,
            &Request::new("GET", &format!("/api/v1/users?q={username}")).token(admin),
        )?;
        checked += 1;
        if r.status != 200 || !r.body.contains(&format!("\"username\":\"{username}\"")) {
            missing.push(username.clone());
        }
    }
    for (index, acked, unacked) in &tally.display_names {
        let Some(worker) = workers.iter().find(|w| w.index == *index) else {
            continue;
        };
        let Some(acked) = acked else { continue };
        let r = ask(
            proxy,
            &Request::new("GET", "/api/v1/profile").token(&worker.token),
        )?;
        checked += 1;
        let now = r.field("displayName").unwrap_or_default();
        if now != acked && !unacked.iter().any(|u| u == now) {
            missing.push(format!(
                "worker {index}: displayName {now:?}, acknowledged {acked:?}"
            ));
        }
    }
    ui::note(format!(
        "{checked} acknowledged writes checked ({} users created, {} display names)",
        tally.created.len() + tally.created_unheard.len(),
        tally.display_names.len()
    ));
    verdicts.expect(
        missing.is_empty(),
        format!("every acknowledged write is present (missing: {missing:?})"),
    );
    Ok(checked)
}
