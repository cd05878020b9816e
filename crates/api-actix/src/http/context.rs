//! The `Ctx` extractor: who is calling from where, for audit entries and sessions.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header::USER_AGENT;
use actix_web::{FromRequest, HttpRequest};
use domain::audit::RequestContext;

use crate::http::client_ip::client_ip;
use crate::http::error::ApiError;
use crate::http::request_id::RequestId;

/// The longest user agent kept; longer ones are cut.
const MAX_USER_AGENT: usize = 512;

/// The request's client IP, user agent and request id.
pub struct Ctx(pub RequestContext);

impl paperclip::v2::schema::Apiv2Schema for Ctx {}
impl paperclip::actix::OperationModifier for Ctx {}

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user_agent = req
            .headers()
            .get(USER_AGENT)
            // Bytes that are not UTF-8 (HTTP allows obs-text) are replaced, not lost;
            // control characters are dropped: nothing a store would refuse reaches it.
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_USER_AGENT)
                    .collect::<String>()
            });
        ready(Ok(Self(RequestContext {
            actor: None,
            ip_address: client_ip(req).map(|ip| ip.to_string()),
            user_agent,
            request_id: Some(RequestId::of(req).0),
        })))
    }
}
