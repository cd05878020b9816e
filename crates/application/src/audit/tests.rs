//! Unit tests of the audit log use cases.

use chrono::Duration;
use domain::audit::{AuditAction, ChainReport, EntityType, PurgeReport};
use domain::audit_evidence::{ChainHead, Checkpoint, CheckpointInvalid};
use domain::error::RepoError;
use domain::page::{Cursor, Limit, Page, Position};
use domain::user::Role;

use super::*;
use crate::error::AppError;
use crate::paging::PageInput;
use crate::testing::{self, down, Mocks};

fn admin() -> crate::Principal {
    testing::principal(testing::user(1, Role::Admin))
}

fn regular() -> crate::Principal {
    testing::principal(testing::user(2, Role::User))
}

#[tokio::test]
async fn a_regular_user_may_neither_list_nor_verify_the_audit_log() {
    let ports = Mocks::new().ports();

    let listed = ListAuditLogs::new(ports.clone())
        .execute(
            &regular(),
            &AuditListInput::default(),
            &PageInput::default(),
        )
        .await;
    let verified = VerifyAuditLog::new(ports.clone())
        .execute(&regular(), None)
        .await;
    let checkpoint = CreateAuditCheckpoint::new(ports).execute(&regular()).await;

    assert!(matches!(listed, Err(AppError::Forbidden)));
    assert!(matches!(verified, Err(AppError::Forbidden)));
    assert!(matches!(checkpoint, Err(AppError::Forbidden)));
}

/// Every parameter wrong at once, in the order the problems are reported.
fn bad_list() -> (AuditListInput, PageInput) {
    let input = AuditListInput {
        action: Some("NOPE".into()),
        entity_type: Some("GROUP".into()),
        entity_id: Some(String::new()),
        ..AuditListInput::default()
    };
    let page = PageInput {
        limit: Some(0),
        ..PageInput::default()
    };
    (input, page)
}

#[tokio::test]
async fn a_regular_user_is_refused_before_any_parameter_is_read() {
    let (input, page) = bad_list();

    // No store expectation: a read would fail the test.
    let err = ListAuditLogs::new(Mocks::new().ports())
        .execute(&regular(), &input, &page)
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Forbidden), "{err:?}");
}

#[tokio::test]
async fn an_admin_is_told_every_bad_parameter_in_order() {
    let (input, page) = bad_list();

    let err = ListAuditLogs::new(Mocks::new().ports())
        .execute(&admin(), &input, &page)
        .await
        .unwrap_err();

    let AppError::Validation(fields) = err else {
        panic!("{err:?}")
    };
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|f| (f.field.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("limit", "must be between 1 and 100"),
            ("action", "is not a known audit action"),
            ("entityType", "must be USER or SESSION"),
            ("entityId", "must be 1 to 100 characters"),
        ]
    );
}

#[tokio::test]
async fn the_store_is_asked_with_the_parsed_filters_and_page() {
    let mut mocks = Mocks::new();
    mocks
        .audit
        .expect_list()
        .times(1)
        .withf(|q| {
            q.filter.action == Some(AuditAction::Login)
                && q.filter.entity_type == Some(EntityType::User)
                && q.filter.entity_id.as_ref().map(|e| e.as_str()) == Some("42")
                && q.page.limit == Limit::new(5).unwrap()
                && q.page.position == Position::After(Cursor("c1".into()))
        })
        .returning(|_| {
            Ok(Page {
                items: vec![],
                total: None,
                next_cursor: None,
            })
        });
    let input = AuditListInput {
        action: Some("LOGIN".into()),
        entity_type: Some("USER".into()),
        entity_id: Some("42".into()),
        ..AuditListInput::default()
    };
    let page = PageInput {
        limit: Some(5),
        offset: None,
        cursor: Some("c1".into()),
    };

    let listed = ListAuditLogs::new(mocks.ports())
        .execute(&admin(), &input, &page)
        .await
        .unwrap();

    assert_eq!(
        (listed.request.limit.get(), listed.request.offset()),
        (5, 0)
    );
}

