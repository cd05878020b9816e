//! Keyed audit evidence (ADR 0015): the pure rules that bind every audit entry to the
//! server's `AUDIT_HMAC_KEY` when it is written, chain the entries under the same key,
//! and describe a signed checkpoint of the chain's head. Adapters only execute them.
//!
//! - **Entry MAC**, computed in the writing transaction:
//!   `mac = HMAC(key, "ems-audit-entry-v2" || public(entry) || field(digest))`, where
//!   `public` is every field but the personal ones, and
//!   `digest = SHA-256("ems-audit-personal-v2" || field(salt) || personal(entry))` commits
//!   to the personal fields (IP address, user agent and the [`PERSONAL_METADATA_KEYS`] of
//!   `metadata`) under a random per-row salt.
//! - **Erasure** (GDPR art. 17) deletes the personal fields *and* the salt and keeps the
//!   digest: the MAC still verifies over the public fields and the kept digest. A row
//!   without salt verifies only while it holds no personal field at all, so "erasing" the
//!   salt cannot be used to slip in changed personal values.
//! - **Chain link**, computed by the sealer:
//!   `link = HMAC(key, label || prev || seq || mac)`, `label` marking the very first link
//!   after an anchor that was never moved by retention ([`LinkKind::First`]).
//! - **Positions**: the anchor (last purged link) and head (newest link) are stored with
//!   `HMAC(key, "ems-audit-anchor-v2"|"ems-audit-head-v2" || seq || hash)`, so moving
//!   either without the key is found.
//!
//! Every field is encoded as a presence byte plus a big-endian 4-byte length and the
//! bytes, so no two different entries encode alike; `metadata` is canonical JSON (object
//! keys sorted by their UTF-8 bytes, no insignificant white space).

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::AuditEntry;

type HmacSha256 = Hmac<Sha256>;

/// Top-level `metadata` keys that hold personal data (names of people): erased with the
/// IP address and user agent, and committed to through the salted digest only.
pub const PERSONAL_METADATA_KEYS: [&str; 3] = ["username", "email", "displayName"];

/// Length of a per-row salt written by the adapters.
pub const SALT_LEN: usize = 16;

/// The server's audit key (`AUDIT_HMAC_KEY`): at least [`AuditKey::MIN_LEN`] bytes.
/// Never printed: `Debug` shows only its length.
pub struct AuditKey(Vec<u8>);

/// Why key material was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuditKeyError {
    /// Fewer than [`AuditKey::MIN_LEN`] bytes.
    #[error("needs at least 32 bytes of key material, got {0}")]
    TooShort(usize),
}

impl AuditKey {
    /// The least key material accepted (256 bits).
    pub const MIN_LEN: usize = 32;

    /// Takes ownership of the key bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, AuditKeyError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(AuditKeyError::TooShort(bytes.len()));
        }
        Ok(Self(bytes))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; the fallback is unreachable.
        match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()),
        }
    }
}

impl Drop for AuditKey {
    fn drop(&mut self) {
        // Best effort: overwrite the key before its memory is released.
        for b in &mut self.0 {
            *b = 0;
        }
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({} bytes, redacted)", self.0.len())
    }
}

/// The fields of one entry as stored, before any interpretation (a changed row may hold
/// an action no enum knows: it must still be encoded, and then fail).
#[derive(Debug, Clone, PartialEq)]
pub struct EntryFields<'a> {
    /// `id`.
    pub id: Uuid,
    /// `user_id`.
    pub user_id: Option<Uuid>,
    /// `action`.
    pub action: &'a str,
    /// `entity_type`.
    pub entity_type: &'a str,
    /// `entity_id`.
    pub entity_id: Option<&'a str>,
    /// `metadata`, personal keys included.
    pub metadata: &'a Value,
    /// `ip_address` (personal).
    pub ip_address: Option<&'a str>,
    /// `user_agent` (personal).
    pub user_agent: Option<&'a str>,
    /// `request_id`.
    pub request_id: Option<&'a str>,
    /// `created_at`.
    pub created_at: DateTime<Utc>,
}

