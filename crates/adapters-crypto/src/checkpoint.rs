//! Audit checkpoints as compact JWS (`typ: ems-audit-checkpoint+jws`), signed with the
//! current JWT signing key (its `kid` in the header, so `/.well-known/jwks.json` verifies
//! them) over `{seq, hash, count, iat}`; `hash` is the head's link in base64url. The
//! `typ` keeps checkpoints and access tokens apart: neither is accepted as the other.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use domain::audit_evidence::{ChainHead, Checkpoint, CheckpointInvalid};
use domain::error::ServiceError;
use domain::ports::CheckpointSigner;
use serde::{Deserialize, Serialize};

use crate::JwtKeys;

/// The JWS header `typ` of a checkpoint.
pub const CHECKPOINT_TYP: &str = "ems-audit-checkpoint+jws";

/// The payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Claims {
    seq: i64,
    hash: String,
    count: i64,
    iat: i64,
}

/// The [`CheckpointSigner`] port over the JWT signing keys.
#[derive(Debug)]
pub struct JwsCheckpoints {
    keys: Arc<JwtKeys>,
}

impl JwsCheckpoints {
    /// Signs and verifies with `keys` (the first signs, all verify).
    pub fn new(keys: Arc<JwtKeys>) -> Self {
        Self { keys }
    }
}

impl CheckpointSigner for JwsCheckpoints {
    fn sign(&self, checkpoint: &Checkpoint) -> Result<String, ServiceError> {
        let claims = Claims {
            seq: checkpoint.head.seq,
            hash: URL_SAFE_NO_PAD.encode(&checkpoint.head.hash),
            count: checkpoint.head.count,
            iat: checkpoint.issued_at,
        };
        self.keys
            .sign_claims(CHECKPOINT_TYP, &claims)
            .map_err(|e| ServiceError(format!("signing the audit checkpoint failed: {e}")))
    }

    fn verify(&self, token: &str) -> Result<Checkpoint, CheckpointInvalid> {
        let claims: Claims = self
            .keys
            .verify_claims(token, CHECKPOINT_TYP)
            .ok_or(CheckpointInvalid)?;
        let hash = URL_SAFE_NO_PAD
            .decode(&claims.hash)
            .map_err(|_| CheckpointInvalid)?;
        if hash.len() != 32 || claims.seq < 0 || claims.count < 0 || claims.count > claims.seq {
            return Err(CheckpointInvalid);
        }
        Ok(Checkpoint {
            head: ChainHead {
                seq: claims.seq,
                hash,
                count: claims.count,
            },
            issued_at: claims.iat,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::fixture;
    use crate::JwtIssuer;
    use domain::ports::TokenIssuer;

    fn keys(names: &[&str]) -> Arc<JwtKeys> {
        let paths: Vec<_> = names.iter().map(|n| fixture(n)).collect();
        Arc::new(JwtKeys::load(&paths).unwrap())
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            head: ChainHead {
                seq: 42,
                hash: vec![7; 32],
                count: 40,
            },
            issued_at: 1_780_000_000,
        }
    }

    #[test]
    fn a_checkpoint_round_trips_and_names_the_signing_key() {
        for key in ["jwt-ed25519.pem", "jwt-p256.pem"] {
            let signer = JwsCheckpoints::new(keys(&[key]));
            let jws = signer.sign(&checkpoint()).unwrap();
            assert_eq!(jws.split('.').count(), 3);
            let header = jsonwebtoken::decode_header(&jws).unwrap();
            assert_eq!(header.kid.as_deref(), Some(signer.keys.signing_kid()));
            assert_eq!(header.typ.as_deref(), Some(CHECKPOINT_TYP));
            assert_eq!(signer.verify(&jws), Ok(checkpoint()));
        }
    }

    #[test]
    fn a_checkpoint_of_an_older_key_verifies_after_rotation_and_a_stranger_does_not() {
        let old = JwsCheckpoints::new(keys(&["jwt-ed25519-old.pem"]));
        let jws = old.sign(&checkpoint()).unwrap();
        let rotated = JwsCheckpoints::new(keys(&["jwt-p256.pem", "jwt-ed25519-old.pem"]));
        assert_eq!(rotated.verify(&jws), Ok(checkpoint()));
        let stranger = JwsCheckpoints::new(keys(&["jwt-ed25519.pem"]));
        assert_eq!(stranger.verify(&jws), Err(CheckpointInvalid));
    }

    #[test]
    fn tampered_garbage_and_access_tokens_are_not_checkpoints() {
        let keys = keys(&["jwt-ed25519.pem"]);
        let signer = JwsCheckpoints::new(keys.clone());
        let jws = signer.sign(&checkpoint()).unwrap();
        let parts: Vec<&str> = jws.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"seq": 41, "hash": URL_SAFE_NO_PAD.encode([7; 32]), "count": 40, "iat": 1})
                .to_string(),
        );
        let swapped = format!("{}.{other}.{}", parts[0], parts[2]);
        let access = JwtIssuer::new(keys, "ems", "ems-api")
            .issue(&domain::token::AccessClaims {
                user_id: domain::user::UserId(uuid::Uuid::nil()),
                session_id: domain::session::SessionId(uuid::Uuid::nil()),
                token_id: uuid::Uuid::nil(),
                issued_at: 0,
                expires_at: i64::MAX / 2,
            })
            .unwrap();
        for token in ["", "a.b.c", "not a jws", swapped.as_str(), access.as_str()] {
            assert_eq!(signer.verify(token), Err(CheckpointInvalid), "{token}");
        }
    }
}
