//! The audit log port: the filtered list, the hash chain (sealing and verification) and
//! retention.
//!
//! Writers insert unsealed rows without any lock. [`AuditRepository::seal_pending`] links
//! committed unsealed rows onto a SHA-256 chain in `(created_at, id)` order:
//! `hash = SHA-256(prev_hash || canonical(row))`, `chain_seq` consecutive after the head.
//! It runs under a transaction-scoped advisory lock taken with `try`, so one instance seals
//! at a time and nobody waits. `audit_chain_anchor` holds the last purged link (the
//! anchor) and the newest sealed one (the head). Verification recomputes every link from
//! the anchor to the head in one snapshot; retention purges a prefix of the chain and
//! moves the anchor in the same transaction, so a purge never looks like tampering.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager};
use domain::audit::{AuditAction, AuditEntry, AuditQuery, ChainReport, EntityType, PurgeReport};
use domain::page::{Page, Position};
use domain::ports::AuditRepository;
use domain::user::UserId;
use domain::RepoError;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::cursor::{self, CursorBody};
use crate::error::{query_error, StoreFailure};
use crate::schema::audit_logs;
use crate::store::{with_deadline, PgStore};

type Tm = <AsyncPgConnection as AsyncConnection>::TransactionManager;

/// Advisory lock of the sealer ("EMS_SEAL").
const SEAL_LOCK_KEY: i64 = 0x454D_535F_5345_414C;
/// Advisory lock of the retention job ("EMS_RETN").
const RETENTION_LOCK_KEY: i64 = 0x454D_535F_5245_544E;
/// Rows sealed or verified per statement.
const BATCH: i64 = 1000;
/// Cursor signature of audit pages.
const AUDIT_SIGNATURE: &str = "audit:-createdAt";
/// The previous hash of the very first link.
const GENESIS: [u8; 32] = [0; 32];

/// An `audit_logs` row as the list reads it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_logs, check_for_backend(diesel::pg::Pg))]
struct AuditRow {
    id: Uuid,
    user_id: Option<Uuid>,
    action: String,
    entity_type: String,
    entity_id: Option<String>,
    metadata: serde_json::Value,
    ip_address: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreFailure;

    fn try_from(r: AuditRow) -> Result<Self, Self::Error> {
        let bad =
            |field: &'static str| StoreFailure::new("audit_logs row", format!("invalid {field}"));
        Ok(AuditEntry {
            id: r.id,
            user_id: r.user_id.map(UserId),
            action: AuditAction::parse(&r.action).ok_or_else(|| bad("action"))?,
            entity_type: EntityType::parse(&r.entity_type).ok_or_else(|| bad("entity_type"))?,
            entity_id: r.entity_id,
            metadata: r.metadata,
            ip_address: r.ip_address,
            user_agent: r.user_agent,
            request_id: r.request_id,
            created_at: r.created_at,
        })
    }
}

/// A row with every field the hash covers, metadata as PostgreSQL's (normalized) jsonb
/// text, and its link.
#[derive(QueryableByName)]
struct ChainRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    user_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    entity_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    entity_id: Option<String>,
    #[diesel(sql_type = Text)]
    metadata: String,
    #[diesel(sql_type = Nullable<Text>)]
    ip_address: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    user_agent: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    request_id: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<BigInt>)]
    chain_seq: Option<i64>,
    #[diesel(sql_type = Nullable<Bytea>)]
    prev_hash: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    hash: Option<Vec<u8>>,
}

const CHAIN_COLUMNS: &str =
    "id, user_id, action, entity_type, entity_id, metadata::text AS metadata, \
     ip_address, user_agent, request_id, created_at, chain_seq, prev_hash, hash";

/// One field of the canonical encoding: absent (0) or present (1) with a big-endian
/// 4-byte length, so that no two different rows encode alike.
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

