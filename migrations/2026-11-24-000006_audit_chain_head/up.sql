-- The chain's head (its newest link) kept beside the anchor, updated by every sealing
-- step: removing the newest sealed entries, which leaves no later row to break, is then
-- found too (verify reports valid = false without a row to name).
ALTER TABLE audit_chain_anchor
    ADD COLUMN head_seq  bigint NOT NULL DEFAULT 0,
    ADD COLUMN head_hash bytea  NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
        CHECK (octet_length(head_hash) = 32);

UPDATE audit_chain_anchor AS a SET head_seq = h.chain_seq, head_hash = h.hash
FROM (SELECT chain_seq, hash FROM audit_logs WHERE chain_seq IS NOT NULL
      ORDER BY chain_seq DESC LIMIT 1) AS h;
UPDATE audit_chain_anchor SET head_seq = chain_seq, head_hash = hash WHERE head_seq < chain_seq;
