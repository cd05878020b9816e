#![doc = include_str!("../README.md")]

pub mod audit;
pub mod auth;
pub mod error;
pub mod health;
pub mod paging;
pub mod ports;
pub mod principal;
pub mod profile;
pub mod sessions;
pub mod signing_keys;
pub mod users;

mod contact;
mod invalidation;
mod issue;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod use_cases_tests;

pub use error::AppError;
pub use paging::{PageInput, Paged};
pub use ports::{Policy, Ports};
pub use principal::Principal;

/// Every use case, built once by the composition root and shared by the handlers.
pub struct UseCases {
    /// `POST /auth/login`.
    pub login: auth::Login,
    /// `POST /auth/refresh`.
    pub refresh: auth::Refresh,
    /// `POST /auth/logout`.
    pub logout: auth::Logout,
    /// `POST /auth/logout-all`.
    pub logout_all: auth::LogoutAll,
    /// Every authenticated request.
    pub authenticate: auth::Authenticate,
    /// `GET /profile`.
    pub get_profile: profile::GetProfile,
    /// `PATCH /profile`.
    pub update_profile: profile::UpdateProfile,
    /// `PUT /profile/password`.
    pub change_password: profile::ChangePassword,
    /// `GET /profile/export`.
    pub export_profile: profile::ExportProfile,
    /// `GET /profile/preferences`.
    pub get_preferences: profile::GetPreferences,
    /// `PUT /profile/preferences`.
    pub update_preferences: profile::UpdatePreferences,
    /// `GET /users`.
    pub list_users: users::ListUsers,
    /// `GET /users/search`.
    pub search_users: users::SearchUsers,
    /// Folds the store's count notes behind list totals (a background job).
    pub fold_user_counts: users::FoldUserCounts,
    /// `POST /users`.
    pub create_user: users::CreateUser,
    /// `POST /users/bulk`.
    pub bulk_create_users: users::BulkCreateUsers,
    /// `DELETE /users/bulk`.
    pub bulk_delete_users: users::BulkDeleteUsers,
    /// `POST /users/import`.
    pub import_users: users::ImportUsers,
    /// `GET /users/export`.
    pub export_users: users::ExportUsers,
    /// `GET /users/{id}`.
    pub get_user: users::GetUser,
    /// `PATCH /users/{id}`.
    pub update_user: users::UpdateUser,
    /// `DELETE /users/{id}`.
    pub delete_user: users::DeleteUser,
    /// `POST /users/{id}/restore`.
    pub restore_user: users::RestoreUser,
    /// `PATCH /users/{id}/reset-password`.
    pub reset_password: users::ResetPassword,
    /// `GET /users/{id}/export`.
    pub export_user_data: profile::ExportUserData,
    /// `POST /users/{id}/anonymize`.
    pub anonymize_user: users::AnonymizeUser,
    /// The background anonymization of users deleted longer than `USER_PURGE_AFTER`.
    pub purge_deleted_users: users::PurgeDeletedUsers,
    /// Start-up admin creation.
    pub bootstrap_admin: users::BootstrapAdmin,
    /// `/api/health` and `/api/health/ready`.
    pub health: health::Health,
    /// `GET /api/health/detailed`.
    pub detailed_health: health::DetailedHealth,
    /// `GET /audit-logs`.
    pub list_audit_logs: audit::ListAuditLogs,
    /// `GET /audit-logs/verify`.
    pub verify_audit_log: audit::VerifyAuditLog,
    /// `GET /audit-logs/checkpoint`.
    pub audit_checkpoint: audit::CreateAuditCheckpoint,
    /// The background sealer of the audit chain.
    pub seal_audit_log: audit::SealAuditLog,
    /// The background retention job.
    pub run_retention: audit::RunRetention,
    /// `GET /sessions`.
    pub list_sessions: sessions::ListSessions,
    /// `DELETE /sessions/{id}`.
    pub revoke_session: sessions::RevokeSession,
    /// `GET /users/{id}/sessions`.
    pub list_user_sessions: sessions::ListUserSessions,
    /// `DELETE /users/{id}/sessions`.
    pub revoke_user_sessions: sessions::RevokeUserSessions,
    /// The background write-behind of session use.
    pub flush_session_activity: sessions::FlushSessionActivity,
    /// Announces this instance's JWT keys and compares them with its peers'.
    pub check_signing_keys: signing_keys::CheckSigningKeys,
}