/// The bytes the hash covers: every field of the entry, in a fixed order and format
/// (ids as hyphenated lowercase text, `created_at` as RFC 3339 with microseconds in UTC).
fn canonical(row: &ChainRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"ems-audit-v1");
    field(&mut out, Some(row.id.to_string().as_bytes()));
    field(
        &mut out,
        row.user_id
            .map(|u| u.to_string())
            .as_deref()
            .map(str::as_bytes),
    );
    field(&mut out, Some(row.action.as_bytes()));
    field(&mut out, Some(row.entity_type.as_bytes()));
    field(&mut out, row.entity_id.as_deref().map(str::as_bytes));
    field(&mut out, Some(row.metadata.as_bytes()));
    field(&mut out, row.ip_address.as_deref().map(str::as_bytes));
    field(&mut out, row.user_agent.as_deref().map(str::as_bytes));
    field(&mut out, row.request_id.as_deref().map(str::as_bytes));
    let at = row.created_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    field(&mut out, Some(at.as_bytes()));
    out
}

/// `SHA-256(prev || canonical(row))`.
fn link_hash(prev: &[u8], row: &ChainRow) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(canonical(row));
    hasher.finalize().to_vec()
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct Link {
    #[diesel(sql_type = BigInt)]
    chain_seq: i64,
    #[diesel(sql_type = Bytea)]
    hash: Vec<u8>,
}

#[derive(QueryableByName)]
struct Ends {
    #[diesel(sql_type = BigInt)]
    chain_seq: i64,
    #[diesel(sql_type = Bytea)]
    hash: Vec<u8>,
    #[diesel(sql_type = BigInt)]
    head_seq: i64,
    #[diesel(sql_type = Bytea)]
    head_hash: Vec<u8>,
}

