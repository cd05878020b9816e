//! Recording a refused password check, the same for a login and a password change: the
//! lockout transition decided on the row the transaction locked, `ACCOUNT_LOCKED` once
//! when it locks, and `LOGIN_FAILED`.

use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, RequestContext};
use domain::lockout::LockoutState;
use domain::ports::{LoginOutcome, Transaction};
use domain::sign_in::Refusal;
use domain::user::User;
use serde_json::json;

use crate::audit;
use crate::error::AppError;
use crate::ports::{Policy, Ports};

/// Where a password was checked, for the audit metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Door {
    /// `POST /auth/login`.
    Login,
    /// `PUT /profile/password`.
    PasswordChange,
}

/// The metric outcome of a refusal: only a lockout is told apart from bad credentials.
pub(crate) fn outcome(refusal: Refusal) -> LoginOutcome {
    match refusal {
        Refusal::Locked => LoginOutcome::Locked,
        Refusal::UnknownUser
        | Refusal::BadPassword
        | Refusal::Blocked
        | Refusal::Deleted
        | Refusal::PasswordChanged => LoginOutcome::InvalidCredentials,
    }
}

/// Records refused password checks under the use case's ports and policy.
pub(crate) struct Attempts<'a> {
    /// Ids, for the audit entries.
    pub ports: &'a Ports,
    /// The lockout settings.
    pub policy: &'a Policy,
}

impl Attempts<'_> {
    /// Records `refusal` of `user`, the row `tx` holds locked; `ctx` names the actor.
    pub(crate) async fn record(
        &self,
        tx: &mut dyn Transaction,
        user: &User,
        refusal: Refusal,
        door: Door,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let mut metadata = json!({ "reason": refusal.as_str() });
        if door == Door::PasswordChange {
            metadata["via"] = json!("PASSWORD_CHANGE");
        }
        if refusal.counts_as_failure() {
            let attempt = self
                .policy
                .lockout()
                .on_failure(LockoutState::of(user), now);
            tx.write_lockout(user.id, attempt.state, now).await?;
            metadata["attempts"] = json!(attempt.state.failed_attempts);
            if attempt.newly_locked {
                let until = attempt.state.locked_until.map(|t| t.to_rfc3339());
                let locked = audit::about_user(
                    self.ports,
                    ctx,
                    AuditAction::AccountLocked,
                    user.id,
                    json!({ "attempts": attempt.state.failed_attempts, "lockedUntil": until }),
                    now,
                );
                tx.append_audit(&locked).await?;
            }
        }
        let entry = audit::about_user(
            self.ports,
            ctx,
            AuditAction::LoginFailed,
            user.id,
            metadata,
            now,
        );
        tx.append_audit(&entry).await?;
        Ok(())
    }
}
