DROP INDEX IF EXISTS users_email_bytes_idx;
DROP INDEX IF EXISTS users_display_name_bytes_idx;
DROP INDEX IF EXISTS users_username_bytes_id_idx;
