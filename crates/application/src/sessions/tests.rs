//! Unit tests of the session use cases.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use domain::audit::{AuditEntry, EntityType, RequestContext};
use domain::page::{Page, PageRequest};
use domain::ports::MockTransaction;
use domain::session::{RevocationReason, Session, SessionId};
use domain::user::{Role, User};
use domain::RepoError;

use super::*;
use crate::error::AppError;
use crate::paging::PageInput;
use crate::testing::{self, Mocks};

fn caller() -> User {
    testing::user(1, Role::User)
}

fn admin() -> User {
    testing::user(3, Role::Admin)
}

fn ctx() -> RequestContext {
    RequestContext {
        request_id: Some("rid-1".into()),
        ..RequestContext::default()
    }
}

fn page_of(items: Vec<Session>) -> Page<Session> {
    Page {
        total: Some(items.len() as u64),
        items,
        next_cursor: None,
    }
}

/// A transaction that records every audit entry and expects exactly one commit.
fn auditing_tx() -> (MockTransaction, Arc<Mutex<Vec<AuditEntry>>>) {
    let mut tx = MockTransaction::new();
    let audited = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&audited);
    tx.expect_append_audit().returning(move |entry| {
        sink.lock().unwrap().push(entry.clone());
        Ok(())
    });
    tx.expect_commit().times(1).returning(|| Ok(()));
    (tx, audited)
}

/// A transaction that must neither audit nor commit.
fn untouched_tx() -> MockTransaction {
    let mut tx = MockTransaction::new();
    tx.expect_append_audit().never();
    tx.expect_commit().never();
    tx.expect_revoke_session().never();
    tx
}

fn holding(mut tx: MockTransaction, session: Option<Session>) -> MockTransaction {
    tx.expect_session_for_update()
        .returning(move |_| Ok(session.clone()));
    tx
}

// ListSessions

#[tokio::test]
async fn listing_marks_the_session_of_the_presented_token_as_current() {
    let who = testing::principal(caller());
    let (mine, other) = (
        testing::session(900, who.user.id),
        testing::session(901, who.user.id),
    );
    let mut mocks = Mocks::new();
    let page = page_of(vec![other.clone(), mine.clone()]);
    mocks
        .sessions
        .expect_list_active()
        .times(1)
        .withf(|user, now, _| *user == testing::user(1, Role::User).id && *now == testing::now())
        .returning(move |_, _, _| Ok(page.clone()));
    // Use noted since the last write-behind shows at once; an older note changes nothing.
    let used = testing::now() + Duration::minutes(3);
    let (other_id, mine_id) = (other.id, mine.id);
    mocks
        .activity
        .expect_pending()
        .times(1)
        .returning(move |_| {
            Ok(vec![
                (other_id, used),
                (mine_id, testing::now() - Duration::days(1)),
            ])
        });

    let listed = ListSessions::new(mocks.ports())
        .execute(&who, &PageInput::default())
        .await
        .unwrap();

    let mut other = other;
    other.last_used_at = used;
    assert_eq!(
        listed.page.items,
        vec![
            SessionView {
                session: other,
                current: false
            },
            SessionView {
                session: mine,
                current: true
            },
        ]
    );
    assert_eq!(listed.page.total, Some(2));
    assert_eq!(listed.request, PageRequest::default());
}

#[tokio::test]
async fn listing_is_gated_by_a_pending_password_change() {
    let mut user = caller();
    user.must_change_password = true;
    let mut mocks = Mocks::new();
    mocks.sessions.expect_list_active().never();

    let err = ListSessions::new(mocks.ports())
        .execute(&testing::principal(user), &PageInput::default())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::PasswordChangeRequired));
}

fn bad_page() -> PageInput {
    PageInput {
        limit: Some(0),
        ..PageInput::default()
    }
}

#[tokio::test]
async fn a_pending_password_change_is_told_before_a_bad_page() {
    let mut user = caller();
    user.must_change_password = true;
    let list = ListSessions::new(Mocks::new().ports());
    let who = testing::principal(user);

    let err = list.execute(&who, &bad_page()).await.unwrap_err();

    assert!(matches!(err, AppError::PasswordChangeRequired), "{err:?}");
    assert!(matches!(
        list.authorize(&who),
        Err(AppError::PasswordChangeRequired)
    ));
}

#[tokio::test]
async fn a_bad_page_of_my_sessions_is_a_validation_error_before_any_read() {
    let err = ListSessions::new(Mocks::new().ports())
        .execute(&testing::principal(caller()), &bad_page())
        .await
        .unwrap_err();

    assert!(
        matches!(&err, AppError::Validation(f) if f[0].field == "limit" && f.len() == 1),
        "{err:?}"
    );
}

