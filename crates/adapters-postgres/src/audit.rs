//! The audit log port: the filtered list, the keyed chain (sealing and verification) and
//! retention. The rules are `domain::audit_evidence`'s (ADR 0015); this module executes
//! them.
//!
//! Writers insert unsealed rows, each with its entry MAC, without any lock.
//! [`AuditRepository::seal_pending`] links committed unsealed rows whose MAC verifies
//! onto the keyed chain in `(created_at, id)` order (`hash = HMAC(key, prev || seq ||
//! mac)`, `chain_seq` consecutive after the head) and marks the others rejected. It runs
//! under a transaction-scoped advisory lock taken with `try`, so one instance seals at a
//! time and nobody waits. `audit_chain_anchor` holds the last purged link (the anchor)
//! and the newest sealed one (the head), each with a MAC of its position. Verification
//! recomputes every MAC and link from the anchor to the head in one snapshot, then checks
//! the unsealed rows' MACs and an optional checkpoint; retention purges a prefix of the
//! chain and moves the anchor (with a fresh MAC) in the same transaction, so a purge never
//! looks like tampering.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Bytea, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager};
use domain::audit::{AuditAction, AuditEntry, AuditQuery, ChainReport, EntityType, PurgeReport};
use domain::audit_evidence::{
    checkpoint_holds, entry_verifies, link, link_verifies, position_mac, position_verifies,
    AuditKey, ChainHead, Checkpoint, EntryFields, Evidence, LinkKind, Position,
};
use domain::page::{Page, Position as PagePosition};
use domain::ports::AuditRepository;
use domain::user::UserId;
use domain::RepoError;
use uuid::Uuid;

use crate::error::{query_error, StoreFailure};
use crate::page::{assemble, checked_count, fetch_limit, offset, NewestFirst};
use crate::schema::audit_logs;
use crate::store::PgStore;

type Tm = <AsyncPgConnection as AsyncConnection>::TransactionManager;

/// Advisory lock of the sealer ("EMS_SEAL").
const SEAL_LOCK_KEY: i64 = 0x454D_535F_5345_414C;
/// Advisory lock of the retention job ("EMS_RETN").
const RETENTION_LOCK_KEY: i64 = 0x454D_535F_5245_544E;
/// Rows sealed or verified per statement.
const BATCH: i64 = 1000;
/// The order of audit pages, under its cursor signature.
const AUDIT_ORDER: NewestFirst = NewestFirst("audit:-createdAt");
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

/// A row with every field the evidence covers, and its evidence and link.
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
    #[diesel(sql_type = Jsonb)]
    metadata: serde_json::Value,
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
    #[diesel(sql_type = Nullable<Bytea>)]
    mac: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    personal_salt: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    personal_digest: Option<Vec<u8>>,
}

const CHAIN_COLUMNS: &str =
    "id, user_id, action, entity_type, entity_id, metadata, ip_address, user_agent, \
     request_id, created_at, chain_seq, prev_hash, hash, mac, personal_salt, personal_digest";

impl ChainRow {
    fn fields(&self) -> EntryFields<'_> {
        EntryFields {
            id: self.id,
            user_id: self.user_id,
            action: &self.action,
            entity_type: &self.entity_type,
            entity_id: self.entity_id.as_deref(),
            metadata: &self.metadata,
            ip_address: self.ip_address.as_deref(),
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_deref(),
            created_at: self.created_at,
        }
    }

    /// Whether the row is an entry the key holder wrote (possibly erased since). A row
    /// without MAC or digest never is.
    fn mac_verifies(&self, key: &AuditKey) -> bool {
        let (Some(mac), Some(digest)) = (&self.mac, &self.personal_digest) else {
            return false;
        };
        let evidence = Evidence {
            salt: self.personal_salt.clone(),
            digest: digest.clone(),
            mac: mac.clone(),
        };
        entry_verifies(key, &self.fields(), &evidence)
    }
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

/// `audit_chain_anchor` as stored.
#[derive(QueryableByName)]
struct Ends {
    #[diesel(sql_type = BigInt)]
    chain_seq: i64,
    #[diesel(sql_type = Bytea)]
    hash: Vec<u8>,
    #[diesel(sql_type = Nullable<Bytea>)]
    anchor_mac: Option<Vec<u8>>,
    #[diesel(sql_type = BigInt)]
    head_seq: i64,
    #[diesel(sql_type = Bytea)]
    head_hash: Vec<u8>,
    #[diesel(sql_type = Nullable<Bytea>)]
    head_mac: Option<Vec<u8>>,
}

impl Ends {
    /// `(0, GENESIS)` for both, no MACs: a chain nothing was ever sealed onto, and the
    /// head reported when the row is missing.
    fn genesis() -> Self {
        Self {
            chain_seq: 0,
            hash: GENESIS.to_vec(),
            anchor_mac: None,
            head_seq: 0,
            head_hash: GENESIS.to_vec(),
            head_mac: None,
        }
    }

