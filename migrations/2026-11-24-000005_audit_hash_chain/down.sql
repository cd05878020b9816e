-- Loses the chain (sealing state and anchor); the entries themselves stay.
DROP TABLE audit_chain_anchor;
DROP INDEX audit_logs_unsealed_idx;
ALTER TABLE audit_logs
    DROP CONSTRAINT audit_logs_sealed_check,
    DROP CONSTRAINT audit_logs_chain_seq_key,
    DROP COLUMN sealed_at,
    DROP COLUMN hash,
    DROP COLUMN prev_hash,
    DROP COLUMN chain_seq;