impl<'a> From<&'a AuditEntry> for EntryFields<'a> {
    fn from(e: &'a AuditEntry) -> Self {
        Self {
            id: e.id,
            user_id: e.user_id.map(|u| u.0),
            action: e.action.as_str(),
            entity_type: e.entity_type.as_str(),
            entity_id: e.entity_id.as_deref(),
            metadata: &e.metadata,
            ip_address: e.ip_address.as_deref(),
            user_agent: e.user_agent.as_deref(),
            request_id: e.request_id.as_deref(),
            created_at: e.created_at,
        }
    }
}

impl EntryFields<'_> {
    /// Whether any personal field is present.
    pub fn has_personal_data(&self) -> bool {
        self.ip_address.is_some()
            || self.user_agent.is_some()
            || personal_metadata(self.metadata).is_some()
    }
}

/// What a row stores beside its fields to prove them: the salt (gone once erased), the
/// digest of the personal fields and the entry MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The per-row salt of the personal digest; `None` once the personal fields were erased.
    pub salt: Option<Vec<u8>>,
    /// `SHA-256` of the salt and the personal fields.
    pub digest: Vec<u8>,
    /// The entry MAC.
    pub mac: Vec<u8>,
}

/// One field: absent (0) or present (1) with a big-endian 4-byte length.
fn field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(bytes);
        }
    }
}

/// Canonical JSON: object keys sorted by their bytes, no white space, strings escaped
/// as `serde_json` escapes them, numbers as `serde_json` prints them.
pub fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => push_json_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json_string(key, out);
                out.push(b':');
                if let Some(v) = map.get(key) {
                    canonical_json(v, out);
                }
            }
            out.push(b'}');
        }
    }
}

fn push_json_string(s: &str, out: &mut Vec<u8>) {
    // Serializing a string cannot fail; an empty string stands in for the impossible.
    let quoted = serde_json::to_string(s).unwrap_or_default();
    out.extend_from_slice(quoted.as_bytes());
}

/// The metadata without its personal keys (a non-object is kept whole).
fn public_metadata(metadata: &Value) -> Value {
    match metadata {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !PERSONAL_METADATA_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Only the personal keys of the metadata; `None` when there are none.
fn personal_metadata(metadata: &Value) -> Option<Value> {
    let Value::Object(map) = metadata else {
        return None;
    };
    let personal: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(k, _)| PERSONAL_METADATA_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!personal.is_empty()).then_some(Value::Object(personal))
}

/// The bytes of every non-personal field, in a fixed order.
pub fn public_bytes(entry: &EntryFields<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"ems-audit-entry-v2");
    field(&mut out, Some(entry.id.to_string().as_bytes()));
    let user = entry.user_id.map(|u| u.to_string());
    field(&mut out, user.as_deref().map(str::as_bytes));
    field(&mut out, Some(entry.action.as_bytes()));
    field(&mut out, Some(entry.entity_type.as_bytes()));
    field(&mut out, entry.entity_id.map(str::as_bytes));
    let mut metadata = Vec::new();
    canonical_json(&public_metadata(entry.metadata), &mut metadata);
    field(&mut out, Some(&metadata));
    field(&mut out, entry.request_id.map(str::as_bytes));
    let at = entry
        .created_at
        .to_rfc3339_opts(SecondsFormat::Micros, true);
    field(&mut out, Some(at.as_bytes()));
    out
}

/// `SHA-256` over the salt and the personal fields.
pub fn personal_digest(salt: &[u8], entry: &EntryFields<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"ems-audit-personal-v2");
    field(&mut out, Some(salt));
    field(&mut out, entry.ip_address.map(str::as_bytes));
    field(&mut out, entry.user_agent.map(str::as_bytes));
    let personal = personal_metadata(entry.metadata).map(|v| {
        let mut bytes = Vec::new();
        canonical_json(&v, &mut bytes);
        bytes
    });
    field(&mut out, personal.as_deref());
    Sha256::digest(&out).to_vec()
}

fn entry_mac(key: &AuditKey, entry: &EntryFields<'_>, digest: &[u8]) -> HmacSha256 {
    let mut mac = key.mac();
    mac.update(&public_bytes(entry));
    let mut tail = Vec::with_capacity(40);
    field(&mut tail, Some(digest));
    mac.update(&tail);
    mac
}

