-- Ranked search at scale (issue 11): each rank of /users/search is read with its own
-- index and LIMIT, and terms shorter than three characters match field prefixes.
-- Byte-order ("C") keys make a LIKE 'term%' an index range whatever the database's
-- collation, and give the search its order (lower(username) in byte order, then id), so a
-- page stops after its rows instead of sorting every match.
CREATE INDEX users_username_bytes_id_idx ON users ((lower(username) COLLATE "C"), id);
CREATE INDEX users_display_name_bytes_idx ON users ((lower(display_name) COLLATE "C"));
CREATE INDEX users_email_bytes_idx ON users ((lower(email) COLLATE "C"));
