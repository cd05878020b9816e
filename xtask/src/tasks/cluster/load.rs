//! The load generator: worker threads, each a signed-in user sending at a fixed pace
//! through the proxy (reads of its profile, updates of its display name, and user
//! creations as the admin), plus one thread walking the audit chain every second. Each
//! request comes from a fresh client IP (see [`client`]), so no rate budget is spent.
//!
//! A client told to retry (503 with `Retry-After`) waits as told and sends the same
//! request again; anything else that is not the expected answer is an error. What each
//! worker had acknowledged is kept for the check afterwards.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::tasks::cluster::client::{fresh_ip, json_string, Request, Response};

/// Attempts of one request before the client gives up.
const ATTEMPTS: u32 = 5;

/// The longest wait a `Retry-After` gets (the proxy and the instances say 1 s or less).
const MAX_WAIT: Duration = Duration::from_secs(2);

/// Who a worker is.
#[derive(Debug, Clone)]
pub struct Worker {
    /// Index, part of the names it makes.
    pub index: usize,
    /// The worker user's access token.
    pub token: String,
}

/// What the workers share.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The proxy.
    pub proxy: SocketAddr,
    /// The admin's access token (user creations and the audit check).
    pub admin_token: String,
    /// The password of every user the load creates.
    pub password: String,
    /// Prefix of the usernames the load creates, unique per phase.
    pub prefix: String,
    /// Time between two requests of one worker.
    pub interval: Duration,
}

/// A proxy 503: when, and the instances nginx had tried.
#[derive(Debug, Clone)]
pub struct ProxyRetry {
    /// When the answer came.
    pub at: Instant,
    /// The ports nginx had tried.
    pub upstreams: Vec<u16>,
}

/// The tally of one thread, merged into one for the phase.
#[derive(Debug, Default)]
pub struct Tally {
    /// Requests (each counted once, however often it was retried).
    pub requests: u64,
    /// Answers that were not what the request should get, or no answer.
    pub errors: Vec<String>,
    /// 503 with `Retry-After` from an instance.
    pub instance_retries: u64,
    /// 503 with `Retry-After` from the proxy.
    pub proxy_retries: Vec<ProxyRetry>,
    /// Answers for which nginx tried more than one instance.
    pub failovers: u64,
    /// Who served each final answer, and when.
    pub served: Vec<(Instant, u16)>,
    /// Users created with 201: id and username.
    pub created: Vec<(String, String)>,
    /// Usernames whose creation was retried and then refused as taken: created by the
    /// attempt the client never heard back from.
    pub created_unheard: Vec<String>,
    /// Per worker: the display name acknowledged last, and any sent after it without an
    /// acknowledgement.
    pub display_names: Vec<(usize, Option<String>, Vec<String>)>,
    /// Audit chain walks.
    pub verifies: u64,
    /// Walks that did not report a valid chain.
    pub invalid_verifies: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.errors.extend(other.errors);
        self.instance_retries += other.instance_retries;
        self.proxy_retries.extend(other.proxy_retries);
        self.failovers += other.failovers;
        self.served.extend(other.served);
        self.created.extend(other.created);
        self.created_unheard.extend(other.created_unheard);
        self.display_names.extend(other.display_names);
        self.verifies += other.verifies;
        self.invalid_verifies.extend(other.invalid_verifies);
    }

    /// Sends `request`, retrying as told; the final answer, or `None` (an error is
    /// recorded) when none came.
    fn call(&mut self, proxy: SocketAddr, request: &Request<'_>) -> Option<(Response, u32)> {
        self.requests += 1;
        for attempt in 0..ATTEMPTS {
            let response = match request.send(fresh_ip(), proxy) {
                Ok(response) => response,
                Err(e) => {
                    self.errors.push(format!(
                        "{} {}: no answer: {e}",
                        request.method, request.path
                    ));
                    return None;
                }
            };
            if response.told_to_retry() {
                if response.proxy_error {
                    self.proxy_retries.push(ProxyRetry {
                        at: Instant::now(),
                        upstreams: ports(&response),
                    });
                } else {
                    self.instance_retries += 1;
                }
                thread::sleep(wait_for(&response));
                continue;
            }
            if response.failed_over() {
                self.failovers += 1;
            }
            if let Some(port) = response.served_by() {
                self.served.push((Instant::now(), port));
            }
            return Some((response, attempt));
        }
        self.errors.push(format!(
            "{} {}: still told to retry after {ATTEMPTS} attempts",
            request.method, request.path
        ));
        None
    }

    fn unexpected(&mut self, what: &str, response: &Response) {
        let body: String = response.body.chars().take(200).collect();
        self.errors
            .push(format!("{what}: status {} {body}", response.status));
    }
}

/// The ports in `X-Upstream`.
fn ports(response: &Response) -> Vec<u16> {
    response
        .upstreams()
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// How long `Retry-After` says to wait, at most [`MAX_WAIT`].
fn wait_for(response: &Response) -> Duration {
    response
        .retry_after
        .as_deref()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(MAX_WAIT, |secs| Duration::from_secs(secs).min(MAX_WAIT))
}

/// A running load; [`Load::stop`] ends it and returns the merged tally.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Tally>>,
}