#[tokio::test]
async fn listing_with_a_foreign_cursor_is_a_validation_error() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_list_active()
        .returning(|_, _, _| Err(RepoError::InvalidCursor));

    let err = ListSessions::new(mocks.ports())
        .execute(&testing::principal(caller()), &PageInput::default())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Validation(f) if f[0].field == "cursor"));
}

#[tokio::test]
async fn listing_while_the_store_is_down_is_unavailable() {
    let mut mocks = Mocks::new();
    mocks
        .sessions
        .expect_list_active()
        .returning(|_, _, _| Err(testing::down()));

    let err = ListSessions::new(mocks.ports())
        .execute(&testing::principal(caller()), &PageInput::default())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unavailable(_)));
}

// RevokeSession

#[tokio::test]
async fn revoking_an_own_session_revokes_it_and_audits_once() {
    let who = testing::principal(caller());
    let target = testing::session(901, who.user.id);
    let (tx, audited) = auditing_tx();
    let mut tx = holding(tx, Some(target.clone()));
    tx.expect_revoke_session()
        .times(1)
        .withf(|id, at, reason| {
            *id == SessionId(testing::id(901))
                && *at == testing::now()
                && *reason == RevocationReason::Revoked
        })
        .returning(|_, _, _| Ok(true));
    let mocks = Mocks::new().with_tx(tx);

    RevokeSession::new(mocks.ports())
        .execute(&who, target.id, &ctx())
        .await
        .unwrap();

    let audited = audited.lock().unwrap();
    assert_eq!(audited.len(), 1);
    let entry = &audited[0];
    assert_eq!(entry.action.as_str(), "SESSION_REVOKED");
    assert_eq!(entry.entity_type, EntityType::Session);
    assert_eq!(
        entry.entity_id.as_deref(),
        Some(target.id.to_string().as_str())
    );
    assert_eq!(entry.user_id, Some(who.user.id));
    assert_eq!(entry.request_id.as_deref(), Some("rid-1"));
    assert_eq!(entry.metadata, serde_json::json!({ "current": false }));
}

#[tokio::test]
async fn revoking_the_current_session_is_allowed_and_says_so() {
    let who = testing::principal(caller());
    let (tx, audited) = auditing_tx();
    let mut tx = holding(tx, Some(testing::session(900, who.user.id)));
    tx.expect_revoke_session()
        .times(1)
        .returning(|_, _, _| Ok(true));
    let mocks = Mocks::new().with_tx(tx);

    RevokeSession::new(mocks.ports())
        .execute(&who, who.session_id, &ctx())
        .await
        .unwrap();

    assert_eq!(
        audited.lock().unwrap()[0].metadata,
        serde_json::json!({ "current": true })
    );
}

#[tokio::test]
async fn another_users_session_is_not_found_and_left_alone() {
    let who = testing::principal(caller());
    let foreign = testing::session(901, testing::user(2, Role::User).id);
    let mocks = Mocks::new().with_tx(holding(untouched_tx(), Some(foreign.clone())));

    let err = RevokeSession::new(mocks.ports())
        .execute(&who, foreign.id, &ctx())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound));
}

#[tokio::test]
async fn an_unknown_session_is_not_found() {
    let mocks = Mocks::new().with_tx(holding(untouched_tx(), None));

    let err = RevokeSession::new(mocks.ports())
        .execute(
            &testing::principal(caller()),
            SessionId(testing::id(999)),
            &ctx(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound));
}

#[tokio::test]
async fn a_revoked_or_expired_own_session_is_not_found() {
    let who = testing::principal(caller());
    let mut revoked = testing::session(901, who.user.id);
    revoked.revoked_at = Some(testing::now() - Duration::minutes(1));
    let mut expired = testing::session(902, who.user.id);
    expired.expires_at = testing::now();
    for gone in [revoked, expired] {
        let mocks = Mocks::new().with_tx(holding(untouched_tx(), Some(gone.clone())));

        let err = RevokeSession::new(mocks.ports())
            .execute(&who, gone.id, &ctx())
            .await
            .unwrap_err();

        assert!(matches!(err, AppError::NotFound), "{gone:?}");
    }
}

