//! Access tokens: JWTs signed with Ed25519 (`EdDSA`) or ECDSA P-256 (`ES256`).
//!
//! Keys come from `JWT_SIGNING_KEYS` (PKCS#8 PEM files, newest first): the first signs,
//! all verify, all are published as a JWKS. Each key's `kid` is derived from its public
//! key, and verification pins the algorithm to the key the `kid` names, so `alg: none`,
//! HMAC-with-the-public-key and any other algorithm substitution are refused before a
//! signature is even looked at.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use domain::error::ServiceError;
use domain::ports::TokenIssuer;
use domain::session::SessionId;
use domain::signing_keys::KeySet;
use domain::token::{AccessClaims, TokenError};
use domain::user::UserId;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Why the signing keys could not be loaded. Displays as one line naming the file, never
/// any key material; the caller names the setting the paths came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtKeyError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The file is not a key we can use.
    #[error(
        "{path} is not a PKCS#8 PEM Ed25519 or ECDSA P-256 private key \
         (make one with `openssl genpkey -algorithm ed25519`)"
    )]
    Unsupported {
        /// The file.
        path: String,
    },
    /// The same key is listed twice (its `kid` would be ambiguous).
    #[error("{path} holds the same key as an earlier entry")]
    Duplicate {
        /// The file.
        path: String,
    },
    /// The keys cannot be announced to peers (more than the announcement's limit).
    #[error("{0}")]
    Set(String),
    /// Re-encoding a parsed key failed (should not happen).
    #[error("{path}: cannot encode the key")]
    Encoding {
        /// The file.
        path: String,
    },
}

/// A public key in the shape the JWKS needs.
#[derive(Clone)]
enum PublicKey {
    Ed25519([u8; 32]),
    P256 { x: Vec<u8>, y: Vec<u8> },
}

/// One key pair with its id and pinned algorithm.
struct JwtKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public: PublicKey,
}

impl JwtKey {
    fn from_pem(name: &str, pem: &str) -> Result<Self, JwtKeyError> {
        let encoding_failed = || JwtKeyError::Encoding {
            path: name.to_owned(),
        };
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            let der = key.to_pkcs8_der().map_err(|_| encoding_failed())?;
            return Ok(Self::ed25519(&key, der.as_bytes()));
        }
        if let Ok(key) = p256::SecretKey::from_pkcs8_pem(pem) {
            let der =
                p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&key).map_err(|_| encoding_failed())?;
            let point = key.public_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(encoding_failed());
            };
            let sec1 = point.as_bytes();
            return Ok(Self {
                kid: kid_of(sec1),
                alg: Algorithm::ES256,
                encoding: EncodingKey::from_ec_der(der.as_bytes()),
                decoding: DecodingKey::from_ec_der(sec1),
                public: PublicKey::P256 {
                    x: x.to_vec(),
                    y: y.to_vec(),
                },
            });
        }
        Err(JwtKeyError::Unsupported {
            path: name.to_owned(),
        })
    }

    fn ed25519(key: &ed25519_dalek::SigningKey, pkcs8_der: &[u8]) -> Self {
        let public = key.verifying_key().to_bytes();
        Self {
            kid: kid_of(&public),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(pkcs8_der),
            decoding: DecodingKey::from_ed_der(&public),
            public: PublicKey::Ed25519(public),
        }
    }

    fn jwk(&self) -> serde_json::Value {
        match &self.public {
            PublicKey::Ed25519(x) => json!({
                "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(x),
                "kid": self.kid, "alg": "EdDSA", "use": "sig",
            }),
            PublicKey::P256 { x, y } => json!({
                "kty": "EC", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
                "kid": self.kid, "alg": "ES256", "use": "sig",
            }),
        }
    }
}

/// `kid`: the first 16 hex characters of SHA-256 over the public key bytes (raw 32
/// bytes for Ed25519, uncompressed SEC1 point for P-256). Stable across restarts.
fn kid_of(public_key: &[u8]) -> String {
    Sha256::digest(public_key)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The loaded signing keys, newest first: the first signs, all verify.
pub struct JwtKeys {
    keys: Vec<JwtKey>,
    /// The kids of `keys`, as peers compare them.
    set: KeySet,
    ephemeral: bool,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field(
                "keys",
                &self
                    .keys
                    .iter()
                    .map(|k| (k.kid.as_str(), k.alg))
                    .collect::<Vec<_>>(),
            )
            .field("ephemeral", &self.ephemeral)
            .finish()
    }
}