    /// The anchor is where retention put it: MAC'd, or never moved (no MAC).
    fn anchor_verifies(&self, key: &AuditKey) -> bool {
        self.anchor_mac.as_deref().is_none_or(|mac| {
            position_verifies(key, Position::Anchor, self.chain_seq, &self.hash, mac)
        })
    }

    /// The head is where a sealer put it: MAC'd, or (nothing sealed since the anchor)
    /// equal to the anchor.
    fn head_verifies(&self, key: &AuditKey) -> bool {
        match self.head_mac.as_deref() {
            Some(mac) => {
                position_verifies(key, Position::Head, self.head_seq, &self.head_hash, mac)
            }
            None => self.head_seq == self.chain_seq && self.head_hash == self.hash,
        }
    }

    /// The rule the link of `seq` was made under: the first link after an anchor that
    /// retention never moved starts the keyed chain.
    fn kind_of(&self, seq: i64) -> LinkKind {
        if self.anchor_mac.is_none() && seq == self.chain_seq + 1 {
            LinkKind::First
        } else {
            LinkKind::Next
        }
    }

    fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.head_seq,
            hash: self.head_hash.clone(),
            count: self.head_seq - self.chain_seq,
        }
    }
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

/// The anchor (the last purged link) and the head (the newest sealed link) with their
/// MACs. `None` when their row is missing: the migrations insert it and nothing here
/// deletes it, so someone removed it behind the server's back (perhaps with the log).
async fn ends(conn: &mut AsyncPgConnection) -> Result<Option<Ends>, RepoError> {
    diesel::sql_query(
        "SELECT chain_seq, hash, anchor_mac, head_seq, head_hash, head_mac \
         FROM audit_chain_anchor WHERE id",
    )
    .get_result(conn)
    .await
    .optional()
    .map_err(|e| query_error("read chain anchor", e))
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

/// Seals every committed, unsealed row whose MAC verifies, and marks the others
/// rejected (they stay unsealed, where verify reports them); under the seal lock.
/// Refuses to extend a head that is missing or does not verify: that would launder its
/// move.
async fn seal(conn: &mut AsyncPgConnection, key: &AuditKey) -> Result<u64, RepoError> {
    if !try_lock(conn, SEAL_LOCK_KEY).await? {
        return Ok(0);
    }
    let Some(ends) = ends(conn)
        .await?
        .filter(|e| e.anchor_verifies(key) && e.head_verifies(key))
    else {
        return Err(StoreFailure::new(
            "audit chain",
            "the stored anchor or head is missing or does not verify under AUDIT_HMAC_KEY; \
             sealing stopped",
        )
        .into());
    };
    let mut head = Link {
        chain_seq: ends.head_seq,
        hash: ends.head_hash.clone(),
    };
    let mut sealed = 0u64;
    loop {
        let rows: Vec<ChainRow> = diesel::sql_query(format!(
            "SELECT {CHAIN_COLUMNS} FROM audit_logs \
             WHERE chain_seq IS NULL AND mac_rejected_at IS NULL \
             ORDER BY created_at, id LIMIT {BATCH}"
        ))
        .load(conn)
        .await
        .map_err(|e| query_error("read unsealed audit entries", e))?;
        if rows.is_empty() {
            return Ok(sealed);
        }
        let n = rows.len();
        let (mut ids, mut seqs, mut prevs, mut hashes, mut rejected) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::new(),
        );
        for row in &rows {
            let Some(mac) = row.mac.as_deref().filter(|_| row.mac_verifies(key)) else {
                rejected.push(row.id);
                continue;
            };
            let seq = head.chain_seq + 1;
            let hash = link(key, ends.kind_of(seq), &head.hash, seq, mac);
            ids.push(row.id);
            seqs.push(seq);
            prevs.push(std::mem::replace(&mut head.hash, hash.clone()));
            hashes.push(hash);
            head.chain_seq = seq;
        }
        if !rejected.is_empty() {
            tracing::warn!(
                audit.rejected = rejected.len(),
                audit.first_rejected_id = %rejected[0],
                "audit entries whose MAC does not verify were not sealed"
            );
            diesel::sql_query("UPDATE audit_logs SET mac_rejected_at = now() WHERE id = ANY($1)")
                .bind::<Array<SqlUuid>, _>(rejected)
                .execute(conn)
                .await
                .map_err(|e| query_error("reject audit entries", e))?;
        }
        if !ids.is_empty() {
            sealed += ids.len() as u64;
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
            let head_mac = position_mac(key, Position::Head, head.chain_seq, &head.hash);
            diesel::sql_query(
                "UPDATE audit_chain_anchor SET head_seq = $1, head_hash = $2, head_mac = $3 \
                 WHERE id",
            )
            .bind::<BigInt, _>(head.chain_seq)
            .bind::<Bytea, _>(head.hash.clone())
            .bind::<Bytea, _>(head_mac)
            .execute(conn)
            .await
            .map_err(|e| query_error("move chain head", e))?;
        }
        if (n as i64) < BATCH {
            return Ok(sealed);
        }
    }
}

