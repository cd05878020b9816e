//! Sessions as their owner and admins see them: the caller's active sessions (which one
//! is theirs right now), revoking one, and an admin's view and revocation of a user's.
//! Every revocation leaves one `SESSION_REVOKED` audit entry in its transaction.

use domain::audit::{AuditAction, RequestContext};
use domain::page::Page;
use domain::session::{RevocationReason, Session, SessionId};
use domain::user::UserId;
use serde_json::json;

use crate::audit;
use crate::error::AppError;
use crate::paging::{PageInput, Paged};
use crate::ports::Ports;
use crate::principal::Principal;

/// A session as listed: the stored session and whether the caller's access token
/// belongs to it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    /// The session.
    pub session: Session,
    /// True for the session of the presented access token.
    pub current: bool,
}

/// Overlays the use noted since the last write-behind, so lists show it at once. Best
/// effort: without the note the stored time is shown.
pub(crate) async fn with_recent_use(ports: &Ports, mut sessions: Vec<Session>) -> Vec<Session> {
    let ids: Vec<SessionId> = sessions.iter().map(|s| s.id).collect();
    if ids.is_empty() {
        return sessions;
    }
    match ports.activity.pending(&ids).await {
        Ok(seen) => {
            for (id, at) in seen {
                if let Some(s) = sessions.iter_mut().find(|s| s.id == id) {
                    s.last_used_at = s.last_used_at.max(at);
                }
            }
        }
        Err(err) => tracing::debug!(error = %err, "recent session use unknown"),
    }
    sessions
}

/// Marks the caller's own session in a page of sessions.
fn views(page: Page<Session>, who: &Principal) -> Page<SessionView> {
    page.map(|session| SessionView {
        current: session.id == who.session_id,
        session,
    })
}

/// `GET /sessions`: the caller's active sessions, newest first.
pub struct ListSessions {
    ports: Ports,
}

impl ListSessions {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Whether `who` may list their sessions: with full access (no pending password
    /// change). Checked before the page is read (see
    /// [`crate::users::ListUsers::authorize`]).
    pub fn authorize(&self, who: &Principal) -> Result<(), AppError> {
        who.require_full_access()
    }

    /// Runs it: authorizes, then reads the page.
    #[tracing::instrument(name = "list_sessions", skip_all, fields(user.id = %who.user.id))]
    pub async fn execute(
        &self,
        who: &Principal,
        page: &PageInput,
    ) -> Result<Paged<SessionView>, AppError> {
        self.authorize(who)?;
        let request = page.parse()?;
        let now = self.ports.clock.now();
        let sessions = self
            .ports
            .sessions
            .list_active(who.user.id, now, &request)
            .await?;
        let items = with_recent_use(&self.ports, sessions.items).await;
        Ok(Paged {
            page: views(Page { items, ..sessions }, who),
            request,
        })
    }
}

/// `DELETE /sessions/{id}`: revokes one of the caller's active sessions, the current
/// one included (its access token is refused from the next request on).
pub struct RevokeSession {
    ports: Ports,
}

impl RevokeSession {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. `NotFound` unless `id` is an active session of the caller: another
    /// user's session is indistinguishable from an unknown one.
    #[tracing::instrument(
        name = "revoke_session",
        skip_all,
        fields(user.id = %who.user.id, session.id = %id)
    )]
    pub async fn execute(
        &self,
        who: &Principal,
        id: SessionId,
        ctx: &RequestContext,
    ) -> Result<(), AppError> {
        who.require_full_access()?;
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        tx.session_for_update(id)
            .await?
            .filter(|s| s.user_id == who.user.id && s.is_active(now))
            .ok_or(AppError::NotFound)?;
        if !tx
            .revoke_session(id, now, RevocationReason::Revoked)
            .await?
        {
            return Err(AppError::NotFound);
        }
        let entry = audit::about_session(
            &self.ports,
            &ctx.clone().with_actor(who.user.id),
            AuditAction::SessionRevoked,
            id,
            json!({ "current": id == who.session_id }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// `GET /users/{id}/sessions`: a user's active sessions, for admins.
pub struct ListUserSessions {
    ports: Ports,
}

impl ListUserSessions {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Whether `who` may list a user's sessions at all: admins only (see
    /// [`crate::users::ListUsers::authorize`]).
    pub fn authorize(&self, who: &Principal) -> Result<(), AppError> {
        who.require_admin()
    }

    /// Runs it: authorizes, then reads the page. `NotFound` for an unknown user (a
    /// soft-deleted one is listed, with no active session left).
    #[tracing::instrument(name = "list_user_sessions", skip_all, fields(target.id = %id))]
    pub async fn execute(
        &self,
        who: &Principal,
        id: UserId,
        page: &PageInput,
    ) -> Result<Paged<SessionView>, AppError> {
        self.authorize(who)?;
        let request = page.parse()?;
        self.ports.users.get(id).await?.ok_or(AppError::NotFound)?;
        let now = self.ports.clock.now();
        let sessions = self.ports.sessions.list_active(id, now, &request).await?;
        let items = with_recent_use(&self.ports, sessions.items).await;
        Ok(Paged {
            page: views(Page { items, ..sessions }, who),
            request,
        })
    }
}

/// `DELETE /users/{id}/sessions`: revokes every session of a user, for admins.
pub struct RevokeUserSessions {
    ports: Ports,
}

impl RevokeUserSessions {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only; `NotFound` for an unknown user. Returns how many sessions
    /// were revoked; one `SESSION_REVOKED` entry about the user records that count.
    #[tracing::instrument(name = "revoke_user_sessions", skip_all, fields(target.id = %id))]
    pub async fn execute(
        &self,
        who: &Principal,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<u64, AppError> {
        who.require_admin()?;
        let now = self.ports.clock.now();
        let mut tx = self.ports.uow.begin().await?;
        crate::users::still_admin(tx.as_mut(), who).await?;
        // Locks the user, so the revocation is ordered against concurrent changes to it.
        tx.user_for_update(id).await?.ok_or(AppError::NotFound)?;
        let revoked = tx
            .revoke_user_sessions(id, now, RevocationReason::Revoked, None)
            .await?;
        let entry = audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(who.user.id),
            AuditAction::SessionRevoked,
            id,
            json!({ "revokedSessions": revoked }),
            now,
        );
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        Ok(revoked)
    }
}

/// The write-behind of session use: moves what was noted since the last run into
/// `lastUsedAt`. Run periodically by the composition root, by whichever instance asks
/// first (each note is handed out once).
pub struct FlushSessionActivity {
    ports: Ports,
}

impl FlushSessionActivity {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it; returns how many sessions moved. When the database refuses the batch the
    /// notes are put back for the next run.
    #[tracing::instrument(name = "flush_session_activity", skip_all)]
    pub async fn execute(&self) -> Result<u64, AppError> {
        let seen = self
            .ports
            .activity
            .drain()
            .await
            .map_err(|e| AppError::Unavailable(e.0))?;
        if seen.is_empty() {
            return Ok(0);
        }
        match self.ports.sessions.record_activity(&seen).await {
            Ok(moved) => Ok(moved),
            Err(err) => {
                for (id, at) in &seen {
                    if self.ports.activity.touch(*id, *at).await.is_err() {
                        break;
                    }
                }
                Err(err.into())
            }
        }
    }
}

#[cfg(test)]
mod tests;
