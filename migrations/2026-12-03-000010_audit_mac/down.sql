-- Drops the keyed evidence. The retirement of pre-migration rows is not undone: they
-- stay behind the anchor (their placeholder links would not verify under the old rule).
DROP INDEX audit_logs_unsealed_idx;
CREATE INDEX audit_logs_unsealed_idx ON audit_logs (created_at, id) WHERE chain_seq IS NULL;
ALTER TABLE audit_chain_anchor
    DROP COLUMN head_mac,
    DROP COLUMN anchor_mac;
ALTER TABLE audit_logs
    DROP COLUMN mac_rejected_at,
    DROP COLUMN personal_digest,
    DROP COLUMN personal_salt,
    DROP COLUMN mac;