fn broken(checked: u64, id: Option<Uuid>, ends: &Ends) -> ChainReport {
    ChainReport {
        valid: false,
        checked,
        first_broken_id: id,
        head: ends.head(),
    }
}

/// Walks the chain from the anchor to the head in one snapshot (a concurrent purge or
/// seal cannot make it look broken), checking each entry MAC and keyed link; then the
/// stored head, the unsealed entries' MACs and the checkpoint. Stops at the first
/// failure. A chain that ends before the head lost its newest entries: invalid, with no
/// row to name.
async fn verify_chain(
    conn: &mut AsyncPgConnection,
    key: &AuditKey,
    checkpoint: Option<&Checkpoint>,
) -> Result<ChainReport, RepoError> {
    diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(conn)
        .await
        .map_err(|e| query_error("snapshot", e))?;
    let Some(ends) = ends(conn).await? else {
        return Ok(broken(0, None, &Ends::genesis()));
    };
    if !ends.anchor_verifies(key) {
        return Ok(broken(0, None, &ends));
    }
    let (mut expected_seq, mut prev) = (ends.chain_seq + 1, ends.hash.clone());
    let mut checked = 0u64;
    let mut after = ends.chain_seq;
    let wanted = checkpoint.map(|c| c.head.seq);
    let mut at_checkpoint: Option<(Uuid, Vec<u8>)> = None;
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
            // Every row read here is sealed: one without its sequence number or hash was
            // changed behind the sealer's back, and the chain breaks at it.
            let Some((seq, hash)) = row.chain_seq.zip(row.hash.as_deref()) else {
                return Ok(broken(checked, Some(row.id), &ends));
            };
            let intact = seq == expected_seq
                && row.prev_hash.as_deref() == Some(prev.as_slice())
                && row.mac_verifies(key)
                && row.mac.as_deref().is_some_and(|mac| {
                    link_verifies(key, ends.kind_of(seq), &prev, seq, mac, hash)
                });
            if !intact {
                return Ok(broken(checked, Some(row.id), &ends));
            }
            prev = hash.to_vec();
            if wanted == Some(seq) {
                at_checkpoint = Some((row.id, prev.clone()));
            }
            expected_seq = seq + 1;
            after = seq;
        }
        if (n as i64) < BATCH {
            break;
        }
    }
    if after != ends.head_seq || prev != ends.head_hash || !ends.head_verifies(key) {
        return Ok(broken(checked, None, &ends));
    }
    if let Some(id) = first_forged_unsealed(conn, key).await? {
        return Ok(broken(checked, Some(id), &ends));
    }
    if let Some(cp) = checkpoint {
        let link_at = at_checkpoint.as_ref().map(|(_, h)| h.as_slice());
        if !checkpoint_holds(cp, (ends.chain_seq, &ends.hash), ends.head_seq, link_at) {
            return Ok(broken(checked, at_checkpoint.map(|(id, _)| id), &ends));
        }
    }
    Ok(ChainReport {
        valid: true,
        checked,
        first_broken_id: None,
        head: ends.head(),
    })
}

/// The first entry not sealed yet (refused by the sealer or waiting) whose MAC does not
/// verify, in sealing order.
async fn first_forged_unsealed(
    conn: &mut AsyncPgConnection,
    key: &AuditKey,
) -> Result<Option<Uuid>, RepoError> {
    let mut after: Option<(DateTime<Utc>, Uuid)> = None;
    loop {
        let (first, at, id) = match after {
            None => (true, DateTime::<Utc>::UNIX_EPOCH, Uuid::nil()),
            Some((at, id)) => (false, at, id),
        };
        let rows: Vec<ChainRow> = diesel::sql_query(format!(
            "SELECT {CHAIN_COLUMNS} FROM audit_logs WHERE chain_seq IS NULL \
             AND ($1 OR (created_at, id) > ($2, $3)) ORDER BY created_at, id LIMIT {BATCH}"
        ))
        .bind::<Bool, _>(first)
        .bind::<Timestamptz, _>(at)
        .bind::<SqlUuid, _>(id)
        .load(conn)
        .await
        .map_err(|e| query_error("read unsealed audit entries", e))?;
        let n = rows.len();
        if let Some(row) = rows.iter().find(|r| !r.mac_verifies(key)) {
            return Ok(Some(row.id));
        }
        match rows.last() {
            Some(last) if (n as i64) == BATCH => after = Some((last.created_at, last.id)),
            _ => return Ok(None),
        }
    }
}

