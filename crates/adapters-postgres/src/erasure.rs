//! GDPR erasure (ADR 0018): what a user leaves outside their own row, erased in the
//! caller's transaction, and the automatic purge's work list. The rules (which metadata
//! keys are personal, what marks a tombstone) are the domain's; this executes them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Jsonb, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::audit::EntityType;
use domain::audit_evidence::erase_personal;
use domain::user::{ErasedData, UserId, ERASED_PASSWORD_HASH};
use domain::RepoError;
use serde_json::Value;
use uuid::Uuid;

use crate::error::query_error;
use crate::schema::{audit_logs, refresh_tokens, sessions, user_preferences, users};

/// Audit rows rewritten per statement.
const AUDIT_BATCH: i64 = 500;

/// Erases the user's preferences, session IPs and user agents, refresh tokens and the
/// personal fields of their audit entries; see
/// [`domain::ports::Transaction::erase_personal_data`].
pub(crate) async fn erase_personal_data(
    conn: &mut AsyncPgConnection,
    id: UserId,
) -> Result<ErasedData, RepoError> {
    diesel::delete(user_preferences::table.find(id.0))
        .execute(conn)
        .await
        .map_err(|e| query_error("erase preferences", e))?;
    let sessions = diesel::update(sessions::table.filter(sessions::user_id.eq(id.0)))
        .set((
            sessions::ip_address.eq(None::<String>),
            sessions::user_agent.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map_err(|e| query_error("erase session details", e))?;
    let refresh_tokens =
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::user_id.eq(id.0)))
            .execute(conn)
            .await
            .map_err(|e| query_error("erase refresh tokens", e))?;
    let audit_entries = shred_audit_entries(conn, id).await?;
    Ok(ErasedData {
        sessions: sessions as u64,
        refresh_tokens: refresh_tokens as u64,
        audit_entries,
    })
}

/// Crypto-shreds the entries the user made or that are about their account: IP address,
/// user agent and salt cleared, metadata replaced by its erased form; the digest and the
/// MAC stay, so each row still verifies (ADR 0015). In id order, a batch at a time.
async fn shred_audit_entries(conn: &mut AsyncPgConnection, id: UserId) -> Result<u64, RepoError> {
    let about = id.to_string();
    let mut after: Option<Uuid> = None;
    let mut erased = 0u64;
    loop {
        let mut query = audit_logs::table
            .filter(
                audit_logs::user_id.eq(id.0).or(audit_logs::entity_type
                    .eq(EntityType::User.as_str())
                    .and(audit_logs::entity_id.eq(&about))),
            )
            .select((audit_logs::id, audit_logs::metadata))
            .order(audit_logs::id)
            .limit(AUDIT_BATCH)
            .into_boxed();
        if let Some(last) = after {
            query = query.filter(audit_logs::id.gt(last));
        }
        let rows: Vec<(Uuid, Value)> = query
            .load(conn)
            .await
            .map_err(|e| query_error("read audit entries to erase", e))?;
        let Some(&(last, _)) = rows.last() else {
            return Ok(erased);
        };
        let full = rows.len() as i64 == AUDIT_BATCH;
        let (ids, metadata): (Vec<Uuid>, Vec<Value>) = rows
            .into_iter()
            .map(|(id, meta)| (id, erase_personal(&meta)))
            .unzip();
        let n = diesel::sql_query(
            "UPDATE audit_logs AS a \
             SET ip_address = NULL, user_agent = NULL, personal_salt = NULL, \
                 metadata = v.metadata \
             FROM unnest($1::uuid[], $2::jsonb[]) AS v(id, metadata) \
             WHERE a.id = v.id",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Jsonb>, _>(metadata)
        .execute(conn)
        .await
        .map_err(|e| query_error("erase audit entries", e))?;
        erased += n as u64;
        if !full {
            return Ok(erased);
        }
        after = Some(last);
    }
}

/// Up to `limit` users soft-deleted before `cutoff` that are not tombstones yet, the
/// longest deleted first.
pub(crate) async fn deleted_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<UserId>, RepoError> {
    let ids: Vec<Uuid> = users::table
        .filter(users::deleted_at.lt(cutoff))
        .filter(users::password_hash.ne(ERASED_PASSWORD_HASH))
        .order((users::deleted_at, users::id))
        .select(users::id)
        .limit(limit.max(0))
        .load(conn)
        .await
        .map_err(|e| query_error("list users to purge", e))?;
    Ok(ids.into_iter().map(UserId).collect())
}
