//! Rate limits per client IP over the `RateLimiter` port (Redis-shared or in-process; see
//! ADR 0011). Every request spends from bucket [`ALL`] (`RATE_LIMIT`); a login also from
//! [`LOGIN`] (`LOGIN_RATE_LIMIT`), an admin write under `/api/v1/users` also from
//! [`ADMIN_WRITE`] (`ADMIN_WRITE_RATE_LIMIT`). The broad bucket is asked first, so a
//! request it refuses spends nothing of the narrower one.
//!
//! Every response of a limited route carries the IETF draft's `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` (seconds, rounded up) of its tightest
//! bucket. A refusal is 429 `RATE_LIMITED` with `Retry-After`, before any handler runs (a
//! refused login reaches neither the password check nor the lockout count), logged at
//! warn with the client IP and the bucket, and counted as a `rate_limited` login outcome
//! on the login route.
//!
//! A request with a bearer token the issuer already verified reads its auth snapshot
//! beside the first budget (see [`auth::prefetch`]), so that with Redis both travel in one
//! round trip; a refused request has then cost one cache read, never a signature check or
//! a database query.
//!
//! Register with `from_fn(rate_limit_middleware)` inside the error-body middleware (which
//! completes the body) and the metrics and access-log middlewares (which count and log
//! the 429), with `web::Data<RateLimits>` and `web::Data<ClientIpResolver>` as app data.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_governor::KeyExtractor;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse};
use domain::ports::{LoginOutcome, RateLimiter, SecurityMetrics};
use domain::rate_limit::{Quota, RateDecision};
use ipnet::Ipv6Net;

use crate::http::auth;
use crate::http::client_ip::ClientIpResolver;
use crate::http::error::{ApiError, ErrorCode};

/// Every route, `RATE_LIMIT` a minute per client IP.
pub const ALL: &str = "all";
/// `POST /api/v1/auth/login`, `LOGIN_RATE_LIMIT` a minute per client IP.
pub const LOGIN: &str = "login";
/// `POST`/`PUT`/`PATCH`/`DELETE` under `/api/v1/users`, `ADMIN_WRITE_RATE_LIMIT` a
/// minute per client IP.
pub const ADMIN_WRITE: &str = "admin-write";

/// `RateLimit-Limit`: the budget of the reported bucket.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: requests left in it right now.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until it is whole again (refused: until a retry passes).
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The route template of the login.
const LOGIN_ROUTE: &str = "/api/v1/auth/login";
/// The prefix of the admin user routes.
const USERS_ROUTE: &str = "/api/v1/users";

/// The budget of each bucket.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    /// Bucket [`ALL`].
    pub all: Quota,
    /// Bucket [`LOGIN`].
    pub login: Quota,
    /// Bucket [`ADMIN_WRITE`].
    pub admin_write: Quota,
}

/// The limiter and the budgets, shared by every worker.
pub struct RateLimits {
    limiter: Arc<dyn RateLimiter>,
    metrics: Arc<dyn SecurityMetrics>,
    quotas: Quotas,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("quotas", &self.quotas)
            .finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Limits with `quotas` over `limiter`; refused logins are counted on `metrics`.
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        metrics: Arc<dyn SecurityMetrics>,
        quotas: Quotas,
    ) -> Self {
        Self {
            limiter,
            metrics,
            quotas,
        }
    }

    /// The buckets a request spends from, broadest first. `route` is the matched route
    /// template (never the raw path, which percent-encoding could disguise).
    fn buckets(&self, method: &Method, route: Option<&str>) -> Vec<(&'static str, Quota)> {
        let mut buckets = vec![(ALL, self.quotas.all)];
        if is_login(method, route) {
            buckets.push((LOGIN, self.quotas.login));
        }
        let write = matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        let under_users = route.is_some_and(|r| {
            r == USERS_ROUTE
                || r.strip_prefix(USERS_ROUTE)
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        if write && under_users {
            buckets.push((ADMIN_WRITE, self.quotas.admin_write));
        }
        buckets
    }
}

fn is_login(method: &Method, route: Option<&str>) -> bool {
    *method == Method::POST && route == Some(LOGIN_ROUTE)
}

/// The limiter's key for a client: the IP, except that an IPv6 client is its /64, the
/// block one subscriber is usually given (else rotating addresses would reset budgets).
fn client_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V6(v6)) => Ipv6Net::new(v6, 64)
            .map(|net| net.trunc().to_string())
            .unwrap_or_else(|_| v6.to_string()),
        Some(ip) => ip.to_string(),
        None => "unknown".to_owned(),
    }
}

