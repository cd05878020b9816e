-- The audit trail: one row per security event or admin action, written in the same
-- transaction as the change. No foreign key on user_id: entries outlive their users and
-- anonymous events (a failed login for an unknown name) have none.
-- seq gives a gap-tolerant total order of insertion, which a later hash chain builds on.
CREATE TABLE audit_logs (
    id          uuid        PRIMARY KEY,
    seq         bigint      GENERATED ALWAYS AS IDENTITY,
    user_id     uuid        NULL,
    action      text        NOT NULL,
    entity_type text        NOT NULL,
    entity_id   text        NULL,
    metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    ip_address  text        NULL,
    user_agent  text        NULL,
    request_id  text        NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT audit_logs_seq_key UNIQUE (seq)
);

-- Newest first, and the filters of GET /audit-logs; created_at also serves retention.
CREATE INDEX audit_logs_created_at_idx ON audit_logs (created_at DESC, id DESC);
CREATE INDEX audit_logs_user_id_idx ON audit_logs (user_id, created_at DESC);
CREATE INDEX audit_logs_action_idx ON audit_logs (action, created_at DESC);
CREATE INDEX audit_logs_entity_idx ON audit_logs (entity_type, entity_id, created_at DESC);