#[derive(QueryableByName)]
struct MaybeSeq {
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

/// Takes a transaction-scoped advisory lock without waiting.
async fn try_lock(conn: &mut AsyncPgConnection, key: i64) -> Result<bool, RepoError> {
    diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
        .bind::<BigInt, _>(key)
        .get_result::<Locked>(conn)
        .await
        .map(|r| r.locked)
        .map_err(|e| query_error("advisory lock", e))
}

/// The anchor (the last purged link) and the head (the newest sealed link); both
/// `(0, GENESIS)` before anything was sealed.
async fn ends(conn: &mut AsyncPgConnection) -> Result<(Link, Link), RepoError> {
    let row: Option<Ends> = diesel::sql_query(
        "SELECT chain_seq, hash, head_seq, head_hash FROM audit_chain_anchor WHERE id",
    )
    .get_result(conn)
    .await
    .optional()
    .map_err(|e| query_error("read chain anchor", e))?;
    Ok(match row {
        Some(r) => (
            Link {
                chain_seq: r.chain_seq,
                hash: r.hash,
            },
            Link {
                chain_seq: r.head_seq,
                hash: r.head_hash,
            },
        ),
        None => {
            let genesis = || Link {
                chain_seq: 0,
                hash: GENESIS.to_vec(),
            };
            (genesis(), genesis())
        }
    })
}

/// Begins a transaction on `conn`.
async fn begin(conn: &mut AsyncPgConnection) -> Result<(), RepoError> {
    Tm::begin_transaction(conn)
        .await
        .map_err(|e| query_error("begin", e))
}

/// Commits on success, rolls back otherwise.
async fn finish<T>(
    conn: &mut AsyncPgConnection,
    result: Result<T, RepoError>,
) -> Result<T, RepoError> {
    match result {
        Ok(value) => {
            Tm::commit_transaction(conn)
                .await
                .map_err(|e| query_error("commit", e))?;
            Ok(value)
        }
        Err(err) => {
            // A failed rollback leaves the connection broken; the pool discards it.
            let _ = Tm::rollback_transaction(conn).await;
            Err(err)
        }
    }
}

/// Seals every committed, unsealed row; under the seal lock.
async fn seal(conn: &mut AsyncPgConnection) -> Result<u64, RepoError> {
    if !try_lock(conn, SEAL_LOCK_KEY).await? {
        return Ok(0);
    }
    let (_, mut head) = ends(conn).await?;
    let mut sealed = 0u64;
    loop {
        let rows: Vec<ChainRow> = diesel::sql_query(format!(
            "SELECT {CHAIN_COLUMNS} FROM audit_logs WHERE chain_seq IS NULL \
             ORDER BY created_at, id LIMIT {BATCH}"
        ))
        .load(conn)
        .await
        .map_err(|e| query_error("read unsealed audit entries", e))?;
        if rows.is_empty() {
            return Ok(sealed);
        }
        let n = rows.len();
        let (mut ids, mut seqs, mut prevs, mut hashes) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for row in &rows {
            let hash = link_hash(&head.hash, row);
            let seq = head.chain_seq + 1;
            ids.push(row.id);
            seqs.push(seq);
            prevs.push(std::mem::replace(&mut head.hash, hash.clone()));
            hashes.push(hash);
            head.chain_seq = seq;
        }
        diesel::sql_query(
            "UPDATE audit_logs AS a SET chain_seq = u.seq, prev_hash = u.prev, hash = u.hash, \
             sealed_at = now() \
             FROM unnest($1::uuid[], $2::bigint[], $3::bytea[], $4::bytea[]) AS u(id, seq, prev, hash) \
             WHERE a.id = u.id",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<BigInt>, _>(seqs)
        .bind::<Array<Bytea>, _>(prevs)
        .bind::<Array<Bytea>, _>(hashes)
        .execute(conn)
        .await
        .map_err(|e| query_error("seal audit entries", e))?;
        diesel::sql_query("UPDATE audit_chain_anchor SET head_seq = $1, head_hash = $2 WHERE id")
            .bind::<BigInt, _>(head.chain_seq)
            .bind::<Bytea, _>(head.hash.clone())
            .execute(conn)
            .await
            .map_err(|e| query_error("move chain head", e))?;
        sealed += n as u64;
        if (n as i64) < BATCH {
            return Ok(sealed);
        }
    }
}

/// Walks the chain from the anchor to the head in one snapshot (a concurrent purge or
/// seal cannot make it look broken); stops at the first broken link. A chain that ends
/// before the head lost its newest entries: invalid, with no row to name.
async fn verify_chain(conn: &mut AsyncPgConnection) -> Result<ChainReport, RepoError> {
    diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(conn)
        .await
        .map_err(|e| query_error("snapshot", e))?;
    let (anchor, head) = ends(conn).await?;
    let (mut expected_seq, mut prev) = (anchor.chain_seq + 1, anchor.hash);
    let mut checked = 0u64;
    let mut after = anchor.chain_seq;
    loop {
        let rows: Vec<ChainRow> = diesel::sql_query(format!(
            "SELECT {CHAIN_COLUMNS} FROM audit_logs WHERE chain_seq > $1 \
             ORDER BY chain_seq LIMIT {BATCH}"
        ))
        .bind::<BigInt, _>(after)
        .load(conn)
        .await
        .map_err(|e| query_error("read audit chain", e))?;
        let n = rows.len();
        for row in rows {
            checked += 1;
            let seq = row.chain_seq.unwrap_or_default();
            let intact = seq == expected_seq
                && row.prev_hash.as_deref() == Some(prev.as_slice())
                && row.hash.as_deref() == Some(link_hash(&prev, &row).as_slice());
            if !intact {
                return Ok(ChainReport {
                    valid: false,
                    checked,
                    first_broken_id: Some(row.id),
                });
            }
            prev = row.hash.unwrap_or_default();
            expected_seq = seq + 1;
            after = seq;
        }
        if (n as i64) < BATCH {
            return Ok(ChainReport {
                valid: after == head.chain_seq && prev == head.hash,
                checked,
                first_broken_id: None,
            });
        }
    }
}

/// Purges the chain's old head and ended sessions; under the retention lock.
async fn purge(
    conn: &mut AsyncPgConnection,
    audit_before: DateTime<Utc>,
    sessions_before: DateTime<Utc>,
) -> Result<Option<PurgeReport>, RepoError> {
    if !try_lock(conn, RETENTION_LOCK_KEY).await? {
        return Ok(None);
    }
    // Moving the anchor must not interleave with a sealer reading the head.
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(SEAL_LOCK_KEY)
        .execute(conn)
        .await
        .map_err(|e| query_error("advisory lock", e))?;
    let mut report = PurgeReport::default();
    // The longest prefix of the chain whose entries are all older than the cutoff.
    let last = diesel::sql_query(
        "SELECT coalesce( \
            (SELECT min(chain_seq) - 1 FROM audit_logs \
             WHERE chain_seq IS NOT NULL AND created_at >= $1), \
            (SELECT max(chain_seq) FROM audit_logs)) AS n",
    )
    .bind::<Timestamptz, _>(audit_before)
    .get_result::<MaybeSeq>(conn)
    .await
    .map_err(|e| query_error("find retention cut", e))?
    .n;
    if let Some(last) = last {
        let link: Option<Link> = diesel::sql_query(
            "SELECT chain_seq, hash FROM audit_logs WHERE chain_seq <= $1 \
             ORDER BY chain_seq DESC LIMIT 1",
        )
        .bind::<BigInt, _>(last)
        .get_result(conn)
        .await
        .optional()
        .map_err(|e| query_error("read retention cut", e))?;
        if let Some(link) = link {
            let deleted = diesel::sql_query("DELETE FROM audit_logs WHERE chain_seq <= $1")
                .bind::<BigInt, _>(link.chain_seq)
                .execute(conn)
                .await
                .map_err(|e| query_error("purge audit entries", e))?;
            diesel::sql_query(
                "UPDATE audit_chain_anchor SET chain_seq = $1, hash = $2, moved_at = now() \
                 WHERE id",
            )
            .bind::<BigInt, _>(link.chain_seq)
            .bind::<Bytea, _>(link.hash)
            .execute(conn)
            .await
            .map_err(|e| query_error("move chain anchor", e))?;
            report.audit_entries = deleted as u64;
        }
    }
    // Refresh tokens go with their sessions (ON DELETE CASCADE).
    let sessions = diesel::sql_query(
        "DELETE FROM sessions WHERE expires_at < $1 \
         OR (revoked_at IS NOT NULL AND revoked_at < $1)",
    )
    .bind::<Timestamptz, _>(sessions_before)
    .execute(conn)
    .await
    .map_err(|e| query_error("purge sessions", e))?;
    report.sessions = sessions as u64;
    Ok(Some(report))
}

#[async_trait]
impl AuditRepository for PgStore {
    #[tracing::instrument(name = "pg.audit.list", skip_all, fields(page.limit = query.page.limit.get()))]
    async fn list(&self, query: &AuditQuery) -> Result<Page<AuditEntry>, RepoError> {
        with_deadline(self.deadline(), async {
            let mut conn = self.conn().await?;
            let f = &query.filter;
            let filtered = || {
                let mut q = audit_logs::table.into_boxed::<diesel::pg::Pg>();
                if let Some(user) = f.user_id {
                    q = q.filter(audit_logs::user_id.eq(user.0));
                }
                if let Some(action) = f.action {
                    q = q.filter(audit_logs::action.eq(action.as_str()));
                }
                if let Some(kind) = f.entity_type {
                    q = q.filter(audit_logs::entity_type.eq(kind.as_str()));
                }
                if let Some(entity) = &f.entity_id {
                    q = q.filter(audit_logs::entity_id.eq(entity.clone()));
                }
                if let Some(from) = f.from {
                    q = q.filter(audit_logs::created_at.ge(from));
                }
                if let Some(to) = f.to {
                    q = q.filter(audit_logs::created_at.le(to));
                }
                q
            };
            let limit = query.page.limit.get();
            let mut rows_query = filtered()
                .select(AuditRow::as_select())
                .order((audit_logs::created_at.desc(), audit_logs::id.desc()))
                .limit(i64::from(limit) + 1);
            let total = match &query.page.position {
                Position::After(c) => {
                    let body = CursorBody::decode(c, AUDIT_SIGNATURE, 1)?;
                    let at = cursor::parse_time(&body.v[0])?;
                    rows_query = rows_query.filter(audit_logs::created_at.le(at)).filter(
                        audit_logs::created_at.lt(at).or(audit_logs::created_at
                            .eq(at)
                            .and(audit_logs::id.lt(body.id))),
                    );
                    None
                }
                Position::Offset(n) => {
                    rows_query = rows_query.offset(i64::try_from(*n).unwrap_or(i64::MAX));
                    let total: i64 = filtered()
                        .count()
                        .get_result(&mut conn)
                        .await
                        .map_err(|e| query_error("count audit entries", e))?;
                    Some(u64::try_from(total).unwrap_or_default())
                }
            };
            let mut rows: Vec<AuditRow> = rows_query
                .load(&mut conn)
                .await
                .map_err(|e| query_error("list audit entries", e))?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next_cursor = match rows.last() {
                Some(last) if more => Some(
                    CursorBody {
                        s: AUDIT_SIGNATURE.to_owned(),
                        v: vec![cursor::time_value(last.created_at)],
                        id: last.id,
                    }
                    .encode(),
                ),
                _ => None,
            };
            let items = rows
                .into_iter()
                .map(AuditEntry::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page {
                items,
                total,
                next_cursor,
            })
        })
        .await
    }

    #[tracing::instrument(name = "pg.audit.verify", skip_all)]
    async fn verify(&self) -> Result<ChainReport, RepoError> {
        // Verification reads the whole chain: no per-call deadline beyond the statement
        // timeout of each batch.
        let mut conn = self.conn().await?;
        begin(&mut conn).await?;
        let result = verify_chain(&mut conn).await;
        finish(&mut conn, result).await
    }

    #[tracing::instrument(name = "pg.audit.seal_pending", skip_all)]
    async fn seal_pending(&self) -> Result<u64, RepoError> {
        with_deadline(self.deadline(), async {
            let mut conn = self.conn().await?;
            begin(&mut conn).await?;
            let result = seal(&mut conn).await;
            finish(&mut conn, result).await
        })
        .await
    }

    #[tracing::instrument(name = "pg.audit.purge_before", skip_all)]
    async fn purge_before(
        &self,
        audit_before: DateTime<Utc>,
        sessions_before: DateTime<Utc>,
    ) -> Result<Option<PurgeReport>, RepoError> {
        with_deadline(self.deadline(), async {
            let mut conn = self.conn().await?;
            begin(&mut conn).await?;
            let result = purge(&mut conn, audit_before, sessions_before).await;
            finish(&mut conn, result).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ChainRow {
        ChainRow {
            id: Uuid::nil(),
            user_id: None,
            action: "LOGIN".into(),
            entity_type: "USER".into(),
            entity_id: Some("x".into()),
            metadata: "{}".into(),
            ip_address: None,
            user_agent: None,
            request_id: None,
            created_at: DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            chain_seq: None,
            prev_hash: None,
            hash: None,
        }
    }

    #[test]
    fn the_hash_covers_every_field_and_the_previous_link() {
        let base = link_hash(&GENESIS, &row());
        assert_eq!(base.len(), 32);
        let mut moved = row();
        moved.entity_id = None;
        moved.ip_address = Some("x".into());
        assert_ne!(
            link_hash(&GENESIS, &moved),
            base,
            "fields cannot trade places"
        );
        let mut changed = row();
        changed.metadata = "{\"a\": 1}".into();
        assert_ne!(link_hash(&GENESIS, &changed), base);
        assert_ne!(link_hash(&[1; 32], &row()), base);
    }
}
