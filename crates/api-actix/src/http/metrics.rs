//! The request metrics middleware: counts and times every request by method, route
//! template and status into `http_requests_total` and `http_request_duration_seconds`.
//!
//! The route label is the matched template (`/api/v1/users/{id}`), or
//! [`UNMATCHED_ROUTE`] when nothing matched: never the raw path, so ids and scanners'
//! guesses cannot grow the label set. Methods outside the standard set count as `OTHER`.
//!
//! Register with `from_fn(metrics_middleware)` outside the error-body middleware, so that
//! the status is the one the client got.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error};

use crate::metrics::UNMATCHED_ROUTE;
use crate::startup::AppState;

/// The method label: the standard methods by name, anything else `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// Records the request once its response is ready.
/// Use with `actix_web::middleware::from_fn(metrics_middleware)`.
pub async fn metrics_middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let started = Instant::now();
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let method = method_label(req.method());
    let route = req.match_pattern();
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    state.metrics.observe_request(
        method,
        route.as_deref().unwrap_or(UNMATCHED_ROUTE),
        status.as_str(),
        started.elapsed(),
    );
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(
            method_label(&Method::from_bytes(b"PROPFIND").unwrap()),
            "OTHER"
        );
    }
}
