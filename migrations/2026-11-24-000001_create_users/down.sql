-- The pg_trgm extension stays: other objects of the database may rely on it, and
-- CREATE EXTENSION IF NOT EXISTS in up.sql makes re-applying safe.
DROP TABLE users;