impl UseCases {
    /// Builds every use case over the same ports and policy.
    pub fn new(ports: Ports, policy: Policy) -> Self {
        // Every write below goes through transactions that invalidate the auth and list
        // caches, and every lookup through the guards that know which invalidations are
        // still pending.
        let auth_cache: std::sync::Arc<dyn domain::ports::AuthCache> = std::sync::Arc::new(
            invalidation::GuardedAuthCache::new(ports.auth_cache.clone(), ports.clock.clone()),
        );
        let lists: std::sync::Arc<dyn domain::ports::ListCache> = std::sync::Arc::new(
            invalidation::GuardedListCache::new(ports.lists.clone(), ports.clock.clone()),
        );
        let ports = Ports {
            uow: std::sync::Arc::new(invalidation::InvalidatingUnitOfWork::new(
                ports.uow.clone(),
                auth_cache.clone(),
                lists.clone(),
            )),
            auth_cache,
            lists,
            ..ports
        };
        Self {
            login: auth::Login::new(ports.clone(), policy.clone()),
            refresh: auth::Refresh::new(ports.clone(), policy.clone()),
            logout: auth::Logout::new(ports.clone()),
            logout_all: auth::LogoutAll::new(ports.clone()),
            authenticate: auth::Authenticate::new(ports.clone()),
            get_profile: profile::GetProfile::new(ports.clone()),
            update_profile: profile::UpdateProfile::new(ports.clone()),
            change_password: profile::ChangePassword::new(ports.clone(), policy.clone()),
            export_profile: profile::ExportProfile::new(ports.clone()),
            get_preferences: profile::GetPreferences::new(ports.clone()),
            update_preferences: profile::UpdatePreferences::new(ports.clone()),
            list_users: users::ListUsers::new(ports.clone()),
            search_users: users::SearchUsers::new(ports.clone()),
            fold_user_counts: users::FoldUserCounts::new(ports.clone()),
            create_user: users::CreateUser::new(ports.clone()),
            bulk_create_users: users::BulkCreateUsers::new(ports.clone()),
            bulk_delete_users: users::BulkDeleteUsers::new(ports.clone()),
            import_users: users::ImportUsers::new(ports.clone()),
            export_users: users::ExportUsers::new(ports.clone()),
            get_user: users::GetUser::new(ports.clone()),
            update_user: users::UpdateUser::new(ports.clone()),
            delete_user: users::DeleteUser::new(ports.clone()),
            restore_user: users::RestoreUser::new(ports.clone()),
            reset_password: users::ResetPassword::new(ports.clone()),
            export_user_data: profile::ExportUserData::new(ports.clone()),
            anonymize_user: users::AnonymizeUser::new(ports.clone()),
            purge_deleted_users: users::PurgeDeletedUsers::new(ports.clone()),
            bootstrap_admin: users::BootstrapAdmin::new(ports.clone()),
            list_audit_logs: audit::ListAuditLogs::new(ports.clone()),
            verify_audit_log: audit::VerifyAuditLog::new(ports.clone()),
            audit_checkpoint: audit::CreateAuditCheckpoint::new(ports.clone()),
            seal_audit_log: audit::SealAuditLog::new(ports.clone()),
            run_retention: audit::RunRetention::new(ports.clone()),
            list_sessions: sessions::ListSessions::new(ports.clone()),
            revoke_session: sessions::RevokeSession::new(ports.clone()),
            list_user_sessions: sessions::ListUserSessions::new(ports.clone()),
            revoke_user_sessions: sessions::RevokeUserSessions::new(ports.clone()),
            flush_session_activity: sessions::FlushSessionActivity::new(ports.clone()),
            check_signing_keys: signing_keys::CheckSigningKeys::new(ports.clone()),
            detailed_health: health::DetailedHealth::new(ports.clone()),
            health: health::Health::new(ports),
        }
    }
}