/// Purges the chain's old head and ended sessions; under the retention lock. The anchor
/// moves (with its MAC) to the last purged link, never backwards: rows retired behind
/// the anchor by the migration to keyed evidence are purged without moving it.
async fn purge(
    conn: &mut AsyncPgConnection,
    key: &AuditKey,
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
    // Moving an anchor that is missing or does not verify would put a fresh MAC on a move
    // made behind the server's back: audit retention waits (sessions are still purged).
    let anchor = ends(conn).await?.filter(|a| a.anchor_verifies(key));
    if anchor.is_none() {
        tracing::warn!(
            "the audit chain's anchor is missing or does not verify; audit retention skipped"
        );
    }
    // The longest prefix of the chain whose entries are all older than the cutoff.
    let last = if anchor.is_none() {
        None
    } else {
        diesel::sql_query(
            "SELECT coalesce( \
            (SELECT min(chain_seq) - 1 FROM audit_logs \
             WHERE chain_seq IS NOT NULL AND created_at >= $1), \
            (SELECT max(chain_seq) FROM audit_logs)) AS n",
        )
        .bind::<Timestamptz, _>(audit_before)
        .get_result::<MaybeSeq>(conn)
        .await
        .map_err(|e| query_error("find retention cut", e))?
        .n
    };
    if let (Some(anchor), Some(last)) = (&anchor, last) {
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
            if link.chain_seq > anchor.chain_seq {
                let mac = position_mac(key, Position::Anchor, link.chain_seq, &link.hash);
                diesel::sql_query(
                    "UPDATE audit_chain_anchor SET chain_seq = $1, hash = $2, anchor_mac = $3, \
                     moved_at = now() WHERE id",
                )
                .bind::<BigInt, _>(link.chain_seq)
                .bind::<Bytea, _>(link.hash)
                .bind::<Bytea, _>(mac)
                .execute(conn)
                .await
                .map_err(|e| query_error("move chain anchor", e))?;
            }
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
        self.run_read(|mut conn| async move {
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
                    q = q.filter(audit_logs::entity_id.eq(entity.as_str().to_owned()));
                }
                if let Some(from) = f.from {
                    q = q.filter(audit_logs::created_at.ge(from));
                }
                if let Some(to) = f.to {
                    q = q.filter(audit_logs::created_at.le(to));
                }
                q
            };
            let mut rows_query = filtered()
                .select(AuditRow::as_select())
                .order((audit_logs::created_at.desc(), audit_logs::id.desc()))
                .limit(fetch_limit(query.page.limit));
            let total = match &query.page.position {
                PagePosition::After(c) => {
                    let (at, id) = AUDIT_ORDER.after(c)?;
                    rows_query = rows_query.filter(audit_logs::created_at.le(at)).filter(
                        audit_logs::created_at
                            .lt(at)
                            .or(audit_logs::created_at.eq(at).and(audit_logs::id.lt(id))),
                    );
                    None
                }
                PagePosition::Offset(n) => {
                    rows_query = rows_query.offset(offset(n.get()));
                    let n: i64 = filtered()
                        .count()
                        .get_result(&mut conn)
                        .await
                        .map_err(|e| query_error("count audit entries", e))?;
                    Some(checked_count("count audit entries", n)?)
                }
            };
            let rows: Vec<AuditRow> = rows_query
                .load(&mut conn)
                .await
                .map_err(|e| query_error("list audit entries", e))?;
            assemble(
                rows,
                query.page.limit,
                total,
                |r| AUDIT_ORDER.cursor(r.created_at, r.id),
                |r| AuditEntry::try_from(r).map_err(RepoError::from),
            )
        })
        .await
    }

    #[tracing::instrument(name = "pg.audit.verify", skip_all)]
    async fn verify(&self, checkpoint: Option<Checkpoint>) -> Result<ChainReport, RepoError> {
        // Verification reads the whole chain: no per-call deadline beyond the statement
        // timeout of each batch.
        self.run_unbounded(|mut conn| async move {
            begin(&mut conn).await?;
            let result = verify_chain(&mut conn, self.audit_key(), checkpoint.as_ref()).await;
            finish(&mut conn, result).await
        })
        .await
    }

    #[tracing::instrument(name = "pg.audit.seal_pending", skip_all)]
    async fn seal_pending(&self) -> Result<u64, RepoError> {
        self.run(|mut conn| async move {
            begin(&mut conn).await?;
            let result = seal(&mut conn, self.audit_key()).await;
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
        self.run(|mut conn| async move {
            begin(&mut conn).await?;
            let result = purge(&mut conn, self.audit_key(), audit_before, sessions_before).await;
            finish(&mut conn, result).await
        })
        .await
    }
}
