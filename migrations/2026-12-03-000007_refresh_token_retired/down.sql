ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_retired_spent_check;
ALTER TABLE refresh_tokens DROP COLUMN retired_at;