#[tokio::test]
async fn a_reversed_time_range_is_a_validation_error_before_any_read() {
    let input = AuditListInput {
        from: Some(testing::now()),
        to: Some(testing::now() - Duration::seconds(1)),
        ..AuditListInput::default()
    };

    let err = ListAuditLogs::new(Mocks::new().ports())
        .execute(&admin(), &input, &PageInput::default())
        .await
        .unwrap_err();

    assert!(
        matches!(err, AppError::Validation(ref f) if f[0].field == "from"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_admin_gets_the_page_the_store_returns() {
    let mut mocks = Mocks::new();
    mocks.audit.expect_list().times(1).returning(|_| {
        Ok(Page {
            items: vec![],
            total: Some(0),
            next_cursor: None,
        })
    });

    let listed = ListAuditLogs::new(mocks.ports())
        .execute(&admin(), &AuditListInput::default(), &PageInput::default())
        .await
        .unwrap();

    assert_eq!(listed.page.total, Some(0));
    assert_eq!(listed.request, domain::page::PageRequest::default());
}

#[tokio::test]
async fn a_bad_cursor_is_a_validation_error() {
    let mut mocks = Mocks::new();
    mocks
        .audit
        .expect_list()
        .returning(|_| Err(RepoError::InvalidCursor));

    let err = ListAuditLogs::new(mocks.ports())
        .execute(&admin(), &AuditListInput::default(), &PageInput::default())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Validation(ref f) if f[0].field == "cursor"));
}

#[tokio::test]
async fn verification_reports_the_first_broken_entry() {
    let mut mocks = Mocks::new();
    mocks.audit.expect_verify().times(1).returning(|_| {
        Ok(ChainReport {
            valid: false,
            checked: 3,
            first_broken_id: Some(testing::id(7)),
            head: head(),
        })
    });

    let report = VerifyAuditLog::new(mocks.ports())
        .execute(&admin(), None)
        .await
        .unwrap();

    assert!(!report.valid);
    assert_eq!(report.first_broken_id, Some(testing::id(7)));
}

#[tokio::test]
async fn retention_purges_before_now_minus_the_period_and_ended_sessions_after_a_day() {
    let mut mocks = Mocks::new();
    mocks
        .audit
        .expect_purge_before()
        .withf(|audit, sessions| {
            *audit == testing::now() - Duration::days(90)
                && *sessions == testing::now() - Duration::days(1)
        })
        .times(1)
        .returning(|_, _| {
            Ok(Some(PurgeReport {
                audit_entries: 4,
                sessions: 2,
            }))
        });

    let report = RunRetention::new(mocks.ports())
        .execute(Duration::days(90))
        .await
        .unwrap();

    assert_eq!(report.map(|r| r.audit_entries), Some(4));
}

#[tokio::test]
async fn retention_refuses_a_non_positive_period_and_reports_an_outage() {
    let ports = Mocks::new().ports();
    let err = RunRetention::new(ports)
        .execute(Duration::zero())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Validation(_)));

    let mut mocks = Mocks::new();
    mocks
        .audit
        .expect_purge_before()
        .returning(|_, _| Err(down()));
    let err = RunRetention::new(mocks.ports())
        .execute(Duration::days(1))
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Unavailable(_)));
}

#[tokio::test]
async fn sealing_returns_how_many_entries_were_sealed() {
    let mut mocks = Mocks::new();
    mocks
        .audit
        .expect_seal_pending()
        .times(1)
        .returning(|| Ok(5));

    assert_eq!(SealAuditLog::new(mocks.ports()).execute().await.unwrap(), 5);
}

fn head() -> ChainHead {
    ChainHead {
        seq: 12,
        hash: vec![5; 32],
        count: 10,
    }
}

fn report(valid: bool) -> ChainReport {
    ChainReport {
        valid,
        checked: 10,
        first_broken_id: None,
        head: head(),
    }
}

#[tokio::test]
async fn a_checkpoint_signs_the_verified_head_at_the_current_time() {
    let mut mocks = Mocks::new();
    mocks
        .audit
        .expect_verify()
        .withf(Option::is_none)
        .times(1)
        .returning(|_| Ok(report(true)));
    mocks
        .checkpoints
        .expect_sign()
        .withf(|c| c.head == head() && c.issued_at == testing::now().timestamp())
        .times(1)
        .returning(|_| Ok("a.b.c".into()));

    let jws = CreateAuditCheckpoint::new(mocks.ports())
        .execute(&admin())
        .await
        .unwrap();

    assert_eq!(jws, "a.b.c");
}

#[tokio::test]
async fn no_checkpoint_is_signed_for_a_log_that_does_not_verify() {
    let mut mocks = Mocks::new();
    mocks.audit.expect_verify().returning(|_| Ok(report(false)));
    mocks.checkpoints.expect_sign().never();

    let err = CreateAuditCheckpoint::new(mocks.ports())
        .execute(&admin())
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn verification_with_a_checkpoint_hands_the_verified_checkpoint_to_the_store() {
    let checkpoint = Checkpoint {
        head: head(),
        issued_at: 1,
    };
    let mut mocks = Mocks::new();
    let expected = checkpoint.clone();
    mocks
        .checkpoints
        .expect_verify()
        .withf(|t| t == "good.jws.token")
        .returning(move |_| Ok(checkpoint.clone()));
    mocks
        .audit
        .expect_verify()
        .withf(move |c| c.as_ref() == Some(&expected))
        .times(1)
        .returning(|_| Ok(report(true)));

    let report = VerifyAuditLog::new(mocks.ports())
        .execute(&admin(), Some("good.jws.token"))
        .await
        .unwrap();

    assert!(report.valid);
}

#[tokio::test]
async fn a_checkpoint_not_signed_by_us_is_a_validation_error_of_that_field() {
    let mut mocks = Mocks::new();
    mocks
        .checkpoints
        .expect_verify()
        .returning(|_| Err(CheckpointInvalid));
    mocks.audit.expect_verify().never();
    let ports = mocks.ports();

    for token in ["forged.jws.token", "", &"x".repeat(5000)] {
        let err = VerifyAuditLog::new(ports.clone())
            .execute(&admin(), Some(token))
            .await
            .unwrap_err();
        assert!(
            matches!(err, AppError::Validation(ref f) if f[0].field == "checkpoint"),
            "{err:?}"
        );
    }
}
