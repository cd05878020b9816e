//! Security headers on every response, errors included: `X-Content-Type-Options`,
//! `X-Frame-Options`, `Referrer-Policy`, a `Content-Security-Policy` that allows nothing
//! for API responses and only what the bundled Swagger UI needs under `/api/docs`,
//! the caching rule of the contract (see [`Caching`]), no `Server` banner, and `Strict-Transport-Security` on connections that came in over
//! TLS (never over plain HTTP, where a browser must ignore it and a proxy in front
//! decides; ADR 0013).
//!
//! Register [`security_headers_middleware`] outermost (last `.wrap`), so responses made
//! by other middleware (request ids, error bodies, rate limits) get the headers too.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;

/// The policy of every API response: JSON never needs to load or run anything, and no
/// page may frame it.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
                           form-action 'none'";

/// The policy of the explorer pages (`/api/docs/*`): the Swagger UI bundled in
/// paperclip loads its own scripts, stylesheet and favicons (`'self'`), has one inline
/// `<script>` and one inline `<style>` in its `index.html` (allowed by their SHA-256,
/// not by `'unsafe-inline'`), uses `data:` images in its stylesheet and fetches the
/// OpenAPI document and "try it out" calls from this origin. It needs no `eval`.
/// The hashes are checked against the served `index.html` by the HTTP tests.
pub const DOCS_CSP: &str = "default-src 'none'; \
     script-src 'self' 'sha256-qzIUUVyNis8jVHXKlYc4HGAEsn0o42pLmW1do84Uptw='; \
     style-src 'self' 'sha256-pyVPiLlnqL9OWVoJPs/E6VVF5hBecRzM2gBiarnaqAo='; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// HSTS: two years, subdomains included (the preload list's minimum). Only ever sent
/// on a TLS connection.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Where the explorer pages are served.
const DOCS_PREFIX: &str = "/api/docs";

/// The OpenAPI document under it: plain JSON, so it keeps the strict policy.
const SPEC_PATH: &str = "/api/docs/openapi.json";

/// How a response may be cached: the contract's rule, in this one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Caching {
    /// A public response (health, JWKS, the explorer): its own headers stand.
    Public,
    /// `private, no-cache`: an authenticated response; no shared cache keeps it, and a
    /// client revalidates it with its `ETag` before reuse.
    Revalidate,
    /// `no-store` (and `Pragma: no-cache`): a response that carries a secret (tokens,
    /// `temporaryPassword`) or a bulk of personal data (every export, the profile, the
    /// caller's sessions with their IPs and devices). Error answers of these routes too:
    /// nothing on them is worth keeping.
    NoStore,
}

/// Whether `path` is `prefix` or below it.
fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Caching {
    /// The rule for a request to `path` (the raw path, or the route template it matched,
    /// such as `/api/v1/users/{id}/reset-password`); `authenticated` when it carried
    /// credentials.
    fn of(path: &str, authenticated: bool) -> Self {
        let api = under(path, "/api/v1");
        let secret = under(path, "/api/v1/auth")
            || under(path, "/api/v1/profile")
            || under(path, "/api/v1/sessions")
            || (api
                && (path.ends_with("/export")
                    || path.ends_with("/reset-password")
                    || path.ends_with("/users/import")));
        if secret {
            Self::NoStore
        } else if api || authenticated || path == "/metrics" || path == "/api/health/detailed" {
            Self::Revalidate
        } else {
            Self::Public
        }
    }

    fn apply(self, headers: &mut HeaderMap) {
        match self {
            Self::Public => {}
            Self::Revalidate => {
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-cache"),
                );
            }
            Self::NoStore => {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            }
        }
    }
}

/// Whether `path` is an explorer page or asset.
fn is_docs_page(path: &str) -> bool {
    let under_docs = path == DOCS_PREFIX
        || path
            .strip_prefix(DOCS_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'));
    under_docs && path != SPEC_PATH
}

/// The headers a response to one path gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Policy {
    csp: &'static str,
    caching: Caching,
    hsts: bool,
}

