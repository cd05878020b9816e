//! `GET /profile/export` and `GET /users/{id}/export`: everything stored about one user,
//! in one document.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, AuditEntry, AuditFilter, AuditQuery, EntityType, RequestContext};
use domain::page::{Limit, Offset, PageRequest, Position};
use domain::preferences::Preferences;
use domain::session::SessionId;
use domain::user::{User, UserId};
use serde_json::json;

use crate::error::AppError;
use crate::ports::Ports;
use crate::principal::Principal;
use crate::sessions::SessionView;

/// The caller's personal data.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalData {
    /// The account as stored now.
    pub user: User,
    /// Preferences (the defaults when never set).
    pub preferences: Preferences,
    /// Active sessions, newest first.
    pub sessions: Vec<SessionView>,
    /// Audit entries the caller made or that are about their account, newest first.
    pub audit_entries: Vec<AuditEntry>,
}

/// Exports the caller's personal data.
pub struct ExportProfile {
    ports: Ports,
}

impl ExportProfile {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Any signed-in user, about themselves, after the password-change gate.
    /// `DATA_EXPORT` is committed first, so the export lists its own entry.
    #[tracing::instrument(name = "export_profile", skip_all, fields(user.id = %who.user.id))]
    pub async fn execute(
        &self,
        who: &Principal,
        ctx: &RequestContext,
    ) -> Result<PersonalData, AppError> {
        who.require_full_access()?;
        let me = who.user.id;
        let now = self.ports.clock.now();
        let entry = crate::audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(me),
            AuditAction::DataExport,
            me,
            json!({}),
            now,
        );
        let mut tx = self.ports.uow.begin().await?;
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        gather(&self.ports, me, Some(who.session_id), now)
            .await?
            .ok_or(AppError::SessionRevoked)
    }
}

/// Exports any user's personal data for an admin (a GDPR access request): the same
/// document as [`ExportProfile`], with no session marked current.
pub struct ExportUserData {
    ports: Ports,
}