impl Load {
    /// Starts one thread per worker and the audit walker.
    pub fn start(plan: &Plan, workers: &[Worker]) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for worker in workers {
            let (plan, worker, stop) = (plan.clone(), worker.clone(), Arc::clone(&stop));
            threads.push(
                thread::Builder::new()
                    .name(format!("load-{}", worker.index))
                    .spawn(move || work(&plan, &worker, &stop))?,
            );
        }
        let (plan, stop_walker) = (plan.clone(), Arc::clone(&stop));
        threads.push(
            thread::Builder::new()
                .name("audit-verify".into())
                .spawn(move || verify_throughout(&plan, &stop_walker))?,
        );
        Ok(Self { stop, threads })
    }

    /// Stops every thread and merges their tallies.
    pub fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Tally::default();
        for thread in self.threads {
            match thread.join() {
                Ok(tally) => total.merge(tally),
                Err(_) => total.errors.push("a load thread panicked".into()),
            }
        }
        total
    }
}

/// One worker: every 20th request creates a user, every 4th updates the display name,
/// the rest read the profile.
fn work(plan: &Plan, worker: &Worker, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let mut acked: Option<String> = None;
    let mut unacked: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut k: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = started + plan.interval * k;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        if k.is_multiple_of(20) {
            let username = format!("{}{}n{k}", plan.prefix, worker.index);
            let body = format!(
                "{{\"username\":{},\"displayName\":\"load user\",\"password\":{}}}",
                json_string(&username),
                json_string(&plan.password)
            );
            let request = Request::new("POST", "/api/v1/users")
                .token(&plan.admin_token)
                .json(&body);
            match tally.call(plan.proxy, &request) {
                Some((r, _)) if r.status == 201 => match r.field("id") {
                    Some(id) => tally.created.push((id.to_owned(), username)),
                    None => tally.unexpected("POST /users without an id", &r),
                },
                Some((r, attempt)) if r.status == 409 && attempt > 0 => {
                    tally.created_unheard.push(username);
                }
                Some((r, _)) => tally.unexpected("POST /api/v1/users", &r),
                None => {}
            }
        } else if k % 4 == 1 {
            let name = format!("worker {} update {k}", worker.index);
            let body = format!("{{\"displayName\":{}}}", json_string(&name));
            let request = Request::new("PATCH", "/api/v1/profile")
                .token(&worker.token)
                .json(&body);
            match tally.call(plan.proxy, &request) {
                Some((r, _)) if r.status == 200 => {
                    acked = Some(name);
                    unacked.clear();
                }
                Some((r, _)) => {
                    unacked.push(name);
                    tally.unexpected("PATCH /api/v1/profile", &r);
                }
                None => unacked.push(name),
            }
        } else {
            let request = Request::new("GET", "/api/v1/profile").token(&worker.token);
            match tally.call(plan.proxy, &request) {
                Some((r, _)) if r.status == 200 => {}
                Some((r, _)) => tally.unexpected("GET /api/v1/profile", &r),
                None => {}
            }
        }
        k += 1;
    }
    tally.display_names.push((worker.index, acked, unacked));
    tally
}

/// Walks the audit chain every second while the load runs.
fn verify_throughout(plan: &Plan, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed) {
        let request = Request::new("GET", "/api/v1/audit-logs/verify").token(&plan.admin_token);
        if let Some((r, _)) = tally.call(plan.proxy, &request) {
            tally.verifies += 1;
            if r.status != 200 || !r.is_true("valid") {
                let body: String = r.body.chars().take(200).collect();
                tally
                    .invalid_verifies
                    .push(format!("status {} {body}", r.status));
            }
        }
        // real timer: one walk a second, whatever the clock port of the server says.
        thread::sleep(Duration::from_secs(1));
    }
    // The walks are not part of the load's request count.
    tally.requests = 0;
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Response {
        Response {
            status,
            retry_after: retry_after.map(str::to_owned),
            upstream: Some("127.0.0.1:4001, 127.0.0.1:4002".into()),
            proxy_error: false,
            body: String::new(),
        }
    }

    #[test]
    fn retry_after_is_obeyed_up_to_the_cap() {
        assert_eq!(wait_for(&answer(503, Some("1"))), Duration::from_secs(1));
        assert_eq!(wait_for(&answer(503, Some("60"))), MAX_WAIT);
        assert_eq!(wait_for(&answer(503, Some("soon"))), MAX_WAIT);
        assert_eq!(ports(&answer(200, None)), vec![4001, 4002]);
    }

    #[test]
    fn merged_tallies_add_up() {
        let mut a = Tally {
            requests: 3,
            instance_retries: 1,
            failovers: 2,
            ..Tally::default()
        };
        let b = Tally {
            requests: 4,
            errors: vec!["x".into()],
            proxy_retries: vec![ProxyRetry {
                at: Instant::now(),
                upstreams: vec![4001],
            }],
            ..Tally::default()
        };
        a.merge(b);
        assert_eq!(a.requests, 7);
        assert_eq!(a.errors, vec!["x".to_owned()]);
        assert_eq!((a.instance_retries, a.proxy_retries.len()), (1, 1));
        assert_eq!(a.failovers, 2);
    }
}
