-- Keyed audit evidence (ADR 0015). Every new row carries an HMAC of its fields under the
-- server's AUDIT_HMAC_KEY, computed by the writing transaction (`mac`), and a salted
-- SHA-256 digest of its personal fields (`personal_digest`, salt in `personal_salt`), so
-- that erasing the personal fields and the salt keeps the row verifiable. The sealer
-- links only rows whose MAC verifies (link = HMAC(key, prev || seq || mac)); rows it
-- refuses are marked `mac_rejected_at` and stay unsealed, where verify reports them.
-- The anchor and head of the chain are stored with a MAC of their position too.
ALTER TABLE audit_logs
    ADD COLUMN mac             bytea       NULL CHECK (mac IS NULL OR octet_length(mac) = 32),
    ADD COLUMN personal_salt   bytea       NULL,
    ADD COLUMN personal_digest bytea       NULL,
    ADD COLUMN mac_rejected_at timestamptz NULL;

ALTER TABLE audit_chain_anchor
    ADD COLUMN anchor_mac bytea NULL,
    ADD COLUMN head_mac   bytea NULL;

-- The sealer's work list skips the rows it refused.
DROP INDEX audit_logs_unsealed_idx;
CREATE INDEX audit_logs_unsealed_idx ON audit_logs (created_at, id)
    WHERE chain_seq IS NULL AND mac_rejected_at IS NULL;

-- Rows written before this migration have no MAC and never will (no key in SQL). They
-- are retired behind the anchor: unsealed ones get the next sequence numbers (with the
-- old head's hash as a placeholder link), then the anchor moves to the head. They stay
-- listed and are purged by retention like any other entry, but verification starts after
-- them; the keyed chain starts at the old head's hash.
WITH head AS (SELECT head_seq, head_hash FROM audit_chain_anchor WHERE id),
     pending AS (
        SELECT id, row_number() OVER (ORDER BY created_at, id) AS n
        FROM audit_logs WHERE chain_seq IS NULL)
UPDATE audit_logs AS a
SET chain_seq = head.head_seq + pending.n, prev_hash = head.head_hash,
    hash = head.head_hash, sealed_at = now()
FROM pending, head
WHERE a.id = pending.id;

UPDATE audit_chain_anchor
SET head_seq = coalesce((SELECT max(chain_seq) FROM audit_logs), head_seq)
WHERE id;

UPDATE audit_chain_anchor
SET chain_seq = head_seq, hash = head_hash,
    moved_at = CASE WHEN head_seq > chain_seq THEN now() ELSE moved_at END
WHERE id;
