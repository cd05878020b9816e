//! Security adapters of the domain's service ports: password hashing (argon2id),
//! access token signing (JWT with EdDSA / ES256), and OS-backed randomness, time and ids;
//! and the server's own TLS configuration (rustls).

pub mod jwt;
pub mod password;
pub mod secrets;
pub mod tls;

pub use jwt::{JwtIssuer, JwtKeyError, JwtKeys};
pub use password::{Argon2Hasher, BlockingPasswordStrength};
pub use secrets::{OsSecretGenerator, SystemClock, UuidV7Ids};
pub use tls::TlsError;