impl Policy {
    /// `tls`: whether the connection is TLS, as the listener that accepted it says
    /// (`AppConfig::secure`), never as a client's `X-Forwarded-Proto` claims.
    fn for_request(path: &str, tls: bool, authenticated: bool) -> Self {
        Self {
            hsts: tls,
            csp: if is_docs_page(path) {
                DOCS_CSP
            } else {
                API_CSP
            },
            caching: Caching::of(path, authenticated),
        }
    }

    /// Once routed: the route template the request matched decides too, so that a path
    /// spelled another way (percent-encoded) still gets its route's rule.
    fn routed(mut self, pattern: Option<&str>, authenticated: bool) -> Self {
        if let Some(pattern) = pattern {
            self.caching = self.caching.max(Caching::of(pattern, authenticated));
        }
        self
    }

    fn apply(self, headers: &mut HeaderMap) {
        let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
            headers.insert(name, HeaderValue::from_static(value));
        };
        set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        set(headers, header::X_FRAME_OPTIONS, "DENY");
        set(headers, header::REFERRER_POLICY, "no-referrer");
        set(headers, header::CONTENT_SECURITY_POLICY, self.csp);
        self.caching.apply(headers);
        if self.hsts {
            set(headers, header::STRICT_TRANSPORT_SECURITY, HSTS);
        }
        headers.remove(header::SERVER);
    }
}

/// Sets the security headers on the response, or on the response actix will render
/// from an error of the inner services.
/// Use with `actix_web::middleware::from_fn(security_headers_middleware)`.
pub async fn security_headers_middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let authenticated = req.headers().contains_key(header::AUTHORIZATION);
    let policy = Policy::for_request(req.path(), req.app_config().secure(), authenticated);
    match next.call(req).await {
        Ok(mut res) => {
            let policy = policy.routed(res.request().match_pattern().as_deref(), authenticated);
            policy.apply(res.headers_mut());
            Ok(res)
        }
        Err(inner) => Err(WithSecurityHeaders { inner, policy }.into()),
    }
}

/// An error from inner services whose rendered response gets the security headers.
#[derive(Debug)]
struct WithSecurityHeaders {
    inner: Error,
    policy: Policy,
}

impl std::fmt::Display for WithSecurityHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl actix_web::ResponseError for WithSecurityHeaders {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let mut res = self.inner.error_response();
        self.policy.apply(res.headers_mut());
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::BoxBody;
    use actix_web::dev::Service as _;
    use actix_web::middleware::from_fn;
    use actix_web::{test, web, App, HttpResponse};

    async fn ok() -> HttpResponse {
        HttpResponse::Ok()
            .insert_header((header::SERVER, "actix-web/4"))
            .insert_header((header::CACHE_CONTROL, "max-age=60"))
            .body("{}")
    }

    async fn unauthorized() -> HttpResponse {
        HttpResponse::Unauthorized().body("{}")
    }

    macro_rules! app {
        () => {
            test::init_service(
                App::new()
                    .wrap(from_fn(security_headers_middleware))
                    .route("/api/v1/auth/login", web::post().to(ok))
                    .route("/api/v1/profile", web::get().to(unauthorized))
                    .route("/api/v1/profile/preferences", web::get().to(ok))
                    .route("/api/v1/sessions", web::get().to(ok))
                    .route("/api/v1/profiles", web::get().to(ok))
                    .route("/api/v1/users", web::get().to(ok))
                    .route("/api/docs/index.html", web::get().to(ok))
                    .route("/api/docs/openapi.json", web::get().to(ok)),
            )
            .await
        };
    }