/// The evidence of a new entry: what `append_audit` stores with it. `salt` is fresh
/// random bytes ([`SALT_LEN`]).
pub fn seal_entry(key: &AuditKey, entry: &EntryFields<'_>, salt: &[u8]) -> Evidence {
    let digest = personal_digest(salt, entry);
    let mac = entry_mac(key, entry, &digest)
        .finalize()
        .into_bytes()
        .to_vec();
    Evidence {
        salt: Some(salt.to_vec()),
        digest,
        mac,
    }
}

/// Whether a stored entry is the one the key holder wrote (or that entry with its
/// personal fields erased). With a salt the digest is recomputed from the personal
/// fields; without one (erased) no personal field may be present and the kept digest is
/// used. The MAC is compared in constant time.
pub fn entry_verifies(key: &AuditKey, entry: &EntryFields<'_>, evidence: &Evidence) -> bool {
    let digest = match &evidence.salt {
        Some(salt) => {
            let digest = personal_digest(salt, entry);
            if digest != evidence.digest {
                return false;
            }
            digest
        }
        None => {
            if entry.has_personal_data() {
                return false;
            }
            evidence.digest.clone()
        }
    };
    entry_mac(key, entry, &digest)
        .verify_slice(&evidence.mac)
        .is_ok()
}

/// The metadata of an entry's erased form: its personal keys removed. A GDPR erasure
/// stores it with IP address, user agent and salt set to none, digest and MAC kept; that
/// form still verifies ([`entry_verifies`]).
pub fn erase_personal(metadata: &Value) -> Value {
    public_metadata(metadata)
}

/// Which rule a chain link was made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// The first link after an anchor that retention never moved (no anchor MAC):
    /// the start of the keyed chain.
    First,
    /// Every other link.
    Next,
}

/// `HMAC(key, label || prev || seq || mac)`: the link of the entry `seq` whose entry
/// MAC is `mac`, after the link `prev`.
pub fn link(key: &AuditKey, kind: LinkKind, prev: &[u8], seq: i64, mac: &[u8]) -> Vec<u8> {
    let mut m = key.mac();
    m.update(match kind {
        LinkKind::First => b"ems-audit-link-first-v2",
        LinkKind::Next => b"ems-audit-link-next-v2\0",
    });
    let mut bytes = Vec::with_capacity(96);
    field(&mut bytes, Some(prev));
    bytes.extend_from_slice(&seq.to_be_bytes());
    field(&mut bytes, Some(mac));
    m.update(&bytes);
    m.finalize().into_bytes().to_vec()
}

/// Whether `hash` is the link of `(kind, prev, seq, mac)`, compared in constant time.
pub fn link_verifies(
    key: &AuditKey,
    kind: LinkKind,
    prev: &[u8],
    seq: i64,
    mac: &[u8],
    hash: &[u8],
) -> bool {
    let expected = link(key, kind, prev, seq, mac);
    constant_time_eq(&expected, hash)
}

/// A stored position of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The last link purged by retention.
    Anchor,
    /// The newest sealed link.
    Head,
}

/// `HMAC(key, label || seq || hash)` of a position.
pub fn position_mac(key: &AuditKey, position: Position, seq: i64, hash: &[u8]) -> Vec<u8> {
    let mut m = key.mac();
    m.update(match position {
        Position::Anchor => b"ems-audit-anchor-v2",
        Position::Head => b"ems-audit-head-v2\0\0",
    });
    m.update(&seq.to_be_bytes());
    let mut bytes = Vec::with_capacity(40);
    field(&mut bytes, Some(hash));
    m.update(&bytes);
    m.finalize().into_bytes().to_vec()
}

/// Whether `mac` is the MAC of the position, compared in constant time.
pub fn position_verifies(
    key: &AuditKey,
    position: Position,
    seq: i64,
    hash: &[u8],
    mac: &[u8],
) -> bool {
    constant_time_eq(&position_mac(key, position, seq, hash), mac)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The sealed chain's head as a checkpoint states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Sequence number of the newest sealed entry (0 before any).
    pub seq: i64,
    /// Its link hash (32 bytes).
    pub hash: Vec<u8>,
    /// Entries in the verifiable chain: `seq` minus the anchor's sequence number. The
    /// anchor of a checkpoint is therefore `seq - count`, and the anchor never moves back.
    pub count: i64,
}

