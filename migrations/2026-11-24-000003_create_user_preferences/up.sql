-- A user's UI preferences; no row means the defaults (light / en / notifications on).
CREATE TABLE user_preferences (
    user_id       uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    theme         text        NOT NULL,
    language      text        NOT NULL,
    notifications boolean     NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_preferences_theme_check CHECK (theme IN ('light', 'dark', 'system')),
    CONSTRAINT user_preferences_language_check CHECK (char_length(language) BETWEEN 2 AND 35)
);
