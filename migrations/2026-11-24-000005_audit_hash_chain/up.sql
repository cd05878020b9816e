-- Tamper evidence for audit_logs without serializing writers: writers keep inserting
-- unsealed rows (all four columns null); a background step seals committed rows onto a
-- SHA-256 hash chain in (created_at, id) order: chain_seq is consecutive after the head,
-- hash = SHA-256(prev_hash || canonical bytes of the row). Verification walks the chain
-- from audit_chain_anchor, which retention moves forward as it purges the chain's head.
ALTER TABLE audit_logs
    ADD COLUMN chain_seq bigint      NULL,
    ADD COLUMN prev_hash bytea       NULL,
    ADD COLUMN hash      bytea       NULL,
    ADD COLUMN sealed_at timestamptz NULL,
    ADD CONSTRAINT audit_logs_chain_seq_key UNIQUE (chain_seq),
    ADD CONSTRAINT audit_logs_sealed_check CHECK (
        (chain_seq IS NULL AND prev_hash IS NULL AND hash IS NULL AND sealed_at IS NULL)
        OR (chain_seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL
            AND sealed_at IS NOT NULL));

-- What the sealer picks up next: only the (few) unsealed rows are indexed.
CREATE INDEX audit_logs_unsealed_idx ON audit_logs (created_at, id) WHERE chain_seq IS NULL;

-- The single row: the last purged link (chain_seq 0 and 32 zero bytes before any purge).
CREATE TABLE audit_chain_anchor (
    id        boolean     PRIMARY KEY DEFAULT true CHECK (id),
    chain_seq bigint      NOT NULL,
    hash      bytea       NOT NULL CHECK (octet_length(hash) = 32),
    moved_at  timestamptz NULL
);
INSERT INTO audit_chain_anchor (id, chain_seq, hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));