/// Whole seconds, rounded up.
fn seconds_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Sets the three `RateLimit-*` headers for `decision`.
fn set_headers(headers: &mut HeaderMap, decision: RateDecision) {
    let (limit, remaining, reset) = match decision {
        RateDecision::Allowed {
            limit,
            remaining,
            reset_after,
        } => (limit, remaining, seconds_up(reset_after)),
        RateDecision::Limited { limit, retry_after } => (limit, 0, seconds_up(retry_after)),
    };
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(reset));
}

/// The decision worth reporting: the one with fewer requests left (on a tie, the
/// narrower bucket, which comes later).
fn tighter(current: Option<RateDecision>, next: RateDecision) -> RateDecision {
    let remaining = |d: RateDecision| match d {
        RateDecision::Allowed { remaining, .. } => remaining,
        RateDecision::Limited { .. } => 0,
    };
    match current {
        Some(current) if remaining(current) < remaining(next) => current,
        _ => next,
    }
}

/// Spends the request's budgets, refusing it with 429 when one is exhausted.
/// Use with `actix_web::middleware::from_fn(rate_limit_middleware)`.
pub async fn rate_limit_middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(limits) = req.app_data::<web::Data<RateLimits>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let resolver = req
        .app_data::<web::Data<ClientIpResolver>>()
        .map(|r| r.get_ref().clone())
        .unwrap_or_default();
    let ip = resolver.extract(&req).ok();
    let key = client_key(ip);
    let route = req.match_pattern();
    let mut report = None;
    let mut prefetch = Some(auth::prefetch(req.request()));
    for (bucket, quota) in limits.buckets(req.method(), route.as_deref()) {
        let acquire = limits.limiter.acquire(bucket, &key, quota);
        let decided = match prefetch.take() {
            // The broadest bucket's decision and the caller's auth snapshot are read
            // together: with Redis, one round trip instead of two.
            Some(prefetch) => {
                let (decided, prefetched) = futures_util::future::join(acquire, prefetch).await;
                if let Some(prefetched) = prefetched {
                    req.extensions_mut().insert(prefetched);
                }
                decided
            }
            None => acquire.await,
        };
        match decided {
            Ok(decision @ RateDecision::Allowed { .. }) => {
                report = Some(tighter(report, decision));
            }
            Ok(decision @ RateDecision::Limited { retry_after, .. }) => {
                tracing::warn!(
                    client.ip = ip.map(tracing::field::display),
                    rate_limit.bucket = bucket,
                    "rate limit exceeded; request refused"
                );
                if is_login(req.method(), route.as_deref()) {
                    limits.metrics.login_attempt(LoginOutcome::RateLimited);
                }
                let seconds = seconds_up(retry_after).max(1);
                let error = ApiError::new(
                    ErrorCode::RateLimited,
                    format!("Too many requests; retry in {seconds} s."),
                )
                .with_retry_after(seconds);
                let mut res = HttpResponse::from_error(error);
                set_headers(res.headers_mut(), decision);
                return Ok(req.into_response(res).map_into_right_body());
            }
            // The composition root wraps the limiter so that this does not happen; should
            // it, a broken limiter must not take the API down with it.
            Err(err) => {
                tracing::error!(error = %err, rate_limit.bucket = bucket, "rate limiter failed; request let through");
            }
        }
    }
    let mut res = next.call(req).await?;
    if let Some(decision) = report {
        set_headers(res.headers_mut(), decision);
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::middleware::from_fn;
    use actix_web::{test as web_test, App, HttpResponse};
    use adapters_redis::LocalRateLimiter;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Logins(AtomicUsize);

    impl SecurityMetrics for Logins {
        fn login_attempt(&self, outcome: LoginOutcome) {
            assert_eq!(outcome, LoginOutcome::RateLimited);
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn quota(n: u32) -> Quota {
        Quota::per_minute(n).unwrap()
    }

    fn limits(all: u32, login: u32, admin_write: u32, metrics: Arc<Logins>) -> RateLimits {
        RateLimits::new(
            Arc::new(LocalRateLimiter::new()),
            metrics,
            Quotas {
                all: quota(all),
                login: quota(login),
                admin_write: quota(admin_write),
            },
        )
    }

    #[test]
    fn each_request_spends_from_all_and_from_its_narrower_bucket() {
        let l = limits(100, 5, 30, Arc::default());
        let names = |m: Method, r: Option<&str>| -> Vec<&str> {
            l.buckets(&m, r).into_iter().map(|(b, _)| b).collect()
        };
        assert_eq!(names(Method::POST, Some(LOGIN_ROUTE)), [ALL, LOGIN]);
        assert_eq!(names(Method::GET, Some(LOGIN_ROUTE)), [ALL]);
        assert_eq!(
            names(Method::POST, Some("/api/v1/users")),
            [ALL, ADMIN_WRITE]
        );
        assert_eq!(
            names(Method::PATCH, Some("/api/v1/users/{id}/reset-password")),
            [ALL, ADMIN_WRITE]
        );
        assert_eq!(
            names(Method::DELETE, Some("/api/v1/users/bulk")),
            [ALL, ADMIN_WRITE]
        );
        assert_eq!(names(Method::GET, Some("/api/v1/users")), [ALL]);
        assert_eq!(names(Method::POST, Some("/api/v1/users-x")), [ALL]);
        assert_eq!(names(Method::PUT, Some("/api/v1/profile/password")), [ALL]);
        assert_eq!(names(Method::GET, None), [ALL], "unknown routes count too");
    }

    #[test]
    fn ipv6_clients_share_their_64_and_ipv4_clients_are_their_address() {
        assert_eq!(
            client_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap())),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_key(Some("2001:db8:1:2:bbbb::9".parse().unwrap())),
            "2001:db8:1:2::/64"
        );
        assert_eq!(client_key(Some("192.0.2.7".parse().unwrap())), "192.0.2.7");
        assert_eq!(client_key(None), "unknown");
    }

    #[test]
    fn the_reported_decision_is_the_one_with_fewer_requests_left() {
        let allowed = |remaining| RateDecision::Allowed {
            limit: 10,
            remaining,
            reset_after: Duration::from_millis(1500),
        };
        assert_eq!(tighter(Some(allowed(3)), allowed(9)), allowed(3));
        assert_eq!(tighter(Some(allowed(9)), allowed(3)), allowed(3));
        let mut headers = HeaderMap::new();
        set_headers(&mut headers, allowed(3));
        assert_eq!(headers.get(RATELIMIT_LIMIT).unwrap(), "10");
        assert_eq!(headers.get(RATELIMIT_REMAINING).unwrap(), "3");
        assert_eq!(headers.get(RATELIMIT_RESET).unwrap(), "2", "rounded up");
    }

    #[actix_web::test]
    async fn over_budget_a_login_is_refused_with_429_headers_and_counted() {
        let metrics = Arc::new(Logins::default());
        let handled = web::Data::new(AtomicUsize::new(0));
        let app = web_test::init_service(
            App::new()
                .app_data(web::Data::new(limits(100, 2, 30, metrics.clone())))
                .app_data(handled.clone())
                .wrap(from_fn(rate_limit_middleware))
                .route(
                    LOGIN_ROUTE,
                    web::post().to(|n: web::Data<AtomicUsize>| async move {
                        n.fetch_add(1, Ordering::SeqCst);
                        HttpResponse::Ok().finish()
                    }),
                ),
        )
        .await;
        let login = || {
            web_test::TestRequest::post()
                .uri(LOGIN_ROUTE)
                .peer_addr("192.0.2.7:4000".parse().unwrap())
                .to_request()
        };
        let first = web_test::call_service(&app, login()).await;
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers().get(RATELIMIT_LIMIT).unwrap(), "2");
        assert_eq!(first.headers().get(RATELIMIT_REMAINING).unwrap(), "1");
        assert_eq!(first.headers().get(RATELIMIT_RESET).unwrap(), "30");
        assert_eq!(web_test::call_service(&app, login()).await.status(), 200);

        let refused = web_test::call_service(&app, login()).await;
        assert_eq!(refused.status(), 429);
        let headers = refused.headers();
        assert_eq!(headers.get("retry-after").unwrap(), "30");
        assert_eq!(headers.get(RATELIMIT_REMAINING).unwrap(), "0");
        assert_eq!(headers.get(RATELIMIT_RESET).unwrap(), "30");
        let body: serde_json::Value = web_test::read_body_json(refused).await;
        assert_eq!(body["code"], "RATE_LIMITED");
        assert_eq!(handled.load(Ordering::SeqCst), 2, "the handler never ran");
        assert_eq!(metrics.0.load(Ordering::SeqCst), 1);

        let elsewhere = web_test::TestRequest::post()
            .uri(LOGIN_ROUTE)
            .peer_addr("192.0.2.8:4000".parse().unwrap())
            .to_request();
        assert_eq!(web_test::call_service(&app, elsewhere).await.status(), 200);
    }
}
