//! The contract's error body, and the guarantee that every 4xx/5xx response carries it.
//!
//! Handlers fail with [`ApiError`]. Actix's own failures (unknown route, wrong method,
//! bad JSON, oversized or mistyped bodies, bad query or path) and any other error
//! response are rewritten by [`error_body_middleware`], which also fills in `path`
//! and `requestId`, so clients see one shape whatever produced the error.
//!
//! Wiring (outermost last):
//! ```ignore
//! App::new()
//!     .app_data(json_config(64 * 1024))
//!     .app_data(query_config())
//!     .app_data(path_config())
//!     .default_service(web::to(not_found))
//!     .wrap(from_fn(error_body_middleware))
//!     .wrap(from_fn(request_id_middleware))
//! ```
//! and `web::resource(..).default_service(web::to(method_not_allowed))` where a
//! resource should say so explicitly (actix answers 405 by itself otherwise, which the
//! middleware also rewrites).

//!
//! Its parts: [`code`] (the contract's codes), [`body`] ([`ApiError`] and the body it
//! renders), [`translate`] (actix's extractor failures in the contract's terms),
//! [`middleware`] (every error response completed), [`from_app`] (the one exhaustive
//! mapping of application errors).

pub mod body;
pub mod code;
pub mod from_app;
pub mod middleware;
pub mod translate;

pub use body::{ApiError, ErrorBody, FieldDetail};
pub use code::ErrorCode;
pub use middleware::{error_body_middleware, method_not_allowed, not_found};
pub use translate::{json_config, path_config, query_config};

#[cfg(test)]
mod tests;
