-- Users: accounts, their credentials' hash and their login bookkeeping.
-- pg_trgm is a trusted extension: a database owner may create it without superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    id                    uuid        PRIMARY KEY,
    username              text        NOT NULL,
    email                 text        NULL,
    display_name          text        NOT NULL,
    password_hash         text        NOT NULL,
    role                  text        NOT NULL,
    status                text        NOT NULL,
    must_change_password  boolean     NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    last_login_at         timestamptz NULL,
    login_count           bigint      NOT NULL DEFAULT 0,
    failed_login_attempts integer     NOT NULL DEFAULT 0,
    locked_until          timestamptz NULL,
    password_changed_at   timestamptz NOT NULL,
    deleted_at            timestamptz NULL,
    version               bigint      NOT NULL DEFAULT 1,
    CONSTRAINT users_role_check CHECK (role IN ('USER', 'ADMIN')),
    CONSTRAINT users_status_check CHECK (status IN ('ACTIVE', 'BLOCKED')),
    CONSTRAINT users_login_count_check CHECK (login_count >= 0),
    CONSTRAINT users_failed_login_attempts_check CHECK (failed_login_attempts >= 0)
);

-- Names and addresses are unique case-insensitively. Soft-deleted users keep theirs
-- reserved (no "WHERE deleted_at IS NULL"), so a restore can never clash.
-- The adapter maps violations of these two names to UsernameTaken / EmailTaken.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email)) WHERE email IS NOT NULL;

-- Sort keys of the user list, each with the id tie-breaker, so that keyset pages start
-- with an index seek whatever the sort (the expressions match the adapter's ORDER BY).
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
CREATE INDEX users_display_name_lower_id_idx ON users (lower(display_name), id);
CREATE INDEX users_email_sort_id_idx ON users ((coalesce(lower(email), '')), id);
CREATE INDEX users_last_login_sort_id_idx
    ON users ((coalesce(last_login_at, '-infinity'::timestamptz)), id);

-- Substring search (`q` filter and /users/search): ILIKE '%term%' uses these.
CREATE INDEX users_username_trgm_idx ON users USING gin (username gin_trgm_ops);
CREATE INDEX users_display_name_trgm_idx ON users USING gin (display_name gin_trgm_ops);
CREATE INDEX users_email_trgm_idx ON users USING gin (email gin_trgm_ops);
