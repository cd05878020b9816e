//! `POST /users`.

use domain::audit::{AuditAction, RequestContext};
use domain::password::NewPassword;
use domain::user::{DisplayName, Email, Role, User, UserId, UserStatus, Username};
use serde_json::json;

use crate::audit;
use crate::error::{AppError, Problems};
use crate::ports::Ports;
use crate::principal::Principal;

/// A new user as the admin sent it.
#[derive(Debug, Clone)]
pub struct NewUserInput {
    /// Login name.
    pub username: String,
    /// Optional email.
    pub email: Option<String>,
    /// Human name.
    pub display_name: String,
    /// Initial password (policy-checked).
    pub password: domain::password::Password,
    /// `USER` unless given.
    pub role: Option<Role>,
}

/// A validated new user, ready to hash and insert.
pub(crate) struct ValidNewUser {
    pub username: Username,
    pub email: Option<Email>,
    pub display_name: DisplayName,
    pub password: NewPassword,
    pub role: Role,
}

impl NewUserInput {
    /// Validates every field, reporting all problems at once.
    pub(crate) fn validate(&self) -> Result<ValidNewUser, AppError> {
        let mut problems = Problems::default();
        let username = problems.check(Username::parse(&self.username));
        let email = match &self.email {
            Some(raw) => problems.check(Email::parse(raw)).map(Some),
            None => Some(None),
        };
        let display_name = problems.check(DisplayName::parse(&self.display_name));
        let (Some(username), Some(email), Some(display_name)) = (username, email, display_name)
        else {
            return Err(problems.into_error());
        };
        let mut context = vec![display_name.as_str()];
        if let Some(email) = &email {
            context.push(email.as_str());
        }
        let password = NewPassword::parse(self.password.expose(), &username, &context)
            .map_err(|e| AppError::password("password", e))?;
        Ok(ValidNewUser {
            username,
            email,
            display_name,
            password,
            role: self.role.unwrap_or(Role::User),
        })
    }
}

/// Builds the stored user from validated input.
pub(crate) async fn build_user(
    ports: &Ports,
    valid: ValidNewUser,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<User, AppError> {
    let password_hash = ports.hasher.hash(&valid.password).await?;
    Ok(User {
        id: UserId(ports.ids.new_id()),
        username: valid.username,
        email: valid.email,
        display_name: valid.display_name,
        password_hash,
        role: valid.role,
        status: UserStatus::Active,
        must_change_password: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
        login_count: 0,
        failed_login_attempts: 0,
        locked_until: None,
        password_changed_at: now,
        deleted_at: None,
        version: 1,
    })
}

/// Creates a user.
pub struct CreateUser {
    ports: Ports,
}

impl CreateUser {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only; `UsernameTaken` / `EmailTaken` on a clash.
    #[tracing::instrument(name = "create_user", skip_all)]
    pub async fn execute(
        &self,
        who: &Principal,
        input: NewUserInput,
        ctx: &RequestContext,
    ) -> Result<User, AppError> {
        who.require_admin()?;
        let valid = input.validate()?;
        let now = self.ports.clock.now();
        let user = build_user(&self.ports, valid, now).await?;
        let mut tx = self.ports.uow.begin().await?;
        super::still_admin(tx.as_mut(), who).await?;
        tx.insert_user(&user).await?;
        let entry = audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(who.user.id),
            AuditAction::CreateUser,
            user.id,
            json!({ "username": user.username.as_str(), "role": user.role.as_str() }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(user)
    }
}
