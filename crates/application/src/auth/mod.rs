//! Sign-in, token rotation, sign-out and per-request authentication.

pub(crate) mod attempt;
mod authenticate;
mod login;
mod logout;
mod refresh;

pub use crate::issue::TokenPair;
pub use authenticate::{Authenticate, Prefetched};
pub use login::{Login, LoginCommand};
pub use logout::{Logout, LogoutAll};
pub use refresh::Refresh;
