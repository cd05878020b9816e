//! `GET /metrics`: the Prometheus scrape endpoint. paperclip skips it (it answers text);
//! the document describes it by hand (`routes/docs/operational.rs`).

use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse};
use paperclip::actix::{api_v2_operation, web};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::auth::bearer;
use crate::http::error::{ApiError, ErrorCode};
use crate::startup::AppState;

/// Whether the request carries `Authorization: Bearer <expected>`. Compares digests in
/// constant time, so neither the token's bytes nor its length leak through timing.
fn authorized(req: &HttpRequest, expected: &SecretString) -> bool {
    let Some(presented) = bearer(req) else {
        return false;
    };
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.expose_secret().as_bytes());
    bool::from(presented.ct_eq(&expected))
}

/// The Prometheus text exposition; 401 `UNAUTHORIZED` without the right bearer token
/// when `METRICS_TOKEN` is set; 404 when `METRICS_ENABLED=false`.
#[api_v2_operation(skip)]
pub async fn scrape(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !state.metrics_enabled {
        // As if the route did not exist: the same answer as any unknown path.
        return crate::http::error::not_found(req).await;
    }
    if let Some(token) = &state.metrics_token {
        if !authorized(&req, token) {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "a valid metrics bearer token is required",
            ));
        }
    }
    let (body, content_type) = state.metrics.render().map_err(|err| {
        tracing::error!(error = %err, "metrics could not be encoded");
        ApiError::internal()
    })?;
    let mut res = HttpResponse::Ok().body(body);
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        res.headers_mut().insert(CONTENT_TYPE, value);
    }
    Ok(res)
}
