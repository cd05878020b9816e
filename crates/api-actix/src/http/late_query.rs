//! [`LateQuery`]: the query string of a protected route, read like `web::Query` but
//! reported only after authorization. Extractors run before the handler, so with
//! `web::Query` a caller the use case would refuse (403) was told first how their
//! parameters were malformed (400); with this one they are told only that they are
//! refused. Values the edge reads as text are the use case's to validate, after it has
//! authorized the caller; this covers what the edge cannot even read (`limit=abc`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::QueryPayloadError;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use application::AppError;
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw};
use paperclip::v2::schema::Apiv2Schema;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// The parameters, or the error `web::Query` would have answered with (the app's
/// `query_config`), held until [`LateQuery::after`].
pub struct LateQuery<T>(Result<T, ApiError>);

impl<T> LateQuery<T> {
    /// The parameters. When they could not be read, `authorize` (the use case's own
    /// check) decides first: its refusal is the answer, else the reading error is.
    pub fn after(self, authorize: impl FnOnce() -> Result<(), AppError>) -> Result<T, ApiError> {
        match self.0 {
            Ok(params) => Ok(params),
            Err(unreadable) => {
                authorize()?;
                Err(unreadable)
            }
        }
    }
}

/// The contract error inside a failed `web::Query` extraction.
fn unreadable(err: &actix_web::Error) -> ApiError {
    if let Some(e) = err.as_error::<ApiError>() {
        return e.clone();
    }
    match err.as_error::<QueryPayloadError>() {
        Some(e) => ApiError::from_query_error(e),
        None => ApiError::for_status(StatusCode::BAD_REQUEST),
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for LateQuery<T> {
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Infallible>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = web::Query::<T>::from_request(req, payload);
        Box::pin(async move {
            Ok(Self(
                read.await
                    .map(web::Query::into_inner)
                    .map_err(|e| unreadable(&e)),
            ))
        })
    }
}

impl<T: Apiv2Schema> Apiv2Schema for LateQuery<T> {}

/// Documented exactly as `web::Query<T>`: the same parameters.
impl<T: Apiv2Schema> OperationModifier for LateQuery<T> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        <web::Query<T> as OperationModifier>::update_parameter(op);
    }

    fn update_definitions(_map: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;
    use crate::http::error::{query_config, ErrorCode, FieldDetail};

    #[derive(Debug, serde::Deserialize)]
    struct Params {
        limit: Option<i64>,
    }

    async fn extract(query: &str) -> LateQuery<Params> {
        let (req, mut payload) = TestRequest::with_uri(&format!("/x?{query}"))
            .app_data(query_config())
            .to_http_parts();
        match LateQuery::<Params>::from_request(&req, &mut payload).await {
            Ok(late) => late,
            Err(never) => match never {},
        }
    }

    #[actix_web::test]
    async fn readable_parameters_are_handed_over_without_asking_authorization() {
        let params = extract("limit=5")
            .await
            .after(|| panic!("not asked when the parameters read"));

        assert_eq!(params.map(|p| p.limit).ok(), Some(Some(5)));
    }

    #[actix_web::test]
    async fn a_refusal_comes_before_an_unreadable_parameter() {
        let err = extract("limit=abc")
            .await
            .after(|| Err(AppError::Forbidden))
            .err()
            .map(|e| e.code);

        assert_eq!(err, Some(ErrorCode::Forbidden));
    }

    #[actix_web::test]
    async fn an_authorized_caller_gets_the_error_web_query_would_answer() {
        let err = extract("limit=abc").await.after(|| Ok(())).err().unwrap();

        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert_eq!(err.message, "The request is invalid.");
        assert_eq!(
            err.details.unwrap(),
            [FieldDetail::new("query", "invalid digit found in string")]
        );
    }
}
