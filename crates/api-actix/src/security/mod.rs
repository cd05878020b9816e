//! Security adapters of the domain's service ports: password hashing (argon2id),
//! access token and audit checkpoint signing (JWS with EdDSA / ES256), the audit key
//! file (`AUDIT_HMAC_KEY`), and OS-backed randomness, time and ids;
//! and the server's own TLS configuration (rustls).

pub mod audit_key;
pub mod checkpoint;
pub mod clock;
pub mod jwt;
pub mod password;
pub mod secrets;
pub mod tls;

pub use audit_key::AuditKeyFileError;
pub use checkpoint::JwsCheckpoints;
pub use clock::OffsetClock;
pub use jwt::{JwtIssuer, JwtKeyError, JwtKeys};
pub use password::{Argon2Hasher, BlockingPasswordStrength};
pub use secrets::{OsSecretGenerator, SystemClock, UuidV7Ids};
pub use tls::TlsError;
