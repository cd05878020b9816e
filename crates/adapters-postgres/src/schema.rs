//! Diesel table definitions, written by hand to match `migrations/` (no `diesel print-schema`
//! in the build: the schema file is reviewed together with the migration that changes it).

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        email -> Nullable<Text>,
        display_name -> Text,
        password_hash -> Text,
        role -> Text,
        status -> Text,
        must_change_password -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_login_at -> Nullable<Timestamptz>,
        login_count -> Int8,
        failed_login_attempts -> Int4,
        locked_until -> Nullable<Timestamptz>,
        password_changed_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        version -> Int8,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        ip_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        session_id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        spent_at -> Nullable<Timestamptz>,
        retired_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    user_preferences (user_id) {
        user_id -> Uuid,
        theme -> Text,
        language -> Text,
        notifications -> Bool,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    audit_logs (id) {
        id -> Uuid,
        seq -> Int8,
        user_id -> Nullable<Uuid>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Nullable<Text>,
        metadata -> Jsonb,
        ip_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> Timestamptz,
        chain_seq -> Nullable<Int8>,
        prev_hash -> Nullable<Bytea>,
        hash -> Nullable<Bytea>,
        sealed_at -> Nullable<Timestamptz>,
        mac -> Nullable<Bytea>,
        personal_salt -> Nullable<Bytea>,
        personal_digest -> Nullable<Bytea>,
        mac_rejected_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_chain_anchor (id) {
        id -> Bool,
        chain_seq -> Int8,
        hash -> Bytea,
        moved_at -> Nullable<Timestamptz>,
        head_seq -> Int8,
        head_hash -> Bytea,
        anchor_mac -> Nullable<Bytea>,
        head_mac -> Nullable<Bytea>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(user_preferences -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    refresh_tokens,
    user_preferences,
    audit_logs,
    audit_chain_anchor,
);
