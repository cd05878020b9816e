//! The routes the server answers, recorded as they are registered: the one list the
//! route/document test compares with the OpenAPI document, and the source of each
//! resource's `Allow` header, so neither can drift from what is mounted.

use paperclip::actix::{web, HttpResponseWrapper};

use crate::http::error::method_not_allowed;

/// One path template and the methods it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedRoute {
    /// The full template as the OpenAPI document spells it (`/api/v1/users/{id}`).
    pub path: String,
    /// Upper-case methods (`GET`, `PATCH`).
    pub methods: Vec<String>,
}

/// The routes registered so far.
#[derive(Debug, Default)]
pub struct Served(Vec<ServedRoute>);

impl Served {
    /// Records `prefix` + `path` as answering the methods of `allow` (`"GET, PATCH"`) and
    /// returns the resource at `path`, whose every other method gets 405 naming them.
    pub fn resource(&mut self, prefix: &str, path: &str, allow: &'static str) -> web::Resource {
        self.record(&format!("{prefix}{path}"), allow);
        web::resource(path)
            .default_service(web::to(move |req| method_not_allowed_allowing(req, allow)))
    }

    /// Records a route mounted some other way (the document and the explorer).
    pub fn record(&mut self, path: &str, allow: &str) {
        self.0.push(ServedRoute {
            path: path.to_owned(),
            methods: allow.split(',').map(|m| m.trim().to_owned()).collect(),
        });
    }

    /// Everything recorded, in registration order.
    pub fn into_routes(self) -> Vec<ServedRoute> {
        self.0
    }
}

/// 405 with the `Allow` header RFC 9110 requires, naming the resource's methods.
async fn method_not_allowed_allowing(
    req: actix_web::HttpRequest,
    allow: &'static str,
) -> HttpResponseWrapper {
    let mut response = match method_not_allowed(req).await {
        Ok(response) => response,
        Err(err) => actix_web::ResponseError::error_response(&err),
    };
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allow) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    HttpResponseWrapper(response)
}