/// A signed statement of the sealed chain's head: `{seq, hash, count, iat}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The head.
    pub head: ChainHead,
    /// When it was signed (Unix seconds).
    pub issued_at: i64,
}

/// A presented checkpoint is malformed or not signed by a configured key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a checkpoint signed by this server")]
pub struct CheckpointInvalid;

impl Checkpoint {
    /// The anchor's sequence number when the checkpoint was taken.
    pub fn anchor_seq(&self) -> i64 {
        self.head.seq.saturating_sub(self.head.count)
    }
}

/// What [`Checkpoint`] says about the chain as it is now, given the current anchor and
/// head (both verified) and the link found at the checkpoint's sequence number (`None`
/// when no sealed row has it).
pub fn checkpoint_holds(
    checkpoint: &Checkpoint,
    anchor: (i64, &[u8]),
    head_seq: i64,
    link_at_seq: Option<&[u8]>,
) -> bool {
    let cp = &checkpoint.head;
    if cp.count < 0 || cp.seq < 0 || cp.seq > head_seq {
        // The head moved back: newest entries were removed.
        return false;
    }
    if anchor.0 < checkpoint.anchor_seq() {
        // The anchor only moves forward.
        return false;
    }
    if cp.seq > anchor.0 {
        link_at_seq.is_some_and(|h| constant_time_eq(h, &cp.hash))
    } else if cp.seq == anchor.0 {
        constant_time_eq(anchor.1, &cp.hash)
    } else {
        // Purged by retention: the (verified) anchor after it vouches for the cut.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> AuditKey {
        AuditKey::new(vec![7; 32]).unwrap()
    }

    fn other_key() -> AuditKey {
        AuditKey::new(vec![8; 32]).unwrap()
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn meta() -> Value {
        json!({"username": "ghost", "reason": "UNKNOWN_USER", "attempts": 1})
    }

    fn fields(metadata: &Value) -> EntryFields<'_> {
        EntryFields {
            id: Uuid::from_u128(1),
            user_id: Some(Uuid::from_u128(2)),
            action: "LOGIN_FAILED",
            entity_type: "USER",
            entity_id: Some("42"),
            metadata,
            ip_address: Some("198.51.100.4"),
            user_agent: Some("curl/8"),
            request_id: Some("req-1"),
            created_at: at(),
        }
    }

    const SALT: [u8; SALT_LEN] = [3; SALT_LEN];

    #[test]
    fn a_key_needs_32_bytes_and_never_prints() {
        assert_eq!(
            AuditKey::new(vec![1; 31]).unwrap_err(),
            AuditKeyError::TooShort(31)
        );
        let k = AuditKey::new(b"super-secret-material-0123456789".to_vec()).unwrap();
        let debug = format!("{k:?}");
        assert!(!debug.contains("super-secret"), "{debug}");
        assert!(debug.contains("32 bytes"));
    }

    #[test]
    fn a_sealed_entry_verifies_under_its_key_only() {
        let m = meta();
        let e = fields(&m);
        let ev = seal_entry(&key(), &e, &SALT);
        assert_eq!((ev.mac.len(), ev.digest.len()), (32, 32));
        assert!(entry_verifies(&key(), &e, &ev));
        assert!(!entry_verifies(&other_key(), &e, &ev));
    }

    #[test]
    fn every_field_is_covered_by_the_mac() {
        let m = meta();
        let base = fields(&m);
        let ev = seal_entry(&key(), &base, &SALT);
        let other_meta = json!({"username": "ghost", "reason": "UNKNOWN_USER", "attempts": 2});
        let other_name = json!({"username": "ghost2", "reason": "UNKNOWN_USER", "attempts": 1});
        let later = at() + chrono::Duration::microseconds(1);
        let changed: Vec<EntryFields<'_>> = vec![
            EntryFields {
                id: Uuid::from_u128(9),
                ..base.clone()
            },
            EntryFields {
                user_id: None,
                ..base.clone()
            },
            EntryFields {
                action: "LOGIN",
                ..base.clone()
            },
            EntryFields {
                entity_type: "SESSION",
                ..base.clone()
            },
            EntryFields {
                entity_id: None,
                ..base.clone()
            },
            EntryFields {
                metadata: &other_meta,
                ..base.clone()
            },
            EntryFields {
                metadata: &other_name,
                ..base.clone()
            },
            EntryFields {
                ip_address: Some("10.0.0.1"),
                ..base.clone()
            },
            EntryFields {
                user_agent: None,
                ..base.clone()
            },
            EntryFields {
                request_id: Some("req-2"),
                ..base.clone()
            },
            EntryFields {
                created_at: later,
                ..base.clone()
            },
        ];
        for c in &changed {
            assert!(!entry_verifies(&key(), c, &ev), "{c:?}");
        }
        let mut forged = ev.clone();
        forged.digest[0] ^= 1;
        assert!(!entry_verifies(&key(), &base, &forged));
        let mut forged = ev.clone();
        forged.salt = Some(vec![4; SALT_LEN]);
        assert!(!entry_verifies(&key(), &base, &forged));
        let mut forged = ev;
        forged.mac[31] ^= 1;
        assert!(!entry_verifies(&key(), &base, &forged));
    }

    #[test]
    fn fields_cannot_trade_places_across_boundaries() {
        let m = json!({});
        let a = EntryFields {
            entity_id: Some("ab"),
            request_id: Some("c"),
            ..fields(&m)
        };
        let b = EntryFields {
            entity_id: Some("a"),
            request_id: Some("bc"),
            ..fields(&m)
        };
        assert_ne!(public_bytes(&a), public_bytes(&b));
        let none = EntryFields {
            entity_id: None,
            ..fields(&m)
        };
        let empty = EntryFields {
            entity_id: Some(""),
            ..fields(&m)
        };
        assert_ne!(public_bytes(&none), public_bytes(&empty));
        let ip_ua = EntryFields {
            ip_address: Some("x"),
            user_agent: None,
            ..fields(&m)
        };
        let ua_ip = EntryFields {
            ip_address: None,
            user_agent: Some("x"),
            ..fields(&m)
        };
        assert_ne!(
            personal_digest(&SALT, &ip_ua),
            personal_digest(&SALT, &ua_ip)
        );
    }

    #[test]
    fn metadata_is_canonical_whatever_the_key_order() {
        let a: Value = serde_json::from_str(r#"{"b": [1, {"y": 2, "x": 1}], "a": "é\n"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"é\n","b":[1,{"x":1,"y":2}]}"#).unwrap();
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        canonical_json(&a, &mut ca);
        canonical_json(&b, &mut cb);
        assert_eq!(ca, cb);
        assert_eq!(
            String::from_utf8(ca).unwrap(),
            r#"{"a":"é\n","b":[1,{"x":1,"y":2}]}"#
        );
        let ev = seal_entry(&key(), &fields(&a), &SALT);
        assert!(entry_verifies(&key(), &fields(&b), &ev));
    }

    #[test]
    fn the_erased_form_verifies_and_keeps_the_public_fields() {
        let m = meta();
        let ev = seal_entry(&key(), &fields(&m), &SALT);
        let erased_meta = erase_personal(&m);
        assert_eq!(
            erased_meta,
            json!({"reason": "UNKNOWN_USER", "attempts": 1})
        );
        let erased = EntryFields {
            ip_address: None,
            user_agent: None,
            metadata: &erased_meta,
            ..fields(&m)
        };
        let erased_ev = Evidence {
            salt: None,
            ..ev.clone()
        };
        assert!(entry_verifies(&key(), &erased, &erased_ev));
        // Erasure removes personal data only: a changed public field still fails.
        let changed = EntryFields {
            action: "LOGIN",
            ..erased.clone()
        };
        assert!(!entry_verifies(&key(), &changed, &erased_ev));
        // With the salt kept, the removed fields no longer match the digest.
        assert!(!entry_verifies(&key(), &erased, &ev));
    }

    #[test]
    fn personal_fields_without_their_salt_never_verify() {
        let m = meta();
        let ev = seal_entry(&key(), &fields(&m), &SALT);
        let no_salt = Evidence { salt: None, ..ev };
        // The original values, or changed ones, with the salt gone.
        assert!(!entry_verifies(&key(), &fields(&m), &no_salt));
        let erased_meta = erase_personal(&m);
        for (ip, ua, metadata) in [
            (Some("10.0.0.1"), None, &erased_meta),
            (None, Some("evil/1"), &erased_meta),
            (None, None, &m),
        ] {
            let e = EntryFields {
                ip_address: ip,
                user_agent: ua,
                metadata,
                ..fields(&m)
            };
            assert!(!entry_verifies(&key(), &e, &no_salt), "{e:?}");
        }
    }

    #[test]
    fn links_bind_previous_link_sequence_and_mac_under_the_key() {
        let prev = [1u8; 32];
        let mac = [2u8; 32];
        let l = link(&key(), LinkKind::Next, &prev, 5, &mac);
        assert!(link_verifies(&key(), LinkKind::Next, &prev, 5, &mac, &l));
        assert!(!link_verifies(&key(), LinkKind::First, &prev, 5, &mac, &l));
        assert!(!link_verifies(
            &key(),
            LinkKind::Next,
            &[0; 32],
            5,
            &mac,
            &l
        ));
        assert!(!link_verifies(&key(), LinkKind::Next, &prev, 6, &mac, &l));
        assert!(!link_verifies(
            &key(),
            LinkKind::Next,
            &prev,
            5,
            &[3; 32],
            &l
        ));
        assert!(!link_verifies(
            &other_key(),
            LinkKind::Next,
            &prev,
            5,
            &mac,
            &l
        ));
        assert!(!link_verifies(
            &key(),
            LinkKind::Next,
            &prev,
            5,
            &mac,
            &l[..31]
        ));
    }

    #[test]
    fn positions_are_bound_to_their_kind_sequence_and_hash() {
        let h = [9u8; 32];
        let m = position_mac(&key(), Position::Head, 3, &h);
        assert!(position_verifies(&key(), Position::Head, 3, &h, &m));
        assert!(!position_verifies(&key(), Position::Anchor, 3, &h, &m));
        assert!(!position_verifies(&key(), Position::Head, 2, &h, &m));
        assert!(!position_verifies(&key(), Position::Head, 3, &[8; 32], &m));
        assert!(!position_verifies(&other_key(), Position::Head, 3, &h, &m));
    }

    fn cp(seq: i64, count: i64, hash: &[u8]) -> Checkpoint {
        Checkpoint {
            head: ChainHead {
                seq,
                hash: hash.to_vec(),
                count,
            },
            issued_at: 0,
        }
    }

    #[test]
    fn a_checkpoint_holds_while_the_chain_extends_it() {
        let h = [5u8; 32];
        // Anchor 0, head 10; the checkpoint at 7 with the same link.
        assert!(checkpoint_holds(&cp(7, 7, &h), (0, &[0; 32]), 10, Some(&h)));
        assert!(checkpoint_holds(
            &cp(10, 10, &h),
            (0, &[0; 32]),
            10,
            Some(&h)
        ));
        // A different link at its position, no row there, or a head behind it.
        assert!(!checkpoint_holds(
            &cp(7, 7, &h),
            (0, &[0; 32]),
            10,
            Some(&[6; 32])
        ));
        assert!(!checkpoint_holds(&cp(7, 7, &h), (0, &[0; 32]), 10, None));
        assert!(!checkpoint_holds(&cp(7, 7, &h), (0, &[0; 32]), 6, Some(&h)));
    }

    #[test]
    fn a_checkpoint_purged_by_retention_holds_while_the_anchor_moved_forward() {
        let h = [5u8; 32];
        // Retention moved the anchor to 8, past the checkpoint at 7.
        assert!(checkpoint_holds(&cp(7, 7, &h), (8, &[1; 32]), 12, None));
        // Exactly at the anchor: the anchor's link must be the checkpoint's.
        assert!(checkpoint_holds(&cp(8, 8, &h), (8, &h), 12, None));
        assert!(!checkpoint_holds(&cp(8, 8, &h), (8, &[1; 32]), 12, None));
        // The checkpoint's anchor was 4 (7 - 3): an anchor at 2 moved back.
        assert!(!checkpoint_holds(
            &cp(7, 3, &h),
            (2, &[1; 32]),
            12,
            Some(&h)
        ));
        assert!(!checkpoint_holds(
            &cp(7, -1, &h),
            (0, &[0; 32]),
            12,
            Some(&h)
        ));
    }
}
