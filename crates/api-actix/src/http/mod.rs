//! HTTP plumbing shared by every route: the contract's error body and its mapping from
//! application errors, request ids, the access log, request metrics, the auth, context
//! and late query extractors, typed responders, security headers, the client IP and rate
//! limits.

pub mod access_log;
pub mod auth;
pub mod client_ip;
pub mod context;
pub mod error;
pub mod json_body;
pub mod late_query;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
pub mod respond;
pub mod security_headers;

pub use error::{ApiError, ErrorBody, ErrorCode, FieldDetail};
pub use request_id::RequestId;
