-- A token retired by a grace retry of its parent (ADR 0005): it was never handed to the
-- client that retried, so presenting it is reuse, never another grace retry.
ALTER TABLE refresh_tokens ADD COLUMN retired_at timestamptz NULL;
ALTER TABLE refresh_tokens
    ADD CONSTRAINT refresh_tokens_retired_spent_check CHECK (retired_at IS NULL OR spent_at IS NOT NULL);
