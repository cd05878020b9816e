//! `GET|PUT /profile/preferences`.

use domain::audit::{AuditAction, RequestContext};
use domain::preferences::{Language, Preferences, Theme};
use serde_json::json;

use crate::audit;
use crate::error::{AppError, Problems};
use crate::ports::Ports;
use crate::principal::Principal;

/// Reads the caller's preferences (defaults when never set).
pub struct GetPreferences {
    ports: Ports,
}

impl GetPreferences {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it.
    pub async fn execute(&self, who: &Principal) -> Result<Preferences, AppError> {
        who.require_full_access()?;
        Ok(self
            .ports
            .users
            .preferences(who.user.id)
            .await?
            .unwrap_or_default())
    }
}

/// Preferences as the client sent them (all three, as `PUT` replaces).
#[derive(Debug, Clone)]
pub struct PreferencesInput {
    /// `light`, `dark` or `system`.
    pub theme: String,
    /// A BCP 47 tag.
    pub language: String,
    /// Whether to notify.
    pub notifications: bool,
}

/// Replaces the caller's preferences.
pub struct UpdatePreferences {
    ports: Ports,
}

impl UpdatePreferences {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it; audits the names of the fields that changed.
    #[tracing::instrument(name = "update_preferences", skip_all, fields(user.id = %who.user.id))]
    pub async fn execute(
        &self,
        who: &Principal,
        input: PreferencesInput,
        ctx: &RequestContext,
    ) -> Result<Preferences, AppError> {
        who.require_full_access()?;
        let (theme, language) = match (Theme::parse(&input.theme), Language::parse(&input.language))
        {
            (Ok(theme), Ok(language)) => (theme, language),
            (theme, language) => {
                let mut problems = Problems::default();
                problems.check(theme);
                problems.check(language);
                return Err(problems.into_error());
            }
        };
        let prefs = Preferences {
            theme,
            language,
            notifications: input.notifications,
        };
        let before = self
            .ports
            .users
            .preferences(who.user.id)
            .await?
            .unwrap_or_default();
        let mut changed = Vec::new();
        if before.theme != prefs.theme {
            changed.push("theme");
        }
        if before.language != prefs.language {
            changed.push("language");
        }
        if before.notifications != prefs.notifications {
            changed.push("notifications");
        }
        if changed.is_empty() {
            return Ok(prefs);
        }
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        tx.put_preferences(who.user.id, &prefs).await?;
        let entry = audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(who.user.id),
            AuditAction::PreferencesUpdate,
            who.user.id,
            json!({ "fields": changed }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(prefs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, actions, committing_tx, Mocks};
    use domain::user::Role;

    fn input(theme: &str, language: &str) -> PreferencesInput {
        PreferencesInput {
            theme: theme.into(),
            language: language.into(),
            notifications: true,
        }
    }

    #[tokio::test]
    async fn preferences_default_to_light_en_and_notifications() {
        let mut mocks = Mocks::new();
        mocks.users.expect_preferences().returning(|_| Ok(None));

        let prefs = GetPreferences::new(mocks.ports())
            .execute(&testing::principal(testing::user(1, Role::User)))
            .await
            .unwrap();

        assert_eq!(prefs, Preferences::default());
    }

    #[tokio::test]
    async fn an_update_stores_and_audits_the_changed_fields() {
        let (mut tx, audited) = committing_tx();
        tx.expect_put_preferences()
            .times(1)
            .withf(|_, p| p.theme == Theme::Dark && p.language.as_str() == "de-CH")
            .returning(|_, _| Ok(()));
        let mut mocks = Mocks::new().with_tx(tx);
        mocks.users.expect_preferences().returning(|_| Ok(None));

        let prefs = UpdatePreferences::new(mocks.ports())
            .execute(
                &testing::principal(testing::user(1, Role::User)),
                input("dark", "de-CH"),
                &RequestContext::default(),
            )
            .await
            .unwrap();

        assert_eq!(prefs.theme, Theme::Dark);
        assert_eq!(actions(&audited), ["PREFERENCES_UPDATE"]);
    }

    #[tokio::test]
    async fn invalid_theme_and_language_are_both_reported() {
        let err = UpdatePreferences::new(Mocks::new().ports())
            .execute(
                &testing::principal(testing::user(1, Role::User)),
                input("pink", "english"),
                &RequestContext::default(),
            )
            .await
            .unwrap_err();

        match err {
            AppError::Validation(fields) => assert_eq!(fields.len(), 2),
            other => panic!("expected validation, got {other:?}"),
        }
    }
}
