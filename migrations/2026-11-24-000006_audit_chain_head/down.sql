ALTER TABLE audit_chain_anchor DROP COLUMN head_hash, DROP COLUMN head_seq;