impl JwtKeys {
    /// Loads the PEM files of `JWT_SIGNING_KEYS`, newest first. With no paths, makes an
    /// ephemeral key: check [`JwtKeys::is_ephemeral`] and warn that tokens die with the
    /// process (configuration refuses this in production).
    #[tracing::instrument(name = "jwt.load_keys", skip_all, fields(key.count = paths.len()))]
    pub fn load(paths: &[PathBuf]) -> Result<Self, JwtKeyError> {
        if paths.is_empty() {
            return Self::ephemeral();
        }
        let mut pems = Vec::with_capacity(paths.len());
        for path in paths {
            let pem = std::fs::read_to_string(path).map_err(|e| JwtKeyError::Read {
                path: path.display().to_string(),
                reason: e.kind().to_string(),
            })?;
            pems.push((path.display().to_string(), pem));
        }
        Self::from_pems(pems.iter().map(|(name, pem)| (name.as_str(), pem.as_str())))
    }

    /// Parses `(name, pem)` pairs, newest first; `name` only labels errors.
    pub fn from_pems<'a>(
        pems: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, JwtKeyError> {
        let mut keys: Vec<JwtKey> = Vec::new();
        let mut seen = HashSet::new();
        for (name, pem) in pems {
            let key = JwtKey::from_pem(name, pem)?;
            if !seen.insert(key.kid.clone()) {
                return Err(JwtKeyError::Duplicate {
                    path: name.to_owned(),
                });
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Self::ephemeral();
        }
        Self::new(keys, false)
    }

    fn new(keys: Vec<JwtKey>, ephemeral: bool) -> Result<Self, JwtKeyError> {
        let signing = keys.first().map_or("", |k| k.kid.as_str());
        let set = KeySet::new(signing, keys.iter().map(|k| k.kid.as_str()))
            .map_err(|e| JwtKeyError::Set(e.to_string()))?;
        Ok(Self {
            keys,
            set,
            ephemeral,
        })
    }

    /// A fresh random Ed25519 key that lives as long as the process.
    pub fn ephemeral() -> Result<Self, JwtKeyError> {
        let key = random_ed25519();
        let der = key.to_pkcs8_der().map_err(|_| JwtKeyError::Encoding {
            path: "(ephemeral)".into(),
        })?;
        Self::new(vec![JwtKey::ed25519(&key, der.as_bytes())], true)
    }

    /// Whether the key was generated at start rather than loaded.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// The `kid` of the signing key.
    pub fn signing_kid(&self) -> &str {
        self.signer().kid.as_str()
    }

    /// The ids of the signing key and of every verifying key, for comparing with peers.
    pub fn key_set(&self) -> KeySet {
        self.set.clone()
    }

    /// The RFC 7517 JWK Set of every public key, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        json!({ "keys": self.keys.iter().map(JwtKey::jwk).collect::<Vec<_>>() })
    }

    /// Signs `claims` with the current key as a compact JWS whose header names `typ`
    /// and the key's `kid` (checkpoints use this; access tokens have their own `typ`).
    pub(crate) fn sign_claims<T: Serialize>(
        &self,
        typ: &str,
        claims: &T,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let key = self.signer();
        let mut header = Header::new(key.alg);
        header.typ = Some(typ.to_owned());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding)
    }

    /// The claims of a compact JWS of header `typ` signed by any loaded key, the
    /// algorithm pinned to the key its `kid` names; no time claims are required. `None`
    /// for anything else.
    pub(crate) fn verify_claims<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
    ) -> Option<T> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.crit.is_some() || header.typ.as_deref() != Some(typ) {
            return None;
        }
        let (_, key) = self.find(header.kid.as_deref()?)?;
        if header.alg != key.alg {
            return None;
        }
        let mut validation = Validation::new(key.alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }

    fn signer(&self) -> &JwtKey {
        // Construction guarantees at least one key.
        &self.keys[0]
    }

    fn find(&self, kid: &str) -> Option<(usize, &JwtKey)> {
        self.keys.iter().enumerate().find(|(_, k)| k.kid == kid)
    }
}