#[tokio::test]
async fn a_session_the_store_no_longer_revokes_is_not_found() {
    let who = testing::principal(caller());
    let mut tx = holding(
        MockTransaction::new(),
        Some(testing::session(901, who.user.id)),
    );
    tx.expect_revoke_session().returning(|_, _, _| Ok(false));
    tx.expect_append_audit().never();
    tx.expect_commit().never();
    let mocks = Mocks::new().with_tx(tx);

    let err = RevokeSession::new(mocks.ports())
        .execute(&who, SessionId(testing::id(901)), &ctx())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound));
}

#[tokio::test]
async fn revoking_is_gated_by_a_pending_password_change() {
    let mut user = caller();
    user.must_change_password = true;
    let mut mocks = Mocks::new();
    mocks.uow.expect_begin().never();

    let err = RevokeSession::new(mocks.ports())
        .execute(
            &testing::principal(user),
            SessionId(testing::id(901)),
            &ctx(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::PasswordChangeRequired));
}

#[tokio::test]
async fn revoking_while_the_store_is_down_is_unavailable() {
    let mut mocks = Mocks::new();
    mocks.uow.expect_begin().returning(|| Err(testing::down()));

    let err = RevokeSession::new(mocks.ports())
        .execute(
            &testing::principal(caller()),
            SessionId(testing::id(901)),
            &ctx(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Unavailable(_)));
}

// ListUserSessions

#[tokio::test]
async fn an_admin_lists_a_users_active_sessions() {
    let target = caller();
    let sessions = page_of(vec![testing::session(901, target.id)]);
    let mut mocks = Mocks::new();
    mocks
        .activity
        .expect_pending()
        .returning(|_| Err(domain::error::ServiceError("redis down".into())));
    let found = target.clone();
    mocks
        .users
        .expect_get()
        .withf(move |id| *id == found.id)
        .returning(move |_| Ok(Some(target.clone())));
    mocks
        .sessions
        .expect_list_active()
        .times(1)
        .withf(|user, _, _| *user == testing::user(1, Role::User).id)
        .returning(move |_, _, _| Ok(sessions.clone()));

    let listed = ListUserSessions::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            caller().id,
            &PageInput::default(),
        )
        .await
        .unwrap();

    assert_eq!(listed.page.items.len(), 1);
    assert!(!listed.page.items[0].current, "not the admin's own session");
}

#[tokio::test]
async fn listing_the_sessions_of_an_unknown_user_is_not_found() {
    let mut mocks = Mocks::new();
    mocks.users.expect_get().returning(|_| Ok(None));
    mocks.sessions.expect_list_active().never();

    let err = ListUserSessions::new(mocks.ports())
        .execute(
            &testing::principal(admin()),
            caller().id,
            &PageInput::default(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound));
}

#[tokio::test]
async fn a_regular_user_is_refused_anyones_sessions_before_the_page_is_read() {
    let list = ListUserSessions::new(Mocks::new().ports());
    let who = testing::principal(caller());

    let err = list
        .execute(&who, caller().id, &bad_page())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    assert!(matches!(list.authorize(&who), Err(AppError::Forbidden)));
}

#[tokio::test]
async fn an_admin_with_a_bad_page_of_a_users_sessions_reads_nothing() {
    // No user or session expectation: a read would fail the test.
    let err = ListUserSessions::new(Mocks::new().ports())
        .execute(&testing::principal(admin()), caller().id, &bad_page())
        .await
        .unwrap_err();

    assert!(
        matches!(&err, AppError::Validation(f) if f[0].field == "limit" && f.len() == 1),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_regular_user_may_not_list_anyones_sessions() {
    let mut mocks = Mocks::new();
    mocks.users.expect_get().never();

    let err = ListUserSessions::new(mocks.ports())
        .execute(
            &testing::principal(caller()),
            caller().id,
            &PageInput::default(),
        )
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Forbidden));
}

#[tokio::test]
async fn an_admin_who_must_change_the_password_may_not_list_sessions() {
    let mut who = admin();
    who.must_change_password = true;

    let err = ListUserSessions::new(Mocks::new().ports())
        .execute(&testing::principal(who), caller().id, &PageInput::default())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::PasswordChangeRequired));
}

// RevokeUserSessions

