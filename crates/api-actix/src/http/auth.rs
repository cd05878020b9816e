//! The `Authenticated` extractor: bearer token in, current [`Principal`] out. It only
//! extracts the token; deciding whether it is still good is the `Authenticate` use case.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use application::auth::Prefetched;
use application::{AppError, Principal};
use paperclip::actix::Apiv2Security;

use crate::http::access_log;
use crate::http::error::ApiError;
use crate::startup::AppState;

/// The signed-in caller of a protected route.
#[derive(Apiv2Security)]
#[openapi(
    apiKey,
    alias = "bearerAuth",
    in = "header",
    name = "Authorization",
    description = "`Bearer <accessToken>` from POST /api/v1/auth/login or /auth/refresh"
)]
pub struct Authenticated(pub Principal);

/// The longest bearer token read; anything longer is no token of ours.
const MAX_BEARER_LEN: usize = 4096;

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), the
/// one parser of it for every route that takes one.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_BEARER_LEN)
        .then_some(token)
}

/// Reads ahead the auth cache's answer for the request's bearer token (see
/// [`Authenticate::prefetch`](application::auth::Authenticate::prefetch)), for the
/// extractor to use instead of a lookup of its own; owns what it needs, so the request
/// stays free to change meanwhile.
pub fn prefetch(req: &HttpRequest) -> impl Future<Output = Option<Prefetched>> + 'static {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer(req).map(str::to_owned);
    async move {
        let (state, token) = (state?, token?);
        state.use_cases.authenticate.prefetch(&token).await
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req).map(str::to_owned);
        let prefetched = req.extensions_mut().remove::<Prefetched>();
        let span = access_log::request_span(req);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let token = token.ok_or(AppError::Unauthorized)?;
            let principal = state
                .use_cases
                .authenticate
                .execute_with(&token, prefetched)
                .await?;
            // Every later line of this request, and its access-log line, name the caller.
            if let Some(span) = span {
                span.record("user.id", tracing::field::display(principal.user.id));
            }
            Ok(Self(principal))
        })
    }
}