/// A fresh Ed25519 key from the OS generator: the ephemeral key and `ems keygen`.
fn random_ed25519() -> ed25519_dalek::SigningKey {
    let mut seed = secrecy::zeroize::Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(seed.as_mut());
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

/// A fresh Ed25519 private key as PKCS#8 PEM: what `ems keygen` writes, and what
/// [`JwtKeys::load`] reads back. Secret, so it comes wrapped and never prints.
pub fn generate_ed25519_pem() -> Result<SecretString, JwtKeyError> {
    let pem = random_ed25519()
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|_| JwtKeyError::Encoding {
            path: "(new key)".into(),
        })?;
    Ok(SecretString::from(pem.as_str()))
}

/// The access token payload.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
    jti: Uuid,
}

/// The [`TokenIssuer`] port: signs with the newest key, verifies with any loaded key.
pub struct JwtIssuer {
    keys: Arc<JwtKeys>,
    issuer: String,
    audience: String,
    /// One validation per key, in key order, its algorithm pinned to that key's.
    validations: Vec<Validation>,
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("keys", &self.keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// An issuer stamping `iss` / `aud` and requiring them back (`JWT_ISSUER`,
    /// `JWT_AUDIENCE`).
    pub fn new(keys: Arc<JwtKeys>, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let issuer = issuer.into();
        let audience = audience.into();
        let validations = keys
            .keys
            .iter()
            .map(|key| {
                let mut v = Validation::new(key.alg);
                // `exp` must be there, but its time is judged by the caller against the
                // `Clock` port (`AccessClaims::is_expired_at`), not the system clock.
                v.leeway = 0;
                v.validate_exp = false;
                v.validate_nbf = false;
                v.validate_aud = true;
                v.set_issuer(&[issuer.as_str()]);
                v.set_audience(&[audience.as_str()]);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                v
            })
            .collect();
        Self {
            keys,
            issuer,
            audience,
            validations,
        }
    }

    /// The keys, for the JWKS endpoint.
    pub fn keys(&self) -> &Arc<JwtKeys> {
        &self.keys
    }
}

impl TokenIssuer for JwtIssuer {
    fn issue(&self, claims: &AccessClaims) -> Result<String, ServiceError> {
        let key = self.keys.signer();
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        let body = Claims {
            sub: claims.user_id.0,
            sid: claims.session_id.0,
            iat: claims.issued_at,
            exp: claims.expires_at,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: claims.token_id,
        };
        jsonwebtoken::encode(&header, &body, &key.encoding)
            .map_err(|e| ServiceError(format!("signing the access token failed: {e}")))
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let refuse = |reason: &'static str| {
            tracing::debug!(token.refused = reason, "access token refused");
            TokenError::Invalid
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| refuse("malformed"))?;
        if header.crit.is_some() {
            return Err(refuse("critical header"));
        }
        let kid = header.kid.as_deref().ok_or_else(|| refuse("no kid"))?;
        let (index, key) = self.keys.find(kid).ok_or_else(|| refuse("unknown kid"))?;
        if header.alg != key.alg {
            return Err(refuse("algorithm mismatch"));
        }
        let validation = self
            .validations
            .get(index)
            .ok_or_else(|| refuse("no validation"))?;
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, validation).map_err(
            |e| match e.kind() {
                ErrorKind::InvalidSignature => refuse("bad signature"),
                ErrorKind::InvalidIssuer => refuse("wrong issuer"),
                ErrorKind::InvalidAudience => refuse("wrong audience"),
                ErrorKind::MissingRequiredClaim(_) => refuse("missing claim"),
                _ => refuse("invalid"),
            },
        )?;
        let c = data.claims;
        Ok(AccessClaims {
            user_id: UserId(c.sub),
            session_id: SessionId(c.sid),
            token_id: c.jti,
            issued_at: c.iat,
            expires_at: c.exp,
        })
    }

    fn key_set(&self) -> KeySet {
        self.keys.key_set()
    }
}