#[tokio::test]
async fn an_admin_revokes_every_session_of_a_user_with_one_audit_entry() {
    let target = caller();
    let (mut tx, audited) = auditing_tx();
    let locked = target.clone();
    tx.expect_user_for_update()
        .times(1)
        .returning(move |_| Ok(Some(locked.clone())));
    tx.expect_revoke_user_sessions()
        .times(1)
        .withf(|user, at, reason, except| {
            *user == testing::user(1, Role::User).id
                && *at == testing::now()
                && *reason == RevocationReason::Revoked
                && except.is_none()
        })
        .returning(|_, _, _, _| Ok(3));
    let mocks = Mocks::new().with_tx(tx);
    let who = testing::principal(admin());

    let revoked = RevokeUserSessions::new(mocks.ports())
        .execute(&who, target.id, &ctx())
        .await
        .unwrap();

    assert_eq!(revoked, 3);
    let audited = audited.lock().unwrap();
    assert_eq!(audited.len(), 1);
    let entry = &audited[0];
    assert_eq!(entry.action.as_str(), "SESSION_REVOKED");
    assert_eq!(entry.entity_type, EntityType::User);
    assert_eq!(
        entry.entity_id.as_deref(),
        Some(target.id.to_string().as_str())
    );
    assert_eq!(entry.user_id, Some(who.user.id), "the admin is the actor");
    assert_eq!(entry.metadata, serde_json::json!({ "revokedSessions": 3 }));
}

#[tokio::test]
async fn revoking_the_sessions_of_an_unknown_user_is_not_found() {
    let mut tx = MockTransaction::new();
    tx.expect_user_for_update().returning(|_| Ok(None));
    tx.expect_revoke_user_sessions().never();
    tx.expect_append_audit().never();
    tx.expect_commit().never();
    let mocks = Mocks::new().with_tx(tx);

    let err = RevokeUserSessions::new(mocks.ports())
        .execute(&testing::principal(admin()), caller().id, &ctx())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::NotFound));
}

#[tokio::test]
async fn a_regular_user_may_not_revoke_anyones_sessions() {
    let mut mocks = Mocks::new();
    mocks.uow.expect_begin().never();

    let err = RevokeUserSessions::new(mocks.ports())
        .execute(&testing::principal(caller()), admin().id, &ctx())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Forbidden));
}

#[tokio::test]
async fn an_admin_who_must_change_the_password_may_not_revoke_sessions() {
    let mut who = admin();
    who.must_change_password = true;

    let err = RevokeUserSessions::new(Mocks::new().ports())
        .execute(&testing::principal(who), caller().id, &ctx())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::PasswordChangeRequired));
}

#[tokio::test]
async fn a_failed_commit_of_the_revocation_is_reported() {
    let mut tx = MockTransaction::new();
    tx.expect_user_for_update()
        .returning(|_| Ok(Some(testing::user(1, Role::User))));
    tx.expect_revoke_user_sessions()
        .returning(|_, _, _, _| Ok(1));
    tx.expect_append_audit().returning(|_| Ok(()));
    tx.expect_commit().returning(|| Err(RepoError::Conflict));
    let mocks = Mocks::new().with_tx(tx);

    let err = RevokeUserSessions::new(mocks.ports())
        .execute(&testing::principal(admin()), caller().id, &ctx())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Conflict(_)));
}

#[tokio::test]
async fn the_write_behind_moves_noted_use_into_the_store_and_puts_it_back_on_failure() {
    let noted = vec![(SessionId(testing::id(900)), testing::now())];
    let mut mocks = Mocks::new();
    let drained = noted.clone();
    mocks
        .activity
        .expect_drain()
        .times(1)
        .returning(move || Ok(drained.clone()));
    let expected = noted.clone();
    mocks
        .sessions
        .expect_record_activity()
        .withf(move |seen| seen == expected.as_slice())
        .times(1)
        .returning(|_| Ok(1));
    assert_eq!(
        FlushSessionActivity::new(mocks.ports())
            .execute()
            .await
            .unwrap(),
        1
    );

    let mut mocks = Mocks::new();
    let drained = noted.clone();
    mocks
        .activity
        .expect_drain()
        .returning(move || Ok(drained.clone()));
    mocks
        .sessions
        .expect_record_activity()
        .returning(|_| Err(testing::down()));
    mocks
        .activity
        .expect_touch()
        .withf(|id, at| *id == SessionId(testing::id(900)) && *at == testing::now())
        .times(1)
        .returning(|_, _| Ok(()));
    assert!(matches!(
        FlushSessionActivity::new(mocks.ports()).execute().await,
        Err(AppError::Unavailable(_))
    ));

    let mut mocks = Mocks::new();
    mocks.activity.expect_drain().returning(|| Ok(vec![]));
    mocks.sessions.expect_record_activity().times(0);
    assert_eq!(
        FlushSessionActivity::new(mocks.ports())
            .execute()
            .await
            .unwrap(),
        0
    );
}
