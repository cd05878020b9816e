//! Driven adapters of the domain's service ports that are neither storage nor HTTP:
//! password hashing (argon2id) and the new-password policy, access token and audit
//! checkpoint signing (JWS with EdDSA / ES256) with a memory of verified tokens, the audit key file (`AUDIT_HMAC_KEY`),
//! and OS-backed randomness, time and ids.
//!
//! A crate of its own (ADR 0017) so that `ems keygen`, a future worker or a test can use
//! them without linking an HTTP server. They decide nothing: what a token must contain,
//! when a password is acceptable and what happens on reuse are rules of `domain` and
//! `application`.

pub mod audit_key;
pub mod checkpoint;
pub mod clock;
pub mod jwt;
pub mod password;
pub mod secrets;
pub mod verified;

pub use audit_key::AuditKeyFileError;
pub use checkpoint::JwsCheckpoints;
pub use clock::OffsetClock;
pub use jwt::{JwtIssuer, JwtKeyError, JwtKeys};
pub use password::{Argon2Hasher, BlockingPasswordStrength};
pub use secrets::{OsSecretGenerator, SystemClock, UuidV7Ids};
pub use verified::VerifiedTokens;