/// Path of a test fixture (`tests/fixtures/<name>`), for this crate's tests.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `kid`, signing key first.
    fn kids(keys: &JwtKeys) -> Vec<&str> {
        keys.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    const ISS: &str = "ems";
    const AUD: &str = "ems-api";

    fn keys(names: &[&str]) -> Arc<JwtKeys> {
        let paths: Vec<PathBuf> = names.iter().map(|n| fixture(n)).collect();
        Arc::new(JwtKeys::load(&paths).unwrap())
    }

    fn issuer(names: &[&str]) -> JwtIssuer {
        JwtIssuer::new(keys(names), ISS, AUD)
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn claims(exp_in: i64) -> AccessClaims {
        AccessClaims {
            user_id: UserId(Uuid::now_v7()),
            session_id: SessionId(Uuid::now_v7()),
            token_id: Uuid::new_v4(),
            issued_at: now(),
            expires_at: now() + exp_in,
        }
    }

    fn b64(value: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn payload(claims: &AccessClaims, iss: &str, aud: &str) -> serde_json::Value {
        json!({
            "sub": claims.user_id.0, "sid": claims.session_id.0, "iat": claims.issued_at,
            "exp": claims.expires_at, "iss": iss, "aud": aud, "jti": claims.token_id,
        })
    }

    /// Signs arbitrary claims with the fixture key, as a forger holding it could.
    fn sign_raw(key_name: &str, body: &serde_json::Value) -> String {
        let keys = keys(&[key_name]);
        let key = keys.signer();
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, body, &key.encoding).unwrap()
    }

    #[test]
    fn an_ed25519_token_round_trips() {
        let issuer = issuer(&["jwt-ed25519.pem"]);
        let claims = claims(900);
        let token = issuer.issue(&claims).unwrap();
        assert_eq!(issuer.verify(&token), Ok(claims));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(issuer.keys().signing_kid()));
    }

    #[test]
    fn the_key_set_names_the_signing_key_and_every_verifying_key() {
        let issuer = issuer(&["jwt-p256.pem", "jwt-ed25519.pem"]);
        let set = issuer.key_set();
        let kids = kids(issuer.keys());
        assert_eq!(set.signing(), kids[0]);
        assert!(kids.iter().all(|kid| set.verifies(kid)));
        // The same files give the same set on another instance; other keys another set.
        assert_eq!(
            issuer.key_set(),
            self::issuer(&["jwt-p256.pem", "jwt-ed25519.pem"]).key_set()
        );
        assert_ne!(set, JwtKeys::ephemeral().unwrap().key_set());
        assert!(!JwtKeys::ephemeral().unwrap().key_set().verifies(kids[0]));
    }

    #[test]
    fn a_p256_token_round_trips() {
        let issuer = issuer(&["jwt-p256.pem"]);
        let claims = claims(900);
        let token = issuer.issue(&claims).unwrap();
        assert_eq!(issuer.verify(&token), Ok(claims));
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().alg,
            Algorithm::ES256
        );
    }

    #[test]
    fn the_token_carries_the_contract_claims() {
        let issuer = issuer(&["jwt-ed25519.pem"]);
        let claims = claims(900);
        let token = issuer.issue(&claims).unwrap();
        let body: serde_json::Value =
            jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&token)
                .unwrap()
                .claims;
        assert_eq!(body, payload(&claims, ISS, AUD));
    }

    #[test]
    fn an_expired_token_still_verifies_leaving_its_exp_to_the_caller() {
        let issuer = issuer(&["jwt-ed25519.pem"]);
        let claims = claims(-3600);
        let token = issuer.issue(&claims).unwrap();
        assert_eq!(issuer.verify(&token), Ok(claims));
    }

    #[test]
    fn an_expired_token_with_a_bad_signature_is_invalid_not_expired() {
        let issuer = issuer(&["jwt-ed25519.pem"]);
        let forged = sign_raw("jwt-ed25519-old.pem", &payload(&claims(-10), ISS, AUD));
        let genuine = issuer.issue(&claims(-10)).unwrap();
        let mixed = format!(
            "{}.{}",
            genuine.rsplit_once('.').unwrap().0,
            forged.rsplit_once('.').unwrap().1
        );
        assert_eq!(issuer.verify(&mixed), Err(TokenError::Invalid));
    }

    #[test]
    fn a_wrong_audience_or_issuer_is_invalid() {
        let issuer = issuer(&["jwt-ed25519.pem"]);
        let c = claims(900);
        for body in [payload(&c, ISS, "other-api"), payload(&c, "evil", AUD)] {
            let token = sign_raw("jwt-ed25519.pem", &body);
            assert_eq!(issuer.verify(&token), Err(TokenError::Invalid), "{body}");
        }
    }

    #[test]
    fn missing_claims_are_invalid() {
        let issuer = issuer(&["jwt-ed25519.pem"]);
        let mut body = payload(&claims(900), ISS, AUD);
        body.as_object_mut().unwrap().remove("aud");
        assert_eq!(
            issuer.verify(&sign_raw("jwt-ed25519.pem", &body)),
            Err(TokenError::Invalid)
        );
        for claim in ["sid", "exp"] {
            let mut body = payload(&claims(900), ISS, AUD);
            body.as_object_mut().unwrap().remove(claim);
            assert_eq!(
                issuer.verify(&sign_raw("jwt-ed25519.pem", &body)),
                Err(TokenError::Invalid),
                "{claim}"
            );
        }
    }

    #[test]
    fn a_tampered_signature_or_payload_is_invalid() {
        for key in ["jwt-ed25519.pem", "jwt-p256.pem"] {
            let issuer = issuer(&[key]);
            let token = issuer.issue(&claims(900)).unwrap();
            let (head, sig) = token.rsplit_once('.').unwrap();
            let mut sig: Vec<char> = sig.chars().collect();
            sig[10] = if sig[10] == 'A' { 'B' } else { 'A' };
            let tampered = format!("{head}.{}", sig.into_iter().collect::<String>());
            assert_eq!(issuer.verify(&tampered), Err(TokenError::Invalid));

            let parts: Vec<&str> = token.split('.').collect();
            let other = b64(&payload(&claims(900), ISS, AUD));
            let swapped = format!("{}.{other}.{}", parts[0], parts[2]);
            assert_eq!(issuer.verify(&swapped), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn an_unknown_or_missing_kid_is_invalid() {
        let issuer = issuer(&["jwt-ed25519.pem"]);
        let stranger = sign_raw("jwt-ed25519-old.pem", &payload(&claims(900), ISS, AUD));
        assert_eq!(issuer.verify(&stranger), Err(TokenError::Invalid));

        let keys = keys(&["jwt-ed25519.pem"]);
        let no_kid = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &payload(&claims(900), ISS, AUD),
            &keys.signer().encoding,
        )
        .unwrap();
        assert_eq!(issuer.verify(&no_kid), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_is_refused() {
        let issuer = issuer(&["jwt-ed25519.pem"]);
        let header = json!({"alg": "none", "typ": "JWT", "kid": issuer.keys().signing_kid()});
        let body = payload(&claims(900), ISS, AUD);
        for token in [
            format!("{}.{}.", b64(&header), b64(&body)),
            format!("{}.{}", b64(&header), b64(&body)),
        ] {
            assert_eq!(issuer.verify(&token), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn an_hs256_token_keyed_with_the_public_key_is_refused() {
        for key in ["jwt-ed25519.pem", "jwt-p256.pem"] {
            let issuer = issuer(&[key]);
            let jwk = issuer.keys().jwks()["keys"][0].clone();
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(issuer.keys().signing_kid().to_owned());
            let body = payload(&claims(900), ISS, AUD);
            let public_x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
            for secret in [public_x.as_slice(), jwk.to_string().as_bytes()] {
                let token = jsonwebtoken::encode(&header, &body, &EncodingKey::from_secret(secret))
                    .unwrap();
                assert_eq!(issuer.verify(&token), Err(TokenError::Invalid));
            }
        }
    }

    #[test]
    fn another_loaded_keys_algorithm_is_refused_for_this_kid() {
        // An ES256 signature presented under the Ed25519 key's kid.
        let issuer = issuer(&["jwt-ed25519.pem", "jwt-p256.pem"]);
        let ec = keys(&["jwt-p256.pem"]);
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(issuer.keys().signing_kid().to_owned());
        let token = jsonwebtoken::encode(
            &header,
            &payload(&claims(900), ISS, AUD),
            &ec.signer().encoding,
        )
        .unwrap();
        assert_eq!(issuer.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_of_an_older_key_still_verifies() {
        let old = issuer(&["jwt-ed25519-old.pem"]);
        let claims = claims(900);
        let token = old.issue(&claims).unwrap();
        let rotated = issuer(&["jwt-p256.pem", "jwt-ed25519-old.pem"]);
        assert_eq!(rotated.verify(&token), Ok(claims));
        let fresh = rotated.issue(&self::claims(900)).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
            Some(kids(rotated.keys())[0])
        );
    }

    #[test]
    fn garbage_is_invalid() {
        let issuer = issuer(&["jwt-ed25519.pem"]);
        for token in ["", "a.b.c", "not a token", "e30.e30.e30"] {
            assert_eq!(issuer.verify(token), Err(TokenError::Invalid), "{token}");
        }
    }

    #[test]
    fn the_jwks_lists_every_key_in_rfc_7517_shape() {
        let keys = keys(&["jwt-ed25519.pem", "jwt-p256.pem"]);
        let jwks = keys.jwks();
        let list = jwks["keys"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        let ed = &list[0];
        assert_eq!(
            (
                ed["kty"].as_str(),
                ed["crv"].as_str(),
                ed["alg"].as_str(),
                ed["use"].as_str()
            ),
            (Some("OKP"), Some("Ed25519"), Some("EdDSA"), Some("sig"))
        );
        let x = URL_SAFE_NO_PAD.decode(ed["x"].as_str().unwrap()).unwrap();
        assert_eq!(x.len(), 32);
        assert_eq!(ed["kid"].as_str(), Some(kid_of(&x).as_str()));
        assert_eq!(ed["kid"].as_str().unwrap().len(), 16);

        let ec = &list[1];
        assert_eq!(
            (
                ec["kty"].as_str(),
                ec["crv"].as_str(),
                ec["alg"].as_str(),
                ec["use"].as_str()
            ),
            (Some("EC"), Some("P-256"), Some("ES256"), Some("sig"))
        );
        let x = URL_SAFE_NO_PAD.decode(ec["x"].as_str().unwrap()).unwrap();
        let y = URL_SAFE_NO_PAD.decode(ec["y"].as_str().unwrap()).unwrap();
        assert_eq!((x.len(), y.len()), (32, 32));
        let mut sec1 = vec![4u8];
        sec1.extend(&x);
        sec1.extend(&y);
        assert_eq!(ec["kid"].as_str(), Some(kid_of(&sec1).as_str()));
        for key in list {
            assert!(key.get("d").is_none(), "private part published: {key}");
        }
    }

    #[test]
    fn a_jwks_key_verifies_our_tokens() {
        // What a third party does with the published document.
        let issuer = issuer(&["jwt-p256.pem"]);
        let token = issuer.issue(&claims(900)).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(issuer.keys().jwks()["keys"][0].clone()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[AUD]);
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation,
        );
        assert!(decoded.is_ok(), "{decoded:?}");
    }

    #[test]
    fn no_paths_make_an_ephemeral_ed25519_key() {
        let keys = JwtKeys::load(&[]).unwrap();
        assert!(keys.is_ephemeral());
        assert_eq!(keys.jwks()["keys"][0]["alg"], "EdDSA");
        let issuer = JwtIssuer::new(Arc::new(keys), ISS, AUD);
        let claims = claims(60);
        assert_eq!(issuer.verify(&issuer.issue(&claims).unwrap()), Ok(claims));
        assert!(!self::keys(&["jwt-ed25519.pem"]).is_ephemeral());
    }

    #[test]
    fn unusable_key_files_are_refused_with_a_clear_line() {
        let e = JwtKeys::load(&[fixture("jwt-p384-unsupported.pem")]).unwrap_err();
        assert!(matches!(e, JwtKeyError::Unsupported { .. }), "{e}");
        assert!(!e.to_string().contains('\n'), "{e}");

        let e = JwtKeys::load(&[fixture("missing.pem")]).unwrap_err();
        assert!(matches!(e, JwtKeyError::Read { .. }), "{e}");
        assert!(!e.to_string().contains('\n'), "{e}");

        let e = JwtKeys::load(&[fixture("README.md")]).unwrap_err();
        assert!(matches!(e, JwtKeyError::Unsupported { .. }), "{e}");

        let e =
            JwtKeys::load(&[fixture("jwt-ed25519.pem"), fixture("jwt-ed25519.pem")]).unwrap_err();
        assert!(matches!(e, JwtKeyError::Duplicate { .. }), "{e}");
    }

    #[test]
    fn a_generated_pem_key_loads_as_a_fresh_ed25519_signing_key() {
        use secrecy::ExposeSecret as _;
        let first = generate_ed25519_pem().unwrap();
        let second = generate_ed25519_pem().unwrap();
        assert!(first
            .expose_secret()
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));

        let keys = JwtKeys::from_pems([
            ("first", first.expose_secret()),
            ("second", second.expose_secret()),
        ])
        .unwrap();

        assert!(!keys.is_ephemeral());
        assert_eq!(kids(&keys).len(), 2, "two different keys");
        assert_eq!(keys.jwks()["keys"][0]["alg"], "EdDSA");
    }

    #[test]
    fn debug_output_holds_no_key_material() {
        let keys = keys(&["jwt-ed25519.pem"]);
        let x = keys.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
        let debug = format!("{:?}", issuer(&["jwt-ed25519.pem"]));
        assert!(!debug.contains(&x), "{debug}");
    }
}