    fn header<B>(res: &ServiceResponse<B>, name: HeaderName) -> Option<&str> {
        res.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    fn assert_common<B>(res: &ServiceResponse<B>) {
        assert_eq!(
            header(res, header::STRICT_TRANSPORT_SECURITY),
            None,
            "no HSTS over plain HTTP"
        );
        assert_eq!(header(res, header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
        assert_eq!(header(res, header::X_FRAME_OPTIONS), Some("DENY"));
        assert_eq!(header(res, header::REFERRER_POLICY), Some("no-referrer"));
        assert_eq!(header(res, header::SERVER), None, "no server banner");
    }

    async fn get(path: &str) -> ServiceResponse<BoxBody> {
        let app = app!();
        let req = test::TestRequest::get().uri(path).to_request();
        test::call_service(&app, req).await.map_into_boxed_body()
    }

    #[actix_web::test]
    async fn an_api_response_gets_every_header_and_the_strict_policy() {
        let res = get("/api/v1/users").await;

        assert_eq!(res.status(), 200);
        assert_common(&res);
        assert_eq!(header(&res, header::CONTENT_SECURITY_POLICY), Some(API_CSP));
        assert!(API_CSP.starts_with("default-src 'none'; frame-ancestors 'none'"));
        assert_eq!(
            header(&res, header::CACHE_CONTROL),
            Some("private, no-cache"),
            "an API response is never kept by a shared cache, whatever the handler said"
        );
        assert_eq!(header(&res, header::PRAGMA), None);
    }

    #[actix_web::test]
    async fn the_caching_rule_covers_secrets_exports_and_everything_authenticated() {
        for path in [
            "/api/v1/auth/login",
            "/api/v1/auth/refresh",
            "/api/v1/profile",
            "/api/v1/profile/export",
            "/api/v1/sessions",
            "/api/v1/users/export",
            "/api/v1/users/{id}/export",
            "/api/v1/users/{id}/reset-password",
            "/api/v1/users/0190c8a0-0000-7000-8000-000000000000/reset-password",
            "/api/v1/audit-logs/export",
        ] {
            assert_eq!(Caching::of(path, false), Caching::NoStore, "{path}");
        }
        for path in [
            "/api/v1/users",
            "/api/v1/users/{id}",
            "/api/v1/users/search",
            "/api/v1/audit-logs",
            "/api/v1/nowhere",
            "/api/health/detailed",
            "/metrics",
        ] {
            assert_eq!(Caching::of(path, false), Caching::Revalidate, "{path}");
        }
        for path in [
            "/api/health",
            "/.well-known/jwks.json",
            "/api/docs/index.html",
        ] {
            assert_eq!(Caching::of(path, false), Caching::Public, "{path}");
            assert_eq!(
                Caching::of(path, true),
                Caching::Revalidate,
                "{path} with a token"
            );
        }
        assert_eq!(Caching::of("/api/v1/profiles", false), Caching::Revalidate);
    }

    #[actix_web::test]
    async fn the_matched_route_can_only_tighten_the_rule() {
        let raw = Policy::for_request("/api/v1/users/x/reset%2Dpassword", false, true);
        assert_eq!(raw.caching, Caching::Revalidate);
        let routed = raw.routed(Some("/api/v1/users/{id}/reset-password"), true);
        assert_eq!(routed.caching, Caching::NoStore);
        let loosened = Policy::for_request("/api/v1/profile", false, true).routed(None, true);
        assert_eq!(loosened.caching, Caching::NoStore);
    }

    #[actix_web::test]
    async fn auth_profile_and_session_responses_are_not_stored() {
        let app = app!();
        for (method, path) in [
            ("POST", "/api/v1/auth/login"),
            ("GET", "/api/v1/profile"),
            ("GET", "/api/v1/profile/preferences"),
            ("GET", "/api/v1/sessions"),
            ("GET", "/api/v1/auth/unknown"),
        ] {
            let req = test::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(path)
                .to_request();
            let res = test::call_service(&app, req).await;
            assert_common(&res);
            assert_eq!(
                header(&res, header::CACHE_CONTROL),
                Some("no-store"),
                "{path}"
            );
            assert_eq!(header(&res, header::PRAGMA), Some("no-cache"), "{path}");
        }
    }

    #[actix_web::test]
    async fn a_path_that_only_starts_like_profile_is_not_sensitive() {
        let res = get("/api/v1/profiles").await;

        assert_eq!(
            header(&res, header::CACHE_CONTROL),
            Some("private, no-cache")
        );
    }

    #[actix_web::test]
    async fn a_public_response_keeps_its_own_caching() {
        let res = get("/api/docs/index.html").await;

        assert_eq!(header(&res, header::CACHE_CONTROL), Some("max-age=60"));
    }

    #[actix_web::test]
    async fn error_responses_and_unknown_routes_get_the_headers() {
        for (path, status) in [("/api/v1/profile", 401), ("/nowhere", 404)] {
            let res = get(path).await;

            assert_eq!(res.status(), status);
            assert_common(&res);
            assert_eq!(header(&res, header::CONTENT_SECURITY_POLICY), Some(API_CSP));
        }
    }

    #[actix_web::test]
    async fn only_the_explorer_pages_get_the_relaxed_policy() {
        let page = get("/api/docs/index.html").await;
        let spec = get("/api/docs/openapi.json").await;

        assert_common(&page);
        assert_eq!(
            header(&page, header::CONTENT_SECURITY_POLICY),
            Some(DOCS_CSP)
        );
        assert_eq!(
            header(&spec, header::CONTENT_SECURITY_POLICY),
            Some(API_CSP)
        );
        for directive in ["default-src 'none'", "frame-ancestors 'none'"] {
            assert!(DOCS_CSP.contains(directive), "{directive}");
        }
        assert!(!DOCS_CSP.contains("unsafe-inline") && !DOCS_CSP.contains("unsafe-eval"));
    }

    #[actix_web::test]
    async fn hsts_is_applied_on_tls_connections_only() {
        for path in ["/api/health", "/api/docs/index.html", "/api/v1/auth/login"] {
            let mut tls = HeaderMap::new();
            Policy::for_request(path, true, false).apply(&mut tls);
            assert_eq!(
                tls.get(header::STRICT_TRANSPORT_SECURITY).unwrap(),
                HSTS,
                "{path}"
            );

            let mut plain = HeaderMap::new();
            Policy::for_request(path, false, false).apply(&mut plain);
            assert!(plain.get(header::STRICT_TRANSPORT_SECURITY).is_none());
        }
        assert_eq!(HSTS, "max-age=63072000; includeSubDomains");
    }

    #[actix_web::test]
    async fn a_forwarded_proto_header_does_not_turn_hsts_on() {
        let app = app!();
        let req = test::TestRequest::get()
            .uri("/api/v1/users")
            .insert_header(("X-Forwarded-Proto", "https"))
            .insert_header(("Forwarded", "proto=https"))
            .to_request();

        let res = test::call_service(&app, req).await;

        assert_common(&res);
    }

    #[actix_web::test]
    async fn an_error_of_inner_middleware_is_rendered_with_the_headers() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(
                    |_req: ServiceRequest, _next: Next<BoxBody>| async {
                        Err::<ServiceResponse<BoxBody>, _>(actix_web::error::ErrorTooManyRequests(
                            "slow down",
                        ))
                    },
                ))
                .wrap(from_fn(security_headers_middleware))
                .route("/api/v1/auth/login", web::post().to(ok)),
        )
        .await;
        let req = test::TestRequest::post()
            .uri("/api/v1/auth/login")
            .to_request();

        let err = app.call(req).await.unwrap_err();
        let res = err.error_response();

        assert_eq!(res.status(), 429);
        let headers = res.headers();
        assert_eq!(headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(
            headers.get(header::CONTENT_SECURITY_POLICY).unwrap(),
            API_CSP
        );
    }
}
