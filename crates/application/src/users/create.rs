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

/// A new user whose fields but the password's strength are valid: what every cheap
/// check leaves for the estimator.
pub(crate) struct CheckedNewUser {
    pub username: Username,
    pub email: Option<Email>,
    pub display_name: DisplayName,
    pub password: domain::password::Password,
    pub role: Role,
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
    /// Validates every field but the password's strength, reporting all problems at once.
    pub(crate) fn check_fields(&self) -> Result<CheckedNewUser, AppError> {
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
        Ok(CheckedNewUser {
            username,
            email,
            display_name,
            password: self.password.clone(),
            role: self.role.unwrap_or(Role::User),
        })
    }

    /// Validates every field, the password's strength on the calling thread: for the
    /// start-up bootstrap only, where no request waits on an async worker.
    pub(crate) fn validate(&self) -> Result<ValidNewUser, AppError> {
        let checked = self.check_fields()?;
        let context = checked.context();
        let context: Vec<&str> = context.iter().map(String::as_str).collect();
        let password = NewPassword::parse(checked.password.expose(), &checked.username, &context)
            .map_err(|e| AppError::password("password", e))?;
        Ok(checked.with(password))
    }
}

impl CheckedNewUser {
    /// The words the estimator should treat as guessable: display name and email.
    fn context(&self) -> Vec<String> {
        let mut context = vec![self.display_name.as_str().to_owned()];
        if let Some(email) = &self.email {
            context.push(email.as_str().to_owned());
        }
        context
    }

    /// Judges the password through the [`domain::ports::PasswordStrength`] port (off the
    /// async workers): the last and dearest check.
    pub(crate) async fn judge(self, ports: &Ports) -> Result<ValidNewUser, AppError> {
        let password = ports
            .strength
            .judge(&self.password, &self.username, &self.context())
            .await?
            .map_err(|e| AppError::password("password", e))?;
        Ok(self.with(password))
    }

    fn with(self, password: NewPassword) -> ValidNewUser {
        ValidNewUser {
            username: self.username,
            email: self.email,
            display_name: self.display_name,
            password,
            role: self.role,
        }
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
        let valid = input.check_fields()?.judge(&self.ports).await?;
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
