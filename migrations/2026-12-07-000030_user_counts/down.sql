DROP TRIGGER IF EXISTS users_counted_update ON users;
DROP TRIGGER IF EXISTS users_counted_insert_delete ON users;
DROP FUNCTION IF EXISTS user_counts_note();
DROP TABLE IF EXISTS user_counts;
