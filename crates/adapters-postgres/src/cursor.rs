//! Opaque keyset cursors: URL-safe base64 (no padding) of a small JSON document
//! `{"s": <sort signature>, "v": [<sort key values>], "id": <uuid>}`.
//!
//! The signature ties a cursor to the ordering it was made for; a cursor presented with
//! another sort, or that does not decode, is `RepoError::InvalidCursor`. Cursors are not
//! signed: they carry only sort key values of a row the caller was allowed to see, and a
//! forged one can do no more than start a page at another place.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::page::Cursor;
use domain::RepoError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::StoreFailure;

/// Longest cursor accepted, far above any this store issues.
const MAX_CURSOR_LEN: usize = 2048;

/// The decoded content of a cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CursorBody {
    /// The sort signature.
    pub s: String,
    /// One value per sort key.
    pub v: Vec<Value>,
    /// The row's id, the final tie-breaker.
    pub id: Uuid,
}

impl CursorBody {
    /// Encodes the cursor. `Unknown` if it does not serialize (strings, JSON values and a
    /// uuid always do): an empty cursor would end the caller's walk with no error.
    pub(crate) fn encode(&self) -> Result<Cursor, RepoError> {
        encoded(serde_json::to_vec(self))
    }

    /// Decodes a cursor made for `signature` with `keys` values.
    pub(crate) fn decode(cursor: &Cursor, signature: &str, keys: usize) -> Result<Self, RepoError> {
        if cursor.0.len() > MAX_CURSOR_LEN {
            return Err(RepoError::InvalidCursor);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor.0.as_bytes())
            .map_err(|_| RepoError::InvalidCursor)?;
        let body: CursorBody =
            serde_json::from_slice(&bytes).map_err(|_| RepoError::InvalidCursor)?;
        if body.s != signature || body.v.len() != keys {
            return Err(RepoError::InvalidCursor);
        }
        Ok(body)
    }
}

/// The cursor of a serialized body, or the serializer's failure as `Unknown`.
fn encoded(json: serde_json::Result<Vec<u8>>) -> Result<Cursor, RepoError> {
    json.map(|bytes| Cursor(URL_SAFE_NO_PAD.encode(bytes)))
        .map_err(|e| StoreFailure::new("encode cursor", e.to_string()).into())
}

/// A timestamp as a cursor value (microseconds, as PostgreSQL stores them).
pub(crate) fn time_value(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// Reads a timestamp cursor value.
pub(crate) fn parse_time(v: &Value) -> Result<DateTime<Utc>, RepoError> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or(RepoError::InvalidCursor)
}

/// Reads an optional timestamp cursor value (`null` for none).
pub(crate) fn parse_opt_time(v: &Value) -> Result<Option<DateTime<Utc>>, RepoError> {
    if v.is_null() {
        Ok(None)
    } else {
        parse_time(v).map(Some)
    }
}

/// Reads a text cursor value. No sort key this store issues holds a control
/// character (the value types refuse them), and PostgreSQL refuses NUL in a query
/// parameter: a forged cursor with one is invalid, not a 500.
pub(crate) fn parse_text(v: &Value) -> Result<String, RepoError> {
    v.as_str()
        .filter(|s| !domain::text::has_control(s))
        .map(str::to_owned)
        .ok_or(RepoError::InvalidCursor)
}

/// Reads an integer cursor value.
pub(crate) fn parse_int(v: &Value) -> Result<i32, RepoError> {
    v.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or(RepoError::InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> CursorBody {
        CursorBody {
            s: "users:-createdAt".into(),
            v: vec![Value::String("x".into())],
            id: Uuid::nil(),
        }
    }

    #[test]
    fn a_cursor_round_trips() {
        let c = body().encode().unwrap();
        assert!(!c.0.contains('='));
        assert_eq!(
            CursorBody::decode(&c, "users:-createdAt", 1).unwrap(),
            body()
        );
    }

    #[test]
    fn a_cursor_for_another_sort_or_garbage_is_invalid() {
        let c = body().encode().unwrap();
        assert!(matches!(
            CursorBody::decode(&c, "users:username", 1),
            Err(RepoError::InvalidCursor)
        ));
        assert!(matches!(
            CursorBody::decode(&c, "users:-createdAt", 2),
            Err(RepoError::InvalidCursor)
        ));
        for junk in ["", "!!", "bm90IGpzb24", &"A".repeat(4000)] {
            assert!(matches!(
                CursorBody::decode(&Cursor(junk.into()), "users:-createdAt", 1),
                Err(RepoError::InvalidCursor)
            ));
        }
    }

    #[test]
    fn a_body_that_fails_to_serialize_is_an_error_not_an_empty_cursor() {
        let failure = <serde_json::Error as serde::ser::Error>::custom("no such value");
        let err = encoded(Err(failure)).unwrap_err();
        assert!(matches!(err, RepoError::Unknown(_)), "{err:?}");
        assert_eq!(err.to_string(), "encode cursor: no such value");
    }

    #[test]
    fn time_values_keep_microseconds() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_time(&time_value(t)).unwrap(), t);
        assert_eq!(parse_opt_time(&Value::Null).unwrap(), None);
    }
}
