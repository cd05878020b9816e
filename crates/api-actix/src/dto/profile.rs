//! Profile bodies.

use domain::preferences::Preferences;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

/// `PATCH /profile` body.
#[derive(Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfilePatchDto {
    /// New display name.
    pub display_name: Option<String>,
    /// New email; null removes it.
    #[serde(default, deserialize_with = "super::double_option")]
    pub email: Option<Option<String>>,
}

/// `PUT /profile/password` body.
#[derive(Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub current_password: String,
    /// The new password (10–128 characters, strong, not containing the username).
    pub new_password: String,
}

/// A theme.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "lowercase")]
pub enum ThemeDto {
    /// Light.
    Light,
    /// Dark.
    Dark,
    /// Follow the system.
    System,
}

/// Preferences, as read and as replaced by `PUT`.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreferencesDto {
    /// Colour scheme.
    pub theme: ThemeDto,
    /// BCP 47 language tag, e.g. `en`, `de-CH`.
    pub language: String,
    /// Whether to notify.
    pub notifications: bool,
}

impl From<Preferences> for PreferencesDto {
    fn from(p: Preferences) -> Self {
        use domain::preferences::Theme;
        Self {
            theme: match p.theme {
                Theme::Light => ThemeDto::Light,
                Theme::Dark => ThemeDto::Dark,
                Theme::System => ThemeDto::System,
            },
            language: p.language.as_str().to_owned(),
            notifications: p.notifications,
        }
    }
}

impl From<PreferencesDto> for application::profile::PreferencesInput {
    fn from(p: PreferencesDto) -> Self {
        Self {
            theme: match p.theme {
                ThemeDto::Light => "light",
                ThemeDto::Dark => "dark",
                ThemeDto::System => "system",
            }
            .to_owned(),
            language: p.language,
            notifications: p.notifications,
        }
    }
}

/// `GET /profile/export`: everything stored about the caller.
#[derive(Debug, Serialize, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct PersonalDataDto {
    /// The account.
    pub user: super::user::UserDto,
    /// Preferences (the defaults when never set).
    pub preferences: PreferencesDto,
    /// Active sessions, newest first.
    pub sessions: Vec<super::sessions::SessionDto>,
    /// Audit entries the caller made or that are about their account, newest first.
    pub audit_entries: Vec<super::audit::AuditEntryDto>,
}

impl From<application::profile::PersonalData> for PersonalDataDto {
    fn from(d: application::profile::PersonalData) -> Self {
        Self {
            user: d.user.into(),
            preferences: d.preferences.into(),
            sessions: d.sessions.into_iter().map(Into::into).collect(),
            audit_entries: d.audit_entries.into_iter().map(Into::into).collect(),
        }
    }
}
