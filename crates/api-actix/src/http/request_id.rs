//! `X-Request-ID`: the client's own id when it is sane (1–128 characters of
//! `[A-Za-z0-9._-]`), otherwise a fresh UUIDv4. Kept in the request extensions as
//! [`RequestId`] (also an extractor) and echoed on every response, errors included.
//!
//! Register [`request_id_middleware`] outermost (last `.wrap`) so even responses made
//! by other middleware carry the header.

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};

/// The header's name.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied id we keep.
const MAX_LEN: usize = 128;

/// The id of the current request, safe to log and to echo (it holds only
/// `[A-Za-z0-9._-]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(pub String);

impl RequestId {
    /// Whether a client-supplied id may be kept as is.
    pub fn is_sane(candidate: &str) -> bool {
        (1..=MAX_LEN).contains(&candidate.len())
            && candidate
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }

    /// The client's id if sane, else a fresh UUIDv4.
    pub fn from_header(value: Option<&HeaderValue>) -> Self {
        match value.and_then(|v| v.to_str().ok()) {
            Some(id) if Self::is_sane(id) => Self(id.to_owned()),
            _ => Self(uuid::Uuid::new_v4().to_string()),
        }
    }

    /// The id of `req`, assigning (and remembering) one on first use, so every part of
    /// the stack sees the same id whatever the middleware order.
    pub fn of(req: &HttpRequest) -> Self {
        if let Some(id) = req.extensions().get::<Self>() {
            return id.clone();
        }
        let id = Self::from_header(req.headers().get(REQUEST_ID_HEADER));
        req.extensions_mut().insert(id.clone());
        id
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromRequest for RequestId {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// Assigns the request id and sets `X-Request-ID` on the response. An error from the
/// inner services is wrapped so that the response actix renders from it at the top
/// carries the header too. Use with `actix_web::middleware::from_fn(request_id_middleware)`.
pub async fn request_id_middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    // No clone of the HttpRequest may live across `next.call`: routing needs it unique.
    let id = RequestId::of(req.request());
    match next.call(req).await {
        Ok(mut res) => {
            set_header(res.headers_mut(), &id);
            Ok(res)
        }
        Err(inner) => Err(WithRequestId { inner, id }.into()),
    }
}

fn set_header(headers: &mut actix_web::http::header::HeaderMap, id: &RequestId) {
    // The id is sane by construction, so it is always a valid header value.
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
}

/// An error from inner services whose response gets the request id header.
#[derive(Debug)]
pub(crate) struct WithRequestId {
    pub(crate) inner: Error,
    id: RequestId,
}

impl std::fmt::Display for WithRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl actix_web::ResponseError for WithRequestId {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let mut res = self.inner.error_response();
        set_header(res.headers_mut(), &self.id);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::BoxBody;
    use actix_web::middleware::from_fn;
    use actix_web::{test, web, App, HttpResponse};

    async fn echo(id: RequestId) -> HttpResponse {
        HttpResponse::Ok().body(id.0)
    }

    macro_rules! app {
        () => {
            test::init_service(
                App::new()
                    .wrap(from_fn(request_id_middleware))
                    .route("/echo", web::get().to(echo)),
            )
            .await
        };
    }

    use actix_web::dev::Service as _;

    fn header_of<B>(res: &ServiceResponse<B>) -> String {
        res.headers()
            .get(REQUEST_ID_HEADER)
            .expect("X-Request-ID missing")
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[actix_web::test]
    async fn a_sane_client_id_is_echoed_and_seen_by_handlers() {
        let app = app!();
        let id = "abc.DEF_123-xyz";
        let req = test::TestRequest::get()
            .uri("/echo")
            .insert_header(("X-Request-ID", id))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(header_of(&res), id);
        assert_eq!(test::read_body(res).await, id.as_bytes());
    }

    #[actix_web::test]
    async fn an_insane_client_id_is_replaced_by_a_uuid() {
        let app = app!();
        let too_long = "a".repeat(129);
        for bad in [
            too_long.as_str(),
            "has space",
            "semi;colon",
            "ünï",
            "<script>",
            "",
        ] {
            let req = test::TestRequest::get()
                .uri("/echo")
                .insert_header((
                    "X-Request-ID",
                    HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
                ))
                .to_request();
            let res = test::call_service(&app, req).await;
            let got = header_of(&res);
            assert_ne!(got, bad);
            assert!(uuid::Uuid::parse_str(&got).is_ok(), "{got}");
            assert_eq!(test::read_body(res).await, got.as_bytes());
        }
    }

    #[actix_web::test]
    async fn a_128_character_id_is_still_sane() {
        let app = app!();
        let id = "x".repeat(128);
        let req = test::TestRequest::get()
            .uri("/echo")
            .insert_header(("X-Request-ID", id.as_str()))
            .to_request();
        assert_eq!(header_of(&test::call_service(&app, req).await), id);
    }

    #[actix_web::test]
    async fn without_a_client_id_a_uuid_is_made() {
        let app = app!();
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/echo").to_request()).await;
        assert!(uuid::Uuid::parse_str(&header_of(&res)).is_ok());
    }

    #[actix_web::test]
    async fn the_header_is_set_on_a_404() {
        let app = app!();
        let req = test::TestRequest::get()
            .uri("/nowhere")
            .insert_header(("X-Request-ID", "trace-404"))
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), 404);
        assert_eq!(header_of(&res), "trace-404");
    }

    #[actix_web::test]
    async fn the_header_is_set_when_an_inner_middleware_fails() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(
                    |_req: ServiceRequest, _next: Next<BoxBody>| async {
                        Err::<ServiceResponse<BoxBody>, _>(actix_web::error::ErrorTooManyRequests(
                            "slow down",
                        ))
                    },
                ))
                .wrap(from_fn(request_id_middleware))
                .route("/echo", web::get().to(echo)),
        )
        .await;
        let req = test::TestRequest::get()
            .uri("/echo")
            .insert_header(("X-Request-ID", "trace-429"))
            .to_request();
        // The error travels up as an `Err`; actix renders it at the top like this.
        let err = app.call(req).await.unwrap_err();
        let res = err.error_response();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers().get(REQUEST_ID_HEADER).unwrap(), "trace-429");
    }
}