impl ExportUserData {
    /// Builds the use case.
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Runs it. Admin only; `NotFound` for an unknown user (a soft-deleted or anonymized
    /// one is exported as stored). `EXPORT_USER_DATA` is committed first, like
    /// `DATA_EXPORT`, so the document lists its own entry.
    #[tracing::instrument(name = "export_user_data", skip_all, fields(target.id = %id))]
    pub async fn execute(
        &self,
        who: &Principal,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<PersonalData, AppError> {
        who.require_admin()?;
        self.ports.users.get(id).await?.ok_or(AppError::NotFound)?;
        let now = self.ports.clock.now();
        let entry = crate::audit::about_user(
            &self.ports,
            &ctx.clone().with_actor(who.user.id),
            AuditAction::ExportUserData,
            id,
            json!({}),
            now,
        );
        let mut tx = self.ports.uow.begin().await?;
        tx.append_audit(&entry).await?;
        tx.commit().await?;
        gather(&self.ports, id, None, now)
            .await?
            .ok_or(AppError::NotFound)
    }
}

/// Everything stored about `me` at `now`; `current` marks the caller's session.
/// `None` when the user does not exist.
async fn gather(
    ports: &Ports,
    me: UserId,
    current: Option<SessionId>,
    now: DateTime<Utc>,
) -> Result<Option<PersonalData>, AppError> {
    let Some(user) = ports.users.get(me).await? else {
        return Ok(None);
    };
    let preferences = ports.users.preferences(me).await?.unwrap_or_default();
    let mut sessions = Vec::new();
    let mut page = first_page();
    loop {
        let batch = ports.sessions.list_active(me, now, &page).await?;
        let batch_items = crate::sessions::with_recent_use(ports, batch.items).await;
        sessions.extend(batch_items.into_iter().map(|session| SessionView {
            current: Some(session.id) == current,
            session,
        }));
        match batch.next_cursor {
            Some(c) => page.position = Position::After(c),
            None => break,
        }
    }
    let by_actor = AuditFilter {
        user_id: Some(me),
        ..AuditFilter::default()
    };
    let about_me = AuditFilter {
        entity_type: Some(EntityType::User),
        entity_id: Some(me.into()),
        ..AuditFilter::default()
    };
    let mut audit_entries = Vec::new();
    let mut seen = HashSet::new();
    for filter in [by_actor, about_me] {
        let mut query = AuditQuery {
            filter,
            page: first_page(),
        };
        loop {
            let batch = ports.audit.list(&query).await?;
            audit_entries.extend(
                batch
                    .items
                    .into_iter()
                    .filter(|e| seen.insert(e.id))
                    .map(|e| as_seen_by(me, e)),
            );
            match batch.next_cursor {
                Some(c) => query.page.position = Position::After(c),
                None => break,
            }
        }
    }
    audit_entries.sort_by_key(|e| std::cmp::Reverse((e.created_at, e.id)));
    Ok(Some(PersonalData {
        user,
        preferences,
        sessions,
        audit_entries,
    }))
}

/// An entry as its subject may see it: where someone else acted on them (an admin), that
/// person's IP address and user agent are theirs, not the subject's, and are left out.
fn as_seen_by(subject: UserId, mut entry: AuditEntry) -> AuditEntry {
    if entry.user_id != Some(subject) {
        entry.ip_address = None;
        entry.user_agent = None;
    }
    entry
}

/// The first page of a walk over every row: as large as the store allows.
fn first_page() -> PageRequest {
    PageRequest {
        limit: Limit::LARGEST,
        position: Position::Offset(Offset::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use domain::audit::{AuditAction, AuditEntry, EntityType, RequestContext};
    use domain::page::{Cursor, Page};
    use domain::user::Role;

    use super::*;
    use crate::testing::{self, actions, committing_tx, Mocks};

    fn entry(n: u128, action: AuditAction) -> AuditEntry {
        AuditEntry::new(
            testing::id(n),
            &RequestContext::default(),
            action,
            EntityType::User,
            None,
            serde_json::json!({}),
            testing::now() + chrono::Duration::seconds(n as i64),
        )
    }

    #[tokio::test]
    async fn the_export_gathers_every_page_of_sessions_and_both_kinds_of_audit_entries() {
        let me = testing::user(2, Role::User);
        let (tx, audited) = committing_tx();
        let mut mocks = Mocks::new().knowing(me.clone()).with_tx(tx);
        mocks.users.expect_preferences().returning(|_| Ok(None));
        mocks.activity.expect_pending().returning(|_| Ok(vec![]));
        mocks
            .sessions
            .expect_list_active()
            .times(1)
            .withf(|_, _, p| p.position == Position::Offset(Offset::ZERO))
            .returning(|u, _, _| {
                Ok(Page {
                    items: vec![testing::session(900, u)],
                    total: Some(2),
                    next_cursor: Some(Cursor("s1".into())),
                })
            });
        mocks
            .sessions
            .expect_list_active()
            .times(1)
            .withf(|_, _, p| p.position == Position::After(Cursor("s1".into())))
            .returning(|u, _, _| {
                Ok(Page {
                    items: vec![testing::session(901, u)],
                    total: None,
                    next_cursor: None,
                })
            });
        mocks
            .audit
            .expect_list()
            .times(1)
            .withf(|q| q.filter.user_id.is_some())
            .returning(|_| {
                Ok(Page {
                    items: vec![
                        entry(1, AuditAction::Login),
                        entry(3, AuditAction::DataExport),
                    ],
                    total: Some(2),
                    next_cursor: None,
                })
            });
        mocks
            .audit
            .expect_list()
            .times(1)
            .withf(|q| q.filter.entity_id.is_some() && q.filter.user_id.is_none())
            .returning(|_| {
                Ok(Page {
                    // The export's own entry is both by and about the caller: listed once.
                    items: vec![
                        entry(3, AuditAction::DataExport),
                        entry(2, AuditAction::CreateUser),
                    ],
                    total: Some(2),
                    next_cursor: None,
                })
            });

        let data = ExportProfile::new(mocks.ports())
            .execute(&testing::principal(me.clone()), &RequestContext::default())
            .await
            .unwrap();

        assert_eq!(actions(&audited), ["DATA_EXPORT"]);
        assert_eq!(data.user, me);
        assert_eq!(data.preferences, Preferences::default());
        assert_eq!(data.sessions.len(), 2);
        assert!(data.sessions[0].current && !data.sessions[1].current);
        let listed: Vec<_> = data.audit_entries.iter().map(|e| e.action).collect();
        assert_eq!(
            listed,
            [
                AuditAction::DataExport,
                AuditAction::CreateUser,
                AuditAction::Login
            ]
        );
    }

    #[tokio::test]
    async fn an_admins_ip_and_user_agent_are_left_out_of_the_subjects_export() {
        let me = testing::user(2, Role::User);
        let admin = testing::user(1, Role::Admin);
        let seen = |actor: UserId, n: u128, action| {
            let ctx = RequestContext {
                ip_address: Some(format!("192.0.2.{n}")),
                user_agent: Some(format!("agent {n}")),
                ..RequestContext::default()
            }
            .with_actor(actor);
            AuditEntry::new(
                testing::id(n),
                &ctx,
                action,
                EntityType::User,
                Some(me.id.to_string()),
                serde_json::json!({}),
                testing::now() + chrono::Duration::seconds(n as i64),
            )
        };
        let mine = seen(me.id, 1, AuditAction::Login);
        let theirs = seen(admin.id, 2, AuditAction::BlockUser);
        let (tx, _) = committing_tx();
        let mut mocks = Mocks::new().knowing(me.clone()).with_tx(tx);
        mocks.users.expect_preferences().returning(|_| Ok(None));
        mocks.activity.expect_pending().returning(|_| Ok(vec![]));
        mocks.sessions.expect_list_active().returning(|_, _, _| {
            Ok(Page {
                items: vec![],
                total: Some(0),
                next_cursor: None,
            })
        });
        let listed = vec![mine.clone(), theirs.clone()];
        mocks.audit.expect_list().returning(move |_| {
            Ok(Page {
                items: listed.clone(),
                total: Some(2),
                next_cursor: None,
            })
        });

        let data = ExportProfile::new(mocks.ports())
            .execute(&testing::principal(me), &RequestContext::default())
            .await
            .unwrap();

        let by_id = |id| data.audit_entries.iter().find(|e| e.id == id).unwrap();
        assert_eq!(by_id(mine.id), &mine, "the subject's own entries are whole");
        let redacted = by_id(theirs.id);
        assert_eq!(redacted.ip_address, None);
        assert_eq!(redacted.user_agent, None);
        assert_eq!(redacted.action, AuditAction::BlockUser);
        assert_eq!(redacted.user_id, Some(admin.id), "who acted stays");
    }

    #[tokio::test]
    async fn an_admin_exports_any_users_document_audited_as_export_user_data() {
        let admin = testing::user(1, Role::Admin);
        let ann = testing::user(2, Role::User);
        let (tx, audited) = committing_tx();
        let mut mocks = Mocks::new().knowing(ann.clone()).with_tx(tx);
        mocks.users.expect_preferences().returning(|_| Ok(None));
        mocks.activity.expect_pending().returning(|_| Ok(vec![]));
        mocks
            .sessions
            .expect_list_active()
            .withf(|u, _, _| *u == UserId(testing::id(2)))
            .returning(|u, _, _| {
                Ok(Page {
                    items: vec![testing::session(900, u)],
                    total: Some(1),
                    next_cursor: None,
                })
            });
        mocks
            .audit
            .expect_list()
            .times(2)
            .withf(|q| {
                q.filter.user_id == Some(UserId(testing::id(2)))
                    || q.filter.entity_id.as_ref().map(|e| e.as_str().to_owned())
                        == Some(UserId(testing::id(2)).to_string())
            })
            .returning(|_| {
                Ok(Page {
                    items: vec![],
                    total: Some(0),
                    next_cursor: None,
                })
            });

        let data = ExportUserData::new(mocks.ports())
            .execute(
                &testing::principal(admin),
                ann.id,
                &RequestContext::default(),
            )
            .await
            .unwrap();

        assert_eq!(actions(&audited), ["EXPORT_USER_DATA"]);
        assert_eq!(data.user, ann);
        assert_eq!(data.sessions.len(), 1);
        assert!(
            !data.sessions[0].current,
            "the admin's session is not the subject's"
        );
    }

    #[tokio::test]
    async fn a_user_may_not_export_another_and_an_unknown_id_is_not_found_unaudited() {
        let err = ExportUserData::new(Mocks::new().ports())
            .execute(
                &testing::principal(testing::user(3, Role::User)),
                UserId(testing::id(2)),
                &RequestContext::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Forbidden));

        let mut mocks = Mocks::new();
        mocks.users.expect_get().returning(|_| Ok(None));
        mocks.uow.expect_begin().never();
        let err = ExportUserData::new(mocks.ports())
            .execute(
                &testing::principal(testing::user(1, Role::Admin)),
                UserId(testing::id(2)),
                &RequestContext::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound));
    }

    #[tokio::test]
    async fn a_caller_who_must_change_the_password_is_gated() {
        let mut me = testing::user(2, Role::User);
        me.must_change_password = true;

        let err = ExportProfile::new(Mocks::new().ports())
            .execute(&testing::principal(me), &RequestContext::default())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::PasswordChangeRequired));
    }

    #[tokio::test]
    async fn a_store_failure_fails_the_export() {
        let (tx, _) = committing_tx();
        let mut mocks = Mocks::new()
            .knowing(testing::user(2, Role::User))
            .with_tx(tx);
        mocks
            .users
            .expect_preferences()
            .returning(|_| Err(testing::down()));

        let err = ExportProfile::new(mocks.ports())
            .execute(
                &testing::principal(testing::user(2, Role::User)),
                &RequestContext::default(),
            )
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::Unavailable(_)));
    }
}
