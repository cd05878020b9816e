//! HTTP plumbing shared by every route: the contract's error body and the request id.

pub mod error;
pub mod request_id;

pub use error::{ApiError, ErrorBody, ErrorCode, FieldDetail};
pub use request_id::RequestId;
