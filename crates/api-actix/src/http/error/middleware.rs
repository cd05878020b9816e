//! The guarantee that every 4xx/5xx response carries the contract's body with `path`
//! and `requestId`, whatever produced it; the 404 and 405 fallbacks.

use std::fmt;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::body::render;
use super::translate::classify_error;
use super::{ApiError, ErrorCode};
use crate::http::request_id::RequestId;

/// Makes every 4xx/5xx response the contract's error body with `path` and `requestId`,
/// whatever produced it. Headers of the original response (`Retry-After`,
/// `WWW-Authenticate`, rate limit headers) are kept; 1xx–3xx responses pass untouched.
/// An `Err` from inner middleware stays an `Err` whose rendering is the full body.
/// Use with `actix_web::middleware::from_fn(error_body_middleware)`.
pub async fn error_body_middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // No clone of the HttpRequest may live across `next.call`: routing needs it unique.
    let path = req.path().to_owned();
    let request_id = RequestId::of(req.request());
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(err) => {
            let (error, status) = classify_error(&err);
            let kept = kept_headers(err.error_response().headers());
            return Err(CompletedError {
                error,
                status,
                path,
                request_id,
                headers: kept,
                cause: err,
            }
            .into());
        }
    };
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(res.map_into_boxed_body());
    }
    let (error, status) = match res.response().error() {
        Some(err) => classify_error(err),
        None => (ApiError::for_status(status), status),
    };
    let (req, old) = res.into_parts();
    let mut fresh = render(&error, status, &path, request_id.as_str());
    merge_headers(&mut fresh, kept_headers(old.headers()));
    Ok(ServiceResponse::new(req, fresh))
}

/// The headers of an error response worth keeping when its body is replaced.
fn kept_headers(headers: &header::HeaderMap) -> Vec<(header::HeaderName, header::HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                **name,
                header::CONTENT_TYPE | header::CONTENT_LENGTH | header::CONTENT_ENCODING
            )
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// Adds the kept headers (all values of multi-valued ones) to a freshly rendered
/// response, without overriding what the rendering set itself.
fn merge_headers(res: &mut HttpResponse, kept: Vec<(header::HeaderName, header::HeaderValue)>) {
    let rendered: Vec<header::HeaderName> = res.headers().keys().cloned().collect();
    for (name, value) in kept {
        if !rendered.contains(&name) {
            res.headers_mut().append(name, value);
        }
    }
}

/// An error from inner middleware, rendered as the complete contract body.
#[derive(Debug)]
pub(super) struct CompletedError {
    pub(super) error: ApiError,
    status: StatusCode,
    path: String,
    request_id: RequestId,
    headers: Vec<(header::HeaderName, header::HeaderValue)>,
    cause: actix_web::Error,
}

impl fmt::Display for CompletedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cause.fmt(f)
    }
}

impl ResponseError for CompletedError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = render(
            &self.error,
            self.status,
            &self.path,
            self.request_id.as_str(),
        );
        merge_headers(&mut res, self.headers.clone());
        res
    }
}

/// The app's `default_service`: 404 `NOT_FOUND` naming no internals.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::NotFound,
        format!("No route matches {} {}.", req.method(), req.path()),
    ))
}

/// A resource's `default_service`: 405 `METHOD_NOT_ALLOWED`.
pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}.", req.method(), req.path()),
    ))
}
