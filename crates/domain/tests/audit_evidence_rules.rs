//! The keyed audit evidence seen from outside (ADR 0015): the canonical JSON it MACs, an
//! entry sealed from its stored fields, and metadata that is not an object.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use domain::audit::{AuditAction, AuditEntry, EntityType, RequestContext};
use domain::audit_evidence::{
    canonical_json, entry_verifies, erase_personal, seal_entry, AuditKey, EntryFields, Evidence,
};
use domain::user::UserId;
use serde_json::json;
use uuid::Uuid;

fn key() -> AuditKey {
    AuditKey::new(vec![7; 32]).expect("long enough")
}

fn entry(metadata: serde_json::Value) -> AuditEntry {
    let ctx = RequestContext {
        actor: Some(UserId(Uuid::from_u128(1))),
        ip_address: Some("198.51.100.4".into()),
        user_agent: Some("curl/8".into()),
        request_id: Some("req-1".into()),
    };
    AuditEntry::new(
        Uuid::from_u128(9),
        &ctx,
        AuditAction::Logout,
        EntityType::Session,
        Some(Uuid::from_u128(5).to_string()),
        metadata,
        Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0)
            .single()
            .expect("valid date"),
    )
}

#[test]
fn canonical_json_sorts_keys_drops_white_space_and_keeps_every_scalar() {
    let value = json!({ "b": [null, true, false, 1.5, -2], "a": { "z": "x", "y": "é" } });
    let mut out = Vec::new();

    canonical_json(&value, &mut out);

    assert_eq!(
        String::from_utf8(out).expect("UTF-8"),
        r#"{"a":{"y":"é","z":"x"},"b":[null,true,false,1.5,-2]}"#
    );
}

#[test]
fn an_entry_sealed_from_its_fields_verifies_and_another_entity_type_does_not() {
    let stored = entry(json!({ "revokedSessions": 1 }));
    let evidence = seal_entry(&key(), &EntryFields::from(&stored), &[1; 16]);

    assert!(entry_verifies(
        &key(),
        &EntryFields::from(&stored),
        &evidence
    ));

    let mut moved = stored.clone();
    moved.entity_type = EntityType::User;
    assert!(
        !entry_verifies(&key(), &EntryFields::from(&moved), &evidence),
        "the entity type is covered by the MAC"
    );
}

#[test]
fn metadata_that_is_not_an_object_is_public_and_survives_erasure() {
    let list = json!(["a", "b"]);
    assert_eq!(erase_personal(&list), list, "kept whole");

    let stored = entry(list.clone());
    let evidence = seal_entry(&key(), &EntryFields::from(&stored), &[2; 16]);
    // The erased form: IP address, user agent and salt gone, digest and MAC kept.
    let mut erased = stored.clone();
    erased.metadata = erase_personal(&stored.metadata);
    erased.ip_address = None;
    erased.user_agent = None;
    let kept = Evidence {
        salt: None,
        ..evidence
    };

    let fields = EntryFields::from(&erased);
    assert!(!fields.has_personal_data());
    assert!(entry_verifies(&key(), &fields, &kept));
}
